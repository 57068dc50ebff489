// Package agencymsg orchestrates the messages an agency sends on its own
// (internal/directive): it verifies one exactly as an ACK is verified (the
// agency's certificates, its signature profile, only the verified element
// read), checks the agency may send its kind, and in one transaction of
// the hub, in the one lock order (declaration, messages, decision,
// events, audit head last), stores it once per message id, logs its
// signed bytes, queues a hub-signed forward to every subscribing agency in
// the outbox, and re-derives the declaration's decision, which its lanes
// follow. Of the hub it uses the transaction (internal/txn), the decision
// (internal/decisions) and the signer of its messages, nothing else.
package agencymsg

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gatehub/gatehub/internal/acknowledgements"
	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/clearance"
	"github.com/gatehub/gatehub/internal/decisions"
	"github.com/gatehub/gatehub/internal/directive"
	"github.com/gatehub/gatehub/internal/hub"
	"github.com/gatehub/gatehub/internal/ids"
	"github.com/gatehub/gatehub/internal/message"
	"github.com/gatehub/gatehub/internal/metrics"
	"github.com/gatehub/gatehub/internal/refusal"
	"github.com/gatehub/gatehub/internal/sign"
	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/txn"
)

// MaxBytes bounds one agency message, as ack.MaxBytes bounds an ACK.
const MaxBytes = 256 << 10

// Validator checks a document against one XSD of schemas/.
type Validator interface {
	Validate(schemaFile string, xml []byte) error
}

// Service receives agency messages. All fields are required unless
// marked optional.
type Service struct {
	Tx        *txn.Runner
	Decisions *decisions.Decider
	// Sign signs a forward for its receiving agency, under that agency's
	// profile, as the hub's own messages to it are signed.
	Sign     func(agency string, u *sign.Unsigned) ([]byte, error)
	Verifier *sign.Verifier
	Schemas  Validator
	Rules    directive.Rules
	// Refusals aggregates refused anonymous posts (optional; see
	// internal/refusal).
	Refusals *refusal.Guard
	Log      *slog.Logger     // optional
	Metrics  *metrics.Metrics // optional
}

// Refusal codes (RefusedError.Code): stable for machines.
const (
	CodeSignature          = "signature"
	CodeUnreadable         = "unreadable"
	CodeSchema             = "schema"
	CodeTooLarge           = "too_large"
	CodeWrongAgency        = "wrong_agency"
	CodeKindNotAllowed     = "kind_not_allowed"
	CodeUnknownDeclaration = "unknown_declaration"
	CodeSuperseded         = "superseded"
	CodeCancelled          = "cancelled"
	CodeConflict           = "conflict"
	CodeNoHold             = "no_hold"
)

// RefusedError explains why an agency message was not accepted.
type RefusedError struct {
	Code   string
	Reason string
}

func (e *RefusedError) Error() string { return "agency message refused (" + e.Code + "): " + e.Reason }

func refuse(code, format string, args ...any) *RefusedError {
	return &RefusedError{Code: code, Reason: fmt.Sprintf(format, args...)}
}

// Answer is the hub's answer to an accepted message; a resend of the same
// bytes gets the same answer, marked Duplicate.
type Answer struct {
	MessageID     string    `json:"messageId"`
	Kind          string    `json:"kind"`
	DeclarationID string    `json:"declarationId"`
	Version       int       `json:"version"`
	ReceivedAt    time.Time `json:"receivedAt"`
	// Forwarded are the forwards queued for the subscribing agencies.
	Forwarded []Forwarded `json:"forwarded"`
	Duplicate bool        `json:"duplicate"`
}

// Forwarded names one forward of the message.
type Forwarded struct {
	Agency    string `json:"agency"`
	MessageID string `json:"messageId"`
}

// Origin is who posted a message (see acknowledgements.AckOrigin).
type Origin = acknowledgements.AckOrigin

