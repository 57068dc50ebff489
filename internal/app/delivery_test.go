package app_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehub/gatehub/adapters/agency"
	"github.com/gatehub/gatehub/internal/clearance"
	"github.com/gatehub/gatehub/internal/config"
	"github.com/gatehub/gatehub/internal/decisions"
	"github.com/gatehub/gatehub/internal/operator"
	sim "github.com/gatehub/gatehub/internal/simulator"
	"github.com/gatehub/gatehub/internal/views"
)

// TestAckDeadlineOverdue: a silent agency is named overdue once the gate's
// ACK deadline for it has passed, and operators find the message listed.
// The clock is moved, not waited for.
func TestAckDeadlineOverdue(t *testing.T) {
	clock := newManualClock()
	h := startWith(t, setup{simulator: silent("guangxi"), now: clock.Now})
	events := h.events("HUUNGHI", "EXP-1")
	v := h.submit(sample(t, nil))
	h.waitDecision(events, v.ID, awaitingAckOnly("guangxi"))
	m := messageOf(t, h.view(v.ID), "guangxi")
	// deploy/gates/huunghi.yaml gives Guangxi 20 minutes.
	if got := m.AckDeadline.Sub(m.SentAt); got != 20*time.Minute {
		t.Fatalf("guangxi deadline %v after delivery, want 20m", got)
	}

	overdue := func() []string {
		resp, data := h.do("GET", "/v1/admin/overdue", operatorToken, nil, "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("overdue: HTTP %d %s", resp.StatusCode, data)
		}
		var ids []string
		for _, m := range decodeJSON[struct{ Messages []views.MessageView }](t, data).Messages {
			if !m.Overdue {
				t.Errorf("overdue listing holds %s, not overdue", m.ID)
			}
			ids = append(ids, m.ID)
		}
		return ids
	}
	tests := []struct {
		name    string
		advance time.Duration // from the previous step
		overdue bool
	}{
		{"within the deadline", 0, false},
		{"just before it", 19*time.Minute + 50*time.Second, false},
		{"past it", 11 * time.Second, true},
		{"long past it", time.Hour, true},
	}
	// Whatever real time elapses in between is far below the steps' margins.
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock.Advance(tc.advance)
			got := h.view(v.ID)
			var wantOverdue, wantList []string
			if tc.overdue {
				wantOverdue, wantList = []string{"guangxi"}, []string{m.ID}
			}
			if got.Decision.Status != "PENDING" || !slices.Equal(got.Decision.Overdue, wantOverdue) {
				t.Fatalf("decision %s overdue %v, want PENDING overdue %v", got.Decision.Status, got.Decision.Overdue, wantOverdue)
			}
			if tc.overdue && reasonCode(decisions.DecisionEvent{Decision: got.Decision}, "guangxi") != clearance.CodeAckOverdue {
				t.Errorf("reasons %+v do not say guangxi is overdue", got.Decision.Reasons)
			}
			if mv := messageOf(t, got, "guangxi"); mv.Overdue != tc.overdue {
				t.Errorf("message overdue=%v, want %v", mv.Overdue, tc.overdue)
			}
			if ids := overdue(); !slices.Equal(ids, wantList) {
				t.Fatalf("GET /v1/admin/overdue lists %v, want %v", ids, wantList)
			}
		})
	}
}

// metricValue reads one sample from a Prometheus text exposition; -1 when
// the series is absent.
func metricValue(t *testing.T, exposition, series string) float64 {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
	m := re.FindStringSubmatch(exposition)
	if m == nil {
		return -1
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("%s: %v", series, err)
	}
	return f
}

func (h *harness) scrape() string {
	h.t.Helper()
	resp, data := h.do("GET", "/metrics", "", nil, "")
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("metrics: HTTP %d", resp.StatusCode)
	}
	return string(data)
}

