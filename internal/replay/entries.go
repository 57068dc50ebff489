package replay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/gatehub/gatehub/internal/message"
	"sort"
	"time"

	"github.com/beevik/etree"

	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/crossing"
	"github.com/gatehub/gatehub/internal/directive"
	"github.com/gatehub/gatehub/internal/hub"
	"github.com/gatehub/gatehub/internal/mapping"
	"github.com/gatehub/gatehub/internal/store"
)

// AckReader turns the signed bytes of a logged ack.inbound into ACK fields.
// Implementations verify the signature of agency at time at (with the
// certificates the archive carries) and read the fields from the verified
// element only, as the hub did when it received them; *ack.Reader's Read
// method is one.
type AckReader func(agency string, xml []byte, at time.Time) (mapping.AckFields, error)

// declarationBody is the part of the declaration JSON (the payload of
// declaration.accepted, and inside declaration.amended) that the store
// keeps in columns.
type (
	declarationBody struct {
		Trader struct {
			TaxCode string `json:"taxCode"`
		} `json:"trader"`
		Gate    string `json:"gate"`
		Lane    string `json:"lane"`
		Vehicle struct {
			PlateVN string `json:"plateVN"`
			PlateCN string `json:"plateCN"`
		} `json:"vehicle"`
	}
)

// replayer applies entries one by one to a backend: in memory for
// FromEntries, a store transaction for Restore and RestoreStream, so that
// a replay into a store holds no more than the entry at hand (and the
// message.built records waiting for their message) in memory.
type replayer struct {
	acks  AckReader
	b     backend
	built map[string]audit.MessageBuilt // message id → the build record logged before it, until the message
	// onOutbound, if set, sees each message.outbound with its build record
	// once it is applied (rebuild runs there, in the same pass).
	onOutbound func(ctx context.Context, e *store.AuditEntry, b audit.MessageBuilt) error
}

// backend holds the replayed rows.
type backend interface {
	// latest returns the latest version of a declaration (0 when never
	// accepted) and whether it was cancelled.
	latest(ctx context.Context, id string) (version int, cancelled bool, err error)
	insertVersion(ctx context.Context, d *store.Declaration) error
	cancel(ctx context.Context, id string) error
	declarationBody(ctx context.Context, id string, version int) ([]byte, error)
	// message returns the message, nil when it was never logged.
	message(ctx context.Context, id string) (*store.Message, error)
	insertMessage(ctx context.Context, m *store.Message) error
	updateMessage(ctx context.Context, m *store.Message) error
	hasAck(ctx context.Context, messageID string) (bool, error)
	insertAck(ctx context.Context, a *store.Ack) error
	putDecision(ctx context.Context, d *store.Decision) error
	insertAgencyMessage(ctx context.Context, m *store.AgencyMessage) error
	// crossing returns a declaration's crossing, nil when none was logged.
	crossing(ctx context.Context, declarationID string) (*crossing.Crossing, error)
	// putCrossing stores c, created (isNew) or changed by a logged transition.
	putCrossing(ctx context.Context, c *crossing.Crossing, isNew bool) error
}

// FromEntries rebuilds State by applying entries in seq order. The entries
// must be the log from its first entry (seq 1): a message or declaration an
// entry refers to must have been created by an earlier entry. acks reads
// the logged ACK/NACK bytes. An entry that contradicts what came before it
// (an operator change from a state the message was not in, an ACK for an
// unknown message) is an error naming its seq: the log does not explain the
// state, which is itself a finding. FromEntries holds the whole state in
// memory; RestoreStream replays a log of any length into a store.
func FromEntries(entries []store.AuditEntry, acks AckReader) (*State, error) {
	m := newMemBackend()
	r := &replayer{acks: acks, b: m, built: map[string]audit.MessageBuilt{}}
	sorted := make([]store.AuditEntry, len(entries))
	copy(sorted, entries)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Seq < sorted[j].Seq })
	ctx := context.Background()
	for i := range sorted {
		if err := r.apply(ctx, &sorted[i]); err != nil {
			return nil, err
		}
	}
	return m.finish(), nil
}

func (r *replayer) apply(ctx context.Context, e *store.AuditEntry) error {
	if err := r.applyKind(ctx, e); err != nil {
		return fmt.Errorf("replay entry %d (%s): %w", e.Seq, e.Kind, err)
	}
	return nil
}

