package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/gatehub/gatehub/internal/message"
	"slices"
	"time"

	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/declaration"
	"github.com/gatehub/gatehub/internal/mapping"
	"github.com/gatehub/gatehub/internal/store"
)

// Amend stores a new version of declaration id. Only agencies whose mapped
// content changed get a replacement message (referencing the message it
// replaces, which becomes superseded: its ACK no longer counts); agencies
// the new version no longer requires get a cancel; newly required ones a
// submit. An amendment that changes nothing for anybody is still a new
// version, and says so in the audit log.
func (h *Hub) Amend(ctx context.Context, actor Actor, id string, d *declaration.Declaration) (*DeclarationView, error) {
	cur, allMsgs, err := h.current(ctx, actor, id)
	if err != nil {
		return nil, err
	}
	if cur.decl.Status == StatusCancelled {
		return nil, fmt.Errorf("%w: declaration %s is cancelled", ErrInvalidState, id)
	}
	if d.Trader.TaxCode != cur.decl.TraderTaxCode {
		return nil, fmt.Errorf("%w: an amendment cannot change the trader", ErrInvalidState)
	}
	g, ok := h.Gates.Current().Gate(d.Gate)
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownGate, d.Gate)
	}
	now := h.now()
	version := cur.decl.Version + 1
	required := g.RequiredAgencies(d.Direction, d.CargoKind)
	latest := latestPerAgency(allMsgs)

	var (
		newMsgs    []*builtMessage
		superseded []*store.Message
		changed    []string
	)
	for _, agency := range required {
		prev, had := latest[agency]
		if !had || prev.Kind == message.Cancel {
			m, err := h.buildMessage(d, id, version, agency, message.Submit, "", "", g, now)
			if err != nil {
				return nil, err
			}
			newMsgs = append(newMsgs, m)
			changed = append(changed, agency)
			continue
		}
		hash, err := h.contentHash(d, agency, message.Amend, nil, mapping.Envelope{MessageID: prev.ID, DeclarationID: id, Version: version, Sender: Participant, Receiver: agency, CreatedAt: now}, g)
		if err != nil {
			return nil, err
		}
		if hash == prev.ContentHash {
			continue // this agency's content is unchanged: its message and ACK stand
		}
		m, err := h.buildMessage(d, id, version, agency, message.Amend, prev.ID, "", g, now)
		if err != nil {
			return nil, err
		}
		newMsgs = append(newMsgs, m)
		superseded = append(superseded, prev)
		changed = append(changed, agency)
	}
	for agency, prev := range latest {
		if prev.Kind == message.Cancel || slices.Contains(required, agency) {
			continue
		}
		m, err := h.buildMessage(d, id, version, agency, message.Cancel, prev.ID, "no longer required after amendment", g, now)
		if err != nil {
			return nil, err
		}
		newMsgs = append(newMsgs, m)
		superseded = append(superseded, prev)
		changed = append(changed, agency)
	}

	body, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encode declaration: %w", err)
	}
	rec := &store.Declaration{
		ID: id, Version: version, TraderTaxCode: cur.decl.TraderTaxCode, Gate: d.Gate, Lane: d.Lane,
		PlateVN: d.Vehicle.PlateVN, PlateCN: d.Vehicle.PlateCN, Status: StatusActive, Body: body, CreatedAt: now,
	}
	err = h.inTx(ctx, func(tx store.Tx, fx *effects) error {
		if err := tx.LockDeclaration(ctx, id); err != nil {
			return fmt.Errorf("lock declaration %s: %w", id, err)
		}
		// (id, version) is unique: a concurrent amendment makes this conflict.
		if err := tx.InsertDeclaration(ctx, rec); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return fmt.Errorf("%w: declaration %s was amended concurrently", ErrConflict, id)
			}
			return fmt.Errorf("insert declaration version: %w", err)
		}
		if h.Crossings != nil {
			if err := h.Crossings.Amended(ctx, tx, rec); err != nil {
				return err
			}
		}
		if err := h.appendAudit(ctx, tx, store.AuditEntry{
			Kind: audit.KindDeclarationAmended, Actor: actor.String(), DeclarationID: id, Plate: plateOf(rec),
			Payload: auditPayload(&audit.DeclarationAmended{Version: version, ChangedAgencies: changed, Declaration: body}),
		}); err != nil {
			return err
		}
		for _, prev := range superseded {
			if err := h.supersede(ctx, tx, rec, prev.ID, now); err != nil {
				return err
			}
		}
		if err := h.insertMessages(ctx, tx, rec, newMsgs); err != nil {
			return err
		}
		fx.wake = len(newMsgs) > 0
		_, err := h.decide(ctx, tx, fx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return h.View(ctx, id)
}

// supersede re-reads the message inside the write transaction so a state
// reached since the amendment was prepared (an ACK, say) is not overwritten
// with stale fields.
func (h *Hub) supersede(ctx context.Context, tx store.Tx, d *store.Declaration, id string, now time.Time) error {
	m, err := tx.GetMessage(ctx, id)
	if err != nil {
		return fmt.Errorf("load message %s: %w", id, err)
	}
	if m.State, err = message.Transition(m.State, message.Supersede); err != nil {
		return fmt.Errorf("supersede: %w", err)
	}
	m.LeaseOwner, m.LeaseUntil, m.UpdatedAt = "", time.Time{}, now
	if err := tx.UpdateMessage(ctx, m); err != nil {
		return fmt.Errorf("supersede message %s: %w", id, err)
	}
	return h.appendAudit(ctx, tx, store.AuditEntry{
		Kind: audit.KindMessageSuperseded, Actor: Participant, DeclarationID: d.ID, MessageID: id,
		Agency: m.Agency, Plate: plateOf(d), Payload: auditPayload(&audit.MessageSuperseded{ByVersion: d.Version}),
	})
}

