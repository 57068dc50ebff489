// Command genformats regenerates the files derived from the mappings and
// code lists: the enumerations in schemas/**/*.xsd (between BEGIN/END codes
// comments) and docs/formats/<agency>.md. Run it as `go generate ./mappings`
// after editing mappings/; -check only reports files that are out of date.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gatehub/gatehub/internal/agencies"
	"github.com/gatehub/gatehub/internal/formatdoc"
	"github.com/gatehub/gatehub/internal/mapping"
)

func main() {
	root := flag.String("root", ".", "repository root")
	check := flag.Bool("check", false, "only report out-of-date files, exit 1 if any")
	flag.Parse()
	if err := run(*root, *check); err != nil {
		fmt.Fprintln(os.Stderr, "genformats:", err)
		os.Exit(1)
	}
}

func run(root string, check bool) error {
	reg, err := mapping.Load(filepath.Join(root, "mappings"))
	if err != nil {
		return err
	}
	schemasDir := filepath.Join(root, "schemas")
	files := map[string][]byte{}
	schemas, err := formatdoc.Schemas(schemasDir, reg.Codes())
	if err != nil {
		return err
	}
	for _, s := range schemas {
		files[filepath.Join(schemasDir, s.File)] = s.Content
	}
	// Pages read the regenerated schemas, not what is on disk.
	known, err := agencies.LoadDir(filepath.Join(root, "deploy", "agencies"))
	if err != nil {
		return err
	}
	pages, err := formatdoc.Pages(reg, schemas, known)
	if err != nil {
		return err
	}
	for name, b := range pages {
		files[filepath.Join(root, "docs", "formats", name)] = b
	}
	stale := 0
	for path, want := range files {
		got, err := os.ReadFile(path)
		if err == nil && bytes.Equal(got, want) {
			continue
		}
		stale++
		if check {
			fmt.Println("out of date:", path)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, want, 0o644); err != nil {
			return err
		}
		fmt.Println("wrote", path)
	}
	if check && stale > 0 {
		return fmt.Errorf("%d file(s) out of date: run go generate ./mappings", stale)
	}
	return nil
}
