// Package decisions re-derives a declaration's clearance decision (the pure
// rules of internal/clearance) from its stored messages and ACKs, inside the
// transaction that changed them; stores it, logs it and announces it to the
// lanes of the gate when it changed. Every orchestration package that moves
// a message calls it; lanes read a declaration's clearance through it.
package decisions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/gatehub/gatehub/internal/message"
	"time"

	"github.com/gatehub/gatehub/internal/agencies"
	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/clearance"
	"github.com/gatehub/gatehub/internal/declaration"
	"github.com/gatehub/gatehub/internal/gate"
	"github.com/gatehub/gatehub/internal/hub"
	"github.com/gatehub/gatehub/internal/metrics"
	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/txn"
)

// Decider derives and records decisions. Tx and Gates are required.
type Decider struct {
	Tx      *txn.Runner
	Gates   *gate.Registry
	Metrics *metrics.Metrics // optional
	// Orders reads, inside a transaction that holds the declaration, the
	// standing orders of the agencies' own messages about it (holds,
	// revocations: internal/directive), which every decision applies.
	// Optional: without it only answers count.
	Orders func(ctx context.Context, tx store.Tx, declarationID string) ([]clearance.Order, error)
	// Agencies gives the agencies' display texts (optional: codes).
	Agencies *agencies.Registry
}

// names is the agency set in force, for the decision texts.
func (h *Decider) names() clearance.Names {
	if h.Agencies == nil {
		return nil
	}
	return h.Agencies.Current()
}

// Input gathers what the clearance policy needs for the current version of
// one declaration.
type Input struct {
	Decl     *store.Declaration
	Body     declaration.Declaration
	Required []string
	Current  map[string]*store.Message // latest live message per agency
	Msgs     []store.Message           // every message of the declaration, by CreatedAt
	Statuses []clearance.AgencyStatus
	// Names are the agencies' display texts for the decision.
	Names  clearance.Names
	Orders []clearance.Order // agencies' standing orders (Decider.Orders)
}

// Load reads the input of declaration id's current version inside tx;
// an error wrapping hub.ErrNotFound when there is none.
func (h *Decider) Load(ctx context.Context, tx store.Tx, id string) (*Input, error) {
	d, err := tx.LatestDeclaration(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("declaration %s: %w", id, hub.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("load declaration %s: %w", id, err)
	}
	return h.Of(ctx, tx, d)
}

// Of is Load for the current version d, already read.
func (h *Decider) Of(ctx context.Context, tx store.Tx, d *store.Declaration) (*Input, error) {
	id := d.ID
	in := &Input{Decl: d, Current: map[string]*store.Message{}, Names: h.names()}
	if err := json.Unmarshal(d.Body, &in.Body); err != nil {
		return nil, fmt.Errorf("decode stored declaration %s v%d: %w", id, d.Version, err)
	}
	msgs, err := tx.MessagesForDeclaration(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("load messages of %s: %w", id, err)
	}
	in.Msgs = msgs
	for i := range msgs {
		m := &msgs[i]
		if m.State == message.Superseded || m.Kind == message.Cancel || m.Kind == message.Forward {
			continue
		}
		in.Current[m.Agency] = m // CreatedAt order: the last one wins
	}
	if g, ok := h.Gates.Current().Gate(d.Gate); ok {
		in.Required = g.RequiredAgencies(in.Body.Direction, in.Body.CargoKind, in.Body.HSCodes()...)
	} else {
		// The gate was removed from configuration after the declaration was
		// accepted: judge by the agencies it was sent to.
		for agency := range in.Current {
			in.Required = append(in.Required, agency)
		}
	}
	if h.Orders != nil {
		if in.Orders, err = h.Orders(ctx, tx, id); err != nil {
			return nil, err
		}
	}
	// The ACKs of all its messages in one query, once one is needed.
	var acks map[string]store.Ack
	if err := in.CollectStatuses(func(messageID string) (*store.Ack, error) {
		if acks == nil {
			var err error
			if acks, err = tx.AcksForDeclaration(ctx, id); err != nil {
				return nil, err
			}
		}
		a, ok := acks[messageID]
		if !ok {
			return nil, nil
		}
		return &a, nil
	}); err != nil {
		return nil, err
	}
	return in, nil
}

// CollectStatuses fills in.Statuses from in.Current, asking ack for the
// answer of each acknowledged or refused message (nil: none stored).
func (in *Input) CollectStatuses(ack func(messageID string) (*store.Ack, error)) error {
	in.Statuses = in.Statuses[:0]
	for _, agency := range in.Required {
		m, ok := in.Current[agency]
		if !ok {
			continue
		}
		st := clearance.AgencyStatus{
			Agency: agency, MessageID: m.ID, State: m.State, Attempts: m.Attempts,
			LastError: m.LastError, AckDeadline: m.AckDeadline,
		}
		if m.State == message.Nacked || m.State == message.Acked {
			a, err := ack(m.ID)
			if err != nil {
				return fmt.Errorf("load ack of %s: %w", m.ID, err)
			}
			if a != nil {
				st.ReasonCode, st.ReasonText = a.ReasonCode, a.ReasonText
			}
		}
		in.Statuses = append(in.Statuses, st)
	}
	return nil
}

// Derive is the clearance decision of in as of now: the agencies'
// answers, then their standing orders.
func (in *Input) Derive(now time.Time) clearance.Decision {
	return clearance.WithOrders(in.Names, clearance.Decide(in.Names, in.Required, in.Statuses, in.Decl.Status == hub.StatusCancelled, now), in.Orders)
}

// Decide re-derives the clearance decision of a declaration's current
// version and, when it changed, stores it, logs it and announces it to the
// gate's lanes.
func (h *Decider) Decide(ctx context.Context, tx store.Tx, fx *txn.Effects, id string) (*clearance.Decision, error) {
	in, err := h.Load(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	return h.DecideFrom(ctx, tx, fx, in, false)
}

// DecideFrom is Decide for a declaration whose records the caller holds.
// first says that no decision was ever stored for this version (the
// transaction just created it), which saves looking for one.
func (h *Decider) DecideFrom(ctx context.Context, tx store.Tx, fx *txn.Effects, in *Input, first bool) (*clearance.Decision, error) {
	id := in.Decl.ID
	now := h.Tx.Clock()
	if in.Names == nil {
		in.Names = h.names() // an Input the caller built
	}
	dec := in.Derive(now)
	detail, err := decisionDetail(dec)
	if err != nil {
		return nil, err
	}
	if !first {
		prev, err := tx.GetDecision(ctx, id, in.Decl.Version)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("load decision: %w", err)
		}
		if prev != nil && prev.Status == dec.Status && string(prev.Detail) == string(detail) {
			return &dec, nil
		}
	}
	rec := &store.Decision{DeclarationID: id, Version: in.Decl.Version, Status: dec.Status, Detail: detail, DecidedAt: now}
	if err := tx.PutDecision(ctx, rec); err != nil {
		return nil, fmt.Errorf("store decision: %w", err)
	}
	if err := h.Tx.AppendAudit(ctx, tx, store.AuditEntry{
		Kind: audit.KindDecision, Actor: hub.Participant, DeclarationID: id, Plate: hub.PlateOf(in.Decl),
		Payload: txn.AuditPayload(&audit.Decision{Version: in.Decl.Version, Decision: &dec}),
	}); err != nil {
		return nil, err
	}
	ev := DecisionEvent{DeclarationID: id, Version: in.Decl.Version, PlateVN: in.Decl.PlateVN, PlateCN: in.Decl.PlateCN, Decision: dec}
	for _, topic := range h.laneTopics(in) {
		if err := fx.Publish(topic, EventDecision, id, ev); err != nil {
			return nil, err
		}
	}
	if h.Metrics != nil {
		status := dec.Status
		fx.Observe(func() { h.Metrics.Decision(string(status)) })
	}
	return &dec, nil
}

// decisionDetail is the stored form of a decision: everything but the time
// it was taken, so that re-deriving an unchanged decision is recognisable.
func decisionDetail(d clearance.Decision) ([]byte, error) {
	d.DecidedAt = time.Time{}
	b, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encode decision: %w", err)
	}
	return b, nil
}

