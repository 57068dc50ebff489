package sqlite

import (
	"context"
	"errors"
	"fmt"

	"github.com/gatehub/gatehub/internal/store"
)

const crossingCols = `declaration_id, gate, plate, state, active, detail, updated_at`

// InsertCrossing stores a new crossing. The partial unique index on active
// (gate, plate) turns a second active crossing into no inserted row.
func (t *tx) InsertCrossing(ctx context.Context, c *store.Crossing) error {
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = now()
	}
	res, err := t.tx.ExecContext(ctx, `INSERT INTO crossings (`+crossingCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING`, c.DeclarationID, c.Gate, c.Plate, c.State, c.Active, c.Detail, ts(c.UpdatedAt))
	if err != nil {
		return notFound(err, "sqlite: insert crossing %s", c.DeclarationID)
	}
	return mustInsert(res, "sqlite: insert crossing %s", c.DeclarationID)
}

func scanCrossing(row interface{ Scan(...any) error }, c *store.Crossing) error {
	return row.Scan(&c.DeclarationID, &c.Gate, &c.Plate, &c.State, &c.Active, &c.Detail, nullTime{&c.UpdatedAt})
}

// GetCrossing reads a crossing and locks it until the transaction ends.
func (t *tx) GetCrossing(ctx context.Context, declarationID string) (*store.Crossing, error) {
	var c store.Crossing
	err := scanCrossing(t.tx.QueryRowContext(ctx, `SELECT `+crossingCols+` FROM crossings WHERE declaration_id = ?`, declarationID), &c)
	if err != nil {
		return nil, notFound(err, "sqlite: get crossing %s", declarationID)
	}
	return &c, nil
}

// UpdateCrossing writes the crossing's mutable fields. Re-activating into
// an occupied (gate, plate) would violate the unique index, which aborts a
// Postgres transaction; the check first keeps the transaction usable and
// answers ErrConflict like SQLite does.
func (t *tx) UpdateCrossing(ctx context.Context, c *store.Crossing) error {
	if c.Active {
		var other string
		err := t.tx.QueryRowContext(ctx, `SELECT declaration_id FROM crossings WHERE gate = ? AND plate = ? AND active = 1 AND declaration_id <> ?`,
			c.Gate, c.Plate, c.DeclarationID).Scan(&other)
		if err == nil {
			return fmt.Errorf("sqlite: update crossing %s: %s is active for plate %s: %w", c.DeclarationID, other, c.Plate, store.ErrConflict)
		}
		if err := notFound(err, "sqlite: update crossing %s", c.DeclarationID); !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	res, err := t.tx.ExecContext(ctx, `UPDATE crossings SET state = ?, active = ?, plate = ?, detail = ?, updated_at = ? WHERE declaration_id = ?`,
		c.State, c.Active, c.Plate, c.Detail, ts(c.UpdatedAt), c.DeclarationID)
	if err != nil {
		return notFound(err, "sqlite: update crossing %s", c.DeclarationID)
	}
	return mustAffect(res, "sqlite: update crossing %s", c.DeclarationID)
}

// ActiveCrossing returns the active crossing of a plate at a gate.
func (t *tx) ActiveCrossing(ctx context.Context, gate, plate string) (*store.Crossing, error) {
	var c store.Crossing
	err := scanCrossing(t.tx.QueryRowContext(ctx, `SELECT `+crossingCols+` FROM crossings WHERE gate = ? AND plate = ? AND active = 1`, gate, plate), &c)
	if err != nil {
		return nil, notFound(err, "sqlite: active crossing %s/%s", gate, plate)
	}
	return &c, nil
}

const laneCols = `gate, checkpoint, lane, vehicle, state, rev, updated_at`

func scanLane(row interface{ Scan(...any) error }, s *store.LaneState) error {
	return row.Scan(&s.Gate, &s.Checkpoint, &s.Lane, &s.Vehicle, &s.State, &s.Rev, nullTime{&s.UpdatedAt})
}

// LockLane creates the lane's row the first time. The single writer
// connection already serialises every write transaction.
func (t *tx) LockLane(ctx context.Context, gate, checkpoint, lane string) (*store.LaneState, error) {
	if _, err := t.tx.ExecContext(ctx, `INSERT INTO lane_states (gate, checkpoint, lane, vehicle, rev) VALUES (?, ?, ?, 0, 0)
		ON CONFLICT DO NOTHING`, gate, checkpoint, lane); err != nil {
		return nil, notFound(err, "sqlite: create lane %s/%s/%s", gate, checkpoint, lane)
	}
	var s store.LaneState
	err := scanLane(t.tx.QueryRowContext(ctx, `SELECT `+laneCols+` FROM lane_states WHERE gate = ? AND checkpoint = ? AND lane = ?`,
		gate, checkpoint, lane), &s)
	if err != nil {
		return nil, notFound(err, "sqlite: lock lane %s/%s/%s", gate, checkpoint, lane)
	}
	return &s, nil
}

// PutLaneState writes a lane's state if nobody wrote it since it was read.
func (t *tx) PutLaneState(ctx context.Context, s *store.LaneState) error {
	if s.UpdatedAt.IsZero() {
		s.UpdatedAt = now()
	}
	res, err := t.tx.ExecContext(ctx, `UPDATE lane_states SET vehicle = ?, state = ?, rev = rev + 1, updated_at = ?
		WHERE gate = ? AND checkpoint = ? AND lane = ? AND rev = ?`,
		s.Vehicle, s.State, ts(s.UpdatedAt), s.Gate, s.Checkpoint, s.Lane, s.Rev)
	if err != nil {
		return notFound(err, "sqlite: put lane %s/%s/%s", s.Gate, s.Checkpoint, s.Lane)
	}
	if n, err := affected(res); err != nil || n == 0 {
		if err != nil {
			return fmt.Errorf("sqlite: put lane %s/%s/%s: %w", s.Gate, s.Checkpoint, s.Lane, err)
		}
		return fmt.Errorf("sqlite: put lane %s/%s/%s at rev %d: %w", s.Gate, s.Checkpoint, s.Lane, s.Rev, store.ErrConflict)
	}
	s.Rev++
	return nil
}

// GetLaneState reads a lane's state without locking it.
func (t *tx) GetLaneState(ctx context.Context, gate, checkpoint, lane string) (*store.LaneState, error) {
	var s store.LaneState
	err := scanLane(t.tx.QueryRowContext(ctx, `SELECT `+laneCols+` FROM lane_states WHERE gate = ? AND checkpoint = ? AND lane = ?`,
		gate, checkpoint, lane), &s)
	if err != nil {
		return nil, notFound(err, "sqlite: get lane %s/%s/%s", gate, checkpoint, lane)
	}
	return &s, nil
}
