package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/gatehub/gatehub/internal/message"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehub/gatehub/internal/store"
)

type tx struct {
	tx pgx.Tx

	// head is the audit entry this transaction appended last (nil: none
	// yet). AuditHead takes the audit head lock, held until the
	// transaction ends, so nothing else can extend the chain meanwhile:
	// AuditHead answers from it instead of two more round trips for each
	// entry, all of them inside the section that the lock serialises
	// across every instance. Kept only once this transaction holds the
	// lock (locked).
	head   *store.AuditEntry
	locked bool

	// after is what AfterCommit registered, run by withTx once this
	// attempt committed.
	after []func()
}

// AfterCommit implements store.Tx.
func (t *tx) AfterCommit(fn func()) { t.after = append(t.after, fn) }

var _ store.Tx = (*tx)(nil)

// Inserts use ON CONFLICT DO NOTHING and report ErrConflict from the row
// count: a unique-violation error would abort the whole transaction, and
// callers expect to carry on after a conflict (e.g. read the existing
// idempotency key), as they can with SQLite.

// ts converts a time to its stored form: UTC at microseconds (Postgres'
// precision, truncated here rather than rounded by the server) or NULL for
// the zero time.
func ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return store.Truncate(t)
}

// nullTime scans a TIMESTAMPTZ back; NULL becomes the zero time.
type nullTime struct{ t *time.Time }

func (n nullTime) ScanTimestamptz(v pgtype.Timestamptz) error {
	switch {
	case !v.Valid:
		*n.t = time.Time{}
	case v.InfinityModifier != pgtype.Finite:
		return errors.New("postgres: infinite timestamp")
	default:
		*n.t = v.Time.UTC()
	}
	return nil
}

func now() time.Time { return store.Truncate(time.Now()) }

// limitArg maps "no limit" (<= 0) to NULL, which LIMIT treats as none.
func limitArg(limit int) any {
	if limit <= 0 {
		return nil
	}
	return limit
}

func wrap(err error, format string, args ...any) error {
	if errors.Is(err, pgx.ErrNoRows) {
		err = store.ErrNotFound
	}
	return fmt.Errorf("postgres: "+format+": %w", append(args, err)...)
}

func inserted(tag pgconn.CommandTag, format string, args ...any) error {
	if tag.RowsAffected() == 0 {
		return wrap(store.ErrConflict, format, args...)
	}
	return nil
}

func updated(tag pgconn.CommandTag, format string, args ...any) error {
	if tag.RowsAffected() == 0 {
		return wrap(store.ErrNotFound, format, args...)
	}
	return nil
}

