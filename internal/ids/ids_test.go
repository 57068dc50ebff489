package ids

import (
	"regexp"
	"testing"
	"time"
)

func TestMessageIsUUIDv4(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 1000 {
		id := Message()
		if !re.MatchString(id) {
			t.Fatalf("not a v4 uuid: %q", id)
		}
		if seen[id] {
			t.Fatalf("duplicate %q", id)
		}
		seen[id] = true
	}
}

func TestDeclarationSortsByTime(t *testing.T) {
	base := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		a, b time.Time
	}{
		{"one millisecond", base, base.Add(time.Millisecond)},
		{"one day", base, base.Add(24 * time.Hour)},
		{"years", base, base.AddDate(20, 0, 0)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := Declaration(tc.a), Declaration(tc.b)
			if !(a < b) {
				t.Fatalf("%s !< %s", a, b)
			}
			if len(a) != 22 {
				t.Fatalf("length %d", len(a))
			}
		})
	}
}
