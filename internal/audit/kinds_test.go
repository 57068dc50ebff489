package audit

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strings"
	"testing"
)

// TestKindsListsEveryKind: a kind constant missing from Kinds would make
// the audit filter refuse entries that exist.
func TestKindsListsEveryKind(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "kinds.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	ast.Inspect(f, func(node ast.Node) bool {
		vs, ok := node.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, name := range vs.Names {
			if !strings.HasPrefix(name.Name, "Kind") || i >= len(vs.Values) {
				continue
			}
			lit, ok := vs.Values[i].(*ast.BasicLit)
			if !ok {
				continue
			}
			n++
			if v := strings.Trim(lit.Value, `"`); !slices.Contains(Kinds, v) {
				t.Errorf("%s (%q) is not in Kinds", name.Name, v)
			}
		}
		return true
	})
	if n != len(Kinds) {
		t.Errorf("%d kind constants, %d in Kinds", n, len(Kinds))
	}
}