func (r *replayer) applyKind(ctx context.Context, e *store.AuditEntry) error {
	switch e.Kind {
	case audit.KindCrossingOpened, audit.KindCrossingPassed, audit.KindCrossingExited,
		audit.KindCrossingTurnedBack, audit.KindCrossingCancelled, audit.KindCrossingAmended:
		return r.crossingEvent(ctx, e)
	case audit.KindDeclarationAccepted:
		return r.declarationVersion(ctx, e, 1, e.Payload)
	case audit.KindDeclarationAmended:
		var p audit.DeclarationAmended
		if err := decodePayload(e.Payload, &p); err != nil {
			return err
		}
		if len(p.Declaration) == 0 {
			return errors.New("payload has no declaration")
		}
		return r.declarationVersion(ctx, e, p.Version, p.Declaration)
	case audit.KindDeclarationCancelled:
		var p audit.DeclarationCancelled
		if err := decodePayload(e.Payload, &p); err != nil {
			return err
		}
		latest, _, err := r.b.latest(ctx, e.DeclarationID)
		if err != nil {
			return err
		}
		if latest == 0 {
			return fmt.Errorf("declaration %s was never accepted", e.DeclarationID)
		}
		if p.Version != latest {
			return fmt.Errorf("cancels version %d of %s, latest is %d", p.Version, e.DeclarationID, latest)
		}
		return r.b.cancel(ctx, e.DeclarationID)
	case audit.KindMessageBuilt:
		var b audit.MessageBuilt
		if err := decodePayload(e.Payload, &b); err != nil {
			return err
		}
		r.built[e.MessageID] = b
		return nil
	case audit.KindMessageOutbound:
		return r.outbound(ctx, e)
	case audit.KindDeliveryAttempt:
		m, err := r.message(ctx, e)
		if err != nil {
			return err
		}
		var p audit.DeliveryAttempt
		if err := decodePayload(e.Payload, &p); err != nil {
			return err
		}
		ev, ok := attemptEvents[p.State]
		if !ok {
			return fmt.Errorf("message %s: unknown state %q", m.ID, p.State)
		}
		if err := transition(m, ev, p.State); err != nil {
			return err
		}
		m.Attempts, m.LastError, m.UpdatedAt = p.Attempt, p.Error, e.Time
		if p.State == message.Sent {
			m.SentAt = e.Time
		}
		return r.b.updateMessage(ctx, m)
	case audit.KindAckInbound:
		return r.ack(ctx, e)
	case audit.KindMessageSuperseded:
		return r.setState(ctx, e, message.Supersede)
	case audit.KindMessageWithdrawn:
		return r.setState(ctx, e, message.Withdraw)
	case audit.KindMessageResent:
		return r.setState(ctx, e, message.Resend)
	case audit.KindOperatorRedrive, audit.KindOperatorCancel:
		m, err := r.message(ctx, e)
		if err != nil {
			return err
		}
		var p audit.OperatorChange
		if err := decodePayload(e.Payload, &p); err != nil {
			return err
		}
		if p.From != m.State {
			return fmt.Errorf("message %s: operator changed it from %s, but the log leaves it %s", m.ID, p.From, m.State)
		}
		if !p.To.Valid() {
			return fmt.Errorf("message %s: unknown state %q", m.ID, p.To)
		}
		ev := message.Stop
		if e.Kind == audit.KindOperatorRedrive {
			ev = message.Redrive
		}
		if err := transition(m, ev, p.To); err != nil {
			return err
		}
		m.UpdatedAt = e.Time
		if e.Kind == audit.KindOperatorRedrive {
			// Redrive starts the attempt count over (hub.Redrive), and the
			// payload does not repeat it.
			m.Attempts = 0
		}
		return r.b.updateMessage(ctx, m)
	case audit.KindDecision:
		return r.decision(ctx, e)
	case audit.KindAgencyMessage:
		return r.agencyMessage(ctx, e)
	}
	// Refusals, configuration, lane decisions: no declaration, message or
	// decision state changes with them.
	return nil
}

// attemptEvents are the delivery events a delivery.attempt entry records,
// by the state it logs the message in after the attempt.
var attemptEvents = map[message.State]message.Event{
	message.Pending: message.Retry, message.Sent: message.Delivered, message.Dead: message.GiveUp,
}

