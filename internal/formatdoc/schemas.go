// Package formatdoc generates what is derived from the mappings and code
// lists: the XSD enumerations generated from mappings/codes and the format
// pages docs/formats/<agency>.md an integrator reviews instead of YAML.
// internal/formatdoc/cmd/genformats writes them (go generate ./mappings); the tests here fail
// when a committed file is not what the data generates.
package formatdoc

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/gatehub/gatehub/internal/codelist"
)

// Schema is one schema file and its generated regions.
type Schema struct {
	File    string // relative to the schemas directory
	Content []byte
	Regions []codelist.Region
}

// Schemas regenerates the code-list regions of every .xsd under dir.
func Schemas(dir string, set *codelist.Set) ([]Schema, error) {
	var out []Schema
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || filepath.Ext(path) != ".xsd" {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		gen, regions, err := codelist.GenerateXSD(src, set)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		rel, _ := filepath.Rel(dir, path)
		out = append(out, Schema{File: filepath.ToSlash(rel), Content: gen, Regions: regions})
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].File < out[j].File })
	return out, err
}
