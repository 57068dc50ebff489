package postgres

import (
	"context"
	"errors"

	"github.com/gatehub/gatehub/internal/store"
)

const crossingCols = `declaration_id, gate, plate, state, active, detail, updated_at`

// InsertCrossing stores a new crossing. The partial unique index on active
// (gate, plate) turns a second active crossing into no inserted row.
func (t *tx) InsertCrossing(ctx context.Context, c *store.Crossing) error {
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = now()
	}
	tag, err := t.tx.Exec(ctx, `INSERT INTO crossings (`+crossingCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT DO NOTHING`, c.DeclarationID, c.Gate, c.Plate, c.State, c.Active, c.Detail, ts(c.UpdatedAt))
	if err != nil {
		return wrap(err, "insert crossing %s", c.DeclarationID)
	}
	return inserted(tag, "insert crossing %s", c.DeclarationID)
}

func scanCrossing(row interface{ Scan(...any) error }, c *store.Crossing) error {
	return row.Scan(&c.DeclarationID, &c.Gate, &c.Plate, &c.State, &c.Active, &c.Detail, nullTime{&c.UpdatedAt})
}

// GetCrossing reads a crossing and locks it until the transaction ends.
func (t *tx) GetCrossing(ctx context.Context, declarationID string) (*store.Crossing, error) {
	var c store.Crossing
	err := scanCrossing(t.tx.QueryRow(ctx, `SELECT `+crossingCols+` FROM crossings WHERE declaration_id = $1 FOR UPDATE`, declarationID), &c)
	if err != nil {
		return nil, wrap(err, "get crossing %s", declarationID)
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
		err := t.tx.QueryRow(ctx, `SELECT declaration_id FROM crossings WHERE gate = $1 AND plate = $2 AND active AND declaration_id <> $3`,
			c.Gate, c.Plate, c.DeclarationID).Scan(&other)
		if err == nil {
			return wrap(store.ErrConflict, "update crossing %s: %s is active for plate %s", c.DeclarationID, other, c.Plate)
		}
		if err := wrap(err, "update crossing %s", c.DeclarationID); !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	tag, err := t.tx.Exec(ctx, `UPDATE crossings SET state = $2, active = $3, plate = $4, detail = $5, updated_at = $6 WHERE declaration_id = $1`,
		c.DeclarationID, c.State, c.Active, c.Plate, c.Detail, ts(c.UpdatedAt))
	if err != nil {
		return wrap(err, "update crossing %s", c.DeclarationID)
	}
	return updated(tag, "update crossing %s", c.DeclarationID)
}

// ActiveCrossing returns the active crossing of a plate at a gate.
func (t *tx) ActiveCrossing(ctx context.Context, gate, plate string) (*store.Crossing, error) {
	var c store.Crossing
	err := scanCrossing(t.tx.QueryRow(ctx, `SELECT `+crossingCols+` FROM crossings WHERE gate = $1 AND plate = $2 AND active`, gate, plate), &c)
	if err != nil {
		return nil, wrap(err, "active crossing %s/%s", gate, plate)
	}
	return &c, nil
}

const laneCols = `gate, checkpoint, lane, vehicle, state, rev, updated_at`

func scanLane(row interface{ Scan(...any) error }, s *store.LaneState) error {
	return row.Scan(&s.Gate, &s.Checkpoint, &s.Lane, &s.Vehicle, &s.State, &s.Rev, nullTime{&s.UpdatedAt})
}

// LockLane creates the lane's row the first time and locks it: every
// reading of one lane, on any instance, waits for the one before.
func (t *tx) LockLane(ctx context.Context, gate, checkpoint, lane string) (*store.LaneState, error) {
	if _, err := t.tx.Exec(ctx, `INSERT INTO lane_states (gate, checkpoint, lane, vehicle, rev) VALUES ($1, $2, $3, 0, 0)
		ON CONFLICT DO NOTHING`, gate, checkpoint, lane); err != nil {
		return nil, wrap(err, "create lane %s/%s/%s", gate, checkpoint, lane)
	}
	var s store.LaneState
	err := scanLane(t.tx.QueryRow(ctx, `SELECT `+laneCols+` FROM lane_states WHERE gate = $1 AND checkpoint = $2 AND lane = $3 FOR UPDATE`,
		gate, checkpoint, lane), &s)
	if err != nil {
		return nil, wrap(err, "lock lane %s/%s/%s", gate, checkpoint, lane)
	}
	return &s, nil
}

// PutLaneState writes a lane's state if nobody wrote it since it was read.
func (t *tx) PutLaneState(ctx context.Context, s *store.LaneState) error {
	if s.UpdatedAt.IsZero() {
		s.UpdatedAt = now()
	}
	tag, err := t.tx.Exec(ctx, `UPDATE lane_states SET vehicle = $4, state = $5, rev = rev + 1, updated_at = $6
		WHERE gate = $1 AND checkpoint = $2 AND lane = $3 AND rev = $7`,
		s.Gate, s.Checkpoint, s.Lane, s.Vehicle, s.State, ts(s.UpdatedAt), s.Rev)
	if err != nil {
		return wrap(err, "put lane %s/%s/%s", s.Gate, s.Checkpoint, s.Lane)
	}
	if tag.RowsAffected() == 0 {
		return wrap(store.ErrConflict, "put lane %s/%s/%s at rev %d", s.Gate, s.Checkpoint, s.Lane, s.Rev)
	}
	s.Rev++
	return nil
}

// GetLaneState reads a lane's state without locking it.
func (t *tx) GetLaneState(ctx context.Context, gate, checkpoint, lane string) (*store.LaneState, error) {
	var s store.LaneState
	err := scanLane(t.tx.QueryRow(ctx, `SELECT `+laneCols+` FROM lane_states WHERE gate = $1 AND checkpoint = $2 AND lane = $3`,
		gate, checkpoint, lane), &s)
	if err != nil {
		return nil, wrap(err, "get lane %s/%s/%s", gate, checkpoint, lane)
	}
	return &s, nil
}
