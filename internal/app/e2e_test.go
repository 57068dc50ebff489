package app_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehub/gatehub/adapters/gatedevice"
	"github.com/gatehub/gatehub/internal/app"
	"github.com/gatehub/gatehub/internal/config"
	"github.com/gatehub/gatehub/internal/decisions"
	"github.com/gatehub/gatehub/internal/lanes"
	sim "github.com/gatehub/gatehub/internal/simulator"
	"github.com/gatehub/gatehub/internal/views"
)

const (
	traderToken   = "dev-trader-0101234567"
	operatorToken = "dev-operator"
	repoRoot      = "../.."
)

// testClock starts at a fixed instant, so that sample dates stay valid for
// as long as this repository lives, and then advances with real time, so
// that timeouts and backoff behave.
func testClock() func() time.Time {
	base := time.Date(2026, 11, 25, 1, 0, 0, 0, time.UTC)
	start := time.Now()
	return func() time.Time { return base.Add(time.Since(start)) }
}

type harness struct {
	t   *testing.T
	app *app.App
	url string
}

// start runs a complete embedded hub with in-process simulators over
// loopback HTTP. configure adjusts each simulator (mode, failures).
func start(t *testing.T, configure func(*sim.Config)) *harness {
	t.Helper()
	return startWith(t, setup{simulator: configure})
}

// setup adjusts a test hub beyond the defaults of start.
type setup struct {
	simulator func(*sim.Config)    // each simulator's configuration
	config    func(*config.Config) // the hub's, after the test defaults
	now       func() time.Time     // the clock of hub and simulators; testClock() when nil
}

func startWith(t *testing.T, su setup) *harness {
	t.Helper()
	cfg := baseConfig(t)
	if su.config != nil {
		su.config(&cfg)
	}
	return launch(t, cfg, app.Options{Now: su.now, ConfigureSimulator: su.simulator}).harness
}

func (h *harness) do(method, path, token string, body []byte, contentType string) (*http.Response, []byte) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.url+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp, data
}

// events opens the lane's SSE stream and returns once the subscription is
// live (the server's opening comment arrived), so nothing published later
// is missed.
func (h *harness) events(gate, lane string) <-chan decisions.DecisionEvent {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h.t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", h.url+"/v1/gates/"+gate+"/lanes/"+lane+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+operatorToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("open event stream: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("event stream: HTTP %d", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), ":") {
		h.t.Fatalf("event stream did not open")
	}
	out := make(chan decisions.DecisionEvent, 64)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		var typ string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				typ = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: ") && typ == "decision":
				var ev decisions.DecisionEvent
				if json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev) == nil {
					out <- ev
				}
			}
		}
	}()
	return out
}

// waitDecision reads decision events for declaration id until cond holds.
func (h *harness) waitDecision(events <-chan decisions.DecisionEvent, id string, cond func(decisions.DecisionEvent) bool) decisions.DecisionEvent {
	h.t.Helper()
	deadline := time.After(30 * time.Second) // a guard against hanging, not a synchronisation
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				h.t.Fatalf("event stream closed before the expected decision for %s", id)
			}
			if ev.DeclarationID == id && cond(ev) {
				return ev
			}
		case <-deadline:
			h.t.Fatalf("no matching decision for %s within 30s", id)
		}
	}
}

func sample(t *testing.T, edit func(map[string]any)) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, "conformance-tests/declarations/huu-nghi-export.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(m)
	}
	out, _ := json.Marshal(m)
	return out
}

func (h *harness) submit(body []byte) views.DeclarationView {
	h.t.Helper()
	resp, data := h.do("POST", "/v1/declarations", traderToken, body, "application/json")
	if resp.StatusCode != http.StatusCreated {
		h.t.Fatalf("submit: HTTP %d: %s", resp.StatusCode, data)
	}
	var v views.DeclarationView
	if err := json.Unmarshal(data, &v); err != nil {
		h.t.Fatal(err)
	}
	return v
}

func (h *harness) view(id string) views.DeclarationView {
	h.t.Helper()
	resp, data := h.do("GET", "/v1/declarations/"+id, traderToken, nil, "")
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("get declaration: HTTP %d: %s", resp.StatusCode, data)
	}
	var v views.DeclarationView
	if err := json.Unmarshal(data, &v); err != nil {
		h.t.Fatal(err)
	}
	return v
}

