package replay

import (
	"context"
	"errors"

	"github.com/gatehub/gatehub/internal/crossing"
	"github.com/gatehub/gatehub/internal/hub"
	"github.com/gatehub/gatehub/internal/lanes"
	"github.com/gatehub/gatehub/internal/store"
)

// memBackend keeps the replayed rows in maps: FromEntries.
type memBackend struct {
	versions  map[string][]store.Declaration // declaration id → every version, in order
	cancelled map[string]bool
	messages  map[string]*store.Message
	acks      map[string]*store.Ack
	decisions map[string]map[int]store.Decision // declaration id → version → decision
	crossings map[string]*crossing.Crossing     // declaration id → its crossing
}

func newMemBackend() *memBackend {
	return &memBackend{
		versions: map[string][]store.Declaration{}, cancelled: map[string]bool{},
		messages: map[string]*store.Message{}, acks: map[string]*store.Ack{},
		decisions: map[string]map[int]store.Decision{}, crossings: map[string]*crossing.Crossing{},
	}
}

func (m *memBackend) crossing(_ context.Context, id string) (*crossing.Crossing, error) {
	return m.crossings[id], nil
}

func (m *memBackend) putCrossing(_ context.Context, c *crossing.Crossing, _ bool) error {
	m.crossings[c.DeclarationID] = c
	return nil
}

func (m *memBackend) latest(_ context.Context, id string) (int, bool, error) {
	vs := m.versions[id]
	if len(vs) == 0 {
		return 0, false, nil
	}
	return vs[len(vs)-1].Version, m.cancelled[id], nil
}

func (m *memBackend) insertVersion(_ context.Context, d *store.Declaration) error {
	m.versions[d.ID] = append(m.versions[d.ID], *d)
	return nil
}

func (m *memBackend) cancel(_ context.Context, id string) error {
	m.cancelled[id] = true
	return nil
}

func (m *memBackend) declarationBody(_ context.Context, id string, version int) ([]byte, error) {
	for _, v := range m.versions[id] {
		if v.Version == version {
			return v.Body, nil
		}
	}
	return nil, store.ErrNotFound
}

func (m *memBackend) message(_ context.Context, id string) (*store.Message, error) {
	return m.messages[id], nil
}

func (m *memBackend) insertMessage(_ context.Context, msg *store.Message) error {
	m.messages[msg.ID] = msg
	return nil
}

// updateMessage has nothing to do: message hands out the stored pointer.
func (m *memBackend) updateMessage(context.Context, *store.Message) error { return nil }

func (m *memBackend) hasAck(_ context.Context, id string) (bool, error) {
	_, ok := m.acks[id]
	return ok, nil
}

func (m *memBackend) insertAck(_ context.Context, a *store.Ack) error {
	m.acks[a.MessageID] = a
	return nil
}

// insertAgencyMessage: the in-memory state compares declarations,
// messages and decisions only; the decisions already carry the orders.
func (m *memBackend) insertAgencyMessage(context.Context, *store.AgencyMessage) error { return nil }

func (m *memBackend) putDecision(_ context.Context, d *store.Decision) error {
	if m.decisions[d.DeclarationID] == nil {
		m.decisions[d.DeclarationID] = map[int]store.Decision{}
	}
	m.decisions[d.DeclarationID][d.Version] = *d
	return nil
}

// finish derives State from what the entries left.
func (m *memBackend) finish() *State {
	s := newState()
	for id, vs := range m.versions {
		latest := vs[len(vs)-1]
		d := Declaration{
			ID: id, Version: latest.Version, Status: hub.StatusActive, Trader: latest.TraderTaxCode,
			Gate: latest.Gate, Lane: latest.Lane, PlateVN: latest.PlateVN, PlateCN: latest.PlateCN,
		}
		if m.cancelled[id] {
			d.Status = hub.StatusCancelled
		}
		if dec, ok := m.decisions[id][latest.Version]; ok {
			d.DecisionStatus, d.DecisionDetail, d.DecidedAt = string(dec.Status), string(dec.Detail), formatTime(dec.DecidedAt)
		}
		s.Declarations[id] = d
	}
	for id, msg := range m.messages {
		sm := Message{
			ID: id, DeclarationID: msg.DeclarationID, Version: msg.Version, Agency: msg.Agency, Kind: msg.Kind,
			PreviousID: msg.PreviousID, State: msg.State, Attempts: msg.Attempts,
		}
		if a, ok := m.acks[id]; ok {
			sm.AckStatus, sm.AckReason, sm.AckID = a.Status, a.ReasonCode, a.AckID
		}
		s.Messages[id] = sm
	}
	for id, c := range m.crossings {
		s.Crossings[id] = crossingOf(c)
	}
	return s
}

// txBackend keeps the replayed rows in a store, through the transaction of
// the batch at hand: the store is the replay's memory.
type txBackend struct {
	tx store.Tx
}

func (b *txBackend) latest(ctx context.Context, id string) (int, bool, error) {
	d, err := b.tx.LatestDeclaration(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return d.Version, d.Status == hub.StatusCancelled, nil
}

func (b *txBackend) insertVersion(ctx context.Context, d *store.Declaration) error {
	return b.tx.InsertDeclaration(ctx, d)
}

func (b *txBackend) cancel(ctx context.Context, id string) error {
	return b.tx.UpdateDeclarationStatus(ctx, id, hub.StatusCancelled)
}

func (b *txBackend) declarationBody(ctx context.Context, id string, version int) ([]byte, error) {
	d, err := b.tx.DeclarationVersion(ctx, id, version)
	if err != nil {
		return nil, err
	}
	return d.Body, nil
}

func (b *txBackend) message(ctx context.Context, id string) (*store.Message, error) {
	m, err := b.tx.GetMessage(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return m, err
}

func (b *txBackend) insertMessage(ctx context.Context, m *store.Message) error {
	return b.tx.InsertMessage(ctx, m)
}

func (b *txBackend) updateMessage(ctx context.Context, m *store.Message) error {
	return b.tx.UpdateMessage(ctx, m)
}

func (b *txBackend) hasAck(ctx context.Context, id string) (bool, error) {
	_, err := b.tx.GetAck(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

func (b *txBackend) insertAck(ctx context.Context, a *store.Ack) error {
	return b.tx.InsertAck(ctx, a)
}

func (b *txBackend) insertAgencyMessage(ctx context.Context, m *store.AgencyMessage) error {
	return b.tx.InsertAgencyMessage(ctx, m)
}

func (b *txBackend) putDecision(ctx context.Context, d *store.Decision) error {
	return b.tx.PutDecision(ctx, d)
}

func (b *txBackend) crossing(ctx context.Context, id string) (*crossing.Crossing, error) {
	sc, err := b.tx.GetCrossing(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return lanes.FromStore(sc)
}

func (b *txBackend) putCrossing(ctx context.Context, c *crossing.Crossing, isNew bool) error {
	sc, err := lanes.ToStore(c)
	if err != nil {
		return err
	}
	if isNew {
		return b.tx.InsertCrossing(ctx, sc)
	}
	return b.tx.UpdateCrossing(ctx, sc)
}
