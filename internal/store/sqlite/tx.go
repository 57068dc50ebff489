package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/gatehub/gatehub/internal/message"
	"sort"
	"strings"
	"time"

	"github.com/gatehub/gatehub/internal/store"
)

type tx struct {
	tx querier // the group's write session, or a read session inside BEGIN

	// head is the audit entry this transaction appended last (nil: none
	// yet). The transaction holds SQLite's write lock, so nothing else can
	// extend the chain until it ends: AuditHead answers from it instead of
	// querying again for each entry of a declaration. The tx of a group
	// member dies with the member, rolled back or not.
	head *store.AuditEntry

	// after is what AfterCommit registered; see txOutcome.after.
	after []func()
}

// AfterCommit implements store.Tx.
func (t *tx) AfterCommit(fn func()) { t.after = append(t.after, fn) }

// querier is what tx needs from database/sql; *session has it.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

var _ store.Tx = (*tx)(nil)

// Inserts use ON CONFLICT DO NOTHING and report ErrConflict from the row
// count rather than from a constraint error: Postgres aborts a transaction on
// a failed statement, and both stores must let the caller carry on after a
// conflict (e.g. look up the existing idempotency key) in the same way.

// ts converts a time to the stored form: microseconds since the epoch, or
// NULL for the zero time.
func ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// nullTime scans a stored time back; NULL becomes the zero time.
type nullTime struct{ t *time.Time }

func (n nullTime) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*n.t = time.Time{}
	case int64:
		*n.t = time.UnixMicro(v).UTC()
	default:
		return fmt.Errorf("sqlite: time column holds %T, want integer", src)
	}
	return nil
}

// now is the default for creation times the caller left zero.
func now() time.Time { return store.Truncate(time.Now()) }

func affected(res sql.Result) (int64, error) {
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("rows affected: %w", err)
	}
	return n, nil
}

const declCols = `id, version, trader_tax_code, gate, lane, plate_vn, plate_cn, status, body, idempotency_key, created_at`

func scanDecl(sc interface{ Scan(...any) error }) (store.Declaration, error) {
	var d store.Declaration
	err := sc.Scan(&d.ID, &d.Version, &d.TraderTaxCode, &d.Gate, &d.Lane, &d.PlateVN, &d.PlateCN,
		&d.Status, &d.Body, &d.IdempotencyKey, nullTime{&d.CreatedAt})
	return d, err
}

func (t *tx) InsertDeclaration(ctx context.Context, d *store.Declaration) error {
	if d.CreatedAt.IsZero() {
		d.CreatedAt = now()
	}
	res, err := t.tx.ExecContext(ctx, `INSERT INTO declarations (`+declCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		d.ID, d.Version, d.TraderTaxCode, d.Gate, d.Lane, d.PlateVN, d.PlateCN, d.Status,
		d.Body, d.IdempotencyKey, ts(d.CreatedAt))
	if err != nil {
		return fmt.Errorf("sqlite: insert declaration %s v%d: %w", d.ID, d.Version, err)
	}
	return mustInsert(res, "sqlite: insert declaration %s v%d", d.ID, d.Version)
}

func (t *tx) LatestDeclaration(ctx context.Context, id string) (*store.Declaration, error) {
	d, err := scanDecl(t.tx.QueryRowContext(ctx, `SELECT `+declCols+` FROM declarations
		WHERE id = ? ORDER BY version DESC LIMIT 1`, id))
	if err != nil {
		return nil, notFound(err, "sqlite: latest declaration %s", id)
	}
	return &d, nil
}

func (t *tx) DeclarationVersion(ctx context.Context, id string, version int) (*store.Declaration, error) {
	d, err := scanDecl(t.tx.QueryRowContext(ctx, `SELECT `+declCols+` FROM declarations
		WHERE id = ? AND version = ?`, id, version))
	if err != nil {
		return nil, notFound(err, "sqlite: declaration %s v%d", id, version)
	}
	return &d, nil
}

