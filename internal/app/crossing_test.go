package app_test

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gatehub/gatehub/adapters/gatedevice"
	"github.com/gatehub/gatehub/internal/app"
	"github.com/gatehub/gatehub/internal/crossing"
	"github.com/gatehub/gatehub/internal/lanes"
	"github.com/gatehub/gatehub/internal/views"
)

// Device tokens of Hữu Nghị's export route: B1 (gate-in, plate and the
// border guard's pass), B2 (lanes EXP-1/EXP-2: plate, weight, QR, every
// agency), B0 (the border marker: plate, QR, every agency; the exit).
const (
	b1Camera = "dev-HUUNGHI-GATE-1-camera"
	b2Camera = "dev-HUUNGHI-EXP-1-camera"
	b2Scale  = "dev-HUUNGHI-EXP-1-scale"
	b2QR     = "dev-HUUNGHI-EXP-1-qr"
	b0Camera = "dev-HUUNGHI-MARK-1-camera"
	b0QR     = "dev-HUUNGHI-MARK-1-qr"
)

func plateReading(plate string) string {
	return `{"kind":"plate","plate":"` + plate + `","confidence":0.97}`
}
func weightReading(kg int) string { return fmt.Sprintf(`{"kind":"weight","weightKg":%d}`, kg) }
func qrReading(id string) string  { return `{"kind":"qr","code":"` + id + `"}` }

// cleared submits a truck with its own plates and waits until it is
// CLEARED (decision events reach the declared lane, EXP-1).
func (in *instance) cleared(t *testing.T, serial string) views.DeclarationView {
	t.Helper()
	events, stop := in.laneStream(t, "HUUNGHI", "EXP-1", operatorToken, "")
	defer stop()
	v := in.submitOK(t, sample(t, withSerial(serial)))
	next(t, events, "CLEARED for "+v.ID, decisionFor(v.ID, "CLEARED"))
	return v
}

func (in *instance) submitOK(t *testing.T, body []byte) views.DeclarationView {
	t.Helper()
	resp, data := in.call(t, "POST", "/v1/declarations", traderToken, body, jsonHeader)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("submit: HTTP %d: %s", resp.StatusCode, data)
	}
	var v views.DeclarationView
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func codesOf(a lanes.Answer) []string {
	var cs []string
	for _, r := range a.Reasons {
		cs = append(cs, r.Code)
	}
	return cs
}

func wantAnswer(t *testing.T, what string, a lanes.Answer, action string, codes ...string) {
	t.Helper()
	if a.Action != action {
		t.Fatalf("%s: %s (%v), want %s", what, a.Action, codesOf(a), action)
	}
	for _, c := range codes {
		if !slices.Contains(codesOf(a), c) {
			t.Fatalf("%s: reasons %v lack %s", what, codesOf(a), c)
		}
	}
}

func (in *instance) timeline(t *testing.T, id, token string) (int, lanes.Timeline) {
	t.Helper()
	resp, data := in.call(t, "GET", "/v1/declarations/"+id+"/timeline", token, nil, nil)
	var tl lanes.Timeline
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(data, &tl); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, tl
}

// passB1 takes a cleared truck through the gate-in checkpoint.
func (in *instance) passB1(t *testing.T, plate string) {
	t.Helper()
	wantAnswer(t, "B1 "+plate, in.reading(t, b1Camera, plateReading(plate)), "OPEN")
}

func laneKeys(a *app.App) map[string]ed25519.PublicKey {
	return map[string]ed25519.PublicKey{a.LaneKey.KeyID: a.LaneKey.Key.Public().(ed25519.PublicKey)}
}