func TestEndToEndCleared(t *testing.T) {
	h := start(t, nil)
	events := h.events("HUUNGHI", "EXP-1")
	v := h.submit(sample(t, nil))
	if len(v.Messages) != 4 {
		t.Fatalf("want 4 agency messages, got %d", len(v.Messages))
	}
	h.waitDecision(events, v.ID, func(ev decisions.DecisionEvent) bool { return ev.Decision.Status == "CLEARED" })

	got := h.view(v.ID)
	if got.Decision.Status != "CLEARED" {
		t.Fatalf("decision %s", got.Decision.Status)
	}
	var agencies []string
	for _, m := range got.Messages {
		agencies = append(agencies, m.Agency)
		if m.State != "acked" || m.Ack == nil || m.Ack.Status != "ACK" {
			t.Errorf("%s: state %s ack %+v", m.Agency, m.State, m.Ack)
		}
	}
	slices.Sort(agencies)
	if got := strings.Join(agencies, ","); got != "borderguard,customs,guangxi,vehicleregistry" {
		t.Errorf("agencies %s, want all four", got)
	}
	// The signed bytes an agency received are retrievable, exactly.
	resp, body := h.do("GET", "/v1/messages/"+got.Messages[0].ID, operatorToken, nil, "")
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("Signature")) {
		t.Fatalf("message body: HTTP %d", resp.StatusCode)
	}
	// By plate, as a gate would ask.
	h.checkDecisionByPlate("12C-12345", got)
}

// checkDecisionByPlate asks for the decisions by plate, as a gate does, and
// checks that the newest is the one the declaration's view gives.
func (h *harness) checkDecisionByPlate(plate string, want views.DeclarationView) {
	h.t.Helper()
	resp, body := h.do("GET", "/v1/decisions?plate="+plate, operatorToken, nil, "")
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("decision by plate: HTTP %d %s", resp.StatusCode, body)
	}
	got := decodeJSON[struct{ Decisions []views.PlateDecision }](h.t, body).Decisions
	if len(got) == 0 {
		h.t.Fatalf("no decision for plate %s: %s", plate, body)
	}
	d := got[0]
	// Both are derived afresh at their own instant.
	d.Decision.DecidedAt, want.Decision.DecidedAt = time.Time{}, time.Time{}
	if d.DeclarationID != want.ID || d.Version != want.Version || d.Gate != want.Gate || d.Lane != want.Lane ||
		d.Status != want.Status || !reflect.DeepEqual(d.Decision, want.Decision) {
		h.t.Fatalf("decision by plate %+v\nwant that of the declaration %+v", d, want.Decision)
	}
}

func TestEndToEndRejectedByRegistry(t *testing.T) {
	h := start(t, nil)
	events := h.events("HUUNGHI", "EXP-1")
	v := h.submit(sample(t, func(m map[string]any) {
		veh := m["vehicle"].(map[string]any)
		veh["inspectionCertificate"].(map[string]any)["expiresOn"] = "2026-10-31"
	}))
	// The registry's NACK rejects at once; the decision settles when the
	// other agencies have answered too, and only a settled decision reads
	// the same through the declaration and through the plate.
	ev := h.waitDecision(events, v.ID, func(ev decisions.DecisionEvent) bool {
		return ev.Decision.Status == "REJECTED" && len(ev.Decision.Awaiting) == 0
	})
	found := false
	for _, r := range ev.Decision.Reasons {
		if r.Agency == "vehicleregistry" && r.Code != "" && strings.Contains(r.EN+r.Code, "INSPECTION") {
			found = true
		}
	}
	if !found {
		t.Fatalf("REJECTED without the registry's inspection reason: %+v", ev.Decision.Reasons)
	}
	h.checkDecisionByPlate("12C-12345", h.view(v.ID))
}

func TestEndToEndPendingOnSilentAgency(t *testing.T) {
	h := start(t, func(c *sim.Config) {
		if c.Agency == "guangxi" {
			c.Mode = "silent"
		}
	})
	events := h.events("HUUNGHI", "EXP-1")
	v := h.submit(sample(t, nil))
	ev := h.waitDecision(events, v.ID, func(ev decisions.DecisionEvent) bool {
		return ev.Decision.Status == "PENDING" && slices.Equal(ev.Decision.Awaiting, []string{"guangxi"})
	})
	if len(ev.Decision.Reasons) == 0 {
		t.Fatalf("PENDING without a reason naming who is awaited")
	}
}

