// Package acknowledgements follows each message after it left the hub:
// the outbox's Sender that posts it to its agency, the hooks that record a
// delivery attempt and a synchronous ACK in the dispatcher's transaction,
// and HandleAck for the ACK/NACKs agencies post later. Each accepted answer
// moves its message to acked/nacked and re-derives the decision; each
// refused one is logged with its reason.
package acknowledgements

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"github.com/gatehub/gatehub/internal/clearance"
	"github.com/gatehub/gatehub/internal/message"
	"log/slog"
	"time"

	"github.com/gatehub/gatehub/internal/ack"
	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/decisions"
	"github.com/gatehub/gatehub/internal/gate"
	"github.com/gatehub/gatehub/internal/hub"
	"github.com/gatehub/gatehub/internal/mapping"
	"github.com/gatehub/gatehub/internal/metrics"
	"github.com/gatehub/gatehub/internal/outbox"
	"github.com/gatehub/gatehub/internal/refusal"
	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/tracing"
	"github.com/gatehub/gatehub/internal/txn"
)

// Service reads and applies agencies' answers. Tx, Decisions, Gates and
// Acks are required.
type Service struct {
	Tx        *txn.Runner
	Decisions *decisions.Decider
	Gates     *gate.Registry
	Acks      *ack.Reader
	// Refusals, when set, decides which refused anonymous ACKs get an
	// audit entry of their own and aggregates the rest (see
	// internal/refusal). Optional: without it every refusal is logged.
	Refusals *refusal.Guard
	Metrics  *metrics.Metrics // optional
	Log      *slog.Logger     // optional
}

func (h *Service) log() *slog.Logger {
	if h.Log == nil {
		return slog.Default()
	}
	return h.Log
}

// RefusedError explains why an ACK was not accepted. Reason is meant for the
// agency's operators; Code is stable for machines.
type RefusedError struct {
	Code   string // signature | unreadable | unknown_message | wrong_agency | superseded | cancelled | conflict
	Reason string
}

func (e *RefusedError) Error() string { return "ack refused (" + e.Code + "): " + e.Reason }

// AckResult is the hub's answer to an accepted ACK.
type AckResult struct {
	MessageID     string           `json:"messageId"`
	DeclarationID string           `json:"declarationId"`
	Status        string           `json:"status"`    // ACK | NACK
	Duplicate     bool             `json:"duplicate"` // true: seen before, nothing changed
	Decision      clearance.Status `json:"decision,omitempty"`
}

// AckOrigin is who posted an ACK, which decides what the audit log keeps
// of a refused one.
type AckOrigin struct {
	// Source is the client address.
	Source string
	// Authenticated: the connection itself is the agency's (client
	// certificate or token), so a refused ACK is kept whole. Otherwise
	// anyone may have sent it: it is kept as digest, size and prefix, and
	// repeated refusals are aggregated (Service.Refusals).
	Authenticated bool
}

