// Package refusallog records refused requests (bad credentials, invalid
// declarations or configuration, refused ACKs nobody vouches for) in the
// audit log, each in its own entry or, for anonymous floods, aggregated by
// the internal/refusal guard.
package refusallog

import (
	"context"
	"log/slog"

	"github.com/gatehub/gatehub/internal/metrics"
	"github.com/gatehub/gatehub/internal/refusal"
	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/txn"
)

// Recorder logs refusals. Tx is required.
type Recorder struct {
	Tx *txn.Runner
	// Refusals, when set, decides which refused anonymous requests get an
	// audit entry of their own and aggregates the rest (see
	// internal/refusal). Optional: without it every refusal is logged.
	Refusals *refusal.Guard
	Metrics  *metrics.Metrics // optional
	Log      *slog.Logger     // optional
}

func (h *Recorder) log() *slog.Logger {
	if h.Log == nil {
		return slog.Default()
	}
	return h.Log
}

// RecordRefusal logs a refused request (bad credentials, invalid
// declaration, invalid configuration) in the audit log. A failure to log is
// reported in the service log but does not change the answer to the caller.
// The caller bounds detail (see refusal.Digest).
func (h *Recorder) RecordRefusal(ctx context.Context, kind, actor string, detail any) {
	if h.Metrics != nil {
		h.Metrics.Refused(kind)
	}
	err := h.Tx.InTx(context.WithoutCancel(ctx), func(tx store.Tx, _ *txn.Effects) error {
		return h.Tx.AppendAudit(ctx, tx, store.AuditEntry{Kind: kind, Actor: actor, Payload: txn.AuditJSON(detail)})
	})
	if err != nil {
		h.log().ErrorContext(ctx, "audit refusal", "kind", kind, "error", err)
	}
}

// RecordAnonymousRefusal is RecordRefusal for a request nobody vouches
// for: the Refusals guard decides whether it gets its own entry or is only
// counted into its source's summary. source is the client address.
func (h *Recorder) RecordAnonymousRefusal(ctx context.Context, kind, source, reason string, detail any) {
	if h.Refusals != nil && !h.Refusals.Refused(kind, refusal.Source(source), reason) {
		return
	}
	h.RecordRefusal(ctx, kind, source, detail)
}

// FlushRefusals writes the summaries of refusal windows that have ended
// (every open one when final, at shutdown), one entry each.
func (h *Recorder) FlushRefusals(ctx context.Context, final bool) {
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
