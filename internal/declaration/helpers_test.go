package declaration

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fakeGates mirrors deploy/gates for tests.
type fakeGates map[string][]string

func (g fakeGates) KnownGate(code string) bool { _, ok := g[code]; return ok }

func (g fakeGates) KnownLane(gate, lane string) bool {
	for _, l := range g[gate] {
		if l == lane {
			return true
		}
	}
	return false
}

var testGates = fakeGates{
	"HUUNGHI":  {"EXP-1", "EXP-2", "IMP-1"},
	"TANTHANH": {"EXP-1", "IMP-1"},
	"CHIMA":    {"EXP-1", "IMP-1"},
}

// testNow is the fixed "today" of every test.
var testNow = time.Date(2026, 11, 25, 9, 0, 0, 0, time.FixedZone("ICT", 7*3600))

func testOptions() Options { return Options{Gates: testGates, Now: testNow} }

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
