package replay

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/crossing"
	"github.com/gatehub/gatehub/internal/store"
)

func crossingEntry(t *testing.T, seq int64, kind string, ev crossing.Event) store.AuditEntry {
	t.Helper()
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return store.AuditEntry{Seq: seq, Kind: kind, DeclarationID: ev.DeclarationID, Payload: b}
}

// The log's crossing events replay through the domain's transitions; a
// checkpoint passed twice, or after the exit, fails the replay.
func TestReplayCrossings(t *testing.T) {
	at := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	base := crossing.Event{DeclarationID: "D1", Gate: "HUUNGHI", Plate: "12C-12345", Version: 1, At: at}
	with := func(state crossing.State, cp string) crossing.Event {
		e := base
		e.State = state
		if cp != "" {
			e.Passage = &crossing.Passage{Checkpoint: cp, Lane: "L-" + cp, Version: 1, Vehicle: 1, ArrivedAt: at, PassedAt: at.Add(time.Minute)}
		}
		return e
	}
	good := []store.AuditEntry{
		crossingEntry(t, 1, audit.KindCrossingOpened, with(crossing.Submitted, "")),
		crossingEntry(t, 2, audit.KindCrossingPassed, with(crossing.Arrived, "B1")),
		crossingEntry(t, 3, audit.KindCrossingPassed, with(crossing.Arrived, "B2")),
		crossingEntry(t, 4, audit.KindCrossingExited, with(crossing.Exited, "B0")),
	}
	s, err := FromEntries(good, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := s.Crossings["D1"]
	if c.State != "exited" || strings.Count(c.Passages, "@") != 3 || !strings.HasPrefix(c.Passages, "B1@L-B1 v1 #1") {
		t.Fatalf("replayed %+v", c)
	}
	if d := Diff(s, &State{Crossings: map[string]Crossing{"D1": {DeclarationID: "D1", State: "arrived"}}}); len(d) == 0 {
		t.Fatal("Diff misses a crossing state difference")
	}
	for name, bad := range map[string][]store.AuditEntry{
		"passed twice":   {good[0], good[1], crossingEntry(t, 3, audit.KindCrossingPassed, with(crossing.Arrived, "B1"))},
		"after the exit": {good[0], good[1], good[2], good[3], crossingEntry(t, 5, audit.KindCrossingPassed, with(crossing.Exited, "B9"))},
		"no opening":     {good[1]},
	} {
		if _, err := FromEntries(bad, nil); err == nil {
			t.Errorf("%s: replayed without error", name)
		}
	}
}