// Cancel withdraws a declaration: every agency that may have received a
// message gets a cancel message; messages never sent are simply cancelled.
func (h *Hub) Cancel(ctx context.Context, actor Actor, id, reason string) (*DeclarationView, error) {
	cur, allMsgs, err := h.current(ctx, actor, id)
	if err != nil {
		return nil, err
	}
	if cur.decl.Status == StatusCancelled {
		return h.View(ctx, id) // cancelling twice is the same as once
	}
	g, ok := h.Gates.Current().Gate(cur.decl.Gate)
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownGate, cur.decl.Gate)
	}
	now := h.now()
	var (
		cancels  []*builtMessage
		withdraw []string // never left the hub: cancel in place
	)
	for agency, prev := range latestPerAgency(allMsgs) {
		if prev.Kind == message.Cancel {
			continue
		}
		if neverSent(prev, now) || prev.State == message.Cancelled {
			withdraw = append(withdraw, prev.ID)
			continue
		}
		m, err := h.buildMessage(&cur.body, id, cur.decl.Version, agency, message.Cancel, prev.ID, reason, g, now)
		if err != nil {
			return nil, err
		}
		cancels = append(cancels, m)
	}
	err = h.inTx(ctx, func(tx store.Tx, fx *effects) error {
		if err := tx.LockDeclaration(ctx, id); err != nil {
			return fmt.Errorf("lock declaration %s: %w", id, err)
		}
		if err := tx.UpdateDeclarationStatus(ctx, id, StatusCancelled); err != nil {
			return fmt.Errorf("cancel declaration: %w", err)
		}
		if h.Crossings != nil {
			if err := h.Crossings.Cancelled(ctx, tx, cur.decl, reason); err != nil {
				return err
			}
		}
		if err := h.appendAudit(ctx, tx, store.AuditEntry{
			Kind: audit.KindDeclarationCancelled, Actor: actor.String(), DeclarationID: id, Plate: plateOf(cur.decl),
			Payload: auditPayload(&audit.DeclarationCancelled{Version: cur.decl.Version, Reason: reason}),
		}); err != nil {
			return err
		}
		for _, mid := range withdraw {
			m, err := tx.GetMessage(ctx, mid)
			if err != nil {
				return fmt.Errorf("load message %s: %w", mid, err)
			}
			if m.State == message.Pending {
				if !neverSent(m, now) {
					// Claimed since the cancellation was prepared: it may reach
					// the agency, which then needs a cancel message.
					return fmt.Errorf("%w: message %s to %s is being delivered; retry the cancellation", ErrConflict, m.ID, m.Agency)
				}
				if m.State, err = message.Transition(m.State, message.Withdraw); err != nil {
					return fmt.Errorf("withdraw: %w", err)
				}
				m.LeaseOwner, m.LeaseUntil, m.UpdatedAt = "", time.Time{}, now
				if err := tx.UpdateMessage(ctx, m); err != nil {
					return fmt.Errorf("withdraw message %s: %w", mid, err)
				}
				if err := h.appendAudit(ctx, tx, store.AuditEntry{
					Kind: audit.KindMessageWithdrawn, Actor: actor.String(), DeclarationID: id, MessageID: mid,
					Agency: m.Agency, Plate: plateOf(cur.decl), Payload: auditPayload(&audit.MessageWithdrawn{Reason: reason}),
				}); err != nil {
					return err
				}
			}
		}
		if err := h.insertMessages(ctx, tx, cur.decl, cancels); err != nil {
			return err
		}
		fx.wake = len(cancels) > 0
		_, err := h.decide(ctx, tx, fx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return h.View(ctx, id)
}

// neverSent reports whether m certainly never reached its agency: pending,
// never attempted, and not leased by a dispatcher that may be sending it
// right now. Only such a message may be withdrawn without a cancel message.
func neverSent(m *store.Message, now time.Time) bool {
	inFlight := m.LeaseOwner != "" && m.LeaseUntil.After(now)
	return m.State == message.Pending && m.Attempts == 0 && !inFlight
}

// current loads what an amendment or a cancellation starts from: the
// declaration's current version and all its messages, refusing a trader
// who does not own it.
func (h *Hub) current(ctx context.Context, actor Actor, id string) (*clearanceInput, []store.Message, error) {
	var cur *clearanceInput
	err := h.Store.WithTx(ctx, func(tx store.Tx) error {
		var err error
		cur, err = h.loadClearance(ctx, tx, id)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	if err := authorizeTrader(actor, cur.decl); err != nil {
		return nil, nil, err
	}
	return cur, cur.msgs, nil
}

// latestPerAgency returns, per agency, the newest message that is not
// superseded (messages come in CreatedAt order).
func latestPerAgency(msgs []store.Message) map[string]*store.Message {
	out := map[string]*store.Message{}
	for i := range msgs {
		if msgs[i].State == message.Superseded {
			continue
		}
		out[msgs[i].Agency] = &msgs[i]
	}
	return out
}

// authorizeTrader refuses a trader acting on somebody else's declaration.
// Operators and admins act on any.
func authorizeTrader(actor Actor, d *store.Declaration) error {
	if actor.Role == "trader" && actor.TaxCode != d.TraderTaxCode {
		return fmt.Errorf("declaration %s: %w", d.ID, ErrNotFound) // do not reveal that it exists
	}
	return nil
}