// HandleAck processes an asynchronous ACK/NACK posted by an agency. A
// refused ACK is logged in the audit log with its reason and its bytes
// (whole or digested, see AckOrigin).
func (h *Service) HandleAck(ctx context.Context, agency string, raw []byte, origin AckOrigin) (*AckResult, error) {
	now := h.Tx.Clock()
	f, err := h.Acks.Read(agency, raw, now)
	if err != nil {
		refused := readRefusal(err)
		h.logRefusedAck(ctx, agency, "", raw, refused, origin)
		return nil, refused
	}
	var res *AckResult
	err = h.Tx.InTx(ctx, func(tx store.Tx, fx *txn.Effects) error {
		// The declaration first, then its message (applyAck): the one lock
		// order. An unknown message is refused by applyAck.
		if _, err := tx.LockMessageDeclaration(ctx, f.RefMessageID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("lock declaration of %s: %w", f.RefMessageID, err)
		}
		var err error
		res, err = h.applyAck(ctx, tx, fx, agency, f, raw)
		return err
	})
	var refused *RefusedError
	if errors.As(err, &refused) {
		h.logRefusedAck(ctx, agency, f.RefMessageID, raw, refused, origin)
		return nil, refused
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

// applyAck correlates a verified ACK with its message and moves the message
// to acked/nacked. Inside the caller's transaction.
func (h *Service) applyAck(ctx context.Context, tx store.Tx, fx *txn.Effects, agency string, f mapping.AckFields, raw []byte) (*AckResult, error) {
	m, err := tx.GetMessage(ctx, f.RefMessageID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &RefusedError{Code: "unknown_message", Reason: fmt.Sprintf("no message %q was sent by the hub", f.RefMessageID)}
	}
	if err != nil {
		return nil, fmt.Errorf("load message %s: %w", f.RefMessageID, err)
	}
	if m.Agency != agency {
		return nil, &RefusedError{Code: "wrong_agency", Reason: fmt.Sprintf("message %s was addressed to %s, not %s", m.ID, m.Agency, agency)}
	}
	res := &AckResult{MessageID: m.ID, DeclarationID: m.DeclarationID, Status: f.Status}
	prev, err := tx.GetAck(ctx, m.ID)
	switch {
	case err == nil:
		if bytes.Equal(prev.Raw, raw) || (prev.AckID != "" && prev.AckID == f.AckID && prev.Status == f.Status) {
			res.Status, res.Duplicate = prev.Status, true
			return res, nil
		}
		return nil, &RefusedError{Code: "conflict", Reason: fmt.Sprintf("message %s was already answered %s (%s)", m.ID, prev.Status, prev.AckID)}
	case !errors.Is(err, store.ErrNotFound):
		return nil, fmt.Errorf("load ack of %s: %w", m.ID, err)
	}
	switch m.State {
	case message.Superseded:
		return nil, &RefusedError{Code: "superseded", Reason: fmt.Sprintf("message %s was superseded by a newer declaration version", m.ID)}
	case message.Cancelled:
		return nil, &RefusedError{Code: "cancelled", Reason: fmt.Sprintf("message %s was cancelled", m.ID)}
	}
	now := h.Tx.Clock()
	if err := tx.InsertAck(ctx, &store.Ack{
		MessageID: m.ID, Agency: agency, AckID: f.AckID, Status: f.Status,
		ReasonCode: f.ReasonCode, ReasonText: f.ReasonText, Raw: raw, ReceivedAt: now,
	}); err != nil {
		return nil, fmt.Errorf("store ack of %s: %w", m.ID, err)
	}
	// An ACK may overtake the dispatcher's own bookkeeping (an async callback
	// faster than the settle transaction, or a late answer to a message that
	// was dead-lettered): the agency has it, so the answer counts.
	sentAt := m.SentAt
	ev := message.AckIn
	if f.Status == ack.StatusNack {
		ev = message.NackIn
	}
	if m.State, err = message.Transition(m.State, ev); err != nil {
		return nil, fmt.Errorf("answer to message %s: %w", m.ID, err)
	}
	m.LeaseOwner, m.LeaseUntil, m.UpdatedAt = "", time.Time{}, now
	if err := tx.UpdateMessage(ctx, m); err != nil {
		return nil, fmt.Errorf("update message %s: %w", m.ID, err)
	}
	d, err := tx.LatestDeclaration(ctx, m.DeclarationID)
	if err != nil {
		return nil, fmt.Errorf("load declaration %s: %w", m.DeclarationID, err)
	}
	if err := h.Tx.AppendAudit(ctx, tx, store.AuditEntry{
		Kind: audit.KindAckInbound, Actor: agency, DeclarationID: m.DeclarationID, MessageID: m.ID,
		Agency: agency, Plate: hub.PlateOf(d), Payload: raw, PayloadOf: store.PayloadAck,
	}); err != nil {
		return nil, err
	}
	dec, err := h.Decisions.Decide(ctx, tx, fx, m.DeclarationID)
	if err != nil {
		return nil, err
	}
	res.Decision = dec.Status
	if h.Metrics != nil && !sentAt.IsZero() {
		latency := now.Sub(sentAt)
		status, ag := f.Status, agency
		fx.Observe(func() { h.Metrics.AckReceived(ag, status, latency) })
	}
	return res, nil
}

func (h *Service) logRefusedAck(ctx context.Context, agency, messageID string, raw []byte, refused *RefusedError, origin AckOrigin) {
	if !origin.Authenticated {
		if h.Refusals != nil && !h.Refusals.Refused(audit.KindAckRefused, refusal.Source(origin.Source), refused.Code) {
			if h.Metrics != nil {
				h.Metrics.AckRefused(agency, refused.Code)
			}
			return
		}
		err := h.Tx.InTx(ctx, func(tx store.Tx, fx *txn.Effects) error {
			return h.Tx.AppendAudit(ctx, tx, store.AuditEntry{
				Kind: audit.KindAckRefused, Actor: agency, Agency: agency, MessageID: messageID,
				Payload: txn.AuditJSON(anonymousAckRefusal{
					Code: refused.Code, Reason: refusal.Short(refused.Reason, 512), Source: refusal.Source(origin.Source), Body: refusal.Of(raw),
				}),
			})
		})
		if err != nil {
			h.log().Error("audit refused ack", "agency", agency, "error", err)
			return
		}
		h.log().WarnContext(ctx, "ack refused", "agency", agency, "message_id", messageID, "code", refused.Code, "source", origin.Source)
		if h.Metrics != nil {
			h.Metrics.AckRefused(agency, refused.Code)
		}
		return
	}
	err := h.Tx.InTx(ctx, func(tx store.Tx, fx *txn.Effects) error {
		return h.auditRefusedAck(ctx, tx, fx, agency, messageID, "", raw, refused)
	})
	if err != nil {
		h.log().ErrorContext(ctx, "audit refused ack", "agency", agency, "error", err)
	}
}

// anonymousAckRefusal is the payload of a refused ACK nobody vouches for:
// bounded, whatever was posted.
type anonymousAckRefusal struct {
	Code   string         `json:"code"`
	Reason string         `json:"reason"`
	Source string         `json:"source"`
	Body   refusal.Digest `json:"bodyDigest"`
}

// auditRefusedAck logs a refused ACK, with its reason and exact bytes, in
// the audit log inside tx; the service log line and the metric follow the
// commit.
func (h *Service) auditRefusedAck(ctx context.Context, tx store.Tx, fx *txn.Effects, agency, messageID, declarationID string, raw []byte, refused *RefusedError) error {
	if err := h.Tx.AppendAudit(ctx, tx, store.AuditEntry{
		Kind: audit.KindAckRefused, Actor: agency, Agency: agency, MessageID: messageID, DeclarationID: declarationID,
		Payload: txn.AuditJSON(map[string]string{"code": refused.Code, "reason": refused.Reason, "body": base64.StdEncoding.EncodeToString(raw)}),
	}); err != nil {
		return err
	}
	fx.Observe(func() {
		h.log().WarnContext(ctx, "ack refused", "agency", agency, "message_id", messageID, "code", refused.Code, "reason", refused.Reason)
		if h.Metrics != nil {
			h.Metrics.AckRefused(agency, refused.Code)
		}
	})
	return nil
}

// readRefusal classifies an error of ack.Reader.Read.
func readRefusal(err error) *RefusedError {
	code := "unreadable"
	if errors.Is(err, ack.ErrSignature) {
		code = "signature"
	}
	return &RefusedError{Code: code, Reason: err.Error()}
}

// Settled implements outbox.Hooks: it runs in the transaction that records a
// delivery attempt, which has locked the message's declaration and then the
// message. Like every transaction of the hub it defers the audit entries
// and events to the end (the audit head taken last) and registers its
// effects on the transaction: they follow its commit, and vanish with it
// when it rolls back.
func (h *Service) Settled(ctx context.Context, tx store.Tx, m *store.Message, r outbox.Result) error {
	return h.Tx.Join(ctx, tx, func(tx store.Tx, fx *txn.Effects) error {
		return h.settle(ctx, tx, fx, m, r)
	})
}

func (h *Service) settle(ctx context.Context, tx store.Tx, fx *txn.Effects, m *store.Message, r outbox.Result) error {
	d, err := tx.LatestDeclaration(ctx, m.DeclarationID)
	if err != nil {
		return fmt.Errorf("load declaration %s: %w", m.DeclarationID, err)
	}
	if err := h.Tx.AppendAudit(ctx, tx, store.AuditEntry{
		Kind: audit.KindDeliveryAttempt, Actor: hub.Participant, DeclarationID: m.DeclarationID, MessageID: m.ID,
		Agency: m.Agency, Plate: hub.PlateOf(d),
		Payload: txn.AuditPayload(&audit.DeliveryAttempt{Attempt: m.Attempts, Outcome: r.Outcome.String(), Status: r.Status, State: m.State, Error: m.LastError}),
	}); err != nil {
		return err
	}
	if m.State == message.Sent {
		// The deadline runs from the first delivery: a resend after it
		// passed (ResendOverdue) does not make the agency less late.
		if g, ok := h.Gates.Current().Gate(d.Gate); ok && m.AckDeadline.IsZero() {
			m.AckDeadline = m.SentAt.Add(g.AckDeadline(m.Agency))
			if err := tx.UpdateMessage(ctx, m); err != nil {
				return fmt.Errorf("set ack deadline of %s: %w", m.ID, err)
			}
		}
		if len(r.Body) > 0 {
			return h.settleSyncAck(ctx, tx, fx, m, r.Body, r.BodyRead)
		}
	}
	_, err = h.Decisions.Decide(ctx, tx, fx, m.DeclarationID)
	return err
}

// settleSyncAck handles an ACK that came back in the delivery response. A
// refused one is logged and the message stays sent, awaiting a valid answer.
func (h *Service) settleSyncAck(ctx context.Context, tx store.Tx, fx *txn.Effects, m *store.Message, raw []byte, read any) error {
	f, err, ok := verifiedFor(read, raw)
	if !ok {
		f, err = h.Acks.Read(m.Agency, raw, h.Tx.Clock())
	}
	if err == nil {
		_, err = h.applyAck(ctx, tx, fx, m.Agency, f, raw)
	}
	var refused *RefusedError
	switch {
	case err == nil:
	case errors.As(err, &refused):
	case errors.Is(err, ack.ErrRefused):
		refused = readRefusal(err)
	default:
		return err
	}
	if refused != nil {
		if err := h.auditRefusedAck(ctx, tx, fx, m.Agency, m.ID, m.DeclarationID, raw, refused); err != nil {
			return err
		}
		if _, err := h.Decisions.Decide(ctx, tx, fx, m.DeclarationID); err != nil {
			return err
		}
	}
	return nil
}

// Committed implements outbox.Hooks: the attempt's log line and metrics.
// The effects of the settle transaction itself ran on its commit.
func (h *Service) Committed(ctx context.Context, m *store.Message, r outbox.Result) {
	level := slog.LevelInfo
	if r.Outcome != outbox.Delivered {
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{
		slog.String("message_id", m.ID), slog.String("declaration_id", m.DeclarationID),
		slog.String("agency", m.Agency), slog.String("kind", string(m.Kind)), slog.Int("attempt", m.Attempts),
		slog.String("outcome", r.Outcome.String()), slog.Int("status", r.Status), slog.String("state", string(m.State)),
		slog.Int64("duration_ms", r.Duration.Milliseconds()),
	}
	if m.LastError != "" {
		attrs = append(attrs, slog.String("error", m.LastError))
	}
	// The request that created the message, stored with it: the delivery
	// runs later and elsewhere, outside that request's context.
	if m.RequestID != "" {
		attrs = append(attrs, slog.String(tracing.KeyRequestID, m.RequestID))
	}
	if m.TraceID != "" {
		attrs = append(attrs, slog.String(tracing.KeyTraceID, m.TraceID))
	}
	h.log().LogAttrs(ctx, level, "delivery attempt", attrs...)
	if h.Metrics != nil {
		h.Metrics.DeliveryAttempt(m.Agency, r.Outcome.String(), r.Duration)
		if m.State == message.Dead {
			h.Metrics.DeadLettered(m.Agency)
		}
	}
}

// verifiedAck is the outcome of reading a synchronous ACK as soon as the
// delivery response arrived (see Sender.Acks), carried to Settled in
// outbox.Result.BodyRead.
type verifiedAck struct {
	raw    []byte
	fields mapping.AckFields
	err    error
}

// VerifyAck reads (verifies and parses) the ACK an agency returned in the
// delivery response of m, before the transaction that records the
// attempt; the Sender hands the outcome to Settled with the attempt's
// result. Verification needs no store state, so doing it here keeps a few
// milliseconds of XML and signature work per message out of the store's
// critical section (the embedded store's single writer). The outcome is
// used only for exactly these bytes; anything else is read again inside
// the transaction.
func (h *Service) VerifyAck(m store.Message, raw []byte) any {
	if h.Acks == nil || len(raw) == 0 {
		return nil
	}
	f, err := h.Acks.Read(m.Agency, raw, h.Tx.Clock())
	return &verifiedAck{raw: raw, fields: f, err: err}
}

// verifiedFor returns what VerifyAck found, if it read these very bytes.
func verifiedFor(read any, raw []byte) (mapping.AckFields, error, bool) {
	v, _ := read.(*verifiedAck)
	if v == nil || !bytes.Equal(v.raw, raw) {
		return mapping.AckFields{}, nil, false
	}
	return v.fields, v.err, true
}
