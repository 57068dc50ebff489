package lanes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/crossing"
	"github.com/gatehub/gatehub/internal/decisions"
	"github.com/gatehub/gatehub/internal/hub"
	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/txn"
)

// detail is the stored JSON of a crossing beside its indexed columns.
type detail struct {
	Version  int                `json:"version"`
	Passages []crossing.Passage `json:"passages,omitempty"`
	Reason   string             `json:"reason,omitempty"`
}

// ToStore encodes a crossing for the store.
func ToStore(c *crossing.Crossing) (*store.Crossing, error) {
	b, err := json.Marshal(detail{Version: c.Version, Passages: c.Passages, Reason: c.Reason})
	if err != nil {
		return nil, fmt.Errorf("encode crossing %s: %w", c.DeclarationID, err)
	}
	return &store.Crossing{DeclarationID: c.DeclarationID, Gate: c.Gate, Plate: c.Plate, State: string(c.State),
		Active: c.State.Active(), Detail: b, UpdatedAt: c.UpdatedAt}, nil
}

// FromStore decodes a stored crossing.
func FromStore(sc *store.Crossing) (*crossing.Crossing, error) {
	var d detail
	if err := json.Unmarshal(sc.Detail, &d); err != nil {
		return nil, fmt.Errorf("decode crossing %s: %w", sc.DeclarationID, err)
	}
	return &crossing.Crossing{DeclarationID: sc.DeclarationID, Version: d.Version, Gate: sc.Gate, Plate: sc.Plate,
		State: crossing.State(sc.State), Passages: d.Passages, Reason: d.Reason, UpdatedAt: sc.UpdatedAt}, nil
}

// loadCrossing reads (and locks) a declaration's crossing; nil when it has
// none (declared before crossings were kept).
func loadCrossing(ctx context.Context, tx store.Tx, id string) (*crossing.Crossing, error) {
	sc, err := tx.GetCrossing(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load crossing %s: %w", id, err)
	}
	return FromStore(sc)
}

// saveCrossing writes c after a transition and logs the transition with
// the state it led to; e carries what the transition adds (a passage, a
// reason).
func saveCrossing(ctx context.Context, tx store.Tx, h *txn.Runner, c *crossing.Crossing, kind, actor string, e crossing.Event, now time.Time) error {
	c.UpdatedAt = now
	sc, err := ToStore(c)
	if err != nil {
		return err
	}
	if kind == audit.KindCrossingOpened {
		err = tx.InsertCrossing(ctx, sc)
	} else {
		err = tx.UpdateCrossing(ctx, sc)
	}
	if err != nil {
		return fmt.Errorf("store crossing %s: %w", c.DeclarationID, err)
	}
	e.DeclarationID, e.Gate, e.Plate, e.Version, e.State, e.At = c.DeclarationID, c.Gate, c.Plate, c.Version, c.State, now
	return h.AppendAudit(ctx, tx, store.AuditEntry{Kind: kind, Actor: actor, DeclarationID: c.DeclarationID, Plate: c.Plate, Payload: mustJSON(e)})
}

// ActiveCrossingError refuses a declaration for a vehicle whose crossing
// at the gate is still active. It is a conflict (409): amend the active
// declaration instead, or finish or cancel its crossing first.
type ActiveCrossingError struct {
	Gate, Plate, DeclarationID string
}

func (e *ActiveCrossingError) Error() string {
	return fmt.Sprintf("vehicle %s has an active crossing at %s: declaration %s (amend it instead, or cancel it first)",
		e.Plate, e.Gate, e.DeclarationID)
}

func (e *ActiveCrossingError) Unwrap() error { return hub.ErrConflict }

func crossingPlate(d *store.Declaration) string {
	if d.PlateVN != "" {
		return d.PlateVN
	}
	return d.PlateCN
}

// Open implements submission.Crossings: a new declaration's crossing, refused
// while the vehicle's last one at the gate is active. The unique index
// decides between two instances racing for the same plate.
func (s *Service) Open(ctx context.Context, tx store.Tx, d *store.Declaration) error {
	plate := crossingPlate(d)
	if err := s.refuseActive(ctx, tx, d.Gate, plate, d.ID); err != nil {
		return err
	}
	if d.PlateCN != "" && d.PlateCN != plate {
		// The crossing is keyed by the VN plate (the unique index decides
		// races on it); the same Chinese plate under another VN plate is
		// the same vehicle too, found through the declarations.
		if err := s.refuseActiveCN(ctx, tx, d); err != nil {
			return err
		}
	}
	c := &crossing.Crossing{DeclarationID: d.ID, Version: d.Version, Gate: d.Gate, Plate: plate, State: crossing.Submitted}
	err := saveCrossing(ctx, tx, s.Tx, c, audit.KindCrossingOpened, hub.Participant, crossing.Event{}, d.CreatedAt)
	if errors.Is(err, store.ErrConflict) {
		if err := s.refuseActive(ctx, tx, d.Gate, plate, d.ID); err != nil {
			return err
		}
	}
	return err
}

