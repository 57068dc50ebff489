package stats

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/crossing"
	"github.com/gatehub/gatehub/internal/store"
)

func TestPercentileNearestRank(t *testing.T) {
	ds := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tc := range []struct {
		p    int
		want time.Duration
	}{{50, 5}, {95, 10}, {10, 1}, {100, 10}} {
		if got := Percentile(ds, tc.p); got != tc.want {
			t.Errorf("p%d = %d, want %d", tc.p, got, tc.want)
		}
	}
	if Percentile(nil, 50) != 0 {
		t.Error("empty")
	}
}

func payload(v any) []byte { b, _ := json.Marshal(v); return b }

func TestCompute(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	nack := map[string]any{"decision": map[string]any{"status": "REJECTED", "reasons": []map[string]string{
		{"code": "AGENCY_REJECTED", "agency": "vehicleregistry", "en": "rejected by Vehicle Registry: VR-INSPECTION-EXPIRED certificate expired"},
		{"code": "AWAITING_ACK", "agency": "customs", "en": "waiting on Customs"}}}}
	entries := []store.AuditEntry{
		{Kind: audit.KindDeclarationAccepted, DeclarationID: "D1", Time: at(0)},
		{Kind: audit.KindMessageOutbound, MessageID: "m1", Agency: "customs", Time: at(1)},
		{Kind: audit.KindAckInbound, MessageID: "m1", Agency: "customs", Time: at(3)},
		{Kind: audit.KindAckInbound, MessageID: "m1", Agency: "customs", Time: at(9)}, // duplicate: not a second answer
		{Kind: audit.KindDecision, DeclarationID: "D1", Time: at(4), Payload: payload(map[string]any{"decision": map[string]any{"status": "CLEARED"}})},
		{Kind: audit.KindDecision, DeclarationID: "D1", Time: at(8), Payload: payload(map[string]any{"decision": map[string]any{"status": "CLEARED"}})},
		{Kind: audit.KindDeclarationAccepted, DeclarationID: "D2", Time: at(0)},
		{Kind: audit.KindDecision, DeclarationID: "D2", Time: at(5), Payload: payload(nack)},
		{Kind: audit.KindDecision, DeclarationID: "D2", Time: at(6), Payload: payload(nack)}, // re-derived: counted once
		{Kind: audit.KindLaneDecision, Time: at(30), Payload: payload(map[string]any{"answer": map[string]any{"gate": "HUUNGHI", "lane": "EXP-1", "action": "OPEN", "declarationId": "D1"}})},
		{Kind: audit.KindLaneDecision, Time: at(30), Payload: payload(map[string]any{"answer": map[string]any{"gate": "HUUNGHI", "lane": "EXP-1", "action": "OPEN", "declarationId": "D1"}})}, // weighed too: still one crossing
		{Kind: audit.KindLaneDecision, Time: at(31), Payload: payload(map[string]any{"answer": map[string]any{"gate": "HUUNGHI", "lane": "EXP-1", "action": "KEEP-CLOSED", "declarationId": "D2"}})},
	}
	rep := Compute(entries, time.FixedZone("ICT", 7*3600), func(g, l string) string { return "export" })
	if len(rep.Crossings) != 1 || rep.Crossings[0] != (Crossing{Day: "2026-12-01", Gate: "HUUNGHI", Direction: "export", Count: 1}) {
		t.Errorf("crossings %+v", rep.Crossings)
	}
	if rep.Clearance.Count != 1 || rep.Clearance.P50 != 4*time.Second {
		t.Errorf("clearance %+v", rep.Clearance)
	}
	if len(rep.AckLatency) != 1 || rep.AckLatency[0].Count != 1 || rep.AckLatency[0].P95 != 2*time.Second {
		t.Errorf("ack latency %+v", rep.AckLatency)
	}
	if len(rep.NackReasons) != 1 || rep.NackReasons[0].Count != 1 || rep.NackReasons[0].Code != "VR-INSPECTION-EXPIRED" || rep.NackReasons[0].Text != "certificate expired" {
		t.Errorf("nacks %+v", rep.NackReasons)
	}
}

// Checkpoint passages logged by the crossings give the dwell time at each
// checkpoint and count the truck once, at its first checkpoint.
func TestComputeCrossingPassages(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	passed := func(decl, cp, lane string, arrived, left int) store.AuditEntry {
		ev := crossing.Event{DeclarationID: decl, Gate: "HUUNGHI", State: crossing.Arrived,
			Passage: &crossing.Passage{Checkpoint: cp, Lane: lane, ArrivedAt: at(arrived), PassedAt: at(left)}, At: at(left)}
		return store.AuditEntry{Kind: audit.KindCrossingPassed, DeclarationID: decl, Time: at(left), Payload: payload(ev)}
	}
	entries := []store.AuditEntry{
		passed("D1", "B1", "GATE-1", 0, 10),
		{Kind: audit.KindLaneDecision, Time: at(10), Payload: payload(map[string]any{"answer": map[string]any{"gate": "HUUNGHI", "lane": "GATE-1", "action": "OPEN", "declarationId": "D1"}})},
		passed("D1", "B2", "EXP-1", 60, 120),
		passed("D2", "B1", "GATE-1", 5, 35),
	}
	var lanes []string
	rep := Compute(entries, time.UTC, func(g, l string) string { lanes = append(lanes, l); return "export" })
	if len(rep.Crossings) != 1 || rep.Crossings[0].Count != 2 {
		t.Errorf("crossings %+v, want 2 trucks on one day", rep.Crossings)
	}
	want := []Dwell{
		{Gate: "HUUNGHI", Checkpoint: "B1", Count: 2, P50: 10 * time.Second, P95: 30 * time.Second},
		{Gate: "HUUNGHI", Checkpoint: "B2", Count: 1, P50: time.Minute, P95: time.Minute},
	}
	if len(rep.Dwell) != len(want) || rep.Dwell[0] != want[0] || rep.Dwell[1] != want[1] {
		t.Errorf("dwell %+v, want %+v", rep.Dwell, want)
	}
	if len(lanes) != 2 || lanes[0] != "GATE-1" || lanes[1] != "GATE-1" {
		t.Errorf("directions asked for lanes %v, want the first checkpoint's lane of each truck", lanes)
	}
}
