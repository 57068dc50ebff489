package replay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/clearance"
	"github.com/gatehub/gatehub/internal/crossing"
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

// Payloads of the JSON audit kinds, as internal/hub writes them.
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
	amendedPayload struct {
		Version     int             `json:"version"`
		Declaration json.RawMessage `json:"declaration"`
	}
	cancelledPayload struct {
		Version int `json:"version"`
	}
	attemptPayload struct {
		Attempt int    `json:"attempt"`
		State   string `json:"state"`
		Error   string `json:"error"`
	}
	operatorPayload struct {
		From string `json:"from"`
		To   string `json:"to"`
	}
	decisionPayload struct {
		Version  int                 `json:"version"`
		Decision *clearance.Decision `json:"decision"`
	}
)

// replayer applies entries one by one. Besides State it keeps the rows a
// store needs (bodies, signed bytes, times), so that Restore can write them.
type replayer struct {
	acks  AckReader
	state *State

	versions  map[string][]store.Declaration // declaration id → every version, in order
	cancelled map[string]bool
	built     map[string]hub.BuildRecord // message id → the build record logged before it
	messages  map[string]*store.Message
	order     []string // message ids in log order
	ackRows   map[string]*store.Ack
	decisions map[string]map[int]store.Decision // declaration id → version → decision
	crossings map[string]*crossing.Crossing     // declaration id → its crossing
}

// FromEntries rebuilds State by applying entries in seq order. The entries
// must be the log from its first entry (seq 1): a message or declaration an
// entry refers to must have been created by an earlier entry. acks reads
// the logged ACK/NACK bytes. An entry that contradicts what came before it
// (an operator change from a state the message was not in, an ACK for an
// unknown message) is an error naming its seq: the log does not explain the
// state, which is itself a finding.
func FromEntries(entries []store.AuditEntry, acks AckReader) (*State, error) {
	r, err := replayEntries(entries, acks)
	if err != nil {
		return nil, err
	}
	return r.finish(), nil
}

func replayEntries(entries []store.AuditEntry, acks AckReader) (*replayer, error) {
	r := &replayer{
		acks: acks, state: newState(),
		versions: map[string][]store.Declaration{}, cancelled: map[string]bool{},
		built: map[string]hub.BuildRecord{}, messages: map[string]*store.Message{},
		ackRows: map[string]*store.Ack{}, decisions: map[string]map[int]store.Decision{},
		crossings: map[string]*crossing.Crossing{},
	}
	sorted := make([]store.AuditEntry, len(entries))
	copy(sorted, entries)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Seq < sorted[j].Seq })
	for i := range sorted {
		e := &sorted[i]
		if err := r.apply(e); err != nil {
			return nil, fmt.Errorf("replay entry %d (%s): %w", e.Seq, e.Kind, err)
		}
	}
	return r, nil
}

func (r *replayer) apply(e *store.AuditEntry) error {
	switch e.Kind {
	case audit.KindCrossingOpened, audit.KindCrossingPassed, audit.KindCrossingExited,
		audit.KindCrossingTurnedBack, audit.KindCrossingCancelled, audit.KindCrossingAmended:
		return r.crossingEvent(e)
	case audit.KindDeclarationAccepted:
		return r.declarationVersion(e, 1, e.Payload)
	case audit.KindDeclarationAmended:
		var p amendedPayload
		if err := decodePayload(e.Payload, &p); err != nil {
			return err
		}
		if len(p.Declaration) == 0 {
			return errors.New("payload has no declaration")
		}
		return r.declarationVersion(e, p.Version, p.Declaration)
	case audit.KindDeclarationCancelled:
		var p cancelledPayload
		if err := decodePayload(e.Payload, &p); err != nil {
			return err
		}
		vs := r.versions[e.DeclarationID]
		if len(vs) == 0 {
			return fmt.Errorf("declaration %s was never accepted", e.DeclarationID)
		}
		if latest := vs[len(vs)-1].Version; p.Version != latest {
			return fmt.Errorf("cancels version %d of %s, latest is %d", p.Version, e.DeclarationID, latest)
		}
		r.cancelled[e.DeclarationID] = true
		return nil
	case audit.KindMessageBuilt:
		var b hub.BuildRecord
		if err := decodePayload(e.Payload, &b); err != nil {
			return err
		}
		r.built[e.MessageID] = b
		return nil
	case audit.KindMessageOutbound:
		return r.outbound(e)
	case audit.KindDeliveryAttempt:
		m, err := r.message(e)
		if err != nil {
			return err
		}
		var p attemptPayload
		if err := decodePayload(e.Payload, &p); err != nil {
			return err
		}
		if !knownState(p.State) {
			return fmt.Errorf("message %s: unknown state %q", m.ID, p.State)
		}
		m.State, m.Attempts, m.LastError, m.UpdatedAt = p.State, p.Attempt, p.Error, e.Time
		if p.State == store.StateSent {
			m.SentAt = e.Time
		}
		return nil
	case audit.KindAckInbound:
		return r.ack(e)
	case audit.KindMessageSuperseded:
		return r.setState(e, store.StateSuperseded)
	case audit.KindMessageWithdrawn:
		return r.setState(e, store.StateCancelled)
	case audit.KindMessageResent:
		return r.setState(e, store.StatePending)
	case audit.KindOperatorRedrive, audit.KindOperatorCancel:
		m, err := r.message(e)
		if err != nil {
			return err
		}
		var p operatorPayload
		if err := decodePayload(e.Payload, &p); err != nil {
			return err
		}
		if p.From != m.State {
			return fmt.Errorf("message %s: operator changed it from %s, but the log leaves it %s", m.ID, p.From, m.State)
		}
		if !knownState(p.To) {
			return fmt.Errorf("message %s: unknown state %q", m.ID, p.To)
		}
		m.State, m.UpdatedAt = p.To, e.Time
		if e.Kind == audit.KindOperatorRedrive {
			// Redrive starts the attempt count over (hub.Redrive), and the
			// payload does not repeat it.
			m.Attempts = 0
		}
		return nil
	case audit.KindDecision:
		return r.decision(e)
	}
	// Refusals, configuration, lane decisions: no declaration, message or
	// decision state changes with them.
	return nil
}

