package app_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/app"
	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/config"
	"github.com/gatehub/gatehub/internal/decisions"
	"github.com/gatehub/gatehub/internal/store"
)

// Two hub instances on one Postgres outbox (FOR UPDATE SKIP LOCKED leases)
// share the work without ever sending the same attempt twice: with no
// failure injected, every agency sees every message exactly once, every
// attempt is settled by exactly one instance, and both instances delivered.
func TestTwoInstancesShareTheOutbox(t *testing.T) {
	const declarations = 40
	c := startCluster(t, func(cfg *config.Config) {
		// Small batches and a few workers, so that both dispatchers keep
		// coming back for more while the other one holds leases.
		cfg.Delivery.Batch, cfg.Delivery.Workers = 4, 4
	})
	// Each instance announces the decisions it takes; both streams together
	// miss nothing whether or not the fan-out crosses instances.
	events := mergeDecisions(c.a.events("HUUNGHI", "EXP-1"), c.b.events("HUUNGHI", "EXP-1"))

	ids := make([]string, 0, declarations)
	for i := range declarations {
		in := c.a
		if i%2 == 1 {
			in = c.b
		}
		v := in.submit(sample(t, withSerial(fmt.Sprintf("%05d", 30000+i))))
		ids = append(ids, v.ID)
	}
	views := waitFinal(c.a.harness, events, ids, 45*time.Second)

	seen := map[string]bool{}
	for _, id := range ids {
		v := views[id]
		if v.Decision.Status != "CLEARED" {
			t.Errorf("%s: %s %+v", id, v.Decision.Status, v.Decision.Reasons)
		}
		for _, m := range v.Messages {
			if seen[m.ID] {
				t.Errorf("message id %s used twice", m.ID)
			}
			seen[m.ID] = true
			if m.State != "acked" || m.Attempts != 1 {
				t.Errorf("%s %s: state %s after %d attempts, want acked after 1", id, m.Agency, m.State, m.Attempts)
			}
			if n := c.sims.Server(m.Agency).Deliveries(m.ID); n != 1 {
				t.Errorf("%s %s: agency saw message %s %d times, want exactly once", id, m.Agency, m.ID, n)
			}
		}
	}
	if len(seen) != 4*declarations {
		t.Errorf("%d messages, want %d", len(seen), 4*declarations)
	}
	for _, agency := range c.sims.Agencies() {
		for id := range c.sims.Server(agency).Stats() {
			if !seen[id] {
				t.Errorf("%s saw message %s that no declaration lists", agency, id)
			}
		}
	}

	// Each attempt was settled once, by one instance: one delivery.attempt
	// entry per message in the shared audit log.
	settled := map[string]int{}
	err := c.a.app.Store.WithTx(context.Background(), func(tx store.Tx) error {
		entries, err := tx.ListAudit(context.Background(), store.AuditFilter{Kind: audit.KindDeliveryAttempt})
		for _, e := range entries {
			settled[e.MessageID]++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for id := range seen {
		if settled[id] != 1 {
			t.Errorf("message %s: %d delivery.attempt entries, want 1", id, settled[id])
		}
	}

	// Both dispatchers took part, and between them made one attempt per
	// message.
	a, b := deliveryAttempts(t, c.a.app), deliveryAttempts(t, c.b.app)
	t.Logf("delivery attempts: %s %d, %s %d", c.a.app.Config.InstanceID, a, c.b.app.Config.InstanceID, b)
	if a == 0 || b == 0 {
		t.Errorf("one instance delivered nothing (a=%d b=%d): the outbox was not shared", a, b)
	}
	if a+b != 4*declarations {
		t.Errorf("%d delivery attempts in all, want %d", a+b, 4*declarations)
	}
}

// deliveryAttempts sums gatehub_delivery_attempts_total of one instance.
func deliveryAttempts(t *testing.T, a *app.App) int {
	t.Helper()
	families, err := a.Metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, f := range families {
		if f.GetName() != "gatehub_delivery_attempts_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			total += m.GetCounter().GetValue()
		}
	}
	return int(total)
}

// mergeDecisions forwards the events of several streams into one.
func mergeDecisions(streams ...<-chan decisions.DecisionEvent) <-chan decisions.DecisionEvent {
	out := make(chan decisions.DecisionEvent, 256)
	for _, s := range streams {
		go func() {
			for ev := range s {
				out <- ev
			}
		}()
	}
	return out
}
