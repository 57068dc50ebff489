package gate

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A gate file valid on its own that clashes with another gate is refused
// with a located issue, so the hub can answer it like any invalid file.
func TestApplyConflictIsLocated(t *testing.T) {
	base, err := LoadDir(shipped, known)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(shipped, "chima.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tanthanhBarrier := "61a470d044194484257a69086916537b62d40ab70b93897d35d5fc1de7784baa"
	tests := []struct {
		name, src, path, msg string
	}{
		{"token of another gate", "chima.yaml", "tokenSHA256", "shares its token with TANTHANH/EXP-1/EXP-1-barrier"},
		{"second token of another gate", "chima.yaml", "tokenSHA256", "shares its token with TANTHANH/EXP-1/EXP-1-barrier"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := string(raw)
			// Replace one of CHIMA's device tokens with TANTHANH's barrier token.
			i := strings.Index(src, "tokenSHA256: ") + len("tokenSHA256: ")
			if tc.name == "second token of another gate" {
				i += strings.Index(src[i:], "tokenSHA256: ") + len("tokenSHA256: ")
			}
			src = src[:i] + tanthanhBarrier + src[i+64:]
			g, err := Parse(tc.src, []byte(src), known)
			if err != nil {
				t.Fatalf("the edited file should be valid on its own: %v", err)
			}
			r := NewRegistry(base)
			_, err = r.Apply(g)
			var ce *ConfigError
			if !errors.As(err, &ce) || len(ce.Issues) != 1 {
				t.Fatalf("want one located issue, got %v", err)
			}
			is := ce.Issues[0]
			if is.File != tc.src || is.Line == 0 || !strings.HasSuffix(is.Path, tc.path) || !strings.Contains(is.Msg, tc.msg) {
				t.Fatalf("issue %s", is)
			}
			if r.Current() != base {
				t.Fatal("a refused gate replaced the running set")
			}
		})
	}
}
