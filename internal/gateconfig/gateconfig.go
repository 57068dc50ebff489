// Package gateconfig installs gate configuration at run time: ApplyGate
// validates a gate file against the others, stores it with its audit entry
// and installs it here; SyncGates installs what other instances (or an
// earlier run) stored, when they announce it and at start.
package gateconfig

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/gatehub/gatehub/internal/agencies"
	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/gate"
	"github.com/gatehub/gatehub/internal/hub"
	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/txn"
)

// Service applies gate files. Tx and Gates are required.
type Service struct {
	Tx    *txn.Runner
	Gates *gate.Registry
	// Agencies is the agency set gate files are checked against.
	Agencies *agencies.Registry
	Log      *slog.Logger // optional

	mu       sync.Mutex
	versions map[string]int64 // applied gate files installed here, by code
}

// agencySet is the agency set in force (empty without a registry).
func (h *Service) agencySet() *agencies.Set {
	if h.Agencies == nil {
		return nil
	}
	return h.Agencies.Current()
}

func (h *Service) log() *slog.Logger {
	if h.Log == nil {
		return slog.Default()
	}
	return h.Log
}

// ApplyGate validates and installs one gate's configuration in the running
// hub, stores it so that every instance and every restart uses it, and logs
// the exact file in the audit log. An invalid gate, or one whose devices
// clash with another gate's, never replaces a valid one.
func (h *Service) ApplyGate(ctx context.Context, actor hub.Actor, g *gate.Gate, source []byte) error {
	if err := h.checkReplacement(g); err != nil {
		return err
	}
	var version int64
	err := h.Tx.InTx(ctx, func(tx store.Tx, fx *txn.Effects) error {
		if err := h.Tx.AppendAudit(ctx, tx, store.AuditEntry{
			Kind: audit.KindConfigApply, Actor: actor.String(), Payload: txn.AuditPayload(&audit.ConfigApplied{Gate: g.Code, YAML: string(source)}),
		}); err != nil {
			return err
		}
		c := &store.GateConfig{Code: g.Code, YAML: source, AppliedBy: actor.String(), AppliedAt: h.Tx.Clock()}
		if err := tx.PutGateConfig(ctx, c); err != nil {
			return fmt.Errorf("store gate %s: %w", g.Code, err)
		}
		version = c.Version
		// Other instances reload from the store when they hear of it.
		return fx.Publish(GateConfigTopic, "gate-applied", g.Code, map[string]any{"gate": g.Code, "version": c.Version})
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
func (h *Service) checkReplacement(g *gate.Gate) error {
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
func (h *Service) SyncGates(ctx context.Context) error {
	var cfgs []store.GateConfig
	if err := h.Tx.Store.WithTx(ctx, func(tx store.Tx) error {
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
		g, err := gate.Parse(c.Code+".yaml", c.YAML, h.agencySet())
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

func (h *Service) gateVersion(code string) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.versions[code]
}

func (h *Service) noteGateVersion(code string, v int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.versions == nil {
		h.versions = map[string]int64{}
	}
	if v > h.versions[code] {
		h.versions[code] = v
	}
}