// TestCrossingEveryCheckpoint: a whole export crossing, B1 → B2 → B0, one
// signed OPEN per checkpoint naming it, the clearance used after exit, the
// timeline with every event and the dwell at each checkpoint.
func TestCrossingEveryCheckpoint(t *testing.T) {
	in := launch(t, baseConfig(t), app.Options{})
	v := in.cleared(t, "51001")
	plate := "12C-51001"
	b2Events, stop := in.laneStream(t, "HUUNGHI", "EXP-1", "dev-HUUNGHI-EXP-1-barrier", "")
	defer stop()

	in.passB1(t, plate)
	// B2: nothing opens before the weighbridge and the QR are in.
	wantAnswer(t, "B2 camera", in.reading(t, b2Camera, plateReading(plate)), "KEEP-CLOSED", crossing.CodeWaiting)
	wantAnswer(t, "B2 weight", in.reading(t, b2Scale, weightReading(38600)), "KEEP-CLOSED", crossing.CodeWaiting)
	open := in.reading(t, b2QR, qrReading(v.ID))
	wantAnswer(t, "B2 QR", open, "OPEN")
	d, err := gatedevice.Verify(laneKeys(in.app), open.Token, in.app.Tx.Clock())
	if err != nil {
		t.Fatal(err)
	}
	barrier := gatedevice.Barrier{Gate: "HUUNGHI", Checkpoint: "B2", Lane: "EXP-1", Device: "EXP-1-barrier"}
	if err := gatedevice.Check(d, barrier, plate); err != nil || d.Action != "OPEN" || d.DeclarationID != v.ID {
		t.Fatalf("B2 token %+v: %v", d, err)
	}
	if err := gatedevice.Check(d, gatedevice.Barrier{Gate: "HUUNGHI", Checkpoint: "B0", Lane: "MARK-1"}, plate); err == nil {
		t.Fatal("the B2 token passes the B0 barrier's check")
	}
	// A repeated reading gets the same answer, no second OPEN.
	again := in.reading(t, b2QR, qrReading(v.ID))
	if again.Token != open.Token || !again.Repeated || !again.DecidedAt.Equal(open.DecidedAt) {
		t.Fatalf("repeat: %+v", again)
	}
	// Exactly one OPEN on the lane's stream, after the waiting ones.
	var actions []string
	for len(actions) < 3 {
		ev := next(t, b2Events, "lane decision", func(ev sseEvent) bool { return ev.Type == "lane-decision" })
		var a lanes.Answer
		_ = json.Unmarshal(ev.Data, &a)
		actions = append(actions, a.Action)
	}
	if !slices.Equal(actions, []string{"KEEP-CLOSED", "KEEP-CLOSED", "OPEN"}) {
		t.Fatalf("lane events %v", actions)
	}

	// B0: the exit.
	wantAnswer(t, "B0 camera", in.reading(t, b0Camera, plateReading(plate)), "KEEP-CLOSED", crossing.CodeWaiting)
	wantAnswer(t, "B0 QR", in.reading(t, b0QR, qrReading(v.ID)), "OPEN")

	// A retried reading while the OPEN is valid gets the same answer.
	if again := in.reading(t, b0Camera, plateReading(plate)); again.Action != "OPEN" || !again.Repeated {
		t.Fatalf("retry at B0: %+v", again)
	}
	// The clearance is used: the same truck back at B0 or B1 (after
	// another vehicle) is refused, and says why.
	for _, cam := range []string{b0Camera, b1Camera} {
		in.reading(t, cam, plateReading("99Z-00001"))
		wantAnswer(t, cam+" after exit", in.reading(t, cam, plateReading(plate)), "KEEP-CLOSED", crossing.CodeClearanceUsed)
	}

	code, tl := in.timeline(t, v.ID, traderToken)
	if code != http.StatusOK || tl.State != crossing.Exited || len(tl.Checkpoints) != 3 {
		t.Fatalf("timeline %d: state %s, checkpoints %+v", code, tl.State, tl.Checkpoints)
	}
	for i, want := range []string{"B1", "B2", "B0"} {
		c := tl.Checkpoints[i]
		if c.Checkpoint != want || c.PassedAt.Before(c.ArrivedAt) || c.DwellSeconds < 0 {
			t.Errorf("checkpoint %d: %+v", i, c)
		}
	}
	var kinds []string
	for i, e := range tl.Events {
		if i > 0 && e.Seq <= tl.Events[i-1].Seq {
			t.Fatalf("timeline out of order at %d", i)
		}
		kinds = append(kinds, e.Kind)
	}
	for _, k := range []string{"declaration.accepted", "crossing.opened", "message.outbound", "ack.inbound", "decision",
		"lane.decision", "crossing.checkpoint-passed", "crossing.exited"} {
		if !slices.Contains(kinds, k) {
			t.Errorf("timeline lacks %s: %v", k, kinds)
		}
	}
	if strings.Contains(fmt.Sprint(tl.Events), open.Token) {
		t.Error("the timeline copies a signed token")
	}
	// Another trader's declaration is not visible; an auditor sees it.
	if code, _ := in.timeline(t, v.ID, "dev-trader-0202345678"); code != http.StatusNotFound && code != http.StatusUnauthorized {
		t.Errorf("other trader: HTTP %d", code)
	}
	if code, _ := in.timeline(t, v.ID, "dev-auditor"); code != http.StatusOK {
		t.Errorf("auditor: HTTP %d", code)
	}

	// After exit the plate may be declared again.
	in.submitOK(t, sample(t, withSerial("51001")))
}