// transition moves m through the hub's own state machine, so that a log
// replays only the changes the hub could have made; logged, when set, is
// the state the entry says the message reached.
func transition(m *store.Message, ev message.Event, logged message.State) error {
	to, err := message.Transition(m.State, ev)
	if err != nil {
		return fmt.Errorf("message %s: %w", m.ID, err)
	}
	if logged != "" && to != logged {
		return fmt.Errorf("message %s: %s of a %s message leads to %s, the log says %s", m.ID, ev, m.State, to, logged)
	}
	m.State = to
	return nil
}

func (r *replayer) declarationVersion(ctx context.Context, e *store.AuditEntry, version int, body []byte) error {
	if e.DeclarationID == "" {
		return errors.New("no declaration id")
	}
	var b declarationBody
	if err := json.Unmarshal(body, &b); err != nil {
		return fmt.Errorf("declaration JSON: %w", err)
	}
	latest, cancelled, err := r.b.latest(ctx, e.DeclarationID)
	if err != nil {
		return err
	}
	if version != latest+1 {
		return fmt.Errorf("declaration %s version %d, want %d", e.DeclarationID, version, latest+1)
	}
	if cancelled {
		return fmt.Errorf("declaration %s amended after it was cancelled", e.DeclarationID)
	}
	return r.b.insertVersion(ctx, &store.Declaration{
		ID: e.DeclarationID, Version: version, TraderTaxCode: b.Trader.TaxCode, Gate: b.Gate, Lane: b.Lane,
		PlateVN: b.Vehicle.PlateVN, PlateCN: b.Vehicle.PlateCN, Status: hub.StatusActive,
		Body: append([]byte(nil), body...), CreatedAt: e.Time,
	})
}

func (r *replayer) outbound(ctx context.Context, e *store.AuditEntry) error {
	if e.MessageID == "" {
		return errors.New("no message id")
	}
	old, err := r.b.message(ctx, e.MessageID)
	if err != nil {
		return err
	}
	if old != nil {
		return fmt.Errorf("message %s logged as sent twice", e.MessageID)
	}
	b, ok := r.built[e.MessageID]
	if !ok {
		return fmt.Errorf("message %s has no message.built record before it", e.MessageID)
	}
	latest, _, err := r.b.latest(ctx, e.DeclarationID)
	if err != nil {
		return err
	}
	if latest == 0 {
		return fmt.Errorf("declaration %s was never accepted", e.DeclarationID)
	}
	if b.Agency != e.Agency {
		return fmt.Errorf("message %s built for %s, logged as sent to %s", e.MessageID, b.Agency, e.Agency)
	}
	if err := r.b.insertMessage(ctx, &store.Message{
		ID: e.MessageID, DeclarationID: e.DeclarationID, Version: b.DeclarationVersion, Agency: b.Agency,
		Kind: b.Kind, PreviousID: b.PreviousMessageID, MappingVersion: b.MappingVersion,
		SchemaVersion: b.SchemaVersion, ContentHash: b.ContentHash, Body: append([]byte(nil), e.Payload...),
		State: message.Pending, NextAttemptAt: b.CreatedAt, CreatedAt: b.CreatedAt, UpdatedAt: b.CreatedAt,
	}); err != nil {
		return err
	}
	delete(r.built, e.MessageID)
	if r.onOutbound != nil {
		return r.onOutbound(ctx, e, b)
	}
	return nil
}

func (r *replayer) message(ctx context.Context, e *store.AuditEntry) (*store.Message, error) {
	m, err := r.b.message(ctx, e.MessageID)
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, fmt.Errorf("message %q was never logged as outbound", e.MessageID)
	}
	return m, nil
}

func (r *replayer) setState(ctx context.Context, e *store.AuditEntry, ev message.Event) error {
	m, err := r.message(ctx, e)
	if err != nil {
		return err
	}
	if err := transition(m, ev, ""); err != nil {
		return err
	}
	m.UpdatedAt = e.Time
	return r.b.updateMessage(ctx, m)
}