// Receive verifies and applies one agency message posted by agency.
func (s *Service) Receive(ctx context.Context, agency string, raw []byte, origin Origin) (*Answer, error) {
	m, err := s.read(agency, raw)
	if err != nil {
		var refused *RefusedError
		if errors.As(err, &refused) {
			s.logRefused(ctx, agency, "", "", raw, refused, origin)
			s.count(agency, string(m.Kind), refused.Code)
		}
		return nil, err
	}
	now := s.Tx.Clock()
	// Built and signed before the transaction (the signatures need no
	// store state), so the declaration is not held through them; the
	// transaction checks the version they name is still current.
	fwds, err := s.forwards(m, raw, now)
	if err != nil {
		return nil, err
	}
	var ans *Answer
	err = s.Tx.InTx(ctx, func(tx store.Tx, fx *txn.Effects) error {
		var err error
		ans, err = s.apply(ctx, tx, fx, agency, m, raw, fwds, now)
		return err
	})
	var refused *RefusedError
	if errors.As(err, &refused) {
		s.logRefused(ctx, agency, m.ID, m.DeclarationID, raw, refused, origin)
		s.count(agency, string(m.Kind), refused.Code)
		return nil, refused
	}
	if err != nil {
		return nil, err
	}
	outcome := "accepted"
	if ans.Duplicate {
		outcome = "duplicate"
	}
	s.count(agency, string(m.Kind), outcome)
	if !ans.Duplicate {
		s.log().InfoContext(ctx, "agency message accepted", "agency", agency, "message_id", m.ID, "kind", m.Kind,
			"declaration_id", m.DeclarationID, "forwards", len(ans.Forwarded))
	}
	return ans, nil
}

// read checks raw outside any transaction: size, signature, kind, schema,
// sender and the agency's right to send the kind. A message refused once
// its kind is known still names it (for the metrics).
func (s *Service) read(agency string, raw []byte) (directive.Message, error) {
	switch {
	case len(raw) == 0:
		return directive.Message{}, refuse(CodeUnreadable, "empty body")
	case len(raw) > MaxBytes:
		return directive.Message{}, refuse(CodeTooLarge, "%d bytes exceeds limit of %d", len(raw), MaxBytes)
	}
	el, err := s.Verifier.Verify(agency, raw, s.Tx.Clock())
	if err != nil {
		return directive.Message{}, refuse(CodeSignature, "signature of %s: %v", agency, err)
	}
	m, err := directive.Parse(el)
	if err != nil {
		return directive.Message{}, refuse(CodeUnreadable, "%v", err)
	}
	f, _ := directive.FormatOf(m.Kind)
	// The raw document, signature included, is what the XSD describes;
	// everything acted on was read from the verified element above.
	if err := s.Schemas.Validate(f.SchemaFile, raw); err != nil {
		return directive.Message{Kind: m.Kind}, refuse(CodeSchema, "%v", err)
	}
	if m.Sender != agency {
		return directive.Message{Kind: m.Kind}, refuse(CodeWrongAgency, "message %s names sender %q, posted as %s", m.ID, m.Sender, agency)
	}
	if m.Receiver != hub.Participant {
		return directive.Message{Kind: m.Kind}, refuse(CodeUnreadable, "message %s is addressed to %q, not the hub", m.ID, m.Receiver)
	}
	if !s.Rules.MaySend(agency, m.Kind) {
		return directive.Message{Kind: m.Kind}, refuse(CodeKindNotAllowed, "%s may not send %s messages", agency, m.Kind)
	}
	return m, nil
}

// forward is one subscriber's forward, built and signed.
type forward struct {
	msg   *store.Message
	built audit.MessageBuilt
}