// TestDeadLetterRedrive: an agency that fails every attempt leaves its
// message dead with the last error, the truck on HOLD naming it; once the
// agency recovers an operator's redrive delivers it and clears the truck.
// The metrics tell the same story.
func TestDeadLetterRedrive(t *testing.T) {
	const maxAttempts = 3
	h := startWith(t, setup{
		simulator: func(c *sim.Config) {
			if c.Agency == "customs" {
				c.FailFirst = maxAttempts
			}
		},
		config: func(c *config.Config) {
			c.Delivery.MaxAttempts = maxAttempts
			// One HTTP call per attempt, so the simulator's count of
			// failures is the dispatcher's count of attempts.
			c.Delivery.InCallRetries = 0
		},
	})
	events := h.events("HUUNGHI", "EXP-1")
	v := h.submit(sample(t, nil))
	ev := h.waitDecision(events, v.ID, func(ev decisions.DecisionEvent) bool { return ev.Decision.Status == "HOLD" })
	if reasonCode(ev, "customs") != clearance.CodeDeliveryFailed {
		t.Fatalf("HOLD without customs' delivery failure: %+v", ev.Decision.Reasons)
	}
	got := h.view(v.ID)
	m := messageOf(t, got, "customs")
	if m.State != "dead" || m.Attempts != maxAttempts || !strings.Contains(m.LastError, "503") {
		t.Fatalf("customs message %s, %d attempts, last error %q; want dead after %d with the 503", m.State, m.Attempts, m.LastError, maxAttempts)
	}
	if got.Decision.Status != "HOLD" {
		t.Fatalf("view decision %s", got.Decision.Status)
	}
	if n := h.app.Simulators.Server("customs").Deliveries(m.ID); n != maxAttempts {
		t.Fatalf("customs saw %d attempts, want %d", n, maxAttempts)
	}
	resp, data := h.do("GET", "/v1/admin/outbox?state=dead", operatorToken, nil, "")
	if dead := decodeJSON[struct{ Messages []views.MessageView }](t, data).Messages; resp.StatusCode != http.StatusOK || len(dead) != 1 || dead[0].ID != m.ID {
		t.Fatalf("dead-letter listing: HTTP %d %s", resp.StatusCode, data)
	}
	metrics := h.scrape()
	for series, want := range map[string]float64{
		`gatehub_messages{agency="customs",state="dead"}`:                       1,
		`gatehub_dead_letters_total{agency="customs"}`:                          1,
		`gatehub_delivery_attempts_total{agency="customs",outcome="temporary"}`: maxAttempts,
		`gatehub_delivery_attempts_total{agency="guangxi",outcome="delivered"}`: 1,
		`gatehub_delivery_duration_seconds_count{agency="customs"}`:             maxAttempts,
		`gatehub_ack_latency_seconds_count{agency="guangxi",status="ACK"}`:      1,
		`gatehub_messages{agency="guangxi",state="acked"}`:                      1,
		// Created at zero at start (metrics.Init): present before their first
		// event, so increase() sees that event.
		`gatehub_acks_refused_total{agency="customs",code="signature"}`:                 0,
		`gatehub_delivery_attempts_total{agency="customs",outcome="delivered"}`:         0,
		`gatehub_delivery_attempts_total{agency="vehicleregistry",outcome="temporary"}`: 0,
	} {
		if got := metricValue(t, metrics, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}

	// Redriving before the agency recovered would only fail again: fix it first.
	zero := 0
	if err := h.app.Simulators.Server("customs").Reconfigure(sim.Update{FailFirst: &zero}); err != nil {
		t.Fatal(err)
	}
	// Only operators and admins redrive; only dead or cancelled messages.
	if resp, _ := h.do("POST", "/v1/admin/outbox/"+m.ID+"/redrive", traderToken, nil, ""); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("trader redrive: HTTP %d", resp.StatusCode)
	}
	if resp, data := h.do("POST", "/v1/admin/outbox/"+messageOf(t, got, "guangxi").ID+"/redrive", operatorToken, nil, ""); resp.StatusCode != http.StatusConflict {
		t.Fatalf("redrive of an acked message: HTTP %d %s", resp.StatusCode, data)
	}
	resp, data = h.do("POST", "/v1/admin/outbox/"+m.ID+"/redrive", operatorToken, nil, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("redrive: HTTP %d %s", resp.StatusCode, data)
	}
	if rm := decodeJSON[views.MessageView](t, data); rm.State != "pending" || rm.Attempts != 0 || rm.ID != m.ID {
		t.Fatalf("redriven message %+v, want the same id pending with attempts reset", rm)
	}
	h.waitDecision(events, v.ID, func(ev decisions.DecisionEvent) bool { return ev.Decision.Status == "CLEARED" })
	got = h.view(v.ID)
	if m2 := messageOf(t, got, "customs"); m2.ID != m.ID || m2.State != "acked" || m2.LastError != "" {
		t.Fatalf("after redrive customs %s %s error %q", m2.ID, m2.State, m2.LastError)
	}
	if n := len(h.audit("kind=operator.redrive&message=" + m.ID)); n != 1 {
		t.Errorf("%d operator.redrive entries, want 1", n)
	}

	metrics = h.scrape()
	for series, want := range map[string]float64{
		// Counted before, none now: reported as 0, not dropped.
		`gatehub_messages{agency="customs",state="dead"}`:                       0,
		`gatehub_messages{agency="customs",state="acked"}`:                      1,
		`gatehub_dead_letters_total{agency="customs"}`:                          1,
		`gatehub_delivery_attempts_total{agency="customs",outcome="delivered"}`: 1,
		`gatehub_ack_latency_seconds_count{agency="customs",status="ACK"}`:      1,
	} {
		if got := metricValue(t, metrics, series); got != want {
			t.Errorf("after redrive: %s = %v, want %v", series, got, want)
		}
	}
	for _, name := range []string{"gatehub_messages", "gatehub_delivery_attempts_total", "gatehub_delivery_duration_seconds",
		"gatehub_ack_latency_seconds", "gatehub_dead_letters_total"} {
		if !strings.Contains(metrics, "# TYPE "+name+" ") {
			t.Errorf("/metrics does not expose %s", name)
		}
	}
}