func TestEndToEndAgencyNeedsField(t *testing.T) {
	h := start(t, nil)
	body := sample(t, func(m map[string]any) {
		delete(m["consignments"].([]any)[1].(map[string]any), "descriptionCN")
	})
	resp, data := h.do("POST", "/v1/declarations", traderToken, body, "application/json")
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("want 422, got %d: %s", resp.StatusCode, data)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("content type %q", ct)
	}
	if !bytes.Contains(data, []byte(`"pointer":"/consignments/1/descriptionCN"`)) || !bytes.Contains(data, []byte("Guangxi")) {
		t.Fatalf("problem does not name the field and agency: %s", data)
	}
	// Nothing was written: the trader's list is still empty.
	resp, data = h.do("GET", "/v1/declarations", traderToken, nil, "")
	if resp.StatusCode != http.StatusOK || !bytes.Contains(data, []byte(`"declarations": []`)) {
		t.Fatalf("a refused declaration left state behind: %s", data)
	}
}

func TestEndToEndLane(t *testing.T) {
	h := start(t, nil)
	events := h.events("HUUNGHI", "EXP-1")
	v := h.submit(sample(t, nil))
	h.waitDecision(events, v.ID, func(ev decisions.DecisionEvent) bool { return ev.Decision.Status == "CLEARED" })

	keys := map[string]ed25519.PublicKey{h.app.LaneKey.KeyID: h.app.LaneKey.Key.Public().(ed25519.PublicKey)}
	tests := []struct {
		name, token, body string
		action, reason    string
	}{
		{"gate-in B1: plate and the border guard's pass", "dev-HUUNGHI-GATE-1-camera", `{"kind":"plate","plate":"12c 12345","confidence":0.97}`, "OPEN", ""},
		{"B2 plate read: waits for the weighbridge", "dev-HUUNGHI-EXP-1-camera", `{"kind":"plate","plate":"12c 12345","confidence":0.97}`, "KEEP-CLOSED", "waiting for the weight"},
		{"weight within tolerance: waits for the QR", "dev-HUUNGHI-EXP-1-scale", `{"kind":"weight","weightKg":38500}`, "KEEP-CLOSED", "waiting for the qr"},
		{"overweight", "dev-HUUNGHI-EXP-1-scale", `{"kind":"weight","weightKg":41000}`, "KEEP-CLOSED", "41,000 kg"},
		{"unknown truck", "dev-HUUNGHI-EXP-1-camera", `{"kind":"plate","plate":"99Z-99999","confidence":0.99}`, "KEEP-CLOSED", "no declaration"},
		{"QR of the declaration shown by the unknown truck", "dev-HUUNGHI-EXP-1-qr", `{"kind":"qr","code":"` + v.ID + `"}`, "KEEP-CLOSED", "QR code names declaration"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, data := h.do("POST", "/v1/devices/readings", tc.token, []byte(tc.body), "application/json")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("HTTP %d: %s", resp.StatusCode, data)
			}
			var ans lanes.Answer
			if err := json.Unmarshal(data, &ans); err != nil {
				t.Fatal(err)
			}
			if ans.Action != tc.action || !strings.Contains(ans.ReasonEN, tc.reason) {
				t.Fatalf("got %s %q, want %s containing %q", ans.Action, ans.ReasonEN, tc.action, tc.reason)
			}
			if ans.DeclarationID == "" {
				if ans.Token != "" {
					t.Fatalf("an answer about no declaration carries a token")
				}
				return
			}
			d, err := gatedevice.Verify(keys, ans.Token, h.app.Tx.Clock())
			if err != nil {
				t.Fatalf("signed decision does not verify: %v", err)
			}
			if d.Action != tc.action || d.Lane != ans.Lane || d.Checkpoint != ans.Checkpoint {
				t.Fatalf("token says %s for %s/%s, answer %s/%s", d.Action, d.Checkpoint, d.Lane, ans.Checkpoint, ans.Lane)
			}
		})
	}
	// A device of another lane cannot read this lane's stream.
	resp, _ := h.do("GET", "/v1/gates/HUUNGHI/lanes/EXP-1/events", "dev-HUUNGHI-EXP-2-camera", nil, "")
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-lane stream: HTTP %d", resp.StatusCode)
	}
}
