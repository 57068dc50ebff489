package sqlite

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/gatehub/gatehub/internal/store"
)

// LockDeclaration only checks that the declaration exists: an IMMEDIATE
// transaction holds SQLite's single write lock from its start, so every
// transaction that changes a declaration is serialised with every other
// already (group commit runs its members one after the other).
func (t *tx) LockDeclaration(ctx context.Context, id string) error {
	var one int
	err := t.tx.QueryRowContext(ctx, `SELECT 1 FROM declarations WHERE id = ? LIMIT 1`, id).Scan(&one)
	if err != nil {
		return notFound(err, "sqlite: lock declaration %s", id)
	}
	return nil
}

func (t *tx) LockMessageDeclaration(ctx context.Context, messageID string) (string, error) {
	var id string
	err := t.tx.QueryRowContext(ctx, `SELECT declaration_id FROM messages WHERE id = ?`, messageID).Scan(&id)
	if err != nil {
		return "", notFound(err, "sqlite: declaration of message %s", messageID)
	}
	return id, nil
}

const eventCols = `id, topic, type, key, data, created_at, published_at`

func (t *tx) queryEvents(ctx context.Context, q string, args ...any) ([]store.Event, error) {
	rows, err := t.tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Event
	for rows.Next() {
		var e store.Event
		if err := rows.Scan(&e.ID, &e.Topic, &e.Type, &e.Key, &e.Data, nullTime{&e.CreatedAt}, nullTime{&e.PublishedAt}); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func (t *tx) AppendEvent(ctx context.Context, e *store.Event) error {
	if e.CreatedAt.IsZero() {
		e.CreatedAt = now()
	}
	data := e.Data
	if data == nil {
		data = []byte{}
	}
	err := t.tx.QueryRowContext(ctx, `INSERT INTO events (topic, type, key, data, created_at)
		VALUES (?, ?, ?, ?, ?) RETURNING id`, e.Topic, e.Type, e.Key, data, ts(e.CreatedAt)).Scan(&e.ID)
	if err != nil {
		return fmt.Errorf("sqlite: append event to %s: %w", e.Topic, err)
	}
	return nil
}

func (t *tx) ClaimEventRelay(ctx context.Context, owner string, now, until time.Time) (bool, error) {
	res, err := t.tx.ExecContext(ctx, `UPDATE event_relay SET owner = ?, lease_until = ?
		WHERE id = 1 AND (owner = ? OR owner = '' OR lease_until IS NULL OR lease_until <= ?)`,
		owner, ts(until), owner, ts(now))
	if err != nil {
		return false, fmt.Errorf("sqlite: claim event relay for %s: %w", owner, err)
	}
	n, err := affected(res)
	if err != nil {
		return false, fmt.Errorf("sqlite: claim event relay for %s: %w", owner, err)
	}
	return n == 1, nil
}

func (t *tx) UnpublishedEvents(ctx context.Context, limit int) ([]store.Event, error) {
	out, err := t.queryEvents(ctx, `SELECT `+eventCols+` FROM events WHERE published_at IS NULL
		ORDER BY id LIMIT ?`, sqlLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("sqlite: unpublished events: %w", err)
	}
	return out, nil
}

// MarkEventsPublished runs one prepared statement per id: in-process
// statements are cheap, and a query text per batch size would churn the
// statement cache.
func (t *tx) MarkEventsPublished(ctx context.Context, ids []int64, at time.Time) error {
	for _, id := range ids {
		if _, err := t.tx.ExecContext(ctx, `UPDATE events SET published_at = ? WHERE id = ?`, ts(at), id); err != nil {
			return fmt.Errorf("sqlite: mark event %d published: %w", id, err)
		}
	}
	return nil
}

func (t *tx) LatestEvents(ctx context.Context, topic string, limit int) ([]store.Event, error) {
	out, err := t.queryEvents(ctx, `SELECT `+eventCols+` FROM events e
		WHERE e.topic = ? AND e.id = (SELECT MAX(l.id) FROM events l WHERE l.topic = e.topic AND l.key = e.key)
		ORDER BY e.id DESC LIMIT ?`, topic, sqlLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("sqlite: latest events of %s: %w", topic, err)
	}
	slices.Reverse(out)
	return out, nil
}

func (t *tx) PruneEvents(ctx context.Context, before time.Time) (int64, error) {
	res, err := t.tx.ExecContext(ctx, `DELETE FROM events WHERE published_at IS NOT NULL AND published_at < ?`, ts(before))
	if err != nil {
		return 0, fmt.Errorf("sqlite: prune events: %w", err)
	}
	n, err := affected(res)
	if err != nil {
		return 0, fmt.Errorf("sqlite: prune events: %w", err)
	}
	return n, nil
}