func (s *Service) refuseActive(ctx context.Context, tx store.Tx, gateCode, plate, self string) error {
	c, err := tx.ActiveCrossing(ctx, gateCode, plate)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("look up active crossing of %s: %w", plate, err)
	case c.DeclarationID == self:
		return nil
	}
	return &ActiveCrossingError{Gate: gateCode, Plate: plate, DeclarationID: c.DeclarationID}
}

func (s *Service) refuseActiveCN(ctx context.Context, tx store.Tx, d *store.Declaration) error {
	ds, err := tx.DeclarationsByPlate(ctx, d.PlateCN, 10)
	if err != nil {
		return fmt.Errorf("look up plate %s: %w", d.PlateCN, err)
	}
	for i := range ds {
		o := &ds[i]
		if o.ID == d.ID || o.Gate != d.Gate || o.PlateCN != d.PlateCN {
			continue
		}
		c, err := tx.GetCrossing(ctx, o.ID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("load crossing %s: %w", o.ID, err)
		}
		if c.Active {
			return &ActiveCrossingError{Gate: d.Gate, Plate: d.PlateCN, DeclarationID: o.ID}
		}
	}
	return nil
}

// Amended implements submission.Crossings: the crossing follows the new version
// (and its plate, if that changed and is free).
func (s *Service) Amended(ctx context.Context, tx store.Tx, d *store.Declaration) error {
	c, err := loadCrossing(ctx, tx, d.ID)
	if err != nil || c == nil {
		return err
	}
	plate := crossingPlate(d)
	if c.State.Active() && plate != c.Plate {
		if err := s.refuseActive(ctx, tx, d.Gate, plate, d.ID); err != nil {
			return err
		}
	}
	c.Version, c.Plate = d.Version, plate
	return saveCrossing(ctx, tx, s.Tx, c, audit.KindCrossingAmended, hub.Participant, crossing.Event{}, d.CreatedAt)
}

// Cancelled implements submission.Crossings. A crossing already ended stays as
// it was: a truck that exited did cross.
func (s *Service) Cancelled(ctx context.Context, tx store.Tx, d *store.Declaration, reason string) error {
	c, err := loadCrossing(ctx, tx, d.ID)
	if err != nil || c == nil || !c.State.Active() {
		return err
	}
	now := s.Tx.Clock()
	if err := c.End(crossing.Cancelled, reason, now); err != nil {
		return err
	}
	return saveCrossing(ctx, tx, s.Tx, c, audit.KindCrossingCancelled, hub.Participant, crossing.Event{Reason: reason}, now)
}

// TurnBack ends an active crossing on an operator's word: the truck was
// sent back and its clearance can no longer open a barrier.
func (s *Service) TurnBack(ctx context.Context, actor hub.Actor, id, reason string) (*crossing.Crossing, error) {
	var out *crossing.Crossing
	err := s.Tx.InTx(ctx, func(tx store.Tx, fx *txn.Effects) error {
		if _, err := decisions.LatestDeclaration(ctx, tx, id); err != nil {
			return err
		}
		c, err := loadCrossing(ctx, tx, id)
		if err != nil {
			return err
		}
		if c == nil {
			return fmt.Errorf("declaration %s has no crossing: %w", id, hub.ErrNotFound)
		}
		now := s.Tx.Clock()
		if err := c.End(crossing.TurnedBack, reason, now); err != nil {
			return fmt.Errorf("%w: %v", hub.ErrInvalidState, err)
		}
		out = c
		return saveCrossing(ctx, tx, s.Tx, c, audit.KindCrossingTurnedBack, actor.String(), crossing.Event{Reason: reason}, now)
	})
	return out, err
}

// Crossing returns a declaration's crossing (nil when it has none).
func (s *Service) Crossing(ctx context.Context, id string) (*crossing.Crossing, error) {
	var out *crossing.Crossing
	err := s.Tx.ReadTx(ctx, func(tx store.Tx) error {
		sc, err := tx.GetCrossing(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("load crossing %s: %w", id, err)
		}
		out, err = FromStore(sc)
		return err
	})
	return out, err
}