func (s *Service) forwards(m directive.Message, raw []byte, now time.Time) ([]forward, error) {
	var out []forward
	for _, sub := range s.Rules.Subscribers(m.Sender, m.Kind) {
		id := ids.Message()
		doc := directive.BuildForward(directive.Forward{
			MessageID: id, Receiver: sub, DeclarationID: m.DeclarationID, Version: m.Version, CreatedAt: now,
			Original: m, OriginalRaw: raw, ReceivedAt: now,
		})
		u, err := sign.Prepare(doc)
		if err != nil {
			return nil, fmt.Errorf("serialise forward of %s to %s: %w", m.ID, sub, err)
		}
		if err := s.Schemas.Validate(directive.ForwardSchemaFile, u.Bytes()); err != nil {
			return nil, fmt.Errorf("forward of %s to %s fails %s: %w", m.ID, sub, directive.ForwardSchemaFile, err)
		}
		signed, err := s.Sign(sub, u)
		if err != nil {
			return nil, fmt.Errorf("sign forward of %s to %s: %w", m.ID, sub, err)
		}
		out = append(out, forward{
			msg: &store.Message{
				ID: id, DeclarationID: m.DeclarationID, Version: m.Version, Agency: sub, Kind: message.Forward,
				PreviousID: m.ID, SchemaVersion: "1.0", Body: signed, State: message.Pending,
				NextAttemptAt: now, CreatedAt: now, UpdatedAt: now,
			},
			built: audit.MessageBuilt{
				Agency: sub, Kind: message.Forward, DeclarationVersion: m.Version, PreviousMessageID: m.ID,
				Sender: hub.Participant, Receiver: sub, CreatedAt: now,
				Reason:     fmt.Sprintf("forward of %s %s from %s", m.Kind, m.ID, m.Sender),
				SchemaFile: directive.ForwardSchemaFile, SchemaVersion: "1.0",
			},
		})
	}
	return out, nil
}

