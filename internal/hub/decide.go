package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/gatehub/gatehub/internal/message"
	"time"

	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/clearance"
	"github.com/gatehub/gatehub/internal/declaration"
	"github.com/gatehub/gatehub/internal/store"
)

// clearanceInput gathers what the clearance policy needs for the current
// version of one declaration.
type clearanceInput struct {
	decl     *store.Declaration
	body     declaration.Declaration
	required []string
	current  map[string]*store.Message // latest live message per agency
	msgs     []store.Message           // every message of the declaration, by CreatedAt
	statuses []clearance.AgencyStatus
}

func (h *Hub) loadClearance(ctx context.Context, tx store.Tx, id string) (*clearanceInput, error) {
	d, err := tx.LatestDeclaration(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("declaration %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("load declaration %s: %w", id, err)
	}
	return h.clearanceOf(ctx, tx, d)
}

// clearanceOf is loadClearance for the current version d, already read.
func (h *Hub) clearanceOf(ctx context.Context, tx store.Tx, d *store.Declaration) (*clearanceInput, error) {
	id := d.ID
	in := &clearanceInput{decl: d, current: map[string]*store.Message{}}
	if err := json.Unmarshal(d.Body, &in.body); err != nil {
		return nil, fmt.Errorf("decode stored declaration %s v%d: %w", id, d.Version, err)
	}
	msgs, err := tx.MessagesForDeclaration(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("load messages of %s: %w", id, err)
	}
	in.msgs = msgs
	for i := range msgs {
		m := &msgs[i]
		if m.State == message.Superseded || m.Kind == message.Cancel {
			continue
		}
		in.current[m.Agency] = m // CreatedAt order: the last one wins
	}
	if g, ok := h.Gates.Current().Gate(d.Gate); ok {
		in.required = g.RequiredAgencies(in.body.Direction, in.body.CargoKind)
	} else {
		// The gate was removed from configuration after the declaration was
		// accepted: judge by the agencies it was sent to.
		for agency := range in.current {
			in.required = append(in.required, agency)
		}
	}
	// The ACKs of all its messages in one query, once one is needed.
	var acks map[string]store.Ack
	if err := in.collectStatuses(func(messageID string) (*store.Ack, error) {
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

// collectStatuses fills in.statuses from in.current, asking ack for the
// answer of each acknowledged or refused message (nil: none stored).
func (in *clearanceInput) collectStatuses(ack func(messageID string) (*store.Ack, error)) error {
	in.statuses = in.statuses[:0]
	for _, agency := range in.required {
		m, ok := in.current[agency]
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
		in.statuses = append(in.statuses, st)
	}
	return nil
}

// decide re-derives the clearance decision of a declaration's current
// version and, when it changed, stores it, logs it and announces it to the
// gate's lanes.
func (h *Hub) decide(ctx context.Context, tx store.Tx, fx *effects, id string) (*clearance.Decision, error) {
	in, err := h.loadClearance(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	return h.decideFrom(ctx, tx, fx, in, false)
}

// decideFrom is decide for a declaration whose records the caller holds.
// first says that no decision was ever stored for this version (the
// transaction just created it), which saves looking for one.
func (h *Hub) decideFrom(ctx context.Context, tx store.Tx, fx *effects, in *clearanceInput, first bool) (*clearance.Decision, error) {
	id := in.decl.ID
	now := h.now()
	dec := clearance.Decide(in.required, in.statuses, in.decl.Status == StatusCancelled, now)
	detail, err := decisionDetail(dec)
	if err != nil {
		return nil, err
	}
	if !first {
		prev, err := tx.GetDecision(ctx, id, in.decl.Version)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("load decision: %w", err)
		}
		if prev != nil && prev.Status == dec.Status && string(prev.Detail) == string(detail) {
			return &dec, nil
		}
	}
	rec := &store.Decision{DeclarationID: id, Version: in.decl.Version, Status: dec.Status, Detail: detail, DecidedAt: now}
	if err := tx.PutDecision(ctx, rec); err != nil {
		return nil, fmt.Errorf("store decision: %w", err)
	}
	if err := h.appendAudit(ctx, tx, store.AuditEntry{
		Kind: audit.KindDecision, Actor: Participant, DeclarationID: id, Plate: plateOf(in.decl),
		Payload: auditPayload(&audit.Decision{Version: in.decl.Version, Decision: &dec}),
	}); err != nil {
		return nil, err
	}
	ev := DecisionEvent{DeclarationID: id, Version: in.decl.Version, PlateVN: in.decl.PlateVN, PlateCN: in.decl.PlateCN, Decision: dec}
	for _, topic := range h.laneTopics(in) {
		if err := fx.publish(topic, EventDecision, id, ev); err != nil {
			return nil, err
		}
	}
	if h.Metrics != nil {
		status := dec.Status
		fx.observed = append(fx.observed, func() { h.Metrics.Decision(string(status)) })
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
func (h *Hub) laneTopics(in *clearanceInput) []string {
	if in.decl.Lane != "" {
		return []string{LaneTopic(in.decl.Gate, in.decl.Lane)}
	}
	g, ok := h.Gates.Current().Gate(in.decl.Gate)
	if !ok {
		return nil
	}
	var topics []string
	for _, l := range g.Lanes {
		if l.Direction == in.body.Direction {
			topics = append(topics, LaneTopic(g.Code, l.ID))
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