// laneTopics lists the lanes that may see this truck: its declared lane, or
// every lane of the gate serving its direction.
func (h *Decider) laneTopics(in *Input) []string {
	if in.Decl.Lane != "" {
		return []string{hub.LaneTopic(in.Decl.Gate, in.Decl.Lane)}
	}
	g, ok := h.Gates.Current().Gate(in.Decl.Gate)
	if !ok {
		return nil
	}
	var topics []string
	for _, l := range g.Lanes {
		if l.Direction == in.Body.Direction {
			topics = append(topics, hub.LaneTopic(g.Code, l.ID))
		}
	}
	return topics
}

// EventDecision is the type of the lane event that carries a truck's new
// decision; its key is the declaration id.
const EventDecision = "decision"

// DecisionEvent is what lanes receive when a truck's decision changes.
type DecisionEvent struct {
	DeclarationID string             `json:"declarationId"`
	Version       int                `json:"version"`
	PlateVN       string             `json:"plateVN,omitempty"`
	PlateCN       string             `json:"plateCN,omitempty"`
	Decision      clearance.Decision `json:"decision"`
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
	// Names are the agencies' display texts.
	Names clearance.Names
}

// ClearanceOf reads what deciding on d needs, inside tx.
func (h *Decider) ClearanceOf(ctx context.Context, tx store.Tx, d *store.Declaration) (*Clearance, error) {
	in, err := h.Of(ctx, tx, d)
	if err != nil {
		return nil, err
	}
	now := h.Tx.Clock()
	return &Clearance{Body: in.Body, Required: in.Required, Decide: func(agencies []string) clearance.Decision {
		var sts []clearance.AgencyStatus
		for _, s := range in.Statuses {
			for _, a := range agencies {
				if s.Agency == a {
					sts = append(sts, s)
				}
			}
		}
		return clearance.Decide(in.Names, agencies, sts, d.Status == hub.StatusCancelled, now)
	}, Orders: in.Orders, Names: in.Names}, nil
}

// LatestDeclaration reads a declaration's current version; hub.ErrNotFound
// (hub's) when there is none.
func LatestDeclaration(ctx context.Context, tx store.Tx, id string) (*store.Declaration, error) {
	d, err := tx.LatestDeclaration(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("declaration %s: %w", id, hub.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("load declaration %s: %w", id, err)
	}
	return d, nil
}
