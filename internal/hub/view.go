package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/gatehub/gatehub/internal/message"
	"time"

	"github.com/gatehub/gatehub/internal/clearance"
	"github.com/gatehub/gatehub/internal/store"
)

// DeclarationView is everything a trader or operator sees about one
// declaration: its current version, every message with its delivery and ACK
// state, and the clearance decision as of now.
type DeclarationView struct {
	ID            string             `json:"id"`
	Version       int                `json:"version"`
	Status        string             `json:"status"`
	TraderTaxCode string             `json:"traderTaxCode"`
	Gate          string             `json:"gate"`
	Lane          string             `json:"lane,omitempty"`
	PlateVN       string             `json:"plateVN,omitempty"`
	PlateCN       string             `json:"plateCN,omitempty"`
	CreatedAt     time.Time          `json:"createdAt"`
	Decision      clearance.Decision `json:"decision"`
	Required      []string           `json:"requiredAgencies"`
	Messages      []MessageView      `json:"messages"`
	Declaration   json.RawMessage    `json:"declaration"`
}

// MessageView is one outbound message without its body.
type MessageView struct {
	ID             string        `json:"id"`
	Agency         string        `json:"agency"`
	Kind           message.Kind  `json:"kind"`
	Version        int           `json:"version"`
	PreviousID     string        `json:"previousId,omitempty"`
	State          message.State `json:"state"`
	Attempts       int           `json:"attempts"`
	LastError      string        `json:"lastError,omitempty"`
	NextAttemptAt  time.Time     `json:"nextAttemptAt,omitzero"`
	SentAt         time.Time     `json:"sentAt,omitzero"`
	AckDeadline    time.Time     `json:"ackDeadline,omitzero"`
	Overdue        bool          `json:"overdue,omitempty"`
	MappingVersion string        `json:"mappingVersion"`
	SchemaVersion  string        `json:"schemaVersion"`
	CreatedAt      time.Time     `json:"createdAt"`
	// RequestID is the X-Request-Id of the API request that created the
	// message: the key to its delivery log lines and to the agency's logs.
	RequestID string   `json:"requestId,omitempty"`
	Ack       *AckView `json:"ack,omitempty"`
}

// AckView is an agency's answer without its raw bytes.
type AckView struct {
	AckID      string    `json:"ackId"`
	Status     string    `json:"status"`
	ReasonCode string    `json:"reasonCode,omitempty"`
	ReasonText string    `json:"reasonText,omitempty"`
	ReceivedAt time.Time `json:"receivedAt"`
}

// View returns the current state of declaration id.
func (h *Hub) View(ctx context.Context, id string) (*DeclarationView, error) {
	var v *DeclarationView
	err := h.readTx(ctx, func(tx store.Tx) error {
		var err error
		in, err := h.loadClearance(ctx, tx, id)
		if err != nil {
			return err
		}
		v, err = h.view(ctx, tx, in)
		return err
	})
	return v, err
}

// view renders in with the ACKs stored for its messages.
func (h *Hub) view(ctx context.Context, tx store.Tx, in *clearanceInput) (*DeclarationView, error) {
	stored, err := tx.AcksForDeclaration(ctx, in.decl.ID)
	if err != nil {
		return nil, fmt.Errorf("load acks of %s: %w", in.decl.ID, err)
	}
	acks := make(map[string]*store.Ack, len(stored))
	for id, a := range stored {
		acks[id] = &a
	}
	return renderView(in, acks, h.now()), nil
}

// renderView is the view of the records in in, with acks the answers
// stored for its messages, by message id.
func renderView(in *clearanceInput, acks map[string]*store.Ack, now time.Time) *DeclarationView {
	d := in.decl
	v := &DeclarationView{
		ID: d.ID, Version: d.Version, Status: d.Status, TraderTaxCode: d.TraderTaxCode, Gate: d.Gate, Lane: d.Lane,
		PlateVN: d.PlateVN, PlateCN: d.PlateCN, CreatedAt: d.CreatedAt, Required: in.required,
		Declaration: json.RawMessage(d.Body),
		// Derived afresh rather than read back: "overdue" depends on the clock.
		Decision: clearance.Decide(in.required, in.statuses, d.Status == StatusCancelled, now),
	}
	v.Messages = MessageViews(in.msgs, now)
	for i := range v.Messages {
		mv := &v.Messages[i]
		if a, ok := acks[mv.ID]; ok {
			mv.Ack = &AckView{AckID: a.AckID, Status: a.Status, ReasonCode: a.ReasonCode, ReasonText: a.ReasonText, ReceivedAt: a.ReceivedAt}
		}
	}
	return v
}