// TestCrossingQROfAnotherTruck is the QR override: an undeclared truck,
// overweight, shows the QR of another, cleared truck. The barrier stays
// closed, nothing is signed for the other plate, and a security alert is
// raised (audit entry, metric, lane event, operator list).
func TestCrossingQROfAnotherTruck(t *testing.T) {
	in := launch(t, baseConfig(t), app.Options{})
	victim := in.cleared(t, "52001")
	in.passB1(t, "12C-52001")
	events, stop := in.laneStream(t, "HUUNGHI", "EXP-1", operatorToken, "")
	defer stop()

	wantAnswer(t, "camera", in.reading(t, b2Camera, plateReading("29C-99999")), "KEEP-CLOSED", crossing.CodeNoDeclaration)
	wantAnswer(t, "weight", in.reading(t, b2Scale, weightReading(59000)), "KEEP-CLOSED")
	a := in.reading(t, b2QR, qrReading(victim.ID))
	wantAnswer(t, "QR of another truck", a, "KEEP-CLOSED", crossing.CodeQRMismatch)
	if a.Plate != "29C-99999" || a.DeclarationID == victim.ID || a.Token != "" || a.Alert == nil {
		t.Fatalf("answer names the other truck or carries a token: %+v", a)
	}
	next(t, events, "security alert event", func(ev sseEvent) bool { return ev.Type == "security-alert" })
	if n := in.auditCount(t, "lane.security-alert"); n != 1 {
		t.Fatalf("%d security alert entries", n)
	}
	resp, data := in.call(t, "GET", "/v1/admin/alerts?since=2020-01-01T00:00:00Z", operatorToken, nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(data), victim.ID) || !strings.Contains(string(data), "29C-99999") {
		t.Fatalf("operator alert list: %d %s", resp.StatusCode, data)
	}
	resp, data = in.call(t, "GET", "/metrics", "", nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(data), `gatehub_lane_security_alerts_total{code="QR_PLATE_MISMATCH",gate="HUUNGHI"} 1`) {
		t.Fatalf("alert metric missing")
	}
	// The victim's own crossing is untouched: it still passes B2 itself.
	wantAnswer(t, "victim camera", in.reading(t, b2Camera, plateReading("12C-52001")), "KEEP-CLOSED", crossing.CodeWaiting)
	in.reading(t, b2Scale, weightReading(38500))
	wantAnswer(t, "victim QR", in.reading(t, b2QR, qrReading(victim.ID)), "OPEN")
	// The alert is on the victim's timeline.
	_, tl := in.timeline(t, victim.ID, operatorToken)
	if !slices.ContainsFunc(tl.Events, func(e lanes.TimelineEvent) bool { return e.Kind == "lane.security-alert" }) {
		t.Fatal("the victim's timeline lacks the alert")
	}
}

// TestCrossingNoOpenBeforeWeighing: a camera read of a cleared truck
// alone publishes no OPEN; an overweight reading keeps the barrier closed
// and a later good weight or the QR does not undo it.
func TestCrossingNoOpenBeforeWeighing(t *testing.T) {
	in := launch(t, baseConfig(t), app.Options{})
	v := in.cleared(t, "53001")
	in.passB1(t, "12C-53001")
	events, stop := in.laneStream(t, "HUUNGHI", "EXP-1", operatorToken, "")
	defer stop()
	wantAnswer(t, "camera alone", in.reading(t, b2Camera, plateReading("12C-53001")), "KEEP-CLOSED", crossing.CodeWaiting)
	wantAnswer(t, "overweight", in.reading(t, b2Scale, weightReading(41000)), "KEEP-CLOSED", "WEIGHT_OVER")
	wantAnswer(t, "good weight after", in.reading(t, b2Scale, weightReading(38500)), "KEEP-CLOSED", "WEIGHT_OVER")
	last := in.reading(t, b2QR, qrReading(v.ID))
	wantAnswer(t, "QR after", last, "KEEP-CLOSED", "WEIGHT_OVER")
	// Three changes (the good weight changes no outcome), none an OPEN.
	for range 3 {
		ev := next(t, events, "lane decision", func(ev sseEvent) bool { return ev.Type == "lane-decision" })
		var a lanes.Answer
		_ = json.Unmarshal(ev.Data, &a)
		if a.Action == "OPEN" {
			t.Fatalf("OPEN published: %s", ev.Data)
		}
	}
	_, tl := in.timeline(t, v.ID, operatorToken)
	if len(tl.Checkpoints) != 1 {
		t.Fatalf("passed %+v", tl.Checkpoints)
	}
}

