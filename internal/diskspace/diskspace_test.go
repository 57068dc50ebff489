package diskspace

import (
	"context"
	"errors"
	"testing"

	"github.com/gatehub/gatehub/internal/store"
)

func TestGuard(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name    string
		free    uint64
		err     error
		reserve uint64
		refuse  bool
		status  string
	}{
		{"plenty", 1024 * mib, nil, 256 * mib, false, "ok"},
		{"exactly the reserve", 256 * mib, nil, 256 * mib, false, "ok"},
		{"one byte under", 256*mib - 1, nil, 256 * mib, true, "low: "},
		{"default reserve", 100 * mib, nil, 0, true, "low: "},
		{"probe fails: admit", 0, errors.New("statfs: EIO"), 256 * mib, false, "unknown: statfs: EIO"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := &Guard{Reserve: tc.reserve, Probe: ProbeFunc(func(string) (uint64, uint64, error) { return tc.free, 4096 * mib, tc.err })}
			err := g.Admit(context.Background())
			if refused := errors.Is(err, store.ErrNoSpace); refused != tc.refuse {
				t.Errorf("Admit = %v, want refused %v", err, tc.refuse)
			}
			if got := g.Read().String(); len(got) < len(tc.status) || got[:len(tc.status)] != tc.status {
				t.Errorf("status %q, want prefix %q", got, tc.status)
			}
			if g.Low() != tc.refuse {
				t.Errorf("Low = %v", g.Low())
			}
		})
	}
}

// The operating system's probe reads a real file system.
func TestStatfs(t *testing.T) {
	free, total, err := (&Guard{}).probe().Space(t.TempDir())
	if err != nil {
		t.Skipf("no statfs here: %v", err)
	}
	if total == 0 || free > total {
		t.Errorf("free %d of %d", free, total)
	}
}