// cols prefixes each column of a list with a table alias.
func cols(alias, list string) string {
	parts := strings.Split(list, ",")
	for i, p := range parts {
		parts[i] = alias + "." + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// where accumulates filter conditions with numbered placeholders.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, v any) {
	w.args = append(w.args, v)
	w.conds = append(w.conds, strings.ReplaceAll(cond, "$?", fmt.Sprintf("$%d", len(w.args))))
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

func (w *where) next() string { return fmt.Sprintf("$%d", len(w.args)+1) }

const declCols = `id, version, trader_tax_code, gate, lane, plate_vn, plate_cn, status, body, idempotency_key, created_at`

func scanDecl(row pgx.Row) (store.Declaration, error) {
	var d store.Declaration
	err := row.Scan(&d.ID, &d.Version, &d.TraderTaxCode, &d.Gate, &d.Lane, &d.PlateVN, &d.PlateCN,
		&d.Status, &d.Body, &d.IdempotencyKey, nullTime{&d.CreatedAt})
	return d, err
}

func (t *tx) InsertDeclaration(ctx context.Context, d *store.Declaration) error {
	if d.CreatedAt.IsZero() {
		d.CreatedAt = now()
	}
	tag, err := t.tx.Exec(ctx, `INSERT INTO declarations (`+declCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING`,
		d.ID, d.Version, d.TraderTaxCode, d.Gate, d.Lane, d.PlateVN, d.PlateCN, d.Status,
		d.Body, d.IdempotencyKey, ts(d.CreatedAt))
	if err != nil {
		return wrap(err, "insert declaration %s v%d", d.ID, d.Version)
	}
	return inserted(tag, "insert declaration %s v%d", d.ID, d.Version)
}

func (t *tx) LatestDeclaration(ctx context.Context, id string) (*store.Declaration, error) {
	d, err := scanDecl(t.tx.QueryRow(ctx, `SELECT `+declCols+` FROM declarations
		WHERE id = $1 ORDER BY version DESC LIMIT 1`, id))
	if err != nil {
		return nil, wrap(err, "latest declaration %s", id)
	}
	return &d, nil
}

func (t *tx) DeclarationVersion(ctx context.Context, id string, version int) (*store.Declaration, error) {
	d, err := scanDecl(t.tx.QueryRow(ctx, `SELECT `+declCols+` FROM declarations
		WHERE id = $1 AND version = $2`, id, version))
	if err != nil {
		return nil, wrap(err, "declaration %s v%d", id, version)
	}
	return &d, nil
}

// latestOnly keeps a row only if it is its declaration's newest version, so
// an amendment that changed the plate hides the old plate.
const latestOnly = `d.version = (SELECT MAX(l.version) FROM declarations l WHERE l.id = d.id)`

func (t *tx) DeclarationsByPlate(ctx context.Context, plate string, limit int) ([]store.Declaration, error) {
	out, err := t.queryDecls(ctx, `SELECT `+cols("d", declCols)+` FROM declarations d
		WHERE (d.plate_vn = $1 OR d.plate_cn = $1) AND `+latestOnly+`
		ORDER BY d.created_at DESC, d.id DESC LIMIT $2`, plate, limitArg(limit))
	if err != nil {
		return nil, wrap(err, "declarations by plate %s", plate)
	}
	return out, nil
}

func (t *tx) ListDeclarations(ctx context.Context, trader string, limit int) ([]store.Declaration, error) {
	out, err := t.queryDecls(ctx, `SELECT `+cols("d", declCols)+` FROM declarations d
		WHERE ($1::text = '' OR d.trader_tax_code = $1) AND `+latestOnly+`
		ORDER BY d.created_at DESC, d.id DESC LIMIT $2`, trader, limitArg(limit))
	if err != nil {
		return nil, wrap(err, "list declarations of %q", trader)
	}
	return out, nil
}

// DeclarationsAfter pages in byte order of the id (collation "C", the
// order SQLite and Go compare strings in), so a walk over two stores of
// different kinds meets the same ids in the same order; the index of
// migration 0010 serves it.
func (t *tx) DeclarationsAfter(ctx context.Context, afterID string, limit int) ([]store.Declaration, error) {
	out, err := t.queryDecls(ctx, `SELECT `+strings.Replace(cols("d", declCols), "d.body,", "NULL::bytea,", 1)+` FROM declarations d
		WHERE d.id COLLATE "C" > $1 AND `+latestOnly+`
		ORDER BY d.id COLLATE "C" LIMIT $2`, afterID, limitArg(limit))
	if err != nil {
		return nil, wrap(err, "declarations after %q", afterID)
	}
	return out, nil
}

func (t *tx) queryDecls(ctx context.Context, q string, args ...any) ([]store.Declaration, error) {
	rows, err := t.tx.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Declaration, error) { return scanDecl(r) })
}

// UpdateDeclarationStatus sets the status of the latest version: the status
// describes the declaration as it stands now; older versions stay as
// recorded.
func (t *tx) UpdateDeclarationStatus(ctx context.Context, id string, status string) error {
	tag, err := t.tx.Exec(ctx, `UPDATE declarations SET status = $1
		WHERE id = $2 AND version = (SELECT MAX(version) FROM declarations WHERE id = $2)`, status, id)
	if err != nil {
		return wrap(err, "update declaration %s status", id)
	}
	return updated(tag, "update declaration %s status", id)
}

func (t *tx) GetIdempotency(ctx context.Context, trader, key string) (*store.Idempotency, error) {
	var i store.Idempotency
	err := t.tx.QueryRow(ctx, `SELECT trader, key, request_hash, declaration_id, created_at
		FROM idempotency WHERE trader = $1 AND key = $2`, trader, key).
		Scan(&i.Trader, &i.Key, &i.RequestHash, &i.DeclarationID, nullTime{&i.CreatedAt})
	if err != nil {
		return nil, wrap(err, "idempotency %s/%s", trader, key)
	}
	return &i, nil
}

func (t *tx) InsertIdempotency(ctx context.Context, i *store.Idempotency) error {
	if i.CreatedAt.IsZero() {
		i.CreatedAt = now()
	}
	tag, err := t.tx.Exec(ctx, `INSERT INTO idempotency (trader, key, request_hash, declaration_id, created_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
		i.Trader, i.Key, i.RequestHash, i.DeclarationID, ts(i.CreatedAt))
	if err != nil {
		return wrap(err, "insert idempotency %s/%s", i.Trader, i.Key)
	}
	return inserted(tag, "insert idempotency %s/%s", i.Trader, i.Key)
}

const msgCols = `id, declaration_id, version, agency, kind, previous_id, mapping_version, schema_version,
	content_hash, body, state, attempts, next_attempt_at, last_error, lease_owner, lease_until,
	sent_at, ack_deadline, created_at, updated_at, request_id, trace_id`

// msgColsNoBody is msgCols with NULL for the body, for lists that do not
// need the bytes.
var msgColsNoBody = strings.Replace(msgCols, "content_hash, body,", "content_hash, NULL::bytea,", 1)

func scanMsg(row pgx.Row) (store.Message, error) {
	var m store.Message
	err := row.Scan(&m.ID, &m.DeclarationID, &m.Version, &m.Agency, &m.Kind, &m.PreviousID,
		&m.MappingVersion, &m.SchemaVersion, &m.ContentHash, &m.Body, &m.State, &m.Attempts,
		nullTime{&m.NextAttemptAt}, &m.LastError, &m.LeaseOwner, nullTime{&m.LeaseUntil},
		nullTime{&m.SentAt}, nullTime{&m.AckDeadline}, nullTime{&m.CreatedAt}, nullTime{&m.UpdatedAt},
		&m.RequestID, &m.TraceID)
	return m, err
}

func (t *tx) queryMsgs(ctx context.Context, q string, args ...any) ([]store.Message, error) {
	rows, err := t.tx.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Message, error) { return scanMsg(r) })
}

func (t *tx) InsertMessage(ctx context.Context, m *store.Message) error {
	if m.CreatedAt.IsZero() {
		m.CreatedAt = now()
	}
	if m.UpdatedAt.IsZero() {
		m.UpdatedAt = m.CreatedAt
	}
	tag, err := t.tx.Exec(ctx, `INSERT INTO messages (`+msgCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)
		ON CONFLICT DO NOTHING`,
		m.ID, m.DeclarationID, m.Version, m.Agency, m.Kind, m.PreviousID, m.MappingVersion,
		m.SchemaVersion, m.ContentHash, m.Body, m.State, m.Attempts, ts(m.NextAttemptAt),
		m.LastError, m.LeaseOwner, ts(m.LeaseUntil), ts(m.SentAt), ts(m.AckDeadline),
		ts(m.CreatedAt), ts(m.UpdatedAt), m.RequestID, m.TraceID)
	if err != nil {
		return wrap(err, "insert message %s", m.ID)
	}
	return inserted(tag, "insert message %s", m.ID)
}

// GetMessage locks the row until the transaction ends. Every caller reads
// the message to write it back (dispatcher settle, ACK, operator redrive and
// cancel, amendment); at READ COMMITTED two such transactions would both
// read the old row and the later UPDATE would silently undo the earlier one
// (an async ACK committed "acked", then the dispatcher's settle wrote
// "sent" over it and the truck waited forever). SQLite needs no lock: its
// transactions are serialized by BEGIN IMMEDIATE.
func (t *tx) GetMessage(ctx context.Context, id string) (*store.Message, error) {
	m, err := scanMsg(t.tx.QueryRow(ctx, `SELECT `+msgCols+` FROM messages WHERE id = $1 FOR UPDATE`, id))
	if err != nil {
		return nil, wrap(err, "message %s", id)
	}
	return &m, nil
}

func (t *tx) MessagesForDeclaration(ctx context.Context, declarationID string) ([]store.Message, error) {
	out, err := t.queryMsgs(ctx, `SELECT `+msgColsNoBody+` FROM messages
		WHERE declaration_id = $1 ORDER BY created_at, id`, declarationID)
	if err != nil {
		return nil, wrap(err, "messages of declaration %s", declarationID)
	}
	return out, nil
}

func (t *tx) ListMessages(ctx context.Context, f store.MessageFilter) ([]store.Message, error) {
	var w where
	if f.State != "" {
		w.add("state = $?", f.State)
	}
	if f.Agency != "" {
		w.add("agency = $?", f.Agency)
	}
	if f.DeclarationID != "" {
		w.add("declaration_id = $?", f.DeclarationID)
	}
	if !f.OverdueAt.IsZero() {
		w.add("state = $?", message.Sent)
		w.add("ack_deadline < $?", ts(f.OverdueAt))
	}
	q := `SELECT ` + msgCols + ` FROM messages` + w.sql() + ` ORDER BY created_at, id LIMIT ` + w.next()
	out, err := t.queryMsgs(ctx, q, append(w.args, limitArg(f.Limit))...)
	if err != nil {
		return nil, wrap(err, "list messages")
	}
	return out, nil
}

// ClaimDue locks due rows with FOR UPDATE SKIP LOCKED, so concurrent
// claimers (goroutines or hub processes) each take different rows without
// waiting. Under READ COMMITTED a row whose lock was released by a
// committed claim is re-checked against the WHERE clause before it is
// returned, so a fresh lease is never stolen.
func (t *tx) ClaimDue(ctx context.Context, now time.Time, limit int, owner string, leaseUntil time.Time) ([]store.Message, error) {
	return t.ClaimDueFor(ctx, store.ClaimParams{Now: now, Limit: limit, Owner: owner, LeaseUntil: leaseUntil})
}

func (t *tx) ClaimDueFor(ctx context.Context, p store.ClaimParams) ([]store.Message, error) {
	if p.Limit <= 0 {
		return nil, nil
	}
	out, err := t.queryMsgs(ctx, `UPDATE messages m SET lease_owner = $1, lease_until = $2
		FROM (SELECT id FROM messages
			WHERE state = $3 AND ($6 = '' OR agency = $6) AND (next_attempt_at IS NULL OR next_attempt_at <= $4)
			  AND (lease_until IS NULL OR lease_until <= $4)
			ORDER BY next_attempt_at NULLS FIRST, created_at, id
			LIMIT $5
			FOR UPDATE SKIP LOCKED) due
		WHERE m.id = due.id
		RETURNING `+cols("m", msgCols), p.Owner, ts(p.LeaseUntil), message.Pending, ts(p.Now), p.Limit, p.Agency)
	if err != nil {
		return nil, wrap(err, "claim due")
	}
	sortDue(out)
	return out, nil
}

// sortDue restores the claim order, which RETURNING does not promise.
func sortDue(ms []store.Message) {
	less := func(a, b store.Message) int {
		if c := a.NextAttemptAt.Compare(b.NextAttemptAt); c != 0 {
			return c
		}
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	}
	slices.SortFunc(ms, less)
}

// RescheduleAgency skips rows another transaction holds (a claim or a
// settle in progress): those are being attempted right now anyway.
func (t *tx) RescheduleAgency(ctx context.Context, agency string, now time.Time) (int, error) {
	tag, err := t.tx.Exec(ctx, `UPDATE messages m SET next_attempt_at = $1, updated_at = $1
		FROM (SELECT id FROM messages
			WHERE agency = $2 AND state = $3 AND next_attempt_at > $1 AND (lease_until IS NULL OR lease_until <= $1)
			FOR UPDATE SKIP LOCKED) due
		WHERE m.id = due.id`, ts(now), agency, message.Pending)
	if err != nil {
		return 0, wrap(err, "reschedule %s", agency)
	}
	return int(tag.RowsAffected()), nil
}

func (t *tx) UpdateMessage(ctx context.Context, m *store.Message) error {
	tag, err := t.tx.Exec(ctx, `UPDATE messages SET state = $1, attempts = $2, next_attempt_at = $3,
		last_error = $4, lease_owner = $5, lease_until = $6, sent_at = $7, ack_deadline = $8, updated_at = $9
		WHERE id = $10`,
		m.State, m.Attempts, ts(m.NextAttemptAt), m.LastError, m.LeaseOwner, ts(m.LeaseUntil),
		ts(m.SentAt), ts(m.AckDeadline), ts(m.UpdatedAt), m.ID)
	if err != nil {
		return wrap(err, "update message %s", m.ID)
	}
	return updated(tag, "update message %s", m.ID)
}

func (t *tx) CountMessages(ctx context.Context) (map[[2]string]int, error) {
	rows, err := t.tx.Query(ctx, `SELECT agency, state, count(*) FROM messages GROUP BY agency, state`)
	if err != nil {
		return nil, wrap(err, "count messages")
	}
	defer rows.Close()
	out := map[[2]string]int{}
	for rows.Next() {
		var agency, state string
		var n int
		if err := rows.Scan(&agency, &state, &n); err != nil {
			return nil, wrap(err, "count messages")
		}
		out[[2]string{agency, state}] = n
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "count messages")
	}
	return out, nil
}

func (t *tx) OldestPending(ctx context.Context) (map[string]time.Time, error) {
	rows, err := t.tx.Query(ctx, `SELECT agency, MIN(created_at) FROM messages WHERE state = $1 GROUP BY agency`, message.Pending)
	if err != nil {
		return nil, wrap(err, "oldest pending messages")
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var agency string
		var at time.Time
		if err := rows.Scan(&agency, nullTime{&at}); err != nil {
			return nil, wrap(err, "oldest pending messages")
		}
		out[agency] = at
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "oldest pending messages")
	}
	return out, nil
}

func (t *tx) InsertAck(ctx context.Context, a *store.Ack) error {
	if a.ReceivedAt.IsZero() {
		a.ReceivedAt = now()
	}
	tag, err := t.tx.Exec(ctx, `INSERT INTO acks (message_id, agency, ack_id, status, reason_code,
		reason_text, raw, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
		a.MessageID, a.Agency, a.AckID, a.Status, a.ReasonCode, a.ReasonText, a.Raw, ts(a.ReceivedAt))
	if err != nil {
		return wrap(err, "insert ack for %s", a.MessageID)
	}
	return inserted(tag, "insert ack for %s", a.MessageID)
}

func (t *tx) GetAck(ctx context.Context, messageID string) (*store.Ack, error) {
	var a store.Ack
	err := t.tx.QueryRow(ctx, `SELECT message_id, agency, ack_id, status, reason_code, reason_text,
		raw, received_at FROM acks WHERE message_id = $1`, messageID).
		Scan(&a.MessageID, &a.Agency, &a.AckID, &a.Status, &a.ReasonCode, &a.ReasonText, &a.Raw,
			nullTime{&a.ReceivedAt})
	if err != nil {
		return nil, wrap(err, "ack for %s", messageID)
	}
	return &a, nil
}

func (t *tx) AcksForDeclaration(ctx context.Context, declarationID string) (map[string]store.Ack, error) {
	rows, err := t.tx.Query(ctx, `SELECT a.message_id, a.agency, a.ack_id, a.status, a.reason_code,
		a.reason_text, a.received_at FROM acks a JOIN messages m ON m.id = a.message_id
		WHERE m.declaration_id = $1`, declarationID)
	if err != nil {
		return nil, wrap(err, "acks of declaration %s", declarationID)
	}
	defer rows.Close()
	out := map[string]store.Ack{}
	for rows.Next() {
		var a store.Ack
		if err := rows.Scan(&a.MessageID, &a.Agency, &a.AckID, &a.Status, &a.ReasonCode, &a.ReasonText,
			nullTime{&a.ReceivedAt}); err != nil {
			return nil, wrap(err, "acks of declaration %s", declarationID)
		}
		out[a.MessageID] = a
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "acks of declaration %s", declarationID)
	}
	return out, nil
}