// TestCrossingReadingOrders: camera, weight and QR in each of the six
// orders give one outcome: a single OPEN, issued by the last reading.
func TestCrossingReadingOrders(t *testing.T) {
	in := launch(t, baseConfig(t), app.Options{})
	kinds := []string{"plate", "weight", "qr"}
	orders := [][]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}}
	for i, order := range orders {
		serial := fmt.Sprintf("5400%d", i)
		plate := "12C-" + serial
		v := in.cleared(t, serial)
		in.passB1(t, plate)
		var outs []lanes.Answer
		for _, k := range order {
			switch kinds[k] {
			case "plate":
				outs = append(outs, in.reading(t, b2Camera, plateReading(plate)))
			case "weight":
				outs = append(outs, in.reading(t, b2Scale, fmt.Sprintf(`{"kind":"weight","weightKg":38600,"plate":%q}`, plate)))
			case "qr":
				outs = append(outs, in.reading(t, b2QR, qrReading(v.ID)))
			}
		}
		for j, a := range outs {
			want := "KEEP-CLOSED"
			if j == len(outs)-1 {
				want = "OPEN"
			}
			if a.Action != want {
				t.Errorf("order %v reading %d: %s %v, want %s", order, j, a.Action, codesOf(a), want)
			}
		}
		final := outs[len(outs)-1]
		if final.DeclarationID != v.ID || final.Plate != plate || final.Checkpoint != "B2" {
			t.Errorf("order %v: final %+v", order, final)
		}
	}
}

// TestCrossingTrailerMismatch: a camera that reads trailers reads another
// trailer than declared: KEEP-CLOSED.
func TestCrossingTrailerMismatch(t *testing.T) {
	in := launch(t, baseConfig(t), app.Options{})
	in.cleared(t, "55001")
	a := in.reading(t, b1Camera, `{"kind":"plate","plate":"12C-55001","trailerPlate":"12R-99999","confidence":0.97}`)
	wantAnswer(t, "wrong trailer", a, "KEEP-CLOSED", crossing.CodeTrailerMismatch)
	in.cleared(t, "55002")
	wantAnswer(t, "declared trailer", in.reading(t, b1Camera, `{"kind":"plate","plate":"12C-55002","trailerPlate":"12R-00123","confidence":0.97}`), "OPEN")
}