// latestOnly keeps a declaration row only if it is its id's newest version,
// so an amendment that changed the plate hides the old plate.
const latestOnly = `d.version = (SELECT MAX(l.version) FROM declarations l WHERE l.id = d.id)`

func (t *tx) DeclarationsByPlate(ctx context.Context, plate string, limit int) ([]store.Declaration, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT `+declCols+` FROM declarations d
		WHERE (d.plate_vn = ? OR d.plate_cn = ?) AND `+latestOnly+`
		ORDER BY d.created_at DESC, d.id DESC LIMIT ?`, plate, plate, sqlLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("sqlite: declarations by plate %s: %w", plate, err)
	}
	out, err := collectDecls(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: declarations by plate %s: %w", plate, err)
	}
	return out, nil
}

func (t *tx) ListDeclarations(ctx context.Context, trader string, limit int) ([]store.Declaration, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT `+declCols+` FROM declarations d
		WHERE (? = '' OR d.trader_tax_code = ?) AND `+latestOnly+`
		ORDER BY d.created_at DESC, d.id DESC LIMIT ?`, trader, trader, sqlLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("sqlite: list declarations of %q: %w", trader, err)
	}
	out, err := collectDecls(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list declarations of %q: %w", trader, err)
	}
	return out, nil
}

// DeclarationsAfter pages by the primary key (id, version).
func (t *tx) DeclarationsAfter(ctx context.Context, afterID string, limit int) ([]store.Declaration, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT `+strings.Replace(declCols, "body,", "NULL,", 1)+` FROM declarations d
		WHERE d.id > ? AND `+latestOnly+`
		ORDER BY d.id LIMIT ?`, afterID, sqlLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("sqlite: declarations after %q: %w", afterID, err)
	}
	out, err := collectDecls(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: declarations after %q: %w", afterID, err)
	}
	return out, nil
}

func collectDecls(rows *sql.Rows) ([]store.Declaration, error) {
	defer rows.Close()
	var out []store.Declaration
	for rows.Next() {
		d, err := scanDecl(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// UpdateDeclarationStatus sets the status of the latest version: the status
// describes the declaration as it stands now, while older versions stay as
// they were recorded.
func (t *tx) UpdateDeclarationStatus(ctx context.Context, id string, status string) error {
	res, err := t.tx.ExecContext(ctx, `UPDATE declarations SET status = ?
		WHERE id = ? AND version = (SELECT MAX(version) FROM declarations WHERE id = ?)`, status, id, id)
	if err != nil {
		return fmt.Errorf("sqlite: update declaration %s status: %w", id, err)
	}
	return mustAffect(res, "sqlite: update declaration %s status", id)
}

func (t *tx) GetIdempotency(ctx context.Context, trader, key string) (*store.Idempotency, error) {
	var i store.Idempotency
	err := t.tx.QueryRowContext(ctx, `SELECT trader, key, request_hash, declaration_id, created_at
		FROM idempotency WHERE trader = ? AND key = ?`, trader, key).
		Scan(&i.Trader, &i.Key, &i.RequestHash, &i.DeclarationID, nullTime{&i.CreatedAt})
	if err != nil {
		return nil, notFound(err, "sqlite: idempotency %s/%s", trader, key)
	}
	return &i, nil
}

func (t *tx) InsertIdempotency(ctx context.Context, i *store.Idempotency) error {
	if i.CreatedAt.IsZero() {
		i.CreatedAt = now()
	}
	res, err := t.tx.ExecContext(ctx, `INSERT INTO idempotency (trader, key, request_hash, declaration_id, created_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		i.Trader, i.Key, i.RequestHash, i.DeclarationID, ts(i.CreatedAt))
	if err != nil {
		return fmt.Errorf("sqlite: insert idempotency %s/%s: %w", i.Trader, i.Key, err)
	}
	return mustInsert(res, "sqlite: insert idempotency %s/%s", i.Trader, i.Key)
}

