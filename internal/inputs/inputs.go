// Package inputs makes the files the hub builds messages with — mapping
// files, code lists and XSDs — content-addressed, so that a message.built
// audit entry can name exactly what its message was built from, the store
// can keep it, and an audit archive can carry it: a rebuild years later
// needs the archive alone, not the repository's history.
//
// A set of inputs is a manifest (JSON: format, and every file's path,
// size and SHA-256) plus the files. Its id is the SHA-256 of the manifest
// bytes; the manifest is itself stored as a blob under that id, so the id
// alone reaches every file.
package inputs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gatehub/gatehub/internal/store"
)

// Format names the manifest encoding.
const Format = "gatehub-build-inputs/v1"

// Limits against a manifest that would make Materialize write without end.
const (
	maxFiles     = 4096
	maxFileBytes = 16 << 20
)

// File is one input file.
type File struct {
	Path   string `json:"path"` // slash-separated, under a root such as "mappings/" or "schemas/"
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Manifest lists a set of inputs, by path.
type Manifest struct {
	Format string `json:"format"`
	Files  []File `json:"files"`
}

// Set is a collected set of inputs: its id, manifest and blobs (every
// file's bytes and the manifest's, by SHA-256).
type Set struct {
	ID       string
	Manifest Manifest
	Blobs    map[string][]byte
}

// Collect reads every regular file under each root directory (name →
// directory, e.g. "mappings" → ./mappings) into a Set. Hidden files and
// directories (a leading dot) are left out: editor and VCS droppings are
// not inputs.
func Collect(roots map[string]string) (*Set, error) {
	set := &Set{Manifest: Manifest{Format: Format}, Blobs: map[string][]byte{}}
	names := make([]string, 0, len(roots))
	for n := range roots {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		dir := roots[name]
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if strings.HasPrefix(d.Name(), ".") && p != dir {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if !d.Type().IsRegular() {
				return nil
			}
			rel, err := filepath.Rel(dir, p)
			if err != nil {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(data)
			ref := hex.EncodeToString(sum[:])
			set.Blobs[ref] = data
			set.Manifest.Files = append(set.Manifest.Files, File{Path: path.Join(name, filepath.ToSlash(rel)), Size: int64(len(data)), SHA256: ref})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("build inputs %s: %w", dir, err)
		}
	}
	sort.Slice(set.Manifest.Files, func(i, j int) bool { return set.Manifest.Files[i].Path < set.Manifest.Files[j].Path })
	b, err := json.Marshal(set.Manifest)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	set.ID = hex.EncodeToString(sum[:])
	set.Blobs[set.ID] = b
	return set, nil
}

// Store puts every blob of the set into the store (already stored ones
// are kept as they are).
func (s *Set) Store(ctx context.Context, st store.Store) error {
	refs := make([]string, 0, len(s.Blobs))
	for ref := range s.Blobs {
		refs = append(refs, ref)
	}
	sort.Strings(refs)
	return st.WithTx(ctx, func(tx store.Tx) error {
		for _, ref := range refs {
			if err := tx.PutBlob(ctx, ref, s.Blobs[ref]); err != nil {
				return err
			}
		}
		return nil
	})
}

// ParseManifest decodes the manifest stored under id and checks that it
// is one.
func ParseManifest(id string, b []byte) (*Manifest, error) {
	if err := store.CheckBlob(id, b); err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("build inputs %s: %w", id, err)
	}
	if m.Format != Format {
		return nil, fmt.Errorf("build inputs %s: format %q, want %q", id, m.Format, Format)
	}
	if len(m.Files) > maxFiles {
		return nil, fmt.Errorf("build inputs %s: %d files, at most %d", id, len(m.Files), maxFiles)
	}
	for _, f := range m.Files {
		clean := path.Clean(f.Path)
		if clean != f.Path || path.IsAbs(clean) || clean == "." || strings.HasPrefix(clean, "../") || clean == ".." {
			return nil, fmt.Errorf("build inputs %s: path %q is not a plain relative path", id, f.Path)
		}
		if f.Size < 0 || f.Size > maxFileBytes {
			return nil, fmt.Errorf("build inputs %s: %s: size %d", id, f.Path, f.Size)
		}
	}
	return &m, nil
}

// Refs returns the blob hashes a set needs: its manifest's and every
// file's.
func (m *Manifest) Refs(id string) []string {
	out := []string{id}
	for _, f := range m.Files {
		out = append(out, f.SHA256)
	}
	return out
}

// ErrMissing is returned by Materialize when a blob is not at hand.
var ErrMissing = errors.New("build input missing")

// Materialize writes the set id into dir (which should be empty), reading
// blobs through get, and checks every file against its hash.
func Materialize(dir, id string, get func(ref string) ([]byte, bool)) (*Manifest, error) {
	mb, ok := get(id)
	if !ok {
		return nil, fmt.Errorf("build inputs %s: manifest: %w", id, ErrMissing)
	}
	m, err := ParseManifest(id, mb)
	if err != nil {
		return nil, err
	}
	for _, f := range m.Files {
		data, ok := get(f.SHA256)
		if !ok {
			return nil, fmt.Errorf("build inputs %s: %s: %w", id, f.Path, ErrMissing)
		}
		if err := store.CheckBlob(f.SHA256, data); err != nil {
			return nil, fmt.Errorf("build inputs %s: %s: %w", id, f.Path, err)
		}
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			return nil, err
		}
		if err := os.WriteFile(p, data, 0o640); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func hashHex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