// TestCrossingOutsideWindow: with a crossing window on the gate, a truck
// far from its planned crossing time is KEEP-CLOSED with the reason.
func TestCrossingOutsideWindow(t *testing.T) {
	in := launch(t, baseConfig(t), app.Options{})
	yaml, err := os.ReadFile(filepath.Join(repoRoot, "deploy/gates/huunghi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(yaml), "  # crossingWindow: 24h", "  crossingWindow: 24h", 1)
	resp, data := in.call(t, "PUT", "/v1/admin/gates/HUUNGHI", "dev-admin", []byte(edited), http.Header{"Content-Type": {"application/yaml"}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("apply gate: HTTP %d: %s", resp.StatusCode, data)
	}
	// The test clock stands at 2026-11-25; the sample plans 2026-12-01.
	in.cleared(t, "56001")
	a := in.reading(t, b1Camera, plateReading("12C-56001"))
	wantAnswer(t, "outside window", a, "KEEP-CLOSED", crossing.CodeOutsideWindow)
	if !strings.Contains(a.ReasonEN, "planned 2026-12-01") {
		t.Errorf("reason %q", a.ReasonEN)
	}
}

// TestCrossingOneActivePerPlate: a second declaration for a plate whose
// crossing is active is 409 naming the active one; after its cancellation
// a new one is accepted.
func TestCrossingOneActivePerPlate(t *testing.T) {
	in := launch(t, baseConfig(t), app.Options{})
	first := in.submitOK(t, sample(t, withSerial("57001")))
	resp, data := in.call(t, "POST", "/v1/declarations", traderToken, sample(t, withSerial("57001")), jsonHeader)
	if resp.StatusCode != http.StatusConflict || !strings.Contains(string(data), first.ID) {
		t.Fatalf("second declaration: HTTP %d: %s", resp.StatusCode, data)
	}
	// The CN plate alone is the same vehicle too.
	resp, _ = in.call(t, "POST", "/v1/declarations", traderToken, sample(t, func(m map[string]any) {
		withSerial("57009")(m)
		m["vehicle"].(map[string]any)["plateCN"] = "桂A57001"
	}), jsonHeader)
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("same CN plate: HTTP %d", resp.StatusCode)
	}
	resp, data = in.call(t, "POST", "/v1/declarations/"+first.ID+"/cancel", traderToken, []byte(`{"reason":"declared twice"}`), jsonHeader)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("cancel: %d %s", resp.StatusCode, data)
	}
	in.submitOK(t, sample(t, withSerial("57001")))
	// The cancelled declaration's QR opens nothing.
	wantAnswer(t, "cancelled QR", in.reading(t, b2QR, qrReading(first.ID)), "KEEP-CLOSED")
}

// TestCrossingTurnBackAndStaleReading: an operator turns a truck back; a
// late reading for a vehicle the lane moved past is not applied to the
// next one.
func TestCrossingTurnBackAndStaleReading(t *testing.T) {
	in := launch(t, baseConfig(t), app.Options{})
	a := in.cleared(t, "58001")
	b := in.cleared(t, "58002")
	in.passB1(t, "12C-58001")
	in.passB1(t, "12C-58002")
	first := in.reading(t, b2Camera, plateReading("12C-58001"))
	second := in.reading(t, b2Camera, plateReading("12C-58002"))
	if second.Vehicle != first.Vehicle+1 {
		t.Fatalf("vehicles %d, %d", first.Vehicle, second.Vehicle)
	}
	late := in.reading(t, b2Scale, fmt.Sprintf(`{"kind":"weight","weightKg":38500,"vehicle":%d}`, first.Vehicle))
	if !late.Stale || late.Vehicle != second.Vehicle || len(late.Readings.Weights) != 0 {
		t.Fatalf("late weight applied: %+v", late)
	}
	resp, data := in.call(t, "POST", "/v1/declarations/"+b.ID+"/turn-back", operatorToken, []byte(`{"reason":"seal broken"}`), jsonHeader)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("turn back: %d %s", resp.StatusCode, data)
	}
	in.reading(t, b2Scale, weightReading(38500))
	wantAnswer(t, "turned back", in.reading(t, b2QR, qrReading(b.ID)), "KEEP-CLOSED", crossing.CodeTurnedBack)
	resp, _ = in.call(t, "POST", "/v1/declarations/"+b.ID+"/turn-back", operatorToken, []byte(`{"reason":"again"}`), jsonHeader)
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("turn back twice: HTTP %d", resp.StatusCode)
	}
	if resp, _ := in.call(t, "POST", "/v1/declarations/"+a.ID+"/turn-back", traderToken, []byte(`{"reason":"x"}`), jsonHeader); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("trader turned a truck back: HTTP %d", resp.StatusCode)
	}
}

// TestCrossingSurvivesRestart: the lane's state and the crossing are in
// the store: a hub restarted between the weight and the QR opens once.
func TestCrossingSurvivesRestart(t *testing.T) {
	cfg := baseConfig(t)
	clock := testClock() // one clock across the restart, as a wall clock is
	in := launch(t, cfg, app.Options{Now: clock})
	v := in.cleared(t, "59001")
	in.passB1(t, "12C-59001")
	in.reading(t, b2Camera, plateReading("12C-59001"))
	in.reading(t, b2Scale, weightReading(38500))
	if err := in.stop(); err != nil {
		t.Fatal(err)
	}
	again := launch(t, cfg, app.Options{Now: clock})
	st := again.laneState(t, "EXP-1")
	if st.Vehicle == 0 || !st.Readings.HasPlate || len(st.Readings.Weights) != 1 {
		t.Fatalf("lane state after restart: %+v", st)
	}
	wantAnswer(t, "QR after restart", again.reading(t, b2QR, qrReading(v.ID)), "OPEN")
	_, tl := again.timeline(t, v.ID, operatorToken)
	if len(tl.Checkpoints) != 2 || tl.State != crossing.Arrived {
		t.Fatalf("crossing after restart: %s %+v", tl.State, tl.Checkpoints)
	}
}