func (t *tx) PutDecision(ctx context.Context, d *store.Decision) error {
	if d.DecidedAt.IsZero() {
		d.DecidedAt = now()
	}
	_, err := t.tx.Exec(ctx, `INSERT INTO decisions (declaration_id, version, status, detail, decided_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (declaration_id, version) DO UPDATE SET
			status = excluded.status, detail = excluded.detail, decided_at = excluded.decided_at`,
		d.DeclarationID, d.Version, d.Status, d.Detail, ts(d.DecidedAt))
	if err != nil {
		return wrap(err, "put decision %s v%d", d.DeclarationID, d.Version)
	}
	return nil
}

func (t *tx) GetDecision(ctx context.Context, declarationID string, version int) (*store.Decision, error) {
	var d store.Decision
	err := t.tx.QueryRow(ctx, `SELECT declaration_id, version, status, detail, decided_at
		FROM decisions WHERE declaration_id = $1 AND version = $2`, declarationID, version).
		Scan(&d.DeclarationID, &d.Version, &d.Status, &d.Detail, nullTime{&d.DecidedAt})
	if err != nil {
		return nil, wrap(err, "decision %s v%d", declarationID, version)
	}
	return &d, nil
}

// AuditHead locks the head row first: a second appender, in this process or
// another, blocks here until the first commits, and because READ COMMITTED
// takes a new snapshot per statement it then reads the head just written.
func (t *tx) AuditHead(ctx context.Context) (int64, []byte, error) {
	if t.head != nil {
		return t.head.Seq, bytes.Clone(t.head.Hash), nil
	}
	if _, err := t.tx.Exec(ctx, `SELECT id FROM audit_head_lock WHERE id = 1 FOR UPDATE`); err != nil {
		return 0, nil, wrap(err, "lock audit head")
	}
	t.locked = true
	var seq int64
	var hash []byte
	err := t.tx.QueryRow(ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&seq, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, wrap(err, "audit head")
	}
	return seq, hash, nil
}