// apply runs inside the hub's transaction.
func (s *Service) apply(ctx context.Context, tx store.Tx, fx *txn.Effects, agency string, m directive.Message, raw []byte, fwds []forward, now time.Time) (*Answer, error) {
	// The declaration first: the one lock order.
	if err := tx.LockDeclaration(ctx, m.DeclarationID); errors.Is(err, store.ErrNotFound) {
		return nil, refuse(CodeUnknownDeclaration, "no declaration %q", m.DeclarationID)
	} else if err != nil {
		return nil, fmt.Errorf("lock declaration %s: %w", m.DeclarationID, err)
	}
	prev, err := tx.GetAgencyMessage(ctx, m.ID)
	switch {
	case err == nil:
		if prev.Agency != agency || !bytes.Equal(prev.Raw, raw) {
			return nil, refuse(CodeConflict, "message id %s was already used for another message", m.ID)
		}
		a, err := storedAnswer(ctx, tx, prev)
		if err != nil {
			return nil, err
		}
		a.Duplicate = true
		return a, nil
	case !errors.Is(err, store.ErrNotFound):
		return nil, fmt.Errorf("load agency message %s: %w", m.ID, err)
	}
	d, err := tx.LatestDeclaration(ctx, m.DeclarationID)
	if err != nil {
		return nil, fmt.Errorf("load declaration %s: %w", m.DeclarationID, err)
	}
	switch {
	case m.Version < d.Version:
		return nil, refuse(CodeSuperseded, "declaration %s version %d was superseded by version %d", d.ID, m.Version, d.Version)
	case m.Version > d.Version:
		return nil, refuse(CodeUnknownDeclaration, "declaration %s has no version %d (latest %d)", d.ID, m.Version, d.Version)
	case d.Status == hub.StatusCancelled:
		return nil, refuse(CodeCancelled, "declaration %s was cancelled", d.ID)
	}
	if m.Kind == directive.Release {
		if err := s.checkRelease(ctx, tx, agency, m); err != nil {
			return nil, err
		}
	}
	ans := &Answer{MessageID: m.ID, Kind: string(m.Kind), DeclarationID: d.ID, Version: d.Version, ReceivedAt: now, Forwarded: []Forwarded{}}
	for _, f := range fwds {
		ans.Forwarded = append(ans.Forwarded, Forwarded{Agency: f.msg.Agency, MessageID: f.msg.ID})
	}
	answer, err := json.Marshal(ans)
	if err != nil {
		return nil, fmt.Errorf("encode answer: %w", err)
	}
	detail, err := json.Marshal(m.Detail())
	if err != nil {
		return nil, fmt.Errorf("encode detail: %w", err)
	}
	if err := tx.InsertAgencyMessage(ctx, &store.AgencyMessage{
		ID: m.ID, Agency: agency, Kind: string(m.Kind), DeclarationID: d.ID, Version: m.Version,
		Checkpoint: m.Checkpoint, ReasonCode: m.ReasonCode, ReasonText: m.ReasonText,
		Detail: detail, Raw: raw, Answer: answer, ReceivedAt: now,
	}); errors.Is(err, store.ErrConflict) {
		// Taken meanwhile under another declaration's lock.
		return nil, refuse(CodeConflict, "message id %s was already used for another message", m.ID)
	} else if err != nil {
		return nil, fmt.Errorf("store agency message %s: %w", m.ID, err)
	}
	plate := d.PlateVN
	if plate == "" {
		plate = d.PlateCN
	}
	if err := s.Tx.AppendAudit(ctx, tx, store.AuditEntry{
		Kind: audit.KindAgencyMessage, Actor: agency, DeclarationID: d.ID, MessageID: m.ID, Agency: agency,
		Plate: plate, Payload: raw,
	}); err != nil {
		return nil, err
	}
	for _, f := range fwds {
		f.msg.Version = d.Version
		if err := tx.InsertMessage(ctx, f.msg); err != nil {
			return nil, fmt.Errorf("queue forward of %s to %s: %w", m.ID, f.msg.Agency, err)
		}
		built, err := audit.MarshalPayload(&f.built)
		if err != nil {
			return nil, fmt.Errorf("encode build record: %w", err)
		}
		// As the hub logs its own messages: how it was made, then the
		// signed bytes that every delivery attempt sends.
		if err := s.Tx.AppendAudit(ctx, tx, store.AuditEntry{
			Kind: audit.KindMessageBuilt, Actor: hub.Participant, DeclarationID: d.ID, MessageID: f.msg.ID,
			Agency: f.msg.Agency, Plate: plate, Payload: built,
		}); err != nil {
			return nil, err
		}
		if err := s.Tx.AppendAudit(ctx, tx, store.AuditEntry{
			Kind: audit.KindMessageOutbound, Actor: hub.Participant, DeclarationID: d.ID, MessageID: f.msg.ID,
			Agency: f.msg.Agency, Plate: plate, Payload: f.msg.Body,
		}); err != nil {
			return nil, err
		}
	}
	if len(fwds) > 0 {
		fx.Wake()
	}
	if _, err := s.Decisions.Decide(ctx, tx, fx, d.ID); err != nil {
		return nil, err
	}
	return ans, nil
}

// storedAnswer is the answer first given to prev; for a message restored
// from the audit log (which keeps the signed bytes, not the answer) it is
// put together again from the message and its forwards.
func storedAnswer(ctx context.Context, tx store.Tx, prev *store.AgencyMessage) (*Answer, error) {
	var a Answer
	if len(prev.Answer) > 0 {
		if err := json.Unmarshal(prev.Answer, &a); err != nil {
			return nil, fmt.Errorf("decode stored answer of %s: %w", prev.ID, err)
		}
		return &a, nil
	}
	a = Answer{MessageID: prev.ID, Kind: prev.Kind, DeclarationID: prev.DeclarationID, Version: prev.Version,
		ReceivedAt: prev.ReceivedAt, Forwarded: []Forwarded{}}
	msgs, err := tx.MessagesForDeclaration(ctx, prev.DeclarationID)
	if err != nil {
		return nil, fmt.Errorf("load messages of %s: %w", prev.DeclarationID, err)
	}
	for _, m := range msgs {
		if m.Kind == message.Forward && m.PreviousID == prev.ID {
			a.Forwarded = append(a.Forwarded, Forwarded{Agency: m.Agency, MessageID: m.ID})
		}
	}
	return &a, nil
}

