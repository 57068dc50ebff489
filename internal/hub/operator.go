package hub

import (
	"context"
	"errors"
	"fmt"
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
	return h.Outbox(ctx, store.MessageFilter{State: store.StateSent, OverdueAt: h.now(), Limit: limit})
}

// Redrive puts a dead-lettered or operator-cancelled message back in the
// queue, due now, with its attempt count reset. The bytes and the message id
// stay the same: the agency must see a resend, not a new message.
func (h *Hub) Redrive(ctx context.Context, actor Actor, messageID string) (*store.Message, error) {
	return h.operate(ctx, actor, messageID, audit.KindOperatorRedrive, func(m *store.Message) error {
		if m.State != store.StateDead && m.State != store.StateCancelled {
			return fmt.Errorf("%w: message %s is %s; only dead or cancelled messages can be redriven", ErrInvalidState, m.ID, m.State)
		}
		m.State, m.Attempts, m.NextAttemptAt = store.StatePending, 0, h.now()
		return nil
	})
}

// CancelMessage stops delivery of a pending or dead message. The clearance
// decision turns to HOLD: a required agency will not be asked.
func (h *Hub) CancelMessage(ctx context.Context, actor Actor, messageID string) (*store.Message, error) {
	return h.operate(ctx, actor, messageID, audit.KindOperatorCancel, func(m *store.Message) error {
		if m.State != store.StatePending && m.State != store.StateDead {
			return fmt.Errorf("%w: message %s is %s; only pending or dead messages can be cancelled", ErrInvalidState, m.ID, m.State)
		}
		m.State = store.StateCancelled
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
			Payload: auditJSON(map[string]string{"from": from, "to": m.State}),
		}); err != nil {
			return err
		}
		fx.wake = m.State == store.StatePending
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
		overdue, err = tx.ListMessages(ctx, store.MessageFilter{State: store.StateSent, OverdueAt: now, Limit: limit})
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
			if m.State != store.StateSent {
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
			m.State, m.NextAttemptAt, m.UpdatedAt = store.StatePending, now, now
			if err := tx.UpdateMessage(ctx, m); err != nil {
				return fmt.Errorf("re-queue message %s: %w", m.ID, err)
			}
			if err := h.appendAudit(ctx, tx, store.AuditEntry{
				Kind: audit.KindMessageResent, Actor: Participant, DeclarationID: m.DeclarationID, MessageID: m.ID,
				Agency: m.Agency, Plate: plateOf(d),
				Payload: auditJSON(map[string]any{"ackDeadline": m.AckDeadline, "lastSentAt": from}),
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
