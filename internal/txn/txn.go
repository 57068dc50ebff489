// Package txn is the store transaction every orchestration package of the
// hub runs its state changes in: audit entries appended during the work are
// chained at its end (the audit head lock taken last), lane events are
// written to the store in it, and what must only follow a commit (waking
// the dispatcher and the event relay, metrics, log lines) is registered on
// the transaction itself (store.Tx.AfterCommit), so a rollback, a retried
// attempt or a lost lease drops it with the writes.
package txn

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/store"
)

// Runner runs the hub's transactions. Store is required.
type Runner struct {
	Store store.Store
	// Now is the hub's clock (optional; time.Now), truncated to the
	// store's precision.
	Now func() time.Time
	// WakeEvents is called after a transaction committed events, so the
	// event relay publishes them now rather than at its next poll.
	// Optional: without a relay running, events wait in the store.
	WakeEvents func()
	// Wake is called after a transaction committed new outbound messages,
	// so the dispatcher need not wait for its next poll. Optional.
	Wake func()
}

// Clock returns the hub's current time.
func (r *Runner) Clock() time.Time {
	if r.Now != nil {
		return store.Truncate(r.Now())
	}
	return store.Truncate(time.Now())
}

// Effects collects what a transaction produces besides its own writes.
// Events go into the store in the same transaction (the transactional
// outbox of internal/eventrelay), appended when the transaction's work is
// done; waking the dispatcher and the relay, and the observations (metrics,
// logs), happen only once it committed: doing them inside would announce
// state that a rollback could still erase.
type Effects struct {
	events   []store.Event
	wake     bool
	observed []func()
}

// Publish queues an event for the lane devices (or instances) subscribed
// to topic. key names what v is the whole state of within the topic (a
// declaration id, a lane): a device that connects gets the newest event of
// each key first, and a repeated event changes nothing, so an event must
// never be a delta.
func (fx *Effects) Publish(topic, typ, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", typ, err)
	}
	fx.events = append(fx.events, store.Event{Topic: topic, Type: typ, Key: key, Data: data})
	return nil
}

// Observe schedules f (a metric, a log line) for after the commit.
func (fx *Effects) Observe(f func()) { fx.observed = append(fx.observed, f) }

// Wake asks for the dispatcher to be woken after the commit: the
// transaction queued messages to deliver.
func (fx *Effects) Wake() { fx.wake = true }

// InTx runs fn in a new store transaction (see Join). fn may run more than
// once (store retries); each run starts with no effects.
func (r *Runner) InTx(ctx context.Context, fn func(tx store.Tx, fx *Effects) error) error {
	return r.Store.WithTx(ctx, func(tx store.Tx) error { return r.Join(ctx, tx, fn) })
}

// Join runs fn inside tx, a transaction somebody else opened (the
// dispatcher's settle transaction), as InTx does inside its own: audit
// entries chained at the end, events written, the rest registered on tx to
// follow its commit.
func (r *Runner) Join(ctx context.Context, tx store.Tx, fn func(tx store.Tx, fx *Effects) error) error {
	fx := &Effects{}
	atx := &auditingTx{Tx: tx}
	if err := fn(atx, fx); err != nil {
		return err
	}
	if err := r.finish(ctx, atx, fx); err != nil {
		return err
	}
	if len(fx.events) > 0 || fx.wake || len(fx.observed) > 0 {
		tx.AfterCommit(func() { r.apply(fx) })
	}
	return nil
}

// finish writes what a transaction collected, in the one lock order every
// transaction follows (see docs/DECISIONS.md, "Lock order"): by now it holds
// its declaration and message locks and has stored its decision; the events
// come next (no lock anyone waits for), the audit head last.
func (r *Runner) finish(ctx context.Context, atx *auditingTx, fx *Effects) error {
	now := r.Clock()
	for i := range fx.events {
		e := &fx.events[i]
		if e.CreatedAt.IsZero() {
			e.CreatedAt = now
		}
		if err := atx.Tx.AppendEvent(ctx, e); err != nil {
			return fmt.Errorf("store %s event: %w", e.Type, err)
		}
	}
	entries := atx.entries
	atx.entries = nil
	return audit.AppendAll(ctx, atx.Tx, entries)
}

func (r *Runner) apply(fx *Effects) {
	if len(fx.events) > 0 && r.WakeEvents != nil {
		r.WakeEvents()
	}
	for _, f := range fx.observed {
		f()
	}
	if fx.wake && r.Wake != nil {
		r.Wake()
	}
}

// ReadTx runs fn, which only reads, in a read-only transaction where the
// store has one (store.Store.WithReadTx).
func (r *Runner) ReadTx(ctx context.Context, fn func(tx store.Tx) error) error {
	return r.Store.WithReadTx(ctx, fn)
}

// AppendAudit adds one entry to the hash-chained log inside tx. In a
// transaction of InTx or Join the entry is chained and stored with the
// others of the transaction when fn returns, in the order they were
// appended: the chain's head lock is then taken at the end, for one insert,
// instead of at the first entry and held through all the work in between
// (on Postgres that lock serialises every instance's transactions that log
// anything).
func (r *Runner) AppendAudit(ctx context.Context, tx store.Tx, e store.AuditEntry) error {
	if e.Time.IsZero() {
		e.Time = r.Clock()
	}
	if atx, ok := tx.(*auditingTx); ok {
		atx.entries = append(atx.entries, &e)
		return nil
	}
	if err := audit.Append(ctx, tx, &e); err != nil {
		return fmt.Errorf("audit %s: %w", e.Kind, err)
	}
	return nil
}

// auditingTx is the transaction InTx gives fn: the store's, with the audit
// entries appended so far (see AppendAudit). Nothing in a transaction reads
// the audit log back, so entries not yet stored are never missed.
type auditingTx struct {
	store.Tx
	entries []*store.AuditEntry
}

// AuditPayload encodes the payload of a JSON entry kind with its type in
// internal/audit, so that replay reads it with the same type.
func AuditPayload(p audit.Payload) []byte {
	b, err := audit.MarshalPayload(p)
	if err != nil {
		return []byte(`{"error":"unencodable audit payload"}`)
	}
	return b
}

// AuditJSON encodes the JSON payload of a kind without a payload type of
// its own (refusals: a bounded digest of what was refused).
func AuditJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return []byte(`{"error":"unencodable audit payload"}`)
	}
	return b
}