func knownState(s string) bool {
	switch s {
	case store.StatePending, store.StateSent, store.StateAcked, store.StateNacked,
		store.StateDead, store.StateCancelled, store.StateSuperseded:
		return true
	}
	return false
}

func (r *replayer) declarationVersion(e *store.AuditEntry, version int, body []byte) error {
	if e.DeclarationID == "" {
		return errors.New("no declaration id")
	}
	var b declarationBody
	if err := json.Unmarshal(body, &b); err != nil {
		return fmt.Errorf("declaration JSON: %w", err)
	}
	vs := r.versions[e.DeclarationID]
	want := 1
	if len(vs) > 0 {
		want = vs[len(vs)-1].Version + 1
	}
	if version != want {
		return fmt.Errorf("declaration %s version %d, want %d", e.DeclarationID, version, want)
	}
	if r.cancelled[e.DeclarationID] {
		return fmt.Errorf("declaration %s amended after it was cancelled", e.DeclarationID)
	}
	r.versions[e.DeclarationID] = append(vs, store.Declaration{
		ID: e.DeclarationID, Version: version, TraderTaxCode: b.Trader.TaxCode, Gate: b.Gate, Lane: b.Lane,
		PlateVN: b.Vehicle.PlateVN, PlateCN: b.Vehicle.PlateCN, Status: hub.StatusActive,
		Body: append([]byte(nil), body...), CreatedAt: e.Time,
	})
	return nil
}

func (r *replayer) outbound(e *store.AuditEntry) error {
	if e.MessageID == "" {
		return errors.New("no message id")
	}
	if _, dup := r.messages[e.MessageID]; dup {
		return fmt.Errorf("message %s logged as sent twice", e.MessageID)
	}
	b, ok := r.built[e.MessageID]
	if !ok {
		return fmt.Errorf("message %s has no message.built record before it", e.MessageID)
	}
	if len(r.versions[e.DeclarationID]) == 0 {
		return fmt.Errorf("declaration %s was never accepted", e.DeclarationID)
	}
	if b.Agency != e.Agency {
		return fmt.Errorf("message %s built for %s, logged as sent to %s", e.MessageID, b.Agency, e.Agency)
	}
	r.messages[e.MessageID] = &store.Message{
		ID: e.MessageID, DeclarationID: e.DeclarationID, Version: b.DeclarationVersion, Agency: b.Agency,
		Kind: b.Kind, PreviousID: b.PreviousMessageID, MappingVersion: b.MappingVersion,
		SchemaVersion: b.SchemaVersion, ContentHash: b.ContentHash, Body: append([]byte(nil), e.Payload...),
		State: store.StatePending, NextAttemptAt: b.CreatedAt, CreatedAt: b.CreatedAt, UpdatedAt: b.CreatedAt,
	}
	r.order = append(r.order, e.MessageID)
	return nil
}

func (r *replayer) message(e *store.AuditEntry) (*store.Message, error) {
	m, ok := r.messages[e.MessageID]
	if !ok {
		return nil, fmt.Errorf("message %q was never logged as outbound", e.MessageID)
	}
	return m, nil
}

func (r *replayer) setState(e *store.AuditEntry, state string) error {
	m, err := r.message(e)
	if err != nil {
		return err
	}
	m.State, m.UpdatedAt = state, e.Time
	return nil
}

func (r *replayer) ack(e *store.AuditEntry) error {
	if r.acks == nil {
		return errors.New("no ACK reader to read the logged ACK with")
	}
	m, err := r.message(e)
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
	if _, dup := r.ackRows[m.ID]; dup {
		return fmt.Errorf("message %s answered twice", m.ID)
	}
	switch f.Status {
	case "ACK":
		m.State = store.StateAcked
	case "NACK":
		m.State = store.StateNacked
	default:
		return fmt.Errorf("ACK of %s has status %q", m.ID, f.Status)
	}
	m.UpdatedAt = e.Time
	r.ackRows[m.ID] = &store.Ack{
		MessageID: m.ID, Agency: e.Agency, AckID: f.AckID, Status: f.Status, ReasonCode: f.ReasonCode,
		ReasonText: f.ReasonText, Raw: append([]byte(nil), e.Payload...), ReceivedAt: e.Time,
	}
	return nil
}