func (in *instance) laneState(t *testing.T, lane string) lanes.Answer {
	t.Helper()
	resp, data := in.call(t, "GET", "/v1/gates/HUUNGHI/lanes/"+lane+"/state", operatorToken, nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("lane state: %d %s", resp.StatusCode, data)
	}
	var a lanes.Answer
	if err := json.Unmarshal(data, &a); err != nil {
		t.Fatal(err)
	}
	return a
}

// TestCrossingTwoInstancesShareALane: two hubs on one Postgres and Redis.
// The camera talks to A, the weighbridge to B, the QR scanner to A again:
// one lane state, one OPEN, seen alike on both instances' streams; the
// same readings raced at both instances at once still open only once.
func TestCrossingTwoInstancesShareALane(t *testing.T) {
	c := startCluster(t, nil)
	onA, _ := c.a.laneStream(t, "HUUNGHI", "EXP-1", operatorToken, "")
	onB, _ := c.b.laneStream(t, "HUUNGHI", "EXP-1", "dev-HUUNGHI-EXP-1-barrier", "")

	v := c.a.submitOK(t, sample(t, withSerial("70001")))
	next(t, onB, "CLEARED on B", decisionFor(v.ID, "CLEARED"))
	// A second declaration of the truck, sent to the other instance, is refused.
	if resp, data := c.b.call(t, "POST", "/v1/declarations", traderToken, sample(t, withSerial("70001")), jsonHeader); resp.StatusCode != http.StatusConflict || !strings.Contains(string(data), v.ID) {
		t.Fatalf("duplicate on B: HTTP %d %s", resp.StatusCode, data)
	}
	wantAnswer(t, "B1 on B", c.b.reading(t, b1Camera, plateReading("12C-70001")), "OPEN")
	wantAnswer(t, "camera on A", c.a.reading(t, b2Camera, plateReading("12C-70001")), "KEEP-CLOSED", crossing.CodeWaiting)
	wantAnswer(t, "weight on B", c.b.reading(t, b2Scale, weightReading(38500)), "KEEP-CLOSED", crossing.CodeWaiting)
	open := c.a.reading(t, b2QR, qrReading(v.ID))
	wantAnswer(t, "QR on A", open, "OPEN")
	if st := c.b.laneState(t, "EXP-1"); st.Token != open.Token || st.Vehicle != open.Vehicle {
		t.Fatalf("B sees another lane state: %+v", st)
	}
	for name, s := range map[string]<-chan sseEvent{"A": onA, "B": onB} {
		ev := next(t, s, "OPEN on "+name, laneDecisionFor(v.ID, "OPEN"))
		var a lanes.Answer
		_ = json.Unmarshal(ev.Data, &a)
		if a.Token != open.Token {
			t.Errorf("%s streamed another OPEN", name)
		}
	}

	// A race: the next truck's three readings sent to both instances at
	// once, twice each. Exactly one OPEN, whatever the interleaving.
	v2 := c.b.submitOK(t, sample(t, withSerial("70002")))
	next(t, onA, "CLEARED on A", decisionFor(v2.ID, "CLEARED"))
	wantAnswer(t, "B1", c.a.reading(t, b1Camera, plateReading("12C-70002")), "OPEN")
	bodies := []struct{ token, body string }{
		{b2Camera, plateReading("12C-70002")},
		{b2Scale, `{"kind":"weight","weightKg":38500,"plate":"12C-70002"}`},
		{b2QR, qrReading(v2.ID)},
	}
	results := make(chan lanes.Answer, 12)
	var wg sync.WaitGroup
	for _, in := range []*instance{c.a, c.b, c.a, c.b} {
		for _, b := range bodies {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest("POST", in.url+"/v1/devices/readings", strings.NewReader(b.body))
				req.Header.Set("Authorization", "Bearer "+b.token)
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				defer resp.Body.Close()
				var a lanes.Answer
				if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&a) != nil {
					t.Errorf("racing reading: HTTP %d", resp.StatusCode)
					return
				}
				results <- a
			}()
		}
	}
	wg.Wait()
	close(results)
	tokens := map[string]bool{}
	for a := range results {
		if a.Action == "OPEN" {
			tokens[a.Token] = true
		}
	}
	if len(tokens) != 1 {
		t.Fatalf("%d distinct OPEN tokens for one vehicle, want 1", len(tokens))
	}
	if n := c.a.auditCount(t, "crossing.checkpoint-passed"); n != 4 {
		t.Errorf("%d checkpoint passages logged, want 4 (two trucks, B1 and B2)", n)
	}
}
