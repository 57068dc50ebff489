// Package views renders what traders, operators, auditors and lane devices
// read: a declaration with its messages, ACKs and decision as of now,
// declarations by plate, lists, stored messages, audit searches and a
// lane's current events. Reads only, in read transactions (beside the
// embedded store's writer).
package views

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/gatehub/gatehub/internal/message"
	"time"

	"github.com/gatehub/gatehub/internal/clearance"
	"github.com/gatehub/gatehub/internal/decisions"
	"github.com/gatehub/gatehub/internal/eventrelay"
	"github.com/gatehub/gatehub/internal/fanout"
	"github.com/gatehub/gatehub/internal/hub"
	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/txn"
)

// Service answers reads. Both fields are required.
type Service struct {
	Tx        *txn.Runner
	Decisions *decisions.Decider
}

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
func (h *Service) View(ctx context.Context, id string) (*DeclarationView, error) {
	var v *DeclarationView
	err := h.Tx.ReadTx(ctx, func(tx store.Tx) error {
		var err error
		in, err := h.Decisions.Load(ctx, tx, id)
		if err != nil {
			return err
		}
		v, err = h.view(ctx, tx, in)
		return err
	})
	return v, err
}

// view renders in with the ACKs stored for its messages.
func (h *Service) view(ctx context.Context, tx store.Tx, in *decisions.Input) (*DeclarationView, error) {
	stored, err := tx.AcksForDeclaration(ctx, in.Decl.ID)
	if err != nil {
		return nil, fmt.Errorf("load acks of %s: %w", in.Decl.ID, err)
	}
	acks := make(map[string]*store.Ack, len(stored))
	for id, a := range stored {
		acks[id] = &a
	}
	return Render(in, acks, h.Tx.Clock()), nil
}

// Render is the view of the records in in, with acks the answers
// stored for its messages, by message id.
func Render(in *decisions.Input, acks map[string]*store.Ack, now time.Time) *DeclarationView {
	d := in.Decl
	v := &DeclarationView{
		ID: d.ID, Version: d.Version, Status: d.Status, TraderTaxCode: d.TraderTaxCode, Gate: d.Gate, Lane: d.Lane,
		PlateVN: d.PlateVN, PlateCN: d.PlateCN, CreatedAt: d.CreatedAt, Required: in.Required,
		Declaration: json.RawMessage(d.Body),
		// Derived afresh rather than read back: "overdue" depends on the clock.
		Decision: in.Derive(now),
	}
	v.Messages = MessageViews(in.Msgs, now)
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
func (h *Service) ViewsByPlate(ctx context.Context, plate string, limit int) ([]DeclarationView, error) {
	var out []DeclarationView
	err := h.Tx.ReadTx(ctx, func(tx store.Tx) error {
		ds, err := tx.DeclarationsByPlate(ctx, plate, limit)
		if err != nil {
			return fmt.Errorf("look up plate %s: %w", plate, err)
		}
		out = out[:0]
		for i := range ds {
			in, err := h.Decisions.Of(ctx, tx, &ds[i])
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
func (h *Service) ListDeclarations(ctx context.Context, trader string, limit int) ([]store.Declaration, error) {
	var out []store.Declaration
	err := h.Tx.ReadTx(ctx, func(tx store.Tx) error {
		var err error
		out, err = tx.ListDeclarations(ctx, trader, limit)
		return err
	})
	return out, err
}

// Message returns one stored message, signed body included.
func (h *Service) Message(ctx context.Context, id string) (*store.Message, error) {
	var m *store.Message
	err := h.Tx.ReadTx(ctx, func(tx store.Tx) error {
		var err error
		m, err = tx.GetMessage(ctx, id)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("message %s: %w", id, hub.ErrNotFound)
	}
	return m, err
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
func (h *Service) DecisionsByPlate(ctx context.Context, plate string, limit int) ([]PlateDecision, error) {
	var out []PlateDecision
	err := h.Tx.ReadTx(ctx, func(tx store.Tx) error {
		ds, err := tx.DeclarationsByPlate(ctx, plate, limit)
		if err != nil {
			return fmt.Errorf("look up plate %s: %w", plate, err)
		}
		out = make([]PlateDecision, 0, len(ds))
		now := h.Tx.Clock()
		for i := range ds {
			d := &ds[i]
			in, err := h.Decisions.Of(ctx, tx, d)
			if err != nil {
				return err
			}
			out = append(out, PlateDecision{
				DeclarationID: d.ID, Version: d.Version, Gate: d.Gate, Lane: d.Lane, Status: d.Status,
				Decision: in.Derive(now),
			})
		}
		return nil
	})
	return out, err
}

// MessageViews renders stored messages for operator listings.
func MessageViews(msgs []store.Message, now time.Time) []MessageView {
	out := make([]MessageView, 0, len(msgs))
	for _, m := range msgs {
		mv := MessageView{
			ID: m.ID, Agency: m.Agency, Kind: m.Kind, Version: m.Version, PreviousID: m.PreviousID, State: m.State,
			Attempts: m.Attempts, LastError: m.LastError, SentAt: m.SentAt, AckDeadline: m.AckDeadline,
			MappingVersion: m.MappingVersion, SchemaVersion: m.SchemaVersion, CreatedAt: m.CreatedAt, RequestID: m.RequestID,
			Overdue: m.State == message.Sent && !m.AckDeadline.IsZero() && now.After(m.AckDeadline),
		}
		if m.State == message.Pending {
			mv.NextAttemptAt = m.NextAttemptAt
		}
		out = append(out, mv)
	}
	return out
}

// AuditFind returns audit entries matching f, oldest first.
func (h *Service) AuditFind(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error) {
	var out []store.AuditEntry
	// A reader: an auditor's search may scan much of the log, and in the
	// writer's queue it would hold up every commit meanwhile.
	err := h.Tx.ReadTx(ctx, func(tx store.Tx) error {
		var err error
		out, err = tx.ListAudit(ctx, f)
		return err
	})
	return out, err
}

// AuditHead returns the Seq and hash of the log's last entry (0, nil when
// the log is empty): how far a verification of the live log has to go.
func (h *Service) AuditHead(ctx context.Context) (int64, []byte, error) {
	var (
		seq  int64
		hash []byte
	)
	err := h.Tx.ReadTx(ctx, func(tx store.Tx) error {
		var err error
		seq, hash, err = tx.AuditHead(ctx)
		return err
	})
	return seq, hash, err
}

// laneSnapshotKeys bounds a lane's current state: the trucks (and the lane
// answer) whose events changed last.
const laneSnapshotKeys = 100

// LaneSnapshot is the current state of a lane as devices see it: the newest
// stored event of each key of its topic (each truck's decision, the lane's
// last answer), oldest first. A device is sent it when it connects, before
// live events.
func (h *Service) LaneSnapshot(ctx context.Context, gateCode, lane string) ([]fanout.Event, error) {
	evs, err := eventrelay.Snapshot(ctx, h.Tx.Store, hub.LaneTopic(gateCode, lane), laneSnapshotKeys)
	if err != nil {
		return nil, err
	}
	out := make([]fanout.Event, len(evs))
	for i, e := range evs {
		out[i] = fanout.Event{Topic: e.Topic, Type: e.Type, Data: e.Data, Time: e.CreatedAt}
	}
	return out, nil
}
