// Package operator holds what operators do to the outbox: list it and its
// overdue messages, redrive dead-lettered messages (one, or an agency's
// after an outage), cancel a message, and resend messages whose agency has
// not answered by the gate's deadline. Each change is one transaction with
// its audit entry and the new decision.
package operator

import (
	"context"
	"errors"
	"fmt"
	"github.com/gatehub/gatehub/internal/message"
	"time"

	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/decisions"
	"github.com/gatehub/gatehub/internal/gate"
	"github.com/gatehub/gatehub/internal/hub"
	"github.com/gatehub/gatehub/internal/mapping"
	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/txn"
)

// Service runs operator actions. All fields are required unless marked
// optional.
type Service struct {
	Tx        *txn.Runner
	Decisions *decisions.Decider
	Gates     *gate.Registry
	Mappings  *mapping.Registry
	// ResetDelivery closes an agency's delivery circuit (after a bulk
	// redrive: the operator says the agency is back). Optional.
	ResetDelivery func(agency string)
}

// KnownAgency reports whether agency has mappings loaded.
func (h *Service) KnownAgency(agency string) bool {
	for _, a := range h.Mappings.Agencies() {
		if a == agency {
			return true
		}
	}
	return false
}

// Outbox lists messages for operators (state, agency, declaration filters;
// OverdueAt for messages whose ACK deadline passed).
func (h *Service) Outbox(ctx context.Context, f store.MessageFilter) ([]store.Message, error) {
	var out []store.Message
	err := h.Tx.ReadTx(ctx, func(tx store.Tx) error {
		var err error
		out, err = tx.ListMessages(ctx, f)
		return err
	})
	return out, err
}

// Overdue lists sent messages whose agency has not answered by its deadline.
func (h *Service) Overdue(ctx context.Context, limit int) ([]store.Message, error) {
	return h.Outbox(ctx, store.MessageFilter{State: message.Sent, OverdueAt: h.Tx.Clock(), Limit: limit})
}

// Redrive puts a dead-lettered or operator-cancelled message back in the
// queue, due now, with its attempt count reset. The bytes and the message id
// stay the same: the agency must see a resend, not a new message.
func (h *Service) Redrive(ctx context.Context, actor hub.Actor, messageID string) (*store.Message, error) {
	return h.operate(ctx, actor, messageID, audit.KindOperatorRedrive, func(m *store.Message) error {
		to, err := message.Transition(m.State, message.Redrive)
		if err != nil {
			return fmt.Errorf("%w: message %s is %s; only %s messages can be redriven", hub.ErrInvalidState, m.ID, m.State, message.From(message.Redrive))
		}
		m.State, m.Attempts, m.NextAttemptAt = to, 0, h.Tx.Clock()
		return nil
	})
}

// AgencyRedrive is what a bulk redrive of one agency did.
type AgencyRedrive struct {
	Agency string `json:"agency"`
	// Redriven are the dead-lettered messages put back in the queue, due
	// now with their attempt counts reset (as Redrive does one by one).
	Redriven []string `json:"redriven"`
	// Rescheduled counts the pending messages whose backoff was cut
	// short: due now instead of at their next retry.
	Rescheduled int `json:"rescheduled"`
	// More: more dead messages than the limit remain; call again.
	More bool `json:"more"`
}

// RedriveAgency is what an operator does once an agency is back after an
// outage: its dead-lettered messages (up to limit) go back in the queue,
// its pending ones are due now rather than after their backoff, and its
// delivery circuit closes. Each redriven message is its own transaction
// with its own audit entry and decision, exactly as Redrive; a message
// that changed state meanwhile is skipped.
func (h *Service) RedriveAgency(ctx context.Context, actor hub.Actor, agency string, limit int) (*AgencyRedrive, error) {
	if !h.KnownAgency(agency) {
		return nil, fmt.Errorf("agency %s: %w", agency, hub.ErrNotFound)
	}
	dead, err := h.Outbox(ctx, store.MessageFilter{State: message.Dead, Agency: agency, Limit: limit + 1})
	if err != nil {
		return nil, fmt.Errorf("list dead messages of %s: %w", agency, err)
	}
	out := &AgencyRedrive{Agency: agency, Redriven: []string{}}
	if len(dead) > limit {
		dead, out.More = dead[:limit], true
	}
	for _, m := range dead {
		if _, err := h.Redrive(ctx, actor, m.ID); err != nil {
			if errors.Is(err, hub.ErrInvalidState) {
				continue
			}
			return out, err
		}
		out.Redriven = append(out.Redriven, m.ID)
	}
	// Only the due time changes (no state, no attempt): nothing to log
	// beyond the attempts that follow.
	err = h.Tx.Store.WithTx(ctx, func(tx store.Tx) error {
		var err error
		out.Rescheduled, err = tx.RescheduleAgency(ctx, agency, h.Tx.Clock())
		return err
	})
	if err != nil {
		return out, fmt.Errorf("reschedule %s: %w", agency, err)
	}
	if h.ResetDelivery != nil {
		h.ResetDelivery(agency)
	}
	if h.Tx.Wake != nil {
		h.Tx.Wake()
	}
	return out, nil
}

