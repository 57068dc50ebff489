package hub

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/gate"
	"github.com/gatehub/gatehub/internal/store"
)

// MaxAckBytes bounds an ACK body on the HTTP endpoint.
const MaxAckBytes = 256 << 10

// Clock returns the hub's current time.
func (h *Hub) Clock() time.Time { return h.now() }

// KnownAgency reports whether agency has mappings loaded.
func (h *Hub) KnownAgency(agency string) bool {
	for _, a := range h.Mappings.Agencies() {
		if a == agency {
			return true
		}
	}
	return false
}

// RecordRefusal logs a refused request (bad credentials, invalid
// declaration, invalid configuration) in the audit log. A failure to log is
// reported in the service log but does not change the answer to the caller.
func (h *Hub) RecordRefusal(ctx context.Context, kind, actor string, detail any) {
	err := h.inTx(context.WithoutCancel(ctx), func(tx store.Tx, _ *effects) error {
		return h.appendAudit(ctx, tx, store.AuditEntry{Kind: kind, Actor: actor, Payload: auditJSON(detail)})
	})
	if err != nil {
		h.log().Error("audit refusal", "kind", kind, "err", err)
	}
}

// ApplyGate validates and installs one gate's configuration in the running
// hub, logging the exact file in the audit log. An invalid gate never
// replaces a valid one.
func (h *Hub) ApplyGate(ctx context.Context, actor Actor, g *gate.Gate, source []byte) error {
	return h.inTx(ctx, func(tx store.Tx, fx *effects) error {
		if err := h.appendAudit(ctx, tx, store.AuditEntry{
			Kind: audit.KindConfigApply, Actor: actor.String(), Payload: auditJSON(map[string]string{"gate": g.Code, "yaml": string(source)}),
		}); err != nil {
			return err
		}
		// Installed inside the transaction so that a failed audit append
		// leaves the old configuration running; Apply itself cannot fail
		// after validation except for an invalid gate.
		if _, err := h.Gates.Apply(g); err != nil {
			return fmt.Errorf("apply gate %s: %w", g.Code, err)
		}
		return nil
	})
}

// AuditFind returns audit entries matching f, oldest first.
func (h *Hub) AuditFind(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error) {
	var out []store.AuditEntry
	err := h.Store.WithTx(ctx, func(tx store.Tx) error {
		var err error
		out, err = tx.ListAudit(ctx, f)
		return err
	})
	return out, err
}

// MessageViews renders stored messages for operator listings.
func MessageViews(msgs []store.Message, now time.Time) []MessageView {
	out := make([]MessageView, 0, len(msgs))
	for _, m := range msgs {
		mv := MessageView{
			ID: m.ID, Agency: m.Agency, Kind: m.Kind, Version: m.Version, PreviousID: m.PreviousID, State: m.State,
			Attempts: m.Attempts, LastError: m.LastError, SentAt: m.SentAt, AckDeadline: m.AckDeadline,
			MappingVersion: m.MappingVersion, SchemaVersion: m.SchemaVersion, CreatedAt: m.CreatedAt,
			Overdue: m.State == store.StateSent && !m.AckDeadline.IsZero() && now.After(m.AckDeadline),
		}
		if m.State == store.StatePending {
			mv.NextAttemptAt = m.NextAttemptAt
		}
		out = append(out, mv)
	}
	return out
}
