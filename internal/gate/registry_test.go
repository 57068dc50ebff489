package gate

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestRegistryApplyUnderConcurrentReads(t *testing.T) {
	base, err := LoadDir(shipped, known)
	if err != nil {
		t.Fatal(err)
	}
	r := NewRegistry(base)

	// Readers check invariants of whatever snapshot they get: shipped gates
	// never disappear, and a snapshot never changes under them.
	stop := make(chan struct{})
	var reads atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				s := r.Current()
				n := len(s.Codes())
				if !s.KnownLane("HUUNGHI", "EXP-1") {
					t.Error("HUUNGHI/EXP-1 vanished during Apply")
					return
				}
				if _, _, _, ok := s.DeviceByToken("dev-CHIMA-IMP-1-camera"); !ok {
					t.Error("dev token lost during Apply")
					return
				}
				if len(s.Codes()) != n {
					t.Error("snapshot changed under a reader")
					return
				}
				reads.Add(1)
			}
		})
	}

	for i := range 50 {
		var body string
		if i%2 == 0 {
			body = validGate
		} else {
			body = strings.Replace(validGate, "weightTolerancePercent: 2", "weightTolerancePercent: 3", 1)
		}
		g, err := Parse("t.yaml", []byte(body), known)
		if err != nil {
			t.Fatal(err)
		}
		next, err := r.Apply(g)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := next.Gate("TESTGATE"); got != g || r.Current() != next {
			t.Fatal("Apply did not install the new gate")
		}
	}
	close(stop)
	wg.Wait()
	if reads.Load() == 0 {
		t.Fatal("readers never ran")
	}
	if got := r.Current().Codes(); len(got) != 4 {
		t.Fatalf("codes after replacing one gate 50 times: %v", got)
	}
}

func TestRegistryKeepsValidSetOnBadApply(t *testing.T) {
	base, err := LoadDir(shipped, known)
	if err != nil {
		t.Fatal(err)
	}
	r := NewRegistry(base)
	good, _ := base.Gate("HUUNGHI")

	tests := []struct {
		name string
		gate func() *Gate
		want string
	}{
		{"nil gate", func() *Gate { return nil }, "nil gate"},
		{"invalid gate built in Go", func() *Gate {
			g := *good
			g.Policy.MinPlateConfidence = 85
			return &g
		}, "policy.minPlateConfidence: must be in (0, 1]"},
		{"token shared with another gate", func() *Gate {
			g, err := Parse("t.yaml", []byte(strings.Replace(validGate,
				"1111111111111111111111111111111111111111111111111111111111111111",
				"805011c6bd77e4082f6ed72657128eb0ffb653185623c27477a70606e7351e57", 1)), known)
			if err != nil {
				t.Fatal(err)
			}
			return g
		}, "shares its token with HUUNGHI/EXP-1/EXP-1-barrier"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next, err := r.Apply(tt.gate())
			if err == nil || next != nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Apply = %v, %v; want error containing %q", next, err, tt.want)
			}
			if r.Current() != base {
				t.Fatal("a failed Apply changed the current set")
			}
		})
	}

	r.Replace(nil)
	if r.Current() != base {
		t.Fatal("Replace(nil) dropped the current set")
	}
}
