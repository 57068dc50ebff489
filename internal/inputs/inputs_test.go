package inputs

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCollectAndMaterialize(t *testing.T) {
	src := t.TempDir()
	write := func(p, s string) {
		t.Helper()
		p = filepath.Join(src, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("m/customs/submit.yaml", "mappingVersion: 1\n")
	write("m/codes/cargo.yaml", "codes: {}\n")
	write("m/.git/HEAD", "not an input\n")
	write("s/customs/a.xsd", "<xs:schema/>\n")
	set, err := Collect(map[string]string{"mappings": filepath.Join(src, "m"), "schemas": filepath.Join(src, "s")})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range set.Manifest.Files {
		paths = append(paths, f.Path)
	}
	if got := strings.Join(paths, " "); got != "mappings/codes/cargo.yaml mappings/customs/submit.yaml schemas/customs/a.xsd" {
		t.Fatalf("files %s", got)
	}
	again, err := Collect(map[string]string{"schemas": filepath.Join(src, "s"), "mappings": filepath.Join(src, "m")})
	if err != nil || again.ID != set.ID {
		t.Fatalf("the same files give another id: %v %s %s", err, again.ID, set.ID)
	}
	out := t.TempDir()
	get := func(ref string) ([]byte, bool) { b, ok := set.Blobs[ref]; return b, ok }
	if _, err := Materialize(out, set.ID, get); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, "mappings/customs/submit.yaml"))
	if err != nil || string(b) != "mappingVersion: 1\n" {
		t.Fatalf("materialized %q %v", b, err)
	}

	t.Run("a changed file is another set", func(t *testing.T) {
		write("m/customs/submit.yaml", "mappingVersion: 2\n")
		changed, err := Collect(map[string]string{"mappings": filepath.Join(src, "m"), "schemas": filepath.Join(src, "s")})
		if err != nil || changed.ID == set.ID {
			t.Fatalf("%v: same id after a change", err)
		}
	})
	t.Run("refused", func(t *testing.T) {
		evil := Manifest{Format: Format, Files: []File{{Path: "../outside", Size: 1, SHA256: set.Manifest.Files[0].SHA256}}}
		mb, _ := json.Marshal(evil)
		id := sha(mb)
		blobs := map[string][]byte{id: mb}
		if _, err := Materialize(t.TempDir(), id, func(r string) ([]byte, bool) { b, ok := blobs[r]; return b, ok }); err == nil || !strings.Contains(err.Error(), "plain relative path") {
			t.Fatalf("path outside the directory: %v", err)
		}
		swapped := map[string][]byte{}
		for k, v := range set.Blobs {
			swapped[k] = v
		}
		f := set.Manifest.Files[1]
		swapped[f.SHA256] = bytes.ToUpper(swapped[f.SHA256])
		if _, err := Materialize(t.TempDir(), set.ID, func(r string) ([]byte, bool) { b, ok := swapped[r]; return b, ok }); err == nil {
			t.Fatal("a file whose bytes do not match its hash was written")
		}
		if _, err := Materialize(t.TempDir(), set.ID, func(string) ([]byte, bool) { return nil, false }); err == nil {
			t.Fatal("a missing manifest went unnoticed")
		}
	})
}

func sha(b []byte) string { return hashHex(b) }