// AppendAudit inserts only if es[0].Seq extends the chain by exactly one,
// so a caller that skipped AuditHead gets ErrConflict instead of a gap. The
// entries of a transaction go in one statement, as arrays: each round trip
// here is spent holding the head lock that every instance's appends wait on.
func (t *tx) AppendAudit(ctx context.Context, es ...*store.AuditEntry) error {
	if err := store.CheckAuditRun(es); err != nil {
		return fmt.Errorf("postgres: append audit: %w", err)
	}
	first, last := es[0], es[len(es)-1]
	n := len(es)
	texts := func() []string { return make([]string, n) }
	blobs := func() [][]byte { return make([][]byte, n) }
	seqs, times := make([]int64, n), make([]*time.Time, n)
	kinds, actors, decls, msgs, agencies, plates, refs := texts(), texts(), texts(), texts(), texts(), texts(), texts()
	payloads, prevs, hashes := blobs(), blobs(), blobs()
	for i, e := range es {
		seqs[i] = e.Seq
		if !e.Time.IsZero() {
			tm := store.Truncate(e.Time)
			times[i] = &tm
		}
		kinds[i], actors[i], decls[i], msgs[i], agencies[i], plates[i] = e.Kind, e.Actor, e.DeclarationID, e.MessageID, e.Agency, e.Plate
		payloads[i], refs[i], prevs[i], hashes[i] = e.Payload, string(e.PayloadOf), e.PrevHash, e.Hash
	}
	// A payload that names the row holding the same bytes (store.PayloadOf)
	// is kept there only if that row's bytes are equal; otherwise inline,
	// so nothing is ever lost to a wrong reference.
	tag, err := t.tx.Exec(ctx, `INSERT INTO audit_log (seq, time, kind, actor, declaration_id,
		message_id, agency, plate, payload, payload_ref, prev_hash, hash)
		SELECT seq, time, kind, actor, decl, msg, agency, plate,
			CASE WHEN same THEN NULL ELSE payload END, CASE WHEN same THEN ref ELSE '' END, prev, hash
		FROM (SELECT u.*, COALESCE(CASE u.ref
				WHEN 'message' THEN u.payload = (SELECT body FROM messages WHERE id = u.msg)
				WHEN 'ack' THEN u.payload = (SELECT raw FROM acks WHERE message_id = u.msg)
			END, false) AS same
			FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[],
				$7::text[], $8::text[], $9::bytea[], $10::text[], $11::bytea[], $12::bytea[])
				AS u(seq, time, kind, actor, decl, msg, agency, plate, payload, ref, prev, hash)) AS r
		WHERE $13::bigint = (SELECT COALESCE(MAX(seq), 0) + 1 FROM audit_log)
		ON CONFLICT DO NOTHING`,
		seqs, times, kinds, actors, decls, msgs, agencies, plates, payloads, refs, prevs, hashes, first.Seq)
	t.head = nil
	if err != nil {
		return wrap(err, "append audit %d-%d", first.Seq, last.Seq)
	}
	if got := tag.RowsAffected(); got != int64(n) {
		return wrap(store.ErrConflict, "append audit %d-%d: %d of %d inserted", first.Seq, last.Seq, got, n)
	}
	if t.locked {
		t.head = &store.AuditEntry{Seq: last.Seq, Hash: bytes.Clone(last.Hash)}
	}
	return nil
}

