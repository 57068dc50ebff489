package hub

import (
	"context"
	"errors"
	"fmt"
	"github.com/gatehub/gatehub/internal/message"
	"time"

	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/store"
)

// Outbox lists messages for operators (state, agency, declaration filters;
// OverdueAt for messages whose ACK deadline passed).
func (h *Hub) Outbox(ctx context.Context, f store.MessageFilter) ([]store.Message, error) {
	var out []store.Message
	err := h.readTx(ctx, func(tx store.Tx) error {
		var err error
		out, err = tx.ListMessages(ctx, f)
		return err
	})
	return out, err
}

// Overdue lists sent messages whose agency has not answered by its deadline.
func (h *Hub) Overdue(ctx context.Context, limit int) ([]store.Message, error) {
	return h.Outbox(ctx, store.MessageFilter{State: message.Sent, OverdueAt: h.now(), Limit: limit})
}

// Redrive puts a dead-lettered or operator-cancelled message back in the
// queue, due now, with its attempt count reset. The bytes and the message id
// stay the same: the agency must see a resend, not a new message.
func (h *Hub) Redrive(ctx context.Context, actor Actor, messageID string) (*store.Message, error) {
	return h.operate(ctx, actor, messageID, audit.KindOperatorRedrive, func(m *store.Message) error {
		to, err := message.Transition(m.State, message.Redrive)
		if err != nil {
			return fmt.Errorf("%w: message %s is %s; only %s messages can be redriven", ErrInvalidState, m.ID, m.State, message.From(message.Redrive))
		}
		m.State, m.Attempts, m.NextAttemptAt = to, 0, h.now()
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
func (h *Hub) RedriveAgency(ctx context.Context, actor Actor, agency string, limit int) (*AgencyRedrive, error) {
	if !h.KnownAgency(agency) {
		return nil, fmt.Errorf("agency %s: %w", agency, ErrNotFound)
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
			if errors.Is(err, ErrInvalidState) {
				continue
			}
			return out, err
		}
		out.Redriven = append(out.Redriven, m.ID)
	}
	// Only the due time changes (no state, no attempt): nothing to log
	// beyond the attempts that follow.
	err = h.Store.WithTx(ctx, func(tx store.Tx) error {
		var err error
		out.Rescheduled, err = tx.RescheduleAgency(ctx, agency, h.now())
		return err
	})
	if err != nil {
		return out, fmt.Errorf("reschedule %s: %w", agency, err)
	}
	if h.ResetDelivery != nil {
		h.ResetDelivery(agency)
	}
	if h.Wake != nil {
		h.Wake()
	}
	return out, nil
}

// CancelMessage stops delivery of a pending or dead message. The clearance
// decision turns to HOLD: a required agency will not be asked.
func (h *Hub) CancelMessage(ctx context.Context, actor Actor, messageID string) (*store.Message, error) {
	return h.operate(ctx, actor, messageID, audit.KindOperatorCancel, func(m *store.Message) error {
		to, err := message.Transition(m.State, message.Stop)
		if err != nil {
			return fmt.Errorf("%w: message %s is %s; only %s messages can be cancelled", ErrInvalidState, m.ID, m.State, message.From(message.Stop))
		}
		m.State = to
		return nil
	})
}

func (h *Hub) operate(ctx context.Context, actor Actor, messageID, kind string, change func(*store.Message) error) (*store.Message, error) {
	var out *store.Message
	err := h.inTx(ctx, func(tx store.Tx, fx *effects) error {
		_, err := tx.LockMessageDeclaration(ctx, messageID) // the declaration before its message
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("message %s: %w", messageID, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("lock declaration of %s: %w", messageID, err)
		}
		m, err := tx.GetMessage(ctx, messageID)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("message %s: %w", messageID, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("load message %s: %w", messageID, err)
		}
		from := m.State
		if err := change(m); err != nil {
			return err
		}
		m.LeaseOwner, m.LeaseUntil, m.UpdatedAt = "", time.Time{}, h.now()
		if err := tx.UpdateMessage(ctx, m); err != nil {
			return fmt.Errorf("update message %s: %w", messageID, err)
		}
		if err := h.appendAudit(ctx, tx, store.AuditEntry{
			Kind: kind, Actor: actor.String(), DeclarationID: m.DeclarationID, MessageID: m.ID, Agency: m.Agency,
			Payload: auditPayload(&audit.OperatorChange{From: from, To: m.State}),
		}); err != nil {
			return err
		}
		fx.wake = m.State == message.Pending
		if _, err := h.decide(ctx, tx, fx, m.DeclarationID); err != nil {
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
func (h *Hub) ResendOverdue(ctx context.Context, limit int) (int, error) {
	now := h.now()
	var overdue []store.Message
	if err := h.Store.WithTx(ctx, func(tx store.Tx) error {
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
		err := h.inTx(ctx, func(tx store.Tx, fx *effects) error {
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
			if err := h.appendAudit(ctx, tx, store.AuditEntry{
				Kind: audit.KindMessageResent, Actor: Participant, DeclarationID: m.DeclarationID, MessageID: m.ID,
				Agency: m.Agency, Plate: plateOf(d),
				Payload: auditPayload(&audit.MessageResent{AckDeadline: m.AckDeadline, LastSentAt: from}),
			}); err != nil {
				return err
			}
			resent = true
			fx.wake = true
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