// checkRelease refuses a RELEASE that lifts no hold of its sender.
func (s *Service) checkRelease(ctx context.Context, tx store.Tx, agency string, m directive.Message) error {
	orders, err := Orders(ctx, tx, m.DeclarationID)
	if err != nil {
		return err
	}
	for _, o := range orders {
		if o.Kind == clearance.OrderHold && o.Agency == agency && (m.HoldMessageID == "" || m.HoldMessageID == o.MessageID) {
			return nil
		}
	}
	if m.HoldMessageID != "" {
		return refuse(CodeNoHold, "%s has no standing hold %s on declaration %s", agency, m.HoldMessageID, m.DeclarationID)
	}
	return refuse(CodeNoHold, "%s has no standing hold on declaration %s", agency, m.DeclarationID)
}

// Orders reads the standing orders of a declaration's agency messages
// (hub.Hub.Orders).
func Orders(ctx context.Context, tx store.Tx, declarationID string) ([]clearance.Order, error) {
	rows, err := tx.AgencyMessagesForDeclaration(ctx, declarationID)
	if err != nil {
		return nil, fmt.Errorf("load agency messages of %s: %w", declarationID, err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	recs := make([]directive.Record, len(rows))
	for i, r := range rows {
		var d directive.Detail
		if len(r.Detail) > 0 {
			if err := json.Unmarshal(r.Detail, &d); err != nil {
				return nil, fmt.Errorf("decode agency message %s: %w", r.ID, err)
			}
		}
		recs[i] = directive.Record{ID: r.ID, Agency: r.Agency, Kind: directive.Kind(r.Kind), Checkpoint: r.Checkpoint,
			ReasonCode: r.ReasonCode, ReasonText: r.ReasonText, HoldMessageID: d.HoldMessageID}
	}
	return directive.InForce(recs), nil
}

// refusedPayload is the audit payload of a refused agency message. Body
// is the whole message when the connection was the agency's own, else
// only its digest (bounded, whatever was posted).
type refusedPayload struct {
	Code   string          `json:"code"`
	Reason string          `json:"reason"`
	Source string          `json:"source,omitempty"`
	Body   string          `json:"body,omitempty"`
	Digest *refusal.Digest `json:"bodyDigest,omitempty"`
}

func (s *Service) logRefused(ctx context.Context, agency, messageID, declarationID string, raw []byte, refused *RefusedError, origin Origin) {
	p := refusedPayload{Code: refused.Code, Reason: refusal.Short(refused.Reason, 512), Source: refusal.Source(origin.Source)}
	if origin.Authenticated {
		p.Body = base64.StdEncoding.EncodeToString(raw)
	} else {
		if s.Refusals != nil && !s.Refusals.Refused(audit.KindAgencyMessageRefused, p.Source, refused.Code) {
			return // aggregated with its source's others
		}
		d := refusal.Of(raw)
		p.Digest = &d
		// Nobody vouches for the ids either.
		messageID, declarationID = "", ""
	}
	payload, err := json.Marshal(p)
	if err != nil {
		payload = []byte(`{"error":"unencodable refusal"}`)
	}
	err = s.Tx.InTx(ctx, func(tx store.Tx, _ *txn.Effects) error {
		return s.Tx.AppendAudit(ctx, tx, store.AuditEntry{
			Kind: audit.KindAgencyMessageRefused, Actor: agency, Agency: agency, MessageID: messageID,
			DeclarationID: declarationID, Payload: payload,
		})
	})
	if err != nil {
		s.log().ErrorContext(ctx, "audit refused agency message", "agency", agency, "error", err)
		return
	}
	s.log().WarnContext(ctx, "agency message refused", "agency", agency, "message_id", messageID, "code", refused.Code,
		"reason", p.Reason, "source", origin.Source)
}

func (s *Service) count(agency, kind, outcome string) {
	if s.Metrics != nil {
		s.Metrics.AgencyMessage(agency, kind, outcome)
	}
}

func (s *Service) log() *slog.Logger {
	if s.Log == nil {
		return slog.Default()
	}
	return s.Log
}
