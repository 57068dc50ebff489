package sqlite

import (
	"context"

	"github.com/gatehub/gatehub/internal/store"
)

const agencyMessageCols = `id, agency, kind, declaration_id, version, checkpoint, reason_code, reason_text, detail`

// InsertAgencyMessage stores an accepted agency message once per id.
func (t *tx) InsertAgencyMessage(ctx context.Context, m *store.AgencyMessage) error {
	if m.ReceivedAt.IsZero() {
		m.ReceivedAt = now()
	}
	res, err := t.tx.ExecContext(ctx, `INSERT INTO agency_messages (`+agencyMessageCols+`, raw, answer, received_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		m.ID, m.Agency, m.Kind, m.DeclarationID, m.Version, m.Checkpoint, m.ReasonCode, m.ReasonText, m.Detail,
		m.Raw, m.Answer, ts(m.ReceivedAt))
	if err != nil {
		return notFound(err, "sqlite: insert agency message %s", m.ID)
	}
	return mustInsert(res, "sqlite: insert agency message %s", m.ID)
}

// GetAgencyMessage reads one agency message with its bytes.
func (t *tx) GetAgencyMessage(ctx context.Context, id string) (*store.AgencyMessage, error) {
	var m store.AgencyMessage
	err := t.tx.QueryRowContext(ctx, `SELECT `+agencyMessageCols+`, raw, answer, received_at FROM agency_messages WHERE id = ?`, id).
		Scan(&m.ID, &m.Agency, &m.Kind, &m.DeclarationID, &m.Version, &m.Checkpoint, &m.ReasonCode, &m.ReasonText, &m.Detail,
			&m.Raw, &m.Answer, nullTime{&m.ReceivedAt})
	if err != nil {
		return nil, notFound(err, "sqlite: get agency message %s", id)
	}
	return &m, nil
}

// AgencyMessagesForDeclaration lists a declaration's agency messages in
// the order they were received.
func (t *tx) AgencyMessagesForDeclaration(ctx context.Context, declarationID string) ([]store.AgencyMessage, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT `+agencyMessageCols+`, received_at FROM agency_messages
		WHERE declaration_id = ? ORDER BY received_at, id`, declarationID)
	if err != nil {
		return nil, notFound(err, "sqlite: agency messages of %s", declarationID)
	}
	defer rows.Close()
	var out []store.AgencyMessage
	for rows.Next() {
		var m store.AgencyMessage
		if err := rows.Scan(&m.ID, &m.Agency, &m.Kind, &m.DeclarationID, &m.Version, &m.Checkpoint, &m.ReasonCode, &m.ReasonText,
			&m.Detail, nullTime{&m.ReceivedAt}); err != nil {
			return nil, notFound(err, "sqlite: scan agency message of %s", declarationID)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, notFound(err, "sqlite: agency messages of %s", declarationID)
	}
	return out, nil
}
