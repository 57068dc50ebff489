package replay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/gatehub/gatehub/internal/crossing"
	"github.com/gatehub/gatehub/internal/lanes"
	"github.com/gatehub/gatehub/internal/store"
)

// Crossing is one declaration's crossing at its gate as the audit log
// determines it: its lifecycle state and every checkpoint passed.
type Crossing struct {
	DeclarationID string
	Gate          string
	Plate         string
	State         string
	Version       int
	Reason        string
	Passages      string // "B1@GATE-1 v1 #3 at …; …", in order
	UpdatedAt     string
}

func crossingOf(c *crossing.Crossing) Crossing {
	var ps []string
	for _, p := range c.Passages {
		ps = append(ps, fmt.Sprintf("%s@%s v%d #%d %s→%s", p.Checkpoint, p.Lane, p.Version, p.Vehicle, formatTime(p.ArrivedAt), formatTime(p.PassedAt)))
	}
	return Crossing{DeclarationID: c.DeclarationID, Gate: c.Gate, Plate: c.Plate, State: string(c.State), Version: c.Version,
		Reason: c.Reason, Passages: strings.Join(ps, "; "), UpdatedAt: formatTime(c.UpdatedAt)}
}

// crossingEvent folds one crossing.* entry through the domain's own
// transitions: a passage of a checkpoint passed before, or after the exit,
// fails the replay.
func (r *replayer) crossingEvent(ctx context.Context, e *store.AuditEntry) error {
	// The crossing domain owns this payload's type (crossing.Event).
	var ev crossing.Event
	if err := json.Unmarshal(e.Payload, &ev); err != nil {
		return fmt.Errorf("payload: %w", err)
	}
	if ev.DeclarationID != e.DeclarationID {
		return fmt.Errorf("crossing event of %s logged for %s", ev.DeclarationID, e.DeclarationID)
	}
	prev, err := r.b.crossing(ctx, ev.DeclarationID)
	if err != nil {
		return err
	}
	c, err := crossing.Replay(prev, ev)
	if err != nil {
		return err
	}
	if c.State != ev.State {
		return fmt.Errorf("crossing %s: replayed state %s, logged %s", c.DeclarationID, c.State, ev.State)
	}
	return r.b.putCrossing(ctx, c, prev == nil)
}

// crossingsFromStore reads the crossing of each declaration in tx.
func crossingsFromStore(ctx context.Context, tx store.Tx, s *State, ids []string) error {
	for _, id := range ids {
		sc, err := tx.GetCrossing(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("crossing of %s: %w", id, err)
		}
		c, err := lanes.FromStore(sc)
		if err != nil {
			return err
		}
		s.Crossings[id] = crossingOf(c)
	}
	return nil
}

func diffCrossings(out []Difference, a, b *State) []Difference {
	for _, id := range unionKeys(a.Crossings, b.Crossings) {
		subject := "crossing " + id
		x, inA := a.Crossings[id]
		y, inB := b.Crossings[id]
		if !inA || !inB {
			out = append(out, presence(subject, inA, inB))
			continue
		}
		out = appendFields(out, subject, []field{
			{"gate", x.Gate, y.Gate},
			{"plate", x.Plate, y.Plate},
			{"state", x.State, y.State},
			{"version", itoa(x.Version), itoa(y.Version)},
			{"reason", x.Reason, y.Reason},
			{"passages", x.Passages, y.Passages},
			{"updated at", x.UpdatedAt, y.UpdatedAt},
		})
	}
	return out
}
