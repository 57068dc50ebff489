package app_test

import (
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/decisions"
	sim "github.com/gatehub/gatehub/internal/simulator"
)

// TestOverdueMessageIsSentAgain: an agency that took a message but whose
// answer never came (a lost async callback) gets the same message again once
// the gate's ACK deadline has passed, and its answer to the resend clears
// the truck. Resending before a full deadline period is not done.
func TestOverdueMessageIsSentAgain(t *testing.T) {
	clock := newManualClock()
	h := startWith(t, setup{simulator: silent("guangxi"), now: clock.Now})
	events := h.events("HUUNGHI", "EXP-1")
	v := h.submit(sample(t, nil))
	h.waitDecision(events, v.ID, awaitingAckOnly("guangxi"))
	m := messageOf(t, h.view(v.ID), "guangxi")
	gx := h.app.Simulators.Server("guangxi")

	if n, err := h.app.Operator.ResendOverdue(t.Context(), 100); err != nil || n != 0 {
		t.Fatalf("before the deadline: resent %d, %v", n, err)
	}
	// The agency now answers (synchronously) whatever it receives.
	if err := gx.Reconfigure(sim.Update{Mode: ptr("sync")}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(21 * time.Minute) // deploy/gates/huunghi.yaml: Guangxi 20 minutes
	n, err := h.app.Operator.ResendOverdue(t.Context(), 100)
	if err != nil || n != 1 {
		t.Fatalf("past the deadline: resent %d, %v; want 1", n, err)
	}
	h.waitDecision(events, v.ID, func(ev decisions.DecisionEvent) bool { return ev.Decision.Status == "CLEARED" })
	if got := gx.Deliveries(m.ID); got != 2 {
		t.Fatalf("guangxi saw message %s %d times, want 2 (same id)", m.ID, got)
	}
	resent := h.audit("kind=message.resent&message=" + m.ID)
	if len(resent) != 1 {
		t.Fatalf("%d message.resent entries, want 1", len(resent))
	}
}

func ptr[T any](v T) *T { return &v }