// TestCancelWhileDelivering: a declaration cancelled while its first
// message to an agency is on the wire must not just withdraw that message
// (the agency may have it): the agency gets a cancel message for it.
func TestCancelWhileDelivering(t *testing.T) {
	arrived := make(chan string, 4)
	release := make(chan struct{})
	var first atomic.Bool
	agencyEndpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		arrived <- r.Header.Get(agency.HeaderMessageID)
		if first.CompareAndSwap(false, true) {
			<-release // hold the first delivery on the wire
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(agencyEndpoint.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	h := startWith(t, setup{config: func(c *config.Config) {
		c.AgencyURLs = map[string]string{"customs": agencyEndpoint.URL}
		c.Delivery.InCallRetries = 0
	}})
	v := h.submit(sample(t, nil))
	submitted := messageOf(t, v, "customs")
	select {
	case <-arrived:
	case <-time.After(30 * time.Second): // a guard, not a synchronisation
		t.Fatal("the customs message never reached the endpoint")
	}

	resp, data := h.do("POST", "/v1/declarations/"+v.ID+"/cancel", traderToken, nil, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("cancel: HTTP %d %s", resp.StatusCode, data)
	}
	after := decodeJSON[views.DeclarationView](t, data)
	var cancel *views.MessageView
	for i, m := range after.Messages {
		if m.Agency == "customs" && m.Kind == "cancel" {
			cancel = &after.Messages[i]
		}
		if m.ID == submitted.ID && m.State == "cancelled" {
			t.Errorf("the in-flight submit was withdrawn as if it never left the hub")
		}
	}
	if cancel == nil || cancel.PreviousID != submitted.ID {
		t.Fatalf("no customs cancel message referencing %s: %+v", submitted.ID, after.Messages)
	}
	if after.Decision.Status != "CANCELLED" {
		t.Fatalf("decision %s", after.Decision.Status)
	}
	close(release)
	select {
	case id := <-arrived:
		if id != cancel.ID {
			t.Fatalf("endpoint got %s next, want the cancel %s", id, cancel.ID)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the cancel message never reached the endpoint")
	}
}

// After an agency's outage an operator redrives the whole agency at once:
// every dead-lettered message of that agency (and only of that agency)
// goes back in the queue under its own id, each with its audit entry, and
// the declarations held by the outage clear.
func TestRedriveAgencyAfterOutage(t *testing.T) {
	const maxAttempts, declarations = 2, 4
	h := startWith(t, setup{
		simulator: func(c *sim.Config) {
			if c.Agency == "guangxi" {
				c.FailFirst = 1 << 20 // down until reconfigured
			}
		},
		config: func(c *config.Config) {
			c.Delivery.MaxAttempts, c.Delivery.InCallRetries = maxAttempts, 0
			// Dead letters quickly: the circuit would otherwise hold the
			// messages back while the agency is down, as it should.
			c.Delivery.BreakerFailures = 1000
		},
	})
	events := h.events("HUUNGHI", "EXP-1")
	var ids []string
	for i := range declarations {
		v := h.submit(sample(t, plate(44000+i)))
		ids = append(ids, v.ID)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, id := range ids {
		for h.view(id).Decision.Status != "HOLD" {
			if time.Now().After(deadline) {
				t.Fatalf("%s not held by guangxi's outage: %s", id, messageStates(h.view(id)))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	zero := 0
	if err := h.app.Simulators.Server("guangxi").Reconfigure(sim.Update{FailFirst: &zero}); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]int{
		"/v1/admin/agencies/guangxi/redrive?limit=0": http.StatusBadRequest,
		"/v1/admin/agencies/nowhere/redrive":         http.StatusNotFound,
	} {
		if resp, data := h.do("POST", path, operatorToken, nil, ""); resp.StatusCode != want {
			t.Errorf("POST %s: HTTP %d %s, want %d", path, resp.StatusCode, data, want)
		}
	}
	if resp, _ := h.do("POST", "/v1/admin/agencies/guangxi/redrive", traderToken, nil, ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("trader redrive: HTTP %d", resp.StatusCode)
	}
	resp, data := h.do("POST", "/v1/admin/agencies/guangxi/redrive", operatorToken, nil, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("redrive guangxi: HTTP %d %s", resp.StatusCode, data)
	}
	res := decodeJSON[operator.AgencyRedrive](t, data)
	if len(res.Redriven) != declarations || res.More || res.Agency != "guangxi" {
		t.Fatalf("redrive: %+v, want %d messages", res, declarations)
	}
	views := waitFinal(h, events, ids, 30*time.Second)
	for _, id := range ids {
		m := messageOf(t, views[id], "guangxi")
		if m.State != "acked" || !slices.Contains(res.Redriven, m.ID) {
			t.Errorf("%s: guangxi message %s %s after the redrive", id, m.ID, m.State)
		}
		if n := len(h.audit("kind=operator.redrive&message=" + m.ID)); n != 1 {
			t.Errorf("%s: %d operator.redrive entries, want 1", m.ID, n)
		}
	}
}