// auditCols reads an audit row with its payload wherever it is kept: in
// the row, or in the messages or acks row it refers to.
const auditCols = `a.seq, a.time, a.kind, a.actor, a.declaration_id, a.message_id, a.agency, a.plate,
	CASE a.payload_ref
		WHEN 'message' THEN COALESCE(a.payload, (SELECT body FROM messages WHERE id = a.message_id))
		WHEN 'ack' THEN COALESCE(a.payload, (SELECT raw FROM acks WHERE message_id = a.message_id))
		ELSE a.payload END,
	a.payload_ref, a.prev_hash, a.hash`

// ListAudit: seq bounds are inclusive; the time range is [From, To).
func (t *tx) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error) {
	var w where
	if f.FromSeq > 0 {
		w.add("seq >= $?", f.FromSeq)
	}
	if f.ToSeq > 0 {
		w.add("seq <= $?", f.ToSeq)
	}
	if !f.From.IsZero() {
		w.add("time >= $?", ts(f.From))
	}
	if !f.To.IsZero() {
		w.add("time < $?", ts(f.To))
	}
	for _, c := range []struct{ col, v string }{
		{"kind", f.Kind}, {"declaration_id", f.DeclarationID}, {"message_id", f.MessageID},
		{"agency", f.Agency}, {"plate", f.Plate},
	} {
		if c.v != "" {
			w.add(c.col+" = $?", c.v)
		}
	}
	q := `SELECT ` + auditCols + ` FROM audit_log a` + w.sql() + ` ORDER BY seq LIMIT ` + w.next()
	rows, err := t.tx.Query(ctx, q, append(w.args, limitArg(f.Limit))...)
	if err != nil {
		return nil, wrap(err, "list audit")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.AuditEntry, error) {
		var e store.AuditEntry
		err := r.Scan(&e.Seq, nullTime{&e.Time}, &e.Kind, &e.Actor, &e.DeclarationID, &e.MessageID,
			&e.Agency, &e.Plate, &e.Payload, (*string)(&e.PayloadOf), &e.PrevHash, &e.Hash)
		return e, err
	})
	if err != nil {
		return nil, wrap(err, "list audit")
	}
	return out, nil
}