func (r *replayer) ack(ctx context.Context, e *store.AuditEntry) error {
	if r.acks == nil {
		return errors.New("no ACK reader to read the logged ACK with")
	}
	m, err := r.message(ctx, e)
	if err != nil {
		return err
	}
	f, err := r.acks(e.Agency, e.Payload, e.Time)
	if err != nil {
		return fmt.Errorf("read ACK of %s: %w", m.ID, err)
	}
	if f.RefMessageID != m.ID {
		return fmt.Errorf("ACK logged for %s answers %s", m.ID, f.RefMessageID)
	}
	if e.Agency != m.Agency {
		return fmt.Errorf("ACK of %s by %s, message was sent to %s", m.ID, e.Agency, m.Agency)
	}
	dup, err := r.b.hasAck(ctx, m.ID)
	if err != nil {
		return err
	}
	if dup {
		return fmt.Errorf("message %s answered twice", m.ID)
	}
	var ev message.Event
	switch f.Status {
	case "ACK":
		ev = message.AckIn
	case "NACK":
		ev = message.NackIn
	default:
		return fmt.Errorf("ACK of %s has status %q", m.ID, f.Status)
	}
	if err := transition(m, ev, ""); err != nil {
		return err
	}
	m.UpdatedAt = e.Time
	if err := r.b.insertAck(ctx, &store.Ack{
		MessageID: m.ID, Agency: e.Agency, AckID: f.AckID, Status: f.Status, ReasonCode: f.ReasonCode,
		ReasonText: f.ReasonText, Raw: append([]byte(nil), e.Payload...), ReceivedAt: e.Time,
	}); err != nil {
		return err
	}
	return r.b.updateMessage(ctx, m)
}

func (r *replayer) decision(ctx context.Context, e *store.AuditEntry) error {
	var p audit.Decision
	if err := decodePayload(e.Payload, &p); err != nil {
		return err
	}
	if p.Decision == nil {
		return errors.New("payload has no decision")
	}
	latest, _, err := r.b.latest(ctx, e.DeclarationID)
	if err != nil {
		return err
	}
	if latest < p.Version || p.Version < 1 {
		return fmt.Errorf("decision for version %d of %s, which was never logged", p.Version, e.DeclarationID)
	}
	decidedAt := p.Decision.DecidedAt
	// The store keeps the decision without its time (hub.decisionDetail), so
	// that an unchanged re-derivation is recognisable; do the same.
	d := *p.Decision
	d.DecidedAt = time.Time{}
	detail, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("encode decision: %w", err)
	}
	return r.b.putDecision(ctx, &store.Decision{
		DeclarationID: e.DeclarationID, Version: p.Version, Status: p.Decision.Status, Detail: detail, DecidedAt: decidedAt,
	})
}

// agencyMessage restores an agency's own message (a HOLD, a revocation):
// the decisions after it were taken with it in force, and a hub restored
// from the log must keep it so. Its signature is the auditor's to check
// (audit verify); here it is read as logged.
func (r *replayer) agencyMessage(ctx context.Context, e *store.AuditEntry) error {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(e.Payload); err != nil {
		return fmt.Errorf("agency message %s: %w", e.MessageID, err)
	}
	m, err := directive.Parse(doc.Root())
	if err != nil {
		return fmt.Errorf("agency message %s: %w", e.MessageID, err)
	}
	if m.ID != e.MessageID || m.Sender != e.Agency || m.DeclarationID != e.DeclarationID {
		return fmt.Errorf("agency message logged as %s from %s about %s says %s from %s about %s",
			e.MessageID, e.Agency, e.DeclarationID, m.ID, m.Sender, m.DeclarationID)
	}
	detail, err := json.Marshal(m.Detail())
	if err != nil {
		return fmt.Errorf("encode detail: %w", err)
	}
	return r.b.insertAgencyMessage(ctx, &store.AgencyMessage{
		ID: m.ID, Agency: e.Agency, Kind: string(m.Kind), DeclarationID: m.DeclarationID, Version: m.Version,
		Checkpoint: m.Checkpoint, ReasonCode: m.ReasonCode, ReasonText: m.ReasonText, Detail: detail,
		Raw: append([]byte(nil), e.Payload...), ReceivedAt: e.Time,
	})
}

// decodePayload decodes a payload the hub wrote, with the types it wrote
// it with (audit.UnmarshalPayload: unknown fields allowed, so a hub that
// logs more than this package reads still replays).
func decodePayload(b []byte, p audit.Payload) error {
	return audit.UnmarshalPayload(b, p)
}
