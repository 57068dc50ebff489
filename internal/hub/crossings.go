package hub

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/gatehub/gatehub/internal/clearance"
	"github.com/gatehub/gatehub/internal/declaration"
	"github.com/gatehub/gatehub/internal/sign"
	"github.com/gatehub/gatehub/internal/store"
)

// This file is wiring only: the crossing at the gate lives in
// internal/crossing (domain) and internal/lanes (orchestration). The hub
// calls Crossings inside its own transactions, so a declaration and its
// crossing are created, amended and cancelled together, and lends lanes
// its transaction with post-commit effects.

// Crossings keeps each declaration's crossing in step with it. Set by the
// assembly (internal/app); optional, for tests of the hub alone.
type Crossings interface {
	// Open creates the crossing of a new declaration; an error wrapping
	// ErrConflict when the vehicle already has an active crossing at the
	// gate (the error names that declaration).
	Open(ctx context.Context, tx store.Tx, d *store.Declaration) error
	// Amended follows a new version (its plate may have changed).
	Amended(ctx context.Context, tx store.Tx, d *store.Declaration) error
	// Cancelled ends the crossing of a cancelled declaration.
	Cancelled(ctx context.Context, tx store.Tx, d *store.Declaration, reason string) error
}

// LaneSigner signs lane decisions for devices.
type LaneSigner struct {
	Key   ed25519.PrivateKey
	KeyID string
}

// DeviceRef identifies the authenticated device that sent a reading.
type DeviceRef struct{ Gate, Lane, Device string }

// Effects is what a transaction lent by InTx may schedule for after its
// commit.
type Effects struct{ fx *effects }

// Publish writes a live event on topic in the transaction (the durable
// events of internal/eventrelay), published once it committed. key names
// what v is the whole state of within the topic (see effects.publish).
func (e Effects) Publish(topic, typ, key string, v any) error {
	return e.fx.publish(topic, typ, key, v)
}

// Wake has the dispatcher look for new messages once the transaction
// committed (it stored messages to deliver).
func (e Effects) Wake() { e.fx.wake = true }

// Redecide re-derives a declaration's clearance decision inside tx (a
// transaction of InTx that holds the declaration) and, when it changed,
// stores, logs and announces it, as every change of the hub's own does.
func (h *Hub) Redecide(ctx context.Context, tx store.Tx, fx Effects, id string) (*clearance.Decision, error) {
	return h.decide(ctx, tx, fx.fx, id)
}

// Sign signs an unsigned document for agency under its profile, as the
// hub's own messages to it are.
func (h *Hub) Sign(agency string, u *sign.Unsigned) ([]byte, error) {
	signer := h.Signer
	if s := h.AgencySigners[agency]; s != nil {
		signer = s
	}
	return signer.SignUnsigned(u)
}

// Observe schedules f (a metric, say) for after the commit.
func (e Effects) Observe(f func()) { e.fx.observed = append(e.fx.observed, f) }

// InTx runs fn in a store transaction of the hub: audit entries appended
// with AppendAudit are chained at its end, effects applied after commit.
func (h *Hub) InTx(ctx context.Context, fn func(tx store.Tx, fx Effects) error) error {
	return h.inTx(ctx, func(tx store.Tx, fx *effects) error { return fn(tx, Effects{fx}) })
}

// ReadTx runs fn in a read-only transaction (a read session on the
// embedded store).
func (h *Hub) ReadTx(ctx context.Context, fn func(tx store.Tx) error) error { return h.readTx(ctx, fn) }

// AppendAudit adds one entry to the audit log inside tx (see appendAudit).
func (h *Hub) AppendAudit(ctx context.Context, tx store.Tx, e store.AuditEntry) error {
	return h.appendAudit(ctx, tx, e)
}

// Clearance is a declaration's current version as a lane judges it.
type Clearance struct {
	Body declaration.Declaration
	// Required are the agencies the gate's policy requires for it.
	Required []string
	// Decide derives the clearance decision for a subset of Required (a
	// checkpoint that waits only for the border guard, say).
	Decide func(agencies []string) clearance.Decision
	// Orders are the agencies' standing orders (holds, revocations); the
	// lane applies those that reach its checkpoint.
	Orders []clearance.Order
}

// ClearanceOf reads what deciding on d needs, inside tx.
func (h *Hub) ClearanceOf(ctx context.Context, tx store.Tx, d *store.Declaration) (*Clearance, error) {
	in, err := h.clearanceOf(ctx, tx, d)
	if err != nil {
		return nil, err
	}
	now := h.now()
	return &Clearance{Body: in.body, Required: in.required, Decide: func(agencies []string) clearance.Decision {
		var sts []clearance.AgencyStatus
		for _, s := range in.statuses {
			for _, a := range agencies {
				if s.Agency == a {
					sts = append(sts, s)
				}
			}
		}
		return clearance.Decide(agencies, sts, d.Status == StatusCancelled, now)
	}, Orders: in.orders}, nil
}

// LatestDeclaration reads a declaration's current version; ErrNotFound
// (the hub's) when there is none.
func LatestDeclaration(ctx context.Context, tx store.Tx, id string) (*store.Declaration, error) {
	d, err := tx.LatestDeclaration(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("declaration %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("load declaration %s: %w", id, err)
	}
	return d, nil
}
