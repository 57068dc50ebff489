package hub

import (
	"context"
	"errors"
	"fmt"
	"github.com/gatehub/gatehub/internal/message"
	"time"

	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/gate"
	"github.com/gatehub/gatehub/internal/refusal"
	"github.com/gatehub/gatehub/internal/store"
)

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
// The caller bounds detail (see refusal.Digest).
func (h *Hub) RecordRefusal(ctx context.Context, kind, actor string, detail any) {
	if h.Metrics != nil {
		h.Metrics.Refused(kind)
	}
	err := h.inTx(context.WithoutCancel(ctx), func(tx store.Tx, _ *effects) error {
		return h.appendAudit(ctx, tx, store.AuditEntry{Kind: kind, Actor: actor, Payload: auditJSON(detail)})
	})
	if err != nil {
		h.log().ErrorContext(ctx, "audit refusal", "kind", kind, "error", err)
	}
}

// RecordAnonymousRefusal is RecordRefusal for a request nobody vouches
// for: the Refusals guard decides whether it gets its own entry or is only
// counted into its source's summary. source is the client address.
func (h *Hub) RecordAnonymousRefusal(ctx context.Context, kind, source, reason string, detail any) {
	if h.Refusals != nil && !h.Refusals.Refused(kind, refusal.Source(source), reason) {
		return
	}
	h.RecordRefusal(ctx, kind, source, detail)
}

// FlushRefusals writes the summaries of refusal windows that have ended
// (every open one when final, at shutdown), one entry each.
func (h *Hub) FlushRefusals(ctx context.Context, final bool) {
	if h.Refusals == nil {
		return
	}
	for _, sum := range h.Refusals.Due(final) {
		h.RecordRefusal(ctx, sum.Kind, sum.Source, refusalSummary{Aggregate: sum})
	}
}

// refusalSummary is the payload of an aggregate refusal entry.
type refusalSummary struct {
	Aggregate refusal.Summary `json:"aggregate"`
}

// ApplyGate validates and installs one gate's configuration in the running
// hub, stores it so that every instance and every restart uses it, and logs
// the exact file in the audit log. An invalid gate, or one whose devices
// clash with another gate's, never replaces a valid one.
func (h *Hub) ApplyGate(ctx context.Context, actor Actor, g *gate.Gate, source []byte) error {
	if err := h.checkReplacement(g); err != nil {
		return err
	}
	var version int64
	err := h.inTx(ctx, func(tx store.Tx, fx *effects) error {
		if err := h.appendAudit(ctx, tx, store.AuditEntry{
			Kind: audit.KindConfigApply, Actor: actor.String(), Payload: auditPayload(&audit.ConfigApplied{Gate: g.Code, YAML: string(source)}),
		}); err != nil {
			return err
		}
		c := &store.GateConfig{Code: g.Code, YAML: source, AppliedBy: actor.String(), AppliedAt: h.now()}
		if err := tx.PutGateConfig(ctx, c); err != nil {
			return fmt.Errorf("store gate %s: %w", g.Code, err)
		}
		version = c.Version
		// Other instances reload from the store when they hear of it.
		return fx.publish(GateConfigTopic, "gate-applied", g.Code, map[string]any{"gate": g.Code, "version": c.Version})
	})
	if err != nil {
		return err
	}
	// Installed only once stored: a failed commit leaves the old
	// configuration running here as everywhere else.
	if _, err := h.Gates.Apply(g); err != nil {
		return fmt.Errorf("apply gate %s: %w", g.Code, err)
	}
	h.noteGateVersion(g.Code, version)
	return nil
}

// GateConfigTopic carries "gate-applied" events between instances.
const GateConfigTopic = "config/gates"

// checkReplacement reports whether g can replace (or join) the current
// gates: the set re-validates every gate and the uniqueness of device
// credentials across gates.
func (h *Hub) checkReplacement(g *gate.Gate) error {
	cur := h.Gates.Current()
	var gates []*gate.Gate
	for _, code := range cur.Codes() {
		if code == g.Code {
			continue
		}
		other, _ := cur.Gate(code)
		gates = append(gates, other)
	}
	// Last, so that a clash is reported at the new file's line.
	if _, err := gate.NewSet(append(gates, g)...); err != nil {
		return fmt.Errorf("apply gate %s: %w", g.Code, err)
	}
	return nil
}

// SyncGates installs every stored gate file newer than what this instance
// runs: at start (over the shipped files) and whenever another instance
// announces an applied gate. A stored file that no longer validates (the
// validation rules got stricter) is reported and skipped, never installed.
func (h *Hub) SyncGates(ctx context.Context) error {
	var cfgs []store.GateConfig
	if err := h.Store.WithTx(ctx, func(tx store.Tx) error {
		var err error
		cfgs, err = tx.ListGateConfigs(ctx)
		return err
	}); err != nil {
		return fmt.Errorf("list applied gates: %w", err)
	}
	var errs []error
	for _, c := range cfgs {
		if c.Version <= h.gateVersion(c.Code) {
			continue
		}
		g, err := gate.Parse(c.Code+".yaml", c.YAML)
		if err == nil {
			_, err = h.Gates.Apply(g)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("applied gate %s v%d: %w", c.Code, c.Version, err))
			continue
		}
		h.noteGateVersion(c.Code, c.Version)
		h.log().Info("gate configuration installed", "gate", c.Code, "version", c.Version, "applied_by", c.AppliedBy)
	}
	return errors.Join(errs...)
}

func (h *Hub) gateVersion(code string) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.gateVersions[code]
}

func (h *Hub) noteGateVersion(code string, v int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gateVersions == nil {
		h.gateVersions = map[string]int64{}
	}
	if v > h.gateVersions[code] {
		h.gateVersions[code] = v
	}
}

// AuditFind returns audit entries matching f, oldest first.
func (h *Hub) AuditFind(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error) {
	var out []store.AuditEntry
	// A reader: an auditor's search may scan much of the log, and in the
	// writer's queue it would hold up every commit meanwhile.
	err := h.readTx(ctx, func(tx store.Tx) error {
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
			MappingVersion: m.MappingVersion, SchemaVersion: m.SchemaVersion, CreatedAt: m.CreatedAt, RequestID: m.RequestID,
			Overdue: m.State == message.Sent && !m.AckDeadline.IsZero() && now.After(m.AckDeadline),
		}
		if m.State == message.Pending {
			mv.NextAttemptAt = m.NextAttemptAt
		}
		out = append(out, mv)
	}
	return out
}

// AuditHead returns the Seq and hash of the log's last entry (0, nil when
// the log is empty): how far a verification of the live log has to go.
func (h *Hub) AuditHead(ctx context.Context) (int64, []byte, error) {
	var (
		seq  int64
		hash []byte
	)
	err := h.readTx(ctx, func(tx store.Tx) error {
		var err error
		seq, hash, err = tx.AuditHead(ctx)
		return err
	})
	return seq, hash, err
}
