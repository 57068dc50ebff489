// Package hub orchestrates the flow of one truck crossing: a validated
// declaration becomes one signed, schema-valid message per required agency,
// written with its audit entries in one store transaction; deliveries and
// ACKs move those messages through their states; every change re-derives the
// clearance decision and announces it to the lanes of the gate.
package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehub/gatehub/internal/ack"
	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/fanout"
	"github.com/gatehub/gatehub/internal/gate"
	"github.com/gatehub/gatehub/internal/mapping"
	"github.com/gatehub/gatehub/internal/metrics"
	"github.com/gatehub/gatehub/internal/refusal"
	"github.com/gatehub/gatehub/internal/schema"
	"github.com/gatehub/gatehub/internal/sign"
	"github.com/gatehub/gatehub/internal/store"
)

// Participant is the hub's own participant id in envelopes and the trust store.
const Participant = "hub"

// Hub wires the domain packages together. All fields are required unless
// marked optional.
type Hub struct {
	Store    store.Store
	Gates    *gate.Registry
	Mappings *mapping.Registry
	Schemas  *schema.Validator
	Signer   *sign.Signer
	Acks     *ack.Reader
	// Bus is the fan-out the lanes subscribe to. The hub itself never
	// publishes to it: its events go to the store (see effects.publish) and
	// an eventrelay.Relay publishes them. Optional.
	Bus fanout.Bus
	// WakeEvents is called after a transaction committed events, so the
	// event relay publishes them now rather than at its next poll.
	// Optional: without a relay running, events wait in the store.
	WakeEvents func()
	Metrics    *metrics.Metrics // optional
	Log        *slog.Logger     // optional
	Now        func() time.Time // optional; time.Now
	// Wake is called after a transaction committed new outbound messages, so
	// the dispatcher need not wait for its next poll. Optional.
	Wake func()
	// ResetDelivery closes an agency's delivery circuit (after a bulk
	// redrive: the operator says the agency is back). Optional.
	ResetDelivery func(agency string)
	// LaneSigner signs lane decisions for gate devices. Optional: without
	// it, answers carry no token and barriers cannot verify them.
	LaneSigner *LaneSigner
	// Inputs is the id of the content-addressed build inputs Mappings and
	// Schemas were loaded from (internal/inputs), recorded in every
	// message.built. Optional.
	Inputs string

	// AgencySigners sign the messages of the agencies whose signature
	// profile is not Signer's (the Guangxi single window: SM2-SM3).
	// Optional.
	AgencySigners map[string]*sign.Signer
	// Refusals, when set, decides which refused anonymous requests get an
	// audit entry of their own and aggregates the rest (see
	// internal/refusal). Optional: without it every refusal is logged.
	Refusals *refusal.Guard

	// Crossings keeps crossings in step with declarations (optional).
	Crossings Crossings

	// building counts submits building their messages right now (see
	// buildAll).
	building atomic.Int64

	mu           sync.Mutex
	settled      map[string]*effects     // see pendingEffects
	gateVersions map[string]int64        // applied gate files installed here, by code
	verified     map[string]*verifiedAck // see VerifyAck
}

func (h *Hub) now() time.Time {
	if h.Now != nil {
		return store.Truncate(h.Now())
	}
	return store.Truncate(time.Now())
}

func (h *Hub) log() *slog.Logger {
	if h.Log == nil {
		return slog.Default()
	}
	return h.Log
}

// effects collects what a transaction produces besides its own writes.
// Events go into the store in the same transaction (the transactional
// outbox of internal/eventrelay), appended when the transaction's work is
// done; waking the dispatcher and the relay, and the observations (metrics,
// logs), happen only once it committed: doing them inside would announce
// state that a rollback could still erase.
type effects struct {
	events   []store.Event
	wake     bool
	observed []func()
}

// publish queues an event for the lane devices (or instances) subscribed
// to topic. key names what v is the whole state of within the topic (a
// declaration id, a lane): a device that connects gets the newest event of
// each key first, and a repeated event changes nothing, so an event must
// never be a delta.
func (fx *effects) publish(topic, typ, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", typ, err)
	}
	fx.events = append(fx.events, store.Event{Topic: topic, Type: typ, Key: key, Data: data})
	return nil
}

// inTx runs fn in a store transaction and applies the collected effects
// after commit. fn may run more than once (store retries), so effects are
// reset on every run.
func (h *Hub) inTx(ctx context.Context, fn func(tx store.Tx, fx *effects) error) error {
	var fx *effects
	err := h.Store.WithTx(ctx, func(tx store.Tx) error {
		fx = &effects{}
		atx := &auditingTx{Tx: tx}
		if err := fn(atx, fx); err != nil {
			return err
		}
		return h.finishTx(ctx, atx, fx)
	})
	if err != nil {
		return err
	}
	h.apply(ctx, fx)
	return nil
}

// finishTx writes what a transaction collected, in the one lock order every
// transaction follows (see docs/DECISIONS.md, "Lock order"): by now it holds
// its declaration and message locks and has stored its decision; the events
// come next (no lock anyone waits for), the audit head last.
func (h *Hub) finishTx(ctx context.Context, atx *auditingTx, fx *effects) error {
	now := h.now()
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

func (h *Hub) apply(_ context.Context, fx *effects) {
	if len(fx.events) > 0 && h.WakeEvents != nil {
		h.WakeEvents()
	}
	for _, f := range fx.observed {
		f()
	}
	if fx.wake && h.Wake != nil {
		h.Wake()
	}
}

// appendAudit adds one entry to the hash-chained log inside tx. In a
// transaction of inTx the entry is chained and stored with the others of
// the transaction when fn returns, in the order they were appended: the
// chain's head lock is then taken at the end, for one insert, instead of
// at the first entry and held through all the work in between (on Postgres
// that lock serialises every instance's transactions that log anything).
func (h *Hub) appendAudit(ctx context.Context, tx store.Tx, e store.AuditEntry) error {
	if e.Time.IsZero() {
		e.Time = h.now()
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

// auditingTx is the transaction inTx gives fn: the store's, with the audit
// entries appended so far (see appendAudit). Nothing in a transaction reads
// the audit log back, so entries not yet stored are never missed.
type auditingTx struct {
	store.Tx
	entries []*store.AuditEntry
}

// auditJSON is a helper for the JSON payloads of non-message audit kinds.
// auditPayload encodes the payload of a JSON entry kind with its type in
// internal/audit, so that replay reads it with the same type.
func auditPayload(p audit.Payload) []byte {
	b, err := audit.MarshalPayload(p)
	if err != nil {
		return []byte(`{"error":"unencodable audit payload"}`)
	}
	return b
}

func auditJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return []byte(`{"error":"unencodable audit payload"}`)
	}
	return b
}

// LaneTopic is the fan-out topic a lane's devices subscribe to.
func LaneTopic(gateCode, lane string) string { return "lane/" + gateCode + "/" + lane }