const msgCols = `id, declaration_id, version, agency, kind, previous_id, mapping_version, schema_version,
	content_hash, body, state, attempts, next_attempt_at, last_error, lease_owner, lease_until,
	sent_at, ack_deadline, created_at, updated_at, request_id, trace_id`

// msgColsNoBody is msgCols with NULL for the body, for lists that do not
// need the bytes (scanMsg reads both).
var msgColsNoBody = strings.Replace(msgCols, "content_hash, body,", "content_hash, NULL,", 1)

func scanMsg(sc interface{ Scan(...any) error }) (store.Message, error) {
	var m store.Message
	err := sc.Scan(&m.ID, &m.DeclarationID, &m.Version, &m.Agency, &m.Kind, &m.PreviousID,
		&m.MappingVersion, &m.SchemaVersion, &m.ContentHash, &m.Body, &m.State, &m.Attempts,
		nullTime{&m.NextAttemptAt}, &m.LastError, &m.LeaseOwner, nullTime{&m.LeaseUntil},
		nullTime{&m.SentAt}, nullTime{&m.AckDeadline}, nullTime{&m.CreatedAt}, nullTime{&m.UpdatedAt},
		&m.RequestID, &m.TraceID)
	return m, err
}

func collectMsgs(rows *sql.Rows) ([]store.Message, error) {
	defer rows.Close()
	var out []store.Message
	for rows.Next() {
		m, err := scanMsg(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func (t *tx) InsertMessage(ctx context.Context, m *store.Message) error {
	if m.CreatedAt.IsZero() {
		m.CreatedAt = now()
	}
	if m.UpdatedAt.IsZero() {
		m.UpdatedAt = m.CreatedAt
	}
	res, err := t.tx.ExecContext(ctx, `INSERT INTO messages (`+msgCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		m.ID, m.DeclarationID, m.Version, m.Agency, m.Kind, m.PreviousID, m.MappingVersion,
		m.SchemaVersion, m.ContentHash, m.Body, m.State, m.Attempts, ts(m.NextAttemptAt),
		m.LastError, m.LeaseOwner, ts(m.LeaseUntil), ts(m.SentAt), ts(m.AckDeadline),
		ts(m.CreatedAt), ts(m.UpdatedAt), m.RequestID, m.TraceID)
	if err != nil {
		return fmt.Errorf("sqlite: insert message %s: %w", m.ID, err)
	}
	return mustInsert(res, "sqlite: insert message %s", m.ID)
}

func (t *tx) GetMessage(ctx context.Context, id string) (*store.Message, error) {
	m, err := scanMsg(t.tx.QueryRowContext(ctx, `SELECT `+msgCols+` FROM messages WHERE id = ?`, id))
	if err != nil {
		return nil, notFound(err, "sqlite: message %s", id)
	}
	return &m, nil
}

func (t *tx) MessagesForDeclaration(ctx context.Context, declarationID string) ([]store.Message, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT `+msgColsNoBody+` FROM messages
		WHERE declaration_id = ? ORDER BY created_at, id`, declarationID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: messages of declaration %s: %w", declarationID, err)
	}
	out, err := collectMsgs(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: messages of declaration %s: %w", declarationID, err)
	}
	return out, nil
}

func (t *tx) ListMessages(ctx context.Context, f store.MessageFilter) ([]store.Message, error) {
	var where []string
	var args []any
	if f.State != "" {
		where = append(where, "state = ?")
		args = append(args, f.State)
	}
	if f.Agency != "" {
		where = append(where, "agency = ?")
		args = append(args, f.Agency)
	}
	if f.DeclarationID != "" {
		where = append(where, "declaration_id = ?")
		args = append(args, f.DeclarationID)
	}
	if !f.OverdueAt.IsZero() {
		where = append(where, "state = ? AND ack_deadline IS NOT NULL AND ack_deadline < ?")
		args = append(args, message.Sent, ts(f.OverdueAt))
	}
	q := `SELECT ` + msgCols + ` FROM messages`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created_at, id LIMIT ?"
	args = append(args, sqlLimit(f.Limit))
	rows, err := t.tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list messages: %w", err)
	}
	out, err := collectMsgs(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list messages: %w", err)
	}
	return out, nil
}

// ClaimDue needs no row locks: the transaction began IMMEDIATE, so it is the
// only writer until it commits and its select-then-update is atomic.
func (t *tx) ClaimDue(ctx context.Context, now time.Time, limit int, owner string, leaseUntil time.Time) ([]store.Message, error) {
	return t.ClaimDueFor(ctx, store.ClaimParams{Now: now, Limit: limit, Owner: owner, LeaseUntil: leaseUntil})
}

func (t *tx) ClaimDueFor(ctx context.Context, p store.ClaimParams) ([]store.Message, error) {
	if p.Limit <= 0 {
		return nil, nil
	}
	at := ts(p.Now)
	rows, err := t.tx.QueryContext(ctx, `UPDATE messages SET lease_owner = ?, lease_until = ?
		WHERE id IN (SELECT id FROM messages
			WHERE state = ? AND (? = '' OR agency = ?) AND (next_attempt_at IS NULL OR next_attempt_at <= ?)
			  AND (lease_until IS NULL OR lease_until <= ?)
			ORDER BY next_attempt_at, created_at, id LIMIT ?)
		RETURNING `+msgCols, p.Owner, ts(p.LeaseUntil), message.Pending, p.Agency, p.Agency, at, at, p.Limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim due: %w", err)
	}
	out, err := collectMsgs(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim due: %w", err)
	}
	sortDue(out)
	return out, nil
}

// sortDue restores the claim order, which RETURNING does not promise.
func sortDue(ms []store.Message) {
	sort.Slice(ms, func(i, j int) bool {
		a, b := ms[i], ms[j]
		if !a.NextAttemptAt.Equal(b.NextAttemptAt) {
			return a.NextAttemptAt.Before(b.NextAttemptAt)
		}
		if !a.CreatedAt.Equal(b.CreatedAt) {
			return a.CreatedAt.Before(b.CreatedAt)
		}
		return a.ID < b.ID
	})
}

func (t *tx) RescheduleAgency(ctx context.Context, agency string, now time.Time) (int, error) {
	at := ts(now)
	res, err := t.tx.ExecContext(ctx, `UPDATE messages SET next_attempt_at = ?, updated_at = ?
		WHERE agency = ? AND state = ? AND next_attempt_at > ? AND (lease_until IS NULL OR lease_until <= ?)`,
		at, at, agency, message.Pending, at, at)
	if err != nil {
		return 0, fmt.Errorf("sqlite: reschedule %s: %w", agency, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlite: reschedule %s: %w", agency, err)
	}
	return int(n), nil
}

func (t *tx) UpdateMessage(ctx context.Context, m *store.Message) error {
	res, err := t.tx.ExecContext(ctx, `UPDATE messages SET state = ?, attempts = ?, next_attempt_at = ?,
		last_error = ?, lease_owner = ?, lease_until = ?, sent_at = ?, ack_deadline = ?, updated_at = ?
		WHERE id = ?`,
		m.State, m.Attempts, ts(m.NextAttemptAt), m.LastError, m.LeaseOwner, ts(m.LeaseUntil),
		ts(m.SentAt), ts(m.AckDeadline), ts(m.UpdatedAt), m.ID)
	if err != nil {
		return fmt.Errorf("sqlite: update message %s: %w", m.ID, err)
	}
	return mustAffect(res, "sqlite: update message %s", m.ID)
}

func (t *tx) CountMessages(ctx context.Context) (map[[2]string]int, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT agency, state, count(*) FROM messages GROUP BY agency, state`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: count messages: %w", err)
	}
	defer rows.Close()
	out := map[[2]string]int{}
	for rows.Next() {
		var agency, state string
		var n int
		if err := rows.Scan(&agency, &state, &n); err != nil {
			return nil, fmt.Errorf("sqlite: count messages: %w", err)
		}
		out[[2]string{agency, state}] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: count messages: %w", err)
	}
	return out, nil
}

func (t *tx) OldestPending(ctx context.Context) (map[string]time.Time, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT agency, MIN(created_at) FROM messages WHERE state = ? GROUP BY agency`, message.Pending)
	if err != nil {
		return nil, fmt.Errorf("sqlite: oldest pending messages: %w", err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var agency string
		var at time.Time
		if err := rows.Scan(&agency, nullTime{&at}); err != nil {
			return nil, fmt.Errorf("sqlite: oldest pending messages: %w", err)
		}
		out[agency] = at
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: oldest pending messages: %w", err)
	}
	return out, nil
}

func (t *tx) InsertAck(ctx context.Context, a *store.Ack) error {
	if a.ReceivedAt.IsZero() {
		a.ReceivedAt = now()
	}
	res, err := t.tx.ExecContext(ctx, `INSERT INTO acks (message_id, agency, ack_id, status, reason_code,
		reason_text, raw, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		a.MessageID, a.Agency, a.AckID, a.Status, a.ReasonCode, a.ReasonText, a.Raw, ts(a.ReceivedAt))
	if err != nil {
		return fmt.Errorf("sqlite: insert ack for %s: %w", a.MessageID, err)
	}
	return mustInsert(res, "sqlite: insert ack for %s", a.MessageID)
}

func (t *tx) GetAck(ctx context.Context, messageID string) (*store.Ack, error) {
	var a store.Ack
	err := t.tx.QueryRowContext(ctx, `SELECT message_id, agency, ack_id, status, reason_code, reason_text,
		raw, received_at FROM acks WHERE message_id = ?`, messageID).
		Scan(&a.MessageID, &a.Agency, &a.AckID, &a.Status, &a.ReasonCode, &a.ReasonText, &a.Raw,
			nullTime{&a.ReceivedAt})
	if err != nil {
		return nil, notFound(err, "sqlite: ack for %s", messageID)
	}
	return &a, nil
}

func (t *tx) AcksForDeclaration(ctx context.Context, declarationID string) (map[string]store.Ack, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT a.message_id, a.agency, a.ack_id, a.status, a.reason_code,
		a.reason_text, a.received_at FROM acks a JOIN messages m ON m.id = a.message_id
		WHERE m.declaration_id = ?`, declarationID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: acks of declaration %s: %w", declarationID, err)
	}
	defer rows.Close()
	out := map[string]store.Ack{}
	for rows.Next() {
		var a store.Ack
		if err := rows.Scan(&a.MessageID, &a.Agency, &a.AckID, &a.Status, &a.ReasonCode, &a.ReasonText,
			nullTime{&a.ReceivedAt}); err != nil {
			return nil, fmt.Errorf("sqlite: acks of declaration %s: %w", declarationID, err)
		}
		out[a.MessageID] = a
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: acks of declaration %s: %w", declarationID, err)
	}
	return out, nil
}

func (t *tx) PutDecision(ctx context.Context, d *store.Decision) error {
	if d.DecidedAt.IsZero() {
		d.DecidedAt = now()
	}
	_, err := t.tx.ExecContext(ctx, `INSERT INTO decisions (declaration_id, version, status, detail, decided_at)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (declaration_id, version) DO UPDATE SET
			status = excluded.status, detail = excluded.detail, decided_at = excluded.decided_at`,
		d.DeclarationID, d.Version, d.Status, d.Detail, ts(d.DecidedAt))
	if err != nil {
		return fmt.Errorf("sqlite: put decision %s v%d: %w", d.DeclarationID, d.Version, err)
	}
	return nil
}

func (t *tx) GetDecision(ctx context.Context, declarationID string, version int) (*store.Decision, error) {
	var d store.Decision
	err := t.tx.QueryRowContext(ctx, `SELECT declaration_id, version, status, detail, decided_at
		FROM decisions WHERE declaration_id = ? AND version = ?`, declarationID, version).
		Scan(&d.DeclarationID, &d.Version, &d.Status, &d.Detail, nullTime{&d.DecidedAt})
	if err != nil {
		return nil, notFound(err, "sqlite: decision %s v%d", declarationID, version)
	}
	return &d, nil
}

// AuditHead needs no explicit lock: the IMMEDIATE transaction already holds
// SQLite's single write lock until it ends.
func (t *tx) AuditHead(ctx context.Context) (int64, []byte, error) {
	if t.head != nil {
		return t.head.Seq, bytes.Clone(t.head.Hash), nil
	}
	var seq int64
	var hash []byte
	err := t.tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("sqlite: audit head: %w", err)
	}
	return seq, hash, nil
}

// AppendAudit inserts only if es[0].Seq extends the chain by exactly one,
// so a caller that skipped AuditHead gets ErrConflict instead of a gap. The
// entries of a transaction go in as few statements as SQLite's limit on
// bound variables allows: each statement is work in the serial section.
func (t *tx) AppendAudit(ctx context.Context, es ...*store.AuditEntry) error {
	if err := store.CheckAuditRun(es); err != nil {
		return fmt.Errorf("sqlite: append audit: %w", err)
	}
	t.head = nil
	for len(es) > 0 {
		n := min(len(es), auditRowsPerInsert)
		if err := t.appendAudit(ctx, es[:n]); err != nil {
			return err
		}
		es = es[n:]
	}
	return nil
}

// auditRowsPerInsert keeps an insert under SQLite's default of 32766 bound
// variables (12 per row).
const auditRowsPerInsert = 256

func (t *tx) appendAudit(ctx context.Context, es []*store.AuditEntry) error {
	first, last := es[0], es[len(es)-1]
	q := auditInsert(len(es))
	args := make([]any, 0, 12*len(es)+1)
	for _, e := range es {
		args = append(args, e.Seq, ts(e.Time), e.Kind, e.Actor, e.DeclarationID, e.MessageID, e.Agency, e.Plate,
			e.Payload, string(e.PayloadOf), e.PrevHash, e.Hash)
	}
	args = append(args, first.Seq)
	res, err := t.tx.ExecContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("sqlite: append audit %d-%d: %w", first.Seq, last.Seq, err)
	}
	n, err := affected(res)
	if err != nil {
		return fmt.Errorf("sqlite: append audit %d-%d: %w", first.Seq, last.Seq, err)
	}
	if n != int64(len(es)) {
		return fmt.Errorf("sqlite: append audit %d-%d: %d of %d inserted: %w", first.Seq, last.Seq, n, len(es), store.ErrConflict)
	}
	t.head = &store.AuditEntry{Seq: last.Seq, Hash: bytes.Clone(last.Hash)}
	return nil
}

// auditInsert is the insert of n entries. A payload that names the row
// holding the same bytes (store.PayloadOf) is kept there only if that
// row's bytes are equal; otherwise inline, so nothing is ever lost to a
// wrong reference. The WHERE keeps a run that does not continue the head
// out of the log (the WHERE also lets SQLite parse ON CONFLICT after a
// SELECT).
func auditInsert(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO audit_log (seq, time, kind, actor, declaration_id,
		message_id, agency, plate, payload, payload_ref, prev_hash, hash)
		SELECT column1, column2, column3, column4, column5, column6, column7, column8,
			CASE WHEN same THEN NULL ELSE column9 END, CASE WHEN same THEN column10 ELSE '' END,
			column11, column12
		FROM (SELECT v.*, COALESCE(CASE v.column10
				WHEN 'message' THEN v.column9 = (SELECT body FROM messages WHERE id = v.column6)
				WHEN 'ack' THEN v.column9 = (SELECT raw FROM acks WHERE message_id = v.column6)
			END, 0) AS same
			FROM (VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
	}
	b.WriteString(`) AS v)
		WHERE ? = (SELECT COALESCE(MAX(seq), 0) + 1 FROM audit_log)
		ON CONFLICT DO NOTHING`)
	return b.String()
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
	var where []string
	var args []any
	add := func(cond string, v any) {
		where = append(where, cond)
		args = append(args, v)
	}
	if f.FromSeq > 0 {
		add("seq >= ?", f.FromSeq)
	}
	if f.ToSeq > 0 {
		add("seq <= ?", f.ToSeq)
	}
	if !f.From.IsZero() {
		add("time >= ?", ts(f.From))
	}
	if !f.To.IsZero() {
		add("time < ?", ts(f.To))
	}
	if f.Kind != "" {
		add("kind = ?", f.Kind)
	}
	if f.DeclarationID != "" {
		add("declaration_id = ?", f.DeclarationID)
	}
	if f.MessageID != "" {
		add("message_id = ?", f.MessageID)
	}
	if f.Agency != "" {
		add("agency = ?", f.Agency)
	}
	if f.Plate != "" {
		add("plate = ?", f.Plate)
	}
	q := `SELECT ` + auditCols + ` FROM audit_log a`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY seq LIMIT ?"
	args = append(args, sqlLimit(f.Limit))
	rows, err := t.tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list audit: %w", err)
	}
	defer rows.Close()
	var out []store.AuditEntry
	for rows.Next() {
		var e store.AuditEntry
		if err := rows.Scan(&e.Seq, nullTime{&e.Time}, &e.Kind, &e.Actor, &e.DeclarationID, &e.MessageID,
			&e.Agency, &e.Plate, &e.Payload, (*string)(&e.PayloadOf), &e.PrevHash, &e.Hash); err != nil {
			return nil, fmt.Errorf("sqlite: list audit: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list audit: %w", err)
	}
	return out, nil
}

func (t *tx) InsertCheckpoint(ctx context.Context, c *store.AuditCheckpoint) error {
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now()
	}
	res, err := t.tx.ExecContext(ctx, `INSERT INTO audit_checkpoints (seq, hash, signature, key_id, created_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		c.Seq, c.Hash, c.Signature, c.KeyID, ts(c.CreatedAt))
	if err != nil {
		return fmt.Errorf("sqlite: insert checkpoint %d: %w", c.Seq, err)
	}
	return mustInsert(res, "sqlite: insert checkpoint %d", c.Seq)
}