// CancelMessage stops delivery of a pending or dead message. The clearance
// decision turns to HOLD: a required agency will not be asked.
func (h *Service) CancelMessage(ctx context.Context, actor hub.Actor, messageID string) (*store.Message, error) {
	return h.operate(ctx, actor, messageID, audit.KindOperatorCancel, func(m *store.Message) error {
		to, err := message.Transition(m.State, message.Stop)
		if err != nil {
			return fmt.Errorf("%w: message %s is %s; only %s messages can be cancelled", hub.ErrInvalidState, m.ID, m.State, message.From(message.Stop))
		}
		m.State = to
		return nil
	})
}

func (h *Service) operate(ctx context.Context, actor hub.Actor, messageID, kind string, change func(*store.Message) error) (*store.Message, error) {
	var out *store.Message
	err := h.Tx.InTx(ctx, func(tx store.Tx, fx *txn.Effects) error {
		_, err := tx.LockMessageDeclaration(ctx, messageID) // the declaration before its message
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("message %s: %w", messageID, hub.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("lock declaration of %s: %w", messageID, err)
		}
		m, err := tx.GetMessage(ctx, messageID)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("message %s: %w", messageID, hub.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("load message %s: %w", messageID, err)
		}
		from := m.State
		if err := change(m); err != nil {
			return err
		}
		m.LeaseOwner, m.LeaseUntil, m.UpdatedAt = "", time.Time{}, h.Tx.Clock()
		if err := tx.UpdateMessage(ctx, m); err != nil {
			return fmt.Errorf("update message %s: %w", messageID, err)
		}
		if err := h.Tx.AppendAudit(ctx, tx, store.AuditEntry{
			Kind: kind, Actor: actor.String(), DeclarationID: m.DeclarationID, MessageID: m.ID, Agency: m.Agency,
			Payload: txn.AuditPayload(&audit.OperatorChange{From: from, To: m.State}),
		}); err != nil {
			return err
		}
		if m.State == message.Pending {
			fx.Wake()
		}
		if _, err := h.Decisions.Decide(ctx, tx, fx, m.DeclarationID); err != nil {
			return err
		}
		out = m
		return nil
	})
	return out, err
}

// ResendOverdue re-queues, under the same message id and the same signed
// bytes, every delivered message whose agency has not answered within the
// gate's ACK deadline since its last delivery. An agency that lost the
// message or its answer (an async callback that gave up while the hub was
// down) answers a resend with its original ACK, so a truck is never left
// waiting on an answer nobody will send. The ACK deadline itself stays at
// the first delivery's, so the decision keeps naming the agency overdue.
func (h *Service) ResendOverdue(ctx context.Context, limit int) (int, error) {
	now := h.Tx.Clock()
	var overdue []store.Message
	if err := h.Tx.Store.WithTx(ctx, func(tx store.Tx) error {
		var err error
		overdue, err = tx.ListMessages(ctx, store.MessageFilter{State: message.Sent, OverdueAt: now, Limit: limit})
		return err
	}); err != nil {
		return 0, fmt.Errorf("list overdue messages: %w", err)
	}
	// One transaction per message: each changes one declaration, and takes
	// its lock before the message's, like every other (one lock order).
	n := 0
	for _, o := range overdue {
		resent := false
		err := h.Tx.InTx(ctx, func(tx store.Tx, fx *txn.Effects) error {
			resent = false
			if err := tx.LockDeclaration(ctx, o.DeclarationID); err != nil {
				return fmt.Errorf("lock declaration %s: %w", o.DeclarationID, err)
			}
			m, err := tx.GetMessage(ctx, o.ID) // locks the row on Postgres: one instance resends
			if err != nil {
				return fmt.Errorf("load message %s: %w", o.ID, err)
			}
			if m.State != message.Sent {
				return nil
			}
			d, err := tx.LatestDeclaration(ctx, m.DeclarationID)
			if err != nil {
				return fmt.Errorf("load declaration %s: %w", m.DeclarationID, err)
			}
			g, ok := h.Gates.Current().Gate(d.Gate)
			if !ok {
				return nil
			}
			period := g.AckDeadline(m.Agency)
			if period <= 0 || now.Sub(m.SentAt) < period {
				return nil // delivered again recently: give the agency a full period
			}
			from := m.SentAt
			if m.State, err = message.Transition(m.State, message.Resend); err != nil {
				return fmt.Errorf("re-queue: %w", err)
			}
			m.NextAttemptAt, m.UpdatedAt = now, now
			if err := tx.UpdateMessage(ctx, m); err != nil {
				return fmt.Errorf("re-queue message %s: %w", m.ID, err)
			}
			if err := h.Tx.AppendAudit(ctx, tx, store.AuditEntry{
				Kind: audit.KindMessageResent, Actor: hub.Participant, DeclarationID: m.DeclarationID, MessageID: m.ID,
				Agency: m.Agency, Plate: hub.PlateOf(d),
				Payload: txn.AuditPayload(&audit.MessageResent{AckDeadline: m.AckDeadline, LastSentAt: from}),
			}); err != nil {
				return err
			}
			resent = true
			fx.Wake()
			return nil
		})
		if err != nil {
			return n, err
		}
		if resent {
			n++
		}
	}
	return n, nil
}