func (r *replayer) decision(e *store.AuditEntry) error {
	var p decisionPayload
	if err := decodePayload(e.Payload, &p); err != nil {
		return err
	}
	if p.Decision == nil {
		return errors.New("payload has no decision")
	}
	if len(r.versions[e.DeclarationID]) < p.Version || p.Version < 1 {
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
	if r.decisions[e.DeclarationID] == nil {
		r.decisions[e.DeclarationID] = map[int]store.Decision{}
	}
	r.decisions[e.DeclarationID][p.Version] = store.Decision{
		DeclarationID: e.DeclarationID, Version: p.Version, Status: p.Decision.Status, Detail: detail, DecidedAt: decidedAt,
	}
	return nil
}

// finish derives State from what the entries left.
func (r *replayer) finish() *State {
	s := newState()
	for id, vs := range r.versions {
		latest := vs[len(vs)-1]
		d := Declaration{
			ID: id, Version: latest.Version, Status: hub.StatusActive, Trader: latest.TraderTaxCode,
			Gate: latest.Gate, Lane: latest.Lane, PlateVN: latest.PlateVN, PlateCN: latest.PlateCN,
		}
		if r.cancelled[id] {
			d.Status = hub.StatusCancelled
		}
		if dec, ok := r.decisions[id][latest.Version]; ok {
			d.DecisionStatus, d.DecisionDetail, d.DecidedAt = dec.Status, string(dec.Detail), formatTime(dec.DecidedAt)
		}
		s.Declarations[id] = d
	}
	for id, m := range r.messages {
		sm := Message{
			ID: id, DeclarationID: m.DeclarationID, Version: m.Version, Agency: m.Agency, Kind: m.Kind,
			PreviousID: m.PreviousID, State: m.State, Attempts: m.Attempts,
		}
		if a, ok := r.ackRows[id]; ok {
			sm.AckStatus, sm.AckReason, sm.AckID = a.Status, a.ReasonCode, a.AckID
		}
		s.Messages[id] = sm
	}
	for id, c := range r.crossings {
		s.Crossings[id] = crossingOf(c)
	}
	return s
}

// Restore replays entries into st, which should be empty: every declaration
// version, message (with its logged signed bytes), ACK and decision the log
// records is written through store transactions, so the replayed state is
// queryable like a live hub's. It returns the state read back from st with
// FromStore, and fails if that differs from the replayed state, which would
// mean the store dropped or altered something.
func Restore(ctx context.Context, st store.Store, entries []store.AuditEntry, acks AckReader) (*State, error) {
	r, err := replayEntries(entries, acks)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(r.versions))
	for id := range r.versions {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	err = st.WithTx(ctx, func(tx store.Tx) error {
		for _, id := range ids {
			for _, v := range r.versions[id] {
				d := v
				if err := tx.InsertDeclaration(ctx, &d); err != nil {
					return fmt.Errorf("declaration %s v%d: %w", id, v.Version, err)
				}
			}
			if r.cancelled[id] {
				if err := tx.UpdateDeclarationStatus(ctx, id, hub.StatusCancelled); err != nil {
					return fmt.Errorf("declaration %s: %w", id, err)
				}
			}
		}
		for _, id := range r.order {
			m := *r.messages[id]
			if err := tx.InsertMessage(ctx, &m); err != nil {
				return fmt.Errorf("message %s: %w", id, err)
			}
			if a, ok := r.ackRows[id]; ok {
				ack := *a
				if err := tx.InsertAck(ctx, &ack); err != nil {
					return fmt.Errorf("ack of %s: %w", id, err)
				}
			}
		}
		for _, id := range ids {
			versions := make([]int, 0, len(r.decisions[id]))
			for v := range r.decisions[id] {
				versions = append(versions, v)
			}
			sort.Ints(versions)
			for _, v := range versions {
				d := r.decisions[id][v]
				if err := tx.PutDecision(ctx, &d); err != nil {
					return fmt.Errorf("decision %s v%d: %w", id, v, err)
				}
			}
		}
		return r.restoreCrossings(ctx, tx, ids)
	})
	if err != nil {
		return nil, fmt.Errorf("restore into store: %w", err)
	}
	back, err := FromStore(ctx, st)
	if err != nil {
		return nil, err
	}
	if diffs := Diff(r.finish(), back); len(diffs) > 0 {
		return nil, fmt.Errorf("restore into store: read back differs from the replay, first: %s", diffs[0])
	}
	return back, nil
}

// decodePayload decodes a payload the hub wrote. Unknown fields are allowed,
// so a hub that logs more than this package reads still replays.
func decodePayload(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("payload: %w", err)
	}
	return nil
}