// ListCheckpoints returns checkpoints with fromSeq <= Seq <= toSeq, ascending;
// toSeq <= 0 means no upper bound.
func (t *tx) ListCheckpoints(ctx context.Context, fromSeq, toSeq int64) ([]store.AuditCheckpoint, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT seq, hash, signature, key_id, created_at
		FROM audit_checkpoints WHERE seq >= ? AND (? <= 0 OR seq <= ?) ORDER BY seq`, fromSeq, toSeq, toSeq)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list checkpoints: %w", err)
	}
	defer rows.Close()
	var out []store.AuditCheckpoint
	for rows.Next() {
		var c store.AuditCheckpoint
		if err := rows.Scan(&c.Seq, &c.Hash, &c.Signature, &c.KeyID, nullTime{&c.CreatedAt}); err != nil {
			return nil, fmt.Errorf("sqlite: list checkpoints: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list checkpoints: %w", err)
	}
	return out, nil
}

// sqlLimit maps "no limit" (<= 0) to SQLite's LIMIT -1.
func sqlLimit(limit int) int {
	if limit <= 0 {
		return -1
	}
	return limit
}

func notFound(err error, format string, args ...any) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf(format+": %w", append(args, store.ErrNotFound)...)
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}

func mustInsert(res sql.Result, format string, args ...any) error {
	n, err := affected(res)
	if err != nil {
		return fmt.Errorf(format+": %w", append(args, err)...)
	}
	if n == 0 {
		return fmt.Errorf(format+": %w", append(args, store.ErrConflict)...)
	}
	return nil
}

func mustAffect(res sql.Result, format string, args ...any) error {
	n, err := affected(res)
	if err != nil {
		return fmt.Errorf(format+": %w", append(args, err)...)
	}
	if n == 0 {
		return fmt.Errorf(format+": %w", append(args, store.ErrNotFound)...)
	}
	return nil
}

// PruneAudit deletes archived entries but never the head.
func (t *tx) PruneAudit(ctx context.Context, throughSeq int64) (int64, error) {
	var head int64
	if err := t.tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM audit_log`).Scan(&head); err != nil {
		return 0, fmt.Errorf("sqlite: prune audit: %w", err)
	}
	if throughSeq >= head {
		return 0, fmt.Errorf("sqlite: prune audit through %d: the head entry %d must stay: %w", throughSeq, head, store.ErrConflict)
	}
	res, err := t.tx.ExecContext(ctx, `DELETE FROM audit_log WHERE seq <= ?`, throughSeq)
	if err != nil {
		return 0, fmt.Errorf("sqlite: prune audit: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlite: prune audit: %w", err)
	}
	return n, nil
}

