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
	Bus      fanout.Bus
	Metrics  *metrics.Metrics // optional
	Log      *slog.Logger     // optional
	Now      func() time.Time // optional; time.Now
	// Wake is called after a transaction committed new outbound messages, so
	// the dispatcher need not wait for its next poll. Optional.
	Wake func()
	// LaneSigner signs lane decisions for gate devices. Optional: without
	// it, answers carry no token and barriers cannot verify them.
	LaneSigner *LaneSigner
	// AgencySigners sign the messages of the agencies whose signature
	// profile is not Signer's (the Guangxi single window: SM2-SM3).
	// Optional.
	AgencySigners map[string]*sign.Signer
	// Refusals, when set, decides which refused anonymous requests get an
	// audit entry of their own and aggregates the rest (see
	// internal/refusal). Optional: without it every refusal is logged.
	Refusals *refusal.Guard

	lanes lanes
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

// effects collects what must happen only once a transaction has committed:
// publishing live events and waking the dispatcher. Doing either inside the
// transaction would announce state that a rollback could still erase.
type effects struct {
	events   []event
	wake     bool
	observed []func()
}

type event struct {
	topic, typ string
	data       []byte
}

func (fx *effects) publish(topic, typ string, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		return
	}
	fx.events = append(fx.events, event{topic: topic, typ: typ, data: data})
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
		return audit.AppendAll(ctx, tx, atx.entries)
	})
	if err != nil {
		return err
	}
	h.apply(ctx, fx)
	return nil
}

func (h *Hub) apply(ctx context.Context, fx *effects) {
	for _, e := range fx.events {
		if _, err := h.Bus.Publish(ctx, e.topic, e.typ, e.data); err != nil {
			// Devices resynchronise by polling the decision; a lost live event
			// delays a barrier, it does not change what the barrier may do.
			h.log().Warn("publish event", "topic", e.topic, "type", e.typ, "err", err)
		}
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
func auditJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return []byte(`{"error":"unencodable audit payload"}`)
	}
	return b
}

// LaneTopic is the fan-out topic a lane's devices subscribe to.
func LaneTopic(gateCode, lane string) string { return "lane/" + gateCode + "/" + lane }
