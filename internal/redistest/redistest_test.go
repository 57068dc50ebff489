package redistest

import (
	"context"
	"testing"
)

func TestEscapeGlob(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain:", "plain:"},
		{"a*b?c", `a\*b\?c`},
		{"[x]", `\[x\]`},
		{`back\slash`, `back\\slash`},
	}
	for _, tt := range tests {
		if got := escapeGlob(tt.in); got != tt.want {
			t.Errorf("escapeGlob(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestClientCleansUpItsPrefix(t *testing.T) {
	outer, outerPrefix := Client(t)
	ctx := context.Background()

	var innerPrefix string
	t.Run("inner", func(t *testing.T) {
		c, p := Client(t)
		innerPrefix = p
		for _, k := range []string{"a", "b*", "c[1]"} {
			if err := c.Set(ctx, p+k, "v", 0).Err(); err != nil {
				t.Fatalf("set: %v", err)
			}
		}
	})
	if innerPrefix == outerPrefix {
		t.Fatalf("prefixes not unique: %q", innerPrefix)
	}
	n, err := outer.Exists(ctx, innerPrefix+"a", innerPrefix+"b*", innerPrefix+"c[1]").Result()
	if err != nil {
		t.Fatalf("exists: %v", err)
	}
	if n != 0 {
		t.Fatalf("%d keys under %q survived cleanup", n, innerPrefix)
	}
}