// PutGateConfig upserts the gate's current file, counting versions.
func (t *tx) PutGateConfig(ctx context.Context, c *store.GateConfig) error {
	if c.AppliedAt.IsZero() {
		c.AppliedAt = now()
	}
	err := t.tx.QueryRowContext(ctx, `INSERT INTO gate_configs (code, yaml, version, applied_by, applied_at)
		VALUES (?, ?, 1, ?, ?)
		ON CONFLICT (code) DO UPDATE SET yaml = excluded.yaml, version = gate_configs.version + 1,
			applied_by = excluded.applied_by, applied_at = excluded.applied_at
		RETURNING version`, c.Code, c.YAML, c.AppliedBy, ts(c.AppliedAt)).Scan(&c.Version)
	if err != nil {
		return fmt.Errorf("sqlite: put gate config %s: %w", c.Code, err)
	}
	return nil
}

// ListGateConfigs returns every applied gate file, by code.
func (t *tx) ListGateConfigs(ctx context.Context) ([]store.GateConfig, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT code, yaml, version, applied_by, applied_at FROM gate_configs ORDER BY code`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list gate configs: %w", err)
	}
	defer rows.Close()
	var out []store.GateConfig
	for rows.Next() {
		var c store.GateConfig
		if err := rows.Scan(&c.Code, &c.YAML, &c.Version, &c.AppliedBy, nullTime{&c.AppliedAt}); err != nil {
			return nil, fmt.Errorf("sqlite: list gate configs: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list gate configs: %w", err)
	}
	return out, nil
}

func (t *tx) PutBlob(ctx context.Context, sha256Hex string, data []byte) error {
	if err := store.CheckBlob(sha256Hex, data); err != nil {
		return fmt.Errorf("sqlite: put %w", err)
	}
	if _, err := t.tx.ExecContext(ctx, `INSERT INTO blobs (sha256, data, created_at) VALUES (?, ?, ?)
		ON CONFLICT (sha256) DO NOTHING`, sha256Hex, data, ts(time.Now())); err != nil {
		return fmt.Errorf("sqlite: put blob %s: %w", sha256Hex, err)
	}
	return nil
}

func (t *tx) GetBlob(ctx context.Context, sha256Hex string) ([]byte, error) {
	var data []byte
	if err := t.tx.QueryRowContext(ctx, `SELECT data FROM blobs WHERE sha256 = ?`, sha256Hex).Scan(&data); err != nil {
		return nil, notFound(err, "sqlite: blob %s", sha256Hex)
	}
	return data, nil
}