func (t *tx) InsertCheckpoint(ctx context.Context, c *store.AuditCheckpoint) error {
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now()
	}
	tag, err := t.tx.Exec(ctx, `INSERT INTO audit_checkpoints (seq, hash, signature, key_id, created_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
		c.Seq, c.Hash, c.Signature, c.KeyID, ts(c.CreatedAt))
	if err != nil {
		return wrap(err, "insert checkpoint %d", c.Seq)
	}
	return inserted(tag, "insert checkpoint %d", c.Seq)
}

// ListCheckpoints returns checkpoints with fromSeq <= Seq <= toSeq,
// ascending; toSeq <= 0 means no upper bound.
func (t *tx) ListCheckpoints(ctx context.Context, fromSeq, toSeq int64) ([]store.AuditCheckpoint, error) {
	rows, err := t.tx.Query(ctx, `SELECT seq, hash, signature, key_id, created_at FROM audit_checkpoints
		WHERE seq >= $1::bigint AND ($2::bigint <= 0 OR seq <= $2::bigint) ORDER BY seq`, fromSeq, toSeq)
	if err != nil {
		return nil, wrap(err, "list checkpoints")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.AuditCheckpoint, error) {
		var c store.AuditCheckpoint
		err := r.Scan(&c.Seq, &c.Hash, &c.Signature, &c.KeyID, nullTime{&c.CreatedAt})
		return c, err
	})
	if err != nil {
		return nil, wrap(err, "list checkpoints")
	}
	return out, nil
}

// PruneAudit deletes archived entries but never the head. It takes the
// head lock so that it cannot race an appender.
func (t *tx) PruneAudit(ctx context.Context, throughSeq int64) (int64, error) {
	head, _, err := t.AuditHead(ctx)
	if err != nil {
		return 0, err
	}
	if throughSeq >= head {
		return 0, fmt.Errorf("postgres: prune audit through %d: the head entry %d must stay: %w", throughSeq, head, store.ErrConflict)
	}
	tag, err := t.tx.Exec(ctx, `DELETE FROM audit_log WHERE seq <= $1`, throughSeq)
	if err != nil {
		return 0, wrap(err, "prune audit")
	}
	return tag.RowsAffected(), nil
}

// PutGateConfig upserts the gate's current file, counting versions.
func (t *tx) PutGateConfig(ctx context.Context, c *store.GateConfig) error {
	if c.AppliedAt.IsZero() {
		c.AppliedAt = now()
	}
	err := t.tx.QueryRow(ctx, `INSERT INTO gate_configs (code, yaml, version, applied_by, applied_at)
		VALUES ($1, $2, 1, $3, $4)
		ON CONFLICT (code) DO UPDATE SET yaml = excluded.yaml, version = gate_configs.version + 1,
			applied_by = excluded.applied_by, applied_at = excluded.applied_at
		RETURNING version`, c.Code, c.YAML, c.AppliedBy, ts(c.AppliedAt)).Scan(&c.Version)
	if err != nil {
		return wrap(err, "put gate config %s", c.Code)
	}
	return nil
}

// ListGateConfigs returns every applied gate file, by code.
func (t *tx) ListGateConfigs(ctx context.Context) ([]store.GateConfig, error) {
	rows, err := t.tx.Query(ctx, `SELECT code, yaml, version, applied_by, applied_at FROM gate_configs ORDER BY code`)
	if err != nil {
		return nil, wrap(err, "list gate configs")
	}
	defer rows.Close()
	var out []store.GateConfig
	for rows.Next() {
		var c store.GateConfig
		if err := rows.Scan(&c.Code, &c.YAML, &c.Version, &c.AppliedBy, nullTime{&c.AppliedAt}); err != nil {
			return nil, wrap(err, "list gate configs")
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "list gate configs")
	}
	return out, nil
}

// LockDeclaration takes the row lock of the declaration's first version,
// which every later version leaves in place: amendments insert rows, so
// the latest version is no stable thing to lock. FOR NO KEY UPDATE, not
// FOR UPDATE: it conflicts with itself but not with the FOR KEY SHARE that
// foreign-key checks take, so inserting a message or a decision of this
// declaration (in this or a waiting transaction) never queues behind it.
func (t *tx) LockDeclaration(ctx context.Context, id string) error {
	var one int
	err := t.tx.QueryRow(ctx, `SELECT 1 FROM declarations WHERE id = $1
		ORDER BY version LIMIT 1 FOR NO KEY UPDATE`, id).Scan(&one)
	if err != nil {
		return wrap(err, "lock declaration %s", id)
	}
	return nil
}

func (t *tx) PutBlob(ctx context.Context, sha256Hex string, data []byte) error {
	if err := store.CheckBlob(sha256Hex, data); err != nil {
		return fmt.Errorf("postgres: put %w", err)
	}
	if _, err := t.tx.Exec(ctx, `INSERT INTO blobs (sha256, data, created_at) VALUES ($1, $2, $3)
		ON CONFLICT (sha256) DO NOTHING`, sha256Hex, data, now()); err != nil {
		return wrap(err, "put blob %s", sha256Hex)
	}
	return nil
}

// LockMessageDeclaration reads the message's declaration without locking
// the message (declaration_id never changes), then locks the declaration.
func (t *tx) LockMessageDeclaration(ctx context.Context, messageID string) (string, error) {
	var id string
	if err := t.tx.QueryRow(ctx, `SELECT declaration_id FROM messages WHERE id = $1`, messageID).Scan(&id); err != nil {
		return "", wrap(err, "declaration of message %s", messageID)
	}
	return id, t.LockDeclaration(ctx, id)
}

const eventCols = `id, topic, type, key, data, created_at, published_at`

func scanEvent(row pgx.Row) (store.Event, error) {
	var e store.Event
	err := row.Scan(&e.ID, &e.Topic, &e.Type, &e.Key, &e.Data, nullTime{&e.CreatedAt}, nullTime{&e.PublishedAt})
	return e, err
}

func (t *tx) queryEvents(ctx context.Context, q string, args ...any) ([]store.Event, error) {
	rows, err := t.tx.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Event, error) { return scanEvent(r) })
}

func (t *tx) AppendEvent(ctx context.Context, e *store.Event) error {
	if e.CreatedAt.IsZero() {
		e.CreatedAt = now()
	}
	data := e.Data
	if data == nil {
		data = []byte{}
	}
	err := t.tx.QueryRow(ctx, `INSERT INTO events (topic, type, key, data, created_at)
		VALUES ($1, $2, $3, $4, $5) RETURNING id`, e.Topic, e.Type, e.Key, data, ts(e.CreatedAt)).Scan(&e.ID)
	if err != nil {
		return wrap(err, "append event to %s", e.Topic)
	}
	return nil
}

// ClaimEventRelay is one conditional UPDATE: it never waits on another
// relay for longer than that relay's own (short) claim transaction.
func (t *tx) ClaimEventRelay(ctx context.Context, owner string, now, until time.Time) (bool, error) {
	tag, err := t.tx.Exec(ctx, `UPDATE event_relay SET owner = $1, lease_until = $2
		WHERE id = 1 AND (owner = $1 OR owner = '' OR lease_until IS NULL OR lease_until <= $3)`,
		owner, ts(until), ts(now))
	if err != nil {
		return false, wrap(err, "claim event relay for %s", owner)
	}
	return tag.RowsAffected() == 1, nil
}

func (t *tx) UnpublishedEvents(ctx context.Context, limit int) ([]store.Event, error) {
	out, err := t.queryEvents(ctx, `SELECT `+eventCols+` FROM events WHERE published_at IS NULL
		ORDER BY id LIMIT $1`, limitArg(limit))
	if err != nil {
		return nil, wrap(err, "unpublished events")
	}
	return out, nil
}

func (t *tx) MarkEventsPublished(ctx context.Context, ids []int64, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	if _, err := t.tx.Exec(ctx, `UPDATE events SET published_at = $1 WHERE id = ANY($2::bigint[])`, ts(at), ids); err != nil {
		return wrap(err, "mark %d events published", len(ids))
	}
	return nil
}

func (t *tx) LatestEvents(ctx context.Context, topic string, limit int) ([]store.Event, error) {
	out, err := t.queryEvents(ctx, `SELECT `+eventCols+` FROM (
			SELECT DISTINCT ON (key) `+eventCols+` FROM events WHERE topic = $1 ORDER BY key, id DESC) newest
		ORDER BY id DESC LIMIT $2`, topic, limitArg(limit))
	if err != nil {
		return nil, wrap(err, "latest events of %s", topic)
	}
	slices.Reverse(out)
	return out, nil
}

func (t *tx) PruneEvents(ctx context.Context, before time.Time) (int64, error) {
	tag, err := t.tx.Exec(ctx, `DELETE FROM events WHERE published_at IS NOT NULL AND published_at < $1`, ts(before))
	if err != nil {
		return 0, wrap(err, "prune events")
	}
	return tag.RowsAffected(), nil
}

func (t *tx) GetBlob(ctx context.Context, sha256Hex string) ([]byte, error) {
	var data []byte
	if err := t.tx.QueryRow(ctx, `SELECT data FROM blobs WHERE sha256 = $1`, sha256Hex).Scan(&data); err != nil {
		return nil, wrap(err, "blob %s", sha256Hex)
	}
	return data, nil
}