// ViewsByPlate returns the declarations whose VN or CN plate is plate,
// newest first.
func (h *Hub) ViewsByPlate(ctx context.Context, plate string, limit int) ([]DeclarationView, error) {
	var out []DeclarationView
	err := h.readTx(ctx, func(tx store.Tx) error {
		ds, err := tx.DeclarationsByPlate(ctx, plate, limit)
		if err != nil {
			return fmt.Errorf("look up plate %s: %w", plate, err)
		}
		out = out[:0]
		for i := range ds {
			in, err := h.clearanceOf(ctx, tx, &ds[i])
			if err != nil {
				return err
			}
			v, err := h.view(ctx, tx, in)
			if err != nil {
				return err
			}
			out = append(out, *v)
		}
		return nil
	})
	return out, err
}

// ListDeclarations lists the latest versions, newest first; trader "" = all.
func (h *Hub) ListDeclarations(ctx context.Context, trader string, limit int) ([]store.Declaration, error) {
	var out []store.Declaration
	err := h.readTx(ctx, func(tx store.Tx) error {
		var err error
		out, err = tx.ListDeclarations(ctx, trader, limit)
		return err
	})
	return out, err
}

// Message returns one stored message, signed body included.
func (h *Hub) Message(ctx context.Context, id string) (*store.Message, error) {
	var m *store.Message
	err := h.readTx(ctx, func(tx store.Tx) error {
		var err error
		m, err = tx.GetMessage(ctx, id)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("message %s: %w", id, ErrNotFound)
	}
	return m, err
}

// readStore is a store that can run read-only transactions apart from the
// writers (the embedded store: parallel WAL readers instead of a place in
// the single writer's queue).
type readStore interface {
	WithReadTx(ctx context.Context, fn func(store.Tx) error) error
}

// readTx runs fn, which only reads, in a read-only transaction when the
// store offers one, else in an ordinary one.
func (h *Hub) readTx(ctx context.Context, fn func(store.Tx) error) error {
	if r, ok := h.Store.(readStore); ok {
		return r.WithReadTx(ctx, fn)
	}
	return h.Store.WithTx(ctx, fn)
}

// PlateDecision is the clearance decision of one declaration found by plate.
type PlateDecision struct {
	DeclarationID string             `json:"declarationId"`
	Version       int                `json:"version"`
	Gate          string             `json:"gate"`
	Lane          string             `json:"lane,omitempty"`
	Status        string             `json:"status"`
	Decision      clearance.Decision `json:"decision"`
}

// DecisionsByPlate returns the decisions, as of now, of the declarations
// whose VN or CN plate is plate, newest first. It reads only what a
// decision needs (no message bodies rendered, no ACK per message), as gate
// devices and operators ask it at every truck.
func (h *Hub) DecisionsByPlate(ctx context.Context, plate string, limit int) ([]PlateDecision, error) {
	var out []PlateDecision
	err := h.readTx(ctx, func(tx store.Tx) error {
		ds, err := tx.DeclarationsByPlate(ctx, plate, limit)
		if err != nil {
			return fmt.Errorf("look up plate %s: %w", plate, err)
		}
		out = make([]PlateDecision, 0, len(ds))
		now := h.now()
		for i := range ds {
			d := &ds[i]
			in, err := h.clearanceOf(ctx, tx, d)
			if err != nil {
				return err
			}
			out = append(out, PlateDecision{
				DeclarationID: d.ID, Version: d.Version, Gate: d.Gate, Lane: d.Lane, Status: d.Status,
				Decision: clearance.Decide(in.required, in.statuses, d.Status == StatusCancelled, now),
			})
		}
		return nil
	})
	return out, err
}
