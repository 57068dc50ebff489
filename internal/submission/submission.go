// Package submission turns a trader's declaration into what the agencies
// receive: Submit, Amend and Cancel store the declaration version and one
// mapped, XSD-validated, signed message per agency concerned, with their
// audit entries and the new decision, in one transaction; building and
// signing happen before it, side by side when cores are idle.
package submission

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/gatehub/gatehub/internal/message"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/beevik/etree"
	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/decisions"
	"github.com/gatehub/gatehub/internal/declaration"
	"github.com/gatehub/gatehub/internal/gate"
	"github.com/gatehub/gatehub/internal/hub"
	"github.com/gatehub/gatehub/internal/ids"
	"github.com/gatehub/gatehub/internal/mapping"
	"github.com/gatehub/gatehub/internal/metrics"
	"github.com/gatehub/gatehub/internal/schema"
	"github.com/gatehub/gatehub/internal/sign"
	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/tracing"
	"github.com/gatehub/gatehub/internal/txn"
	"github.com/gatehub/gatehub/internal/views"
)

// Service accepts declarations. All fields are required unless marked
// optional.
type Service struct {
	Tx        *txn.Runner
	Decisions *decisions.Decider
	Views     *views.Service
	Gates     *gate.Registry
	Mappings  *mapping.Registry
	Schemas   *schema.Validator
	Signer    *sign.Signer
	// AgencySigners sign the messages of the agencies whose signature
	// profile is not Signer's (the Guangxi single window: SM2-SM3).
	// Optional.
	AgencySigners map[string]*sign.Signer
	// Inputs is the id of the content-addressed build inputs Mappings and
	// Schemas were loaded from (internal/inputs), recorded in every
	// message.built. Optional.
	Inputs  string
	Metrics *metrics.Metrics // optional
	// Crossings keeps crossings in step with declarations (optional).
	Crossings Crossings

	// building counts submits building their messages right now (see
	// buildAll).
	building atomic.Int64
}

// Crossings keeps each declaration's crossing in step with it. Set by the
// assembly (internal/app); optional, for tests of the hub alone.
type Crossings interface {
	// Open creates the crossing of a new declaration; an error wrapping
	// hub.ErrConflict when the vehicle already has an active crossing at the
	// gate (the error names that declaration).
	Open(ctx context.Context, tx store.Tx, d *store.Declaration) error
	// Amended follows a new version (its plate may have changed).
	Amended(ctx context.Context, tx store.Tx, d *store.Declaration) error
	// Cancelled ends the crossing of a cancelled declaration.
	Cancelled(ctx context.Context, tx store.Tx, d *store.Declaration, reason string) error
}

// SubmitRequest is a new declaration as accepted by the HTTP layer.
type SubmitRequest struct {
	Declaration    *declaration.Declaration
	IdempotencyKey string // optional
}

// Submit stores a new declaration and one signed message per agency the
// gate's policy requires, all in one transaction. With an Idempotency-Key
// that was seen before for the same trader and the same content, it returns
// the first result and creates nothing (created=false).
func (h *Service) Submit(ctx context.Context, actor hub.Actor, req SubmitRequest) (view *views.DeclarationView, created bool, err error) {
	d := req.Declaration
	body, err := json.Marshal(d)
	if err != nil {
		return nil, false, fmt.Errorf("encode declaration: %w", err)
	}
	reqHash := hashHex(body)
	trader := d.Trader.TaxCode
	if req.IdempotencyKey != "" {
		if id, found, err := h.idempotent(ctx, h.Tx.ReadTx, trader, req.IdempotencyKey, reqHash); err != nil || found {
			if err != nil {
				return nil, false, err
			}
			v, err := h.Views.View(ctx, id)
			return v, false, err
		}
	}
	g, ok := h.Gates.Current().Gate(d.Gate)
	if !ok {
		return nil, false, fmt.Errorf("%w %q", hub.ErrUnknownGate, d.Gate)
	}
	now := h.Tx.Clock()
	id := ids.Declaration(now)
	agencies := g.RequiredAgencies(d.Direction, d.CargoKind, d.HSCodes()...)
	// The mapping reads the declaration as the JSON just encoded: convert
	// it once for all agencies.
	in, err := mapping.Prepare(json.RawMessage(body))
	if err != nil {
		return nil, false, fmt.Errorf("prepare declaration for mapping: %w", err)
	}
	msgs, err := h.buildAll(agencies, func(agency string) (*builtMessage, error) {
		return h.buildMessage(in, id, 1, agency, message.Submit, "", "", g, now)
	})
	if err != nil {
		return nil, false, err
	}
	// Before the answer is built from these very records.
	stampRequest(ctx, msgs)
	rec := &store.Declaration{
		ID: id, Version: 1, TraderTaxCode: trader, Gate: d.Gate, Lane: d.Lane,
		PlateVN: d.Vehicle.PlateVN, PlateCN: d.Vehicle.PlateCN, Status: hub.StatusActive,
		Body: body, IdempotencyKey: req.IdempotencyKey, CreatedAt: now,
	}
	// What the transaction writes is all there is to know about the new
	// declaration: decide on it and answer from these records instead of
	// reading them back.
	fresh := &decisions.Input{Decl: rec, Body: *d, Required: agencies, Current: map[string]*store.Message{}}
	for _, m := range msgs {
		fresh.Msgs = append(fresh.Msgs, *m.msg)
	}
	// The order the store lists them in, so the answer reads like a GET.
	slices.SortFunc(fresh.Msgs, func(a, b store.Message) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	for i := range fresh.Msgs {
		fresh.Current[fresh.Msgs[i].Agency] = &fresh.Msgs[i]
	}
	if err := fresh.CollectStatuses(func(string) (*store.Ack, error) { return nil, nil }); err != nil {
		return nil, false, err
	}
	err = h.Tx.InTx(ctx, func(tx store.Tx, fx *txn.Effects) error {
		if req.IdempotencyKey != "" {
			err := tx.InsertIdempotency(ctx, &store.Idempotency{Trader: trader, Key: req.IdempotencyKey, RequestHash: reqHash, DeclarationID: id, CreatedAt: now})
			if err != nil {
				return fmt.Errorf("remember idempotency key: %w", err)
			}
		}
		if err := tx.InsertDeclaration(ctx, rec); err != nil {
			return fmt.Errorf("insert declaration: %w", err)
		}
		if h.Crossings != nil {
			if err := h.Crossings.Open(ctx, tx, rec); err != nil {
				return err
			}
		}
		if err := h.Tx.AppendAudit(ctx, tx, store.AuditEntry{
			Kind: audit.KindDeclarationAccepted, Actor: actor.String(), DeclarationID: id, Plate: hub.PlateOf(rec), Payload: body,
		}); err != nil {
			return err
		}
		if err := h.insertMessages(ctx, tx, rec, msgs); err != nil {
			return err
		}
		fx.Wake()
		_, err := h.Decisions.DecideFrom(ctx, tx, fx, fresh, true)
		return err
	})
	if errors.Is(err, store.ErrConflict) && req.IdempotencyKey != "" {
		// A concurrent request with the same key won the race: answer as it
		// did. Through the writer, not a reader: the winner may share our
		// commit group, and its row is only visible to readers once that
		// group has committed, which a later group's transaction follows.
		id, found, ierr := h.idempotent(ctx, h.Tx.Store.WithTx, trader, req.IdempotencyKey, reqHash)
		if ierr != nil || !found {
			return nil, false, fmt.Errorf("%w: %v", hub.ErrConflict, err)
		}
		v, err := h.Views.View(ctx, id)
		return v, false, err
	}
	if err != nil {
		return nil, false, err
	}
	if h.Metrics != nil {
		for _, m := range msgs {
			h.Metrics.MessageCreated(m.msg.Agency, string(m.msg.Kind))
		}
	}
	return views.Render(fresh, nil, h.Tx.Clock()), true, nil
}

// idempotent looks up an Idempotency-Key in a transaction run by inTx.
func (h *Service) idempotent(ctx context.Context, inTx func(context.Context, func(store.Tx) error) error, trader, key, reqHash string) (string, bool, error) {
	var rec *store.Idempotency
	err := inTx(ctx, func(tx store.Tx) error {
		var err error
		rec, err = tx.GetIdempotency(ctx, trader, key)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("look up idempotency key: %w", err)
	}
	if rec.RequestHash != reqHash {
		return "", false, fmt.Errorf("%w: Idempotency-Key %q was used for a different declaration", hub.ErrConflict, key)
	}
	return rec.DeclarationID, true, nil
}

// stampRequest records on each message the request that causes it, so the
// id travels with the message to its delivery log and to the agency.
func stampRequest(ctx context.Context, msgs []*builtMessage) {
	requestID, traceID := tracing.RequestID(ctx), ""
	if t, ok := tracing.FromContext(ctx); ok {
		traceID = t.TraceIDString()
	}
	for _, b := range msgs {
		b.msg.RequestID, b.msg.TraceID = requestID, traceID
	}
}

func (h *Service) insertMessages(ctx context.Context, tx store.Tx, d *store.Declaration, msgs []*builtMessage) error {
	stampRequest(ctx, msgs)
	for _, b := range msgs {
		m := b.msg
		if err := tx.InsertMessage(ctx, m); err != nil {
			return fmt.Errorf("insert %s message: %w", m.Agency, err)
		}
		// What an auditor needs to rebuild the message and compare it with
		// the bytes logged next (audit replay --rebuild).
		if err := h.Tx.AppendAudit(ctx, tx, store.AuditEntry{
			Kind: audit.KindMessageBuilt, Actor: hub.Participant, DeclarationID: d.ID, MessageID: m.ID,
			Agency: m.Agency, Plate: hub.PlateOf(d), Payload: txn.AuditPayload(&b.built),
		}); err != nil {
			return err
		}
		if err := h.Tx.AppendAudit(ctx, tx, store.AuditEntry{
			Kind: audit.KindMessageOutbound, Actor: hub.Participant, DeclarationID: d.ID, MessageID: m.ID,
			Agency: m.Agency, Plate: hub.PlateOf(d), Payload: m.Body, PayloadOf: store.PayloadMessage,
		}); err != nil {
			return err
		}
	}
	return nil
}

// buildAll builds one message per agency. The messages are independent:
// while fewer submits are building than there are cores, it builds them
// side by side, so a lone declaration uses every core instead of one and
// its trader waits for about one signature instead of four. Under load
// every core already has a submit of its own, and one goroutine per
// message would only add scheduling; there it builds them in turn, and
// yields after each so the committer, back from an fsync, gets a core
// within about one signature rather than a scheduler time slice.
// Messages come back in agency order; the error is the first agency's.
func (h *Service) buildAll(agencies []string, build func(agency string) (*builtMessage, error)) ([]*builtMessage, error) {
	msgs := make([]*builtMessage, len(agencies))
	errs := make([]error, len(agencies))
	defer h.building.Add(-1)
	if h.building.Add(1) < int64(runtime.GOMAXPROCS(0)) {
		// A panic stays the request's, as when built in turn (the HTTP
		// layer answers 500 and logs it): in a goroutine of its own it
		// would end the process.
		panics := make([]any, len(agencies))
		var wg sync.WaitGroup
		for i, agency := range agencies {
			wg.Go(func() {
				defer func() {
					if p := recover(); p != nil {
						panics[i] = fmt.Sprintf("building the %s message: %v\n%s", agency, p, debug.Stack())
					}
				}()
				msgs[i], errs[i] = build(agency)
			})
		}
		wg.Wait()
		for _, p := range panics {
			if p != nil {
				panic(p)
			}
		}
	} else {
		for i, agency := range agencies {
			msgs[i], errs[i] = build(agency)
			runtime.Gosched()
		}
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return msgs, nil
}

// buildMessage maps, validates and signs one agency message. It signs once:
// the stored bytes are what every delivery attempt sends. d is the
// declaration as mapping.Registry.Build takes it (a *declaration.Declaration,
// or mapping.Prepared when several messages are built from one).
func (h *Service) buildMessage(d any, declID string, version int, agency string, kind message.Kind, prevID, reason string, g *gate.Gate, now time.Time) (*builtMessage, error) {
	env := mapping.Envelope{
		MessageID: ids.Message(), Kind: kind, PreviousMessageID: prevID, Sender: hub.Participant,
		Receiver: agency, DeclarationID: declID, Version: version, CreatedAt: now, Reason: reason,
	}
	doc, info, err := h.Mappings.Build(agency, kind, d, env, g.Context())
	if err != nil {
		return nil, fmt.Errorf("map %s %s: %w", agency, kind, err)
	}
	contentHash, err := h.contentHash(d, agency, kind, doc, env, g)
	if err != nil {
		return nil, err
	}
	// Serialised once, in the form the signer signs: the schema checks the
	// very bytes that get signed and sent.
	unsigned, err := sign.Prepare(doc)
	if err != nil {
		return nil, fmt.Errorf("serialise %s %s: %w", agency, kind, err)
	}
	if err := h.Schemas.Validate(info.SchemaFile, unsigned.Bytes()); err != nil {
		// Our own mapping produced invalid XML: a bug or a bad mapping file,
		// never something to send to an agency.
		return nil, fmt.Errorf("%s %s message fails %s: %w", agency, kind, info.SchemaFile, err)
	}
	signed, err := h.SignFor(agency, unsigned)
	if err != nil {
		return nil, fmt.Errorf("sign %s %s: %w", agency, kind, err)
	}
	return &builtMessage{
		msg: &store.Message{
			ID: env.MessageID, DeclarationID: declID, Version: version, Agency: agency, Kind: kind,
			PreviousID: prevID, MappingVersion: info.MappingVersion, SchemaVersion: info.SchemaVersion,
			ContentHash: contentHash, Body: signed, State: message.Pending,
			NextAttemptAt: now, CreatedAt: now, UpdatedAt: now,
		},
		built: audit.MessageBuilt{
			Agency: agency, Kind: kind, DeclarationVersion: version, PreviousMessageID: prevID,
			Sender: env.Sender, Receiver: env.Receiver, CreatedAt: now, Reason: env.Reason,
			MappingVersion: info.MappingVersion, SchemaFile: info.SchemaFile, SchemaVersion: info.SchemaVersion,
			ContentHash: contentHash, Gate: g.Context(), Inputs: h.Inputs,
		},
	}, nil
}

// builtMessage is a message ready to store with the record of how it was
// built.
type builtMessage struct {
	msg   *store.Message
	built audit.MessageBuilt
}

// contentHash fingerprints what an agency would receive about this
// declaration, independent of envelope and message kind, so an amendment can
// tell which agencies' content actually changed. It is always computed from
// the submit form; cancel messages carry no content.
func (h *Service) contentHash(d any, agency string, kind message.Kind, doc *etree.Document, env mapping.Envelope, g *gate.Gate) (string, error) {
	if kind == message.Cancel {
		return "", nil
	}
	if kind != message.Submit {
		env.Kind, env.PreviousMessageID = message.Submit, ""
		submit, _, err := h.Mappings.Build(agency, message.Submit, d, env, g.Context())
		if err != nil {
			return "", fmt.Errorf("map %s submit form: %w", agency, err)
		}
		doc = submit
	}
	canon, err := mapping.Canonical(doc)
	if err != nil {
		return "", fmt.Errorf("canonicalise %s message: %w", agency, err)
	}
	return hashHex(canon), nil
}

func hashHex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// Amend stores a new version of declaration id. Only agencies whose mapped
// content changed get a replacement message (referencing the message it
// replaces, which becomes superseded: its ACK no longer counts); agencies
// the new version no longer requires get a cancel; newly required ones a
// submit. An amendment that changes nothing for anybody is still a new
// version, and says so in the audit log.
func (h *Service) Amend(ctx context.Context, actor hub.Actor, id string, d *declaration.Declaration) (*views.DeclarationView, error) {
	cur, allMsgs, err := h.current(ctx, actor, id)
	if err != nil {
		return nil, err
	}
	if cur.Decl.Status == hub.StatusCancelled {
		return nil, fmt.Errorf("%w: declaration %s is cancelled", hub.ErrInvalidState, id)
	}
	if d.Trader.TaxCode != cur.Decl.TraderTaxCode {
		return nil, fmt.Errorf("%w: an amendment cannot change the trader", hub.ErrInvalidState)
	}
	g, ok := h.Gates.Current().Gate(d.Gate)
	if !ok {
		return nil, fmt.Errorf("%w %q", hub.ErrUnknownGate, d.Gate)
	}
	now := h.Tx.Clock()
	version := cur.Decl.Version + 1
	required := g.RequiredAgencies(d.Direction, d.CargoKind, d.HSCodes()...)
	latest := latestPerAgency(allMsgs)

	var (
		newMsgs    []*builtMessage
		superseded []*store.Message
		changed    []string
	)
	for _, agency := range required {
		prev, had := latest[agency]
		if !had || prev.Kind == message.Cancel {
			m, err := h.buildMessage(d, id, version, agency, message.Submit, "", "", g, now)
			if err != nil {
				return nil, err
			}
			newMsgs = append(newMsgs, m)
			changed = append(changed, agency)
			continue
		}
		hash, err := h.contentHash(d, agency, message.Amend, nil, mapping.Envelope{MessageID: prev.ID, DeclarationID: id, Version: version, Sender: hub.Participant, Receiver: agency, CreatedAt: now}, g)
		if err != nil {
			return nil, err
		}
		if hash == prev.ContentHash {
			continue // this agency's content is unchanged: its message and ACK stand
		}
		m, err := h.buildMessage(d, id, version, agency, message.Amend, prev.ID, "", g, now)
		if err != nil {
			return nil, err
		}
		newMsgs = append(newMsgs, m)
		superseded = append(superseded, prev)
		changed = append(changed, agency)
	}
	for agency, prev := range latest {
		if prev.Kind == message.Cancel || slices.Contains(required, agency) {
			continue
		}
		m, err := h.buildMessage(d, id, version, agency, message.Cancel, prev.ID, "no longer required after amendment", g, now)
		if err != nil {
			return nil, err
		}
		newMsgs = append(newMsgs, m)
		superseded = append(superseded, prev)
		changed = append(changed, agency)
	}

	body, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encode declaration: %w", err)
	}
	rec := &store.Declaration{
		ID: id, Version: version, TraderTaxCode: cur.Decl.TraderTaxCode, Gate: d.Gate, Lane: d.Lane,
		PlateVN: d.Vehicle.PlateVN, PlateCN: d.Vehicle.PlateCN, Status: hub.StatusActive, Body: body, CreatedAt: now,
	}
	err = h.Tx.InTx(ctx, func(tx store.Tx, fx *txn.Effects) error {
		if err := tx.LockDeclaration(ctx, id); err != nil {
			return fmt.Errorf("lock declaration %s: %w", id, err)
		}
		// (id, version) is unique: a concurrent amendment makes this conflict.
		if err := tx.InsertDeclaration(ctx, rec); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return fmt.Errorf("%w: declaration %s was amended concurrently", hub.ErrConflict, id)
			}
			return fmt.Errorf("insert declaration version: %w", err)
		}
		if h.Crossings != nil {
			if err := h.Crossings.Amended(ctx, tx, rec); err != nil {
				return err
			}
		}
		if err := h.Tx.AppendAudit(ctx, tx, store.AuditEntry{
			Kind: audit.KindDeclarationAmended, Actor: actor.String(), DeclarationID: id, Plate: hub.PlateOf(rec),
			Payload: txn.AuditPayload(&audit.DeclarationAmended{Version: version, ChangedAgencies: changed, Declaration: body}),
		}); err != nil {
			return err
		}
		for _, prev := range superseded {
			if err := h.supersede(ctx, tx, rec, prev.ID, now); err != nil {
				return err
			}
		}
		if err := h.insertMessages(ctx, tx, rec, newMsgs); err != nil {
			return err
		}
		if len(newMsgs) > 0 {
			fx.Wake()
		}
		_, err := h.Decisions.Decide(ctx, tx, fx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return h.Views.View(ctx, id)
}

// supersede re-reads the message inside the write transaction so a state
// reached since the amendment was prepared (an ACK, say) is not overwritten
// with stale fields.
func (h *Service) supersede(ctx context.Context, tx store.Tx, d *store.Declaration, id string, now time.Time) error {
	m, err := tx.GetMessage(ctx, id)
	if err != nil {
		return fmt.Errorf("load message %s: %w", id, err)
	}
	if m.State, err = message.Transition(m.State, message.Supersede); err != nil {
		return fmt.Errorf("supersede: %w", err)
	}
	m.LeaseOwner, m.LeaseUntil, m.UpdatedAt = "", time.Time{}, now
	if err := tx.UpdateMessage(ctx, m); err != nil {
		return fmt.Errorf("supersede message %s: %w", id, err)
	}
	return h.Tx.AppendAudit(ctx, tx, store.AuditEntry{
		Kind: audit.KindMessageSuperseded, Actor: hub.Participant, DeclarationID: d.ID, MessageID: id,
		Agency: m.Agency, Plate: hub.PlateOf(d), Payload: txn.AuditPayload(&audit.MessageSuperseded{ByVersion: d.Version}),
	})
}

// Cancel withdraws a declaration: every agency that may have received a
// message gets a cancel message; messages never sent are simply cancelled.
func (h *Service) Cancel(ctx context.Context, actor hub.Actor, id, reason string) (*views.DeclarationView, error) {
	cur, allMsgs, err := h.current(ctx, actor, id)
	if err != nil {
		return nil, err
	}
	if cur.Decl.Status == hub.StatusCancelled {
		return h.Views.View(ctx, id) // cancelling twice is the same as once
	}
	g, ok := h.Gates.Current().Gate(cur.Decl.Gate)
	if !ok {
		return nil, fmt.Errorf("%w %q", hub.ErrUnknownGate, cur.Decl.Gate)
	}
	now := h.Tx.Clock()
	var (
		cancels  []*builtMessage
		withdraw []string // never left the hub: cancel in place
	)
	for agency, prev := range latestPerAgency(allMsgs) {
		if prev.Kind == message.Cancel {
			continue
		}
		if neverSent(prev, now) || prev.State == message.Cancelled {
			withdraw = append(withdraw, prev.ID)
			continue
		}
		m, err := h.buildMessage(&cur.Body, id, cur.Decl.Version, agency, message.Cancel, prev.ID, reason, g, now)
		if err != nil {
			return nil, err
		}
		cancels = append(cancels, m)
	}
	err = h.Tx.InTx(ctx, func(tx store.Tx, fx *txn.Effects) error {
		if err := tx.LockDeclaration(ctx, id); err != nil {
			return fmt.Errorf("lock declaration %s: %w", id, err)
		}
		if err := tx.UpdateDeclarationStatus(ctx, id, hub.StatusCancelled); err != nil {
			return fmt.Errorf("cancel declaration: %w", err)
		}
		if h.Crossings != nil {
			if err := h.Crossings.Cancelled(ctx, tx, cur.Decl, reason); err != nil {
				return err
			}
		}
		if err := h.Tx.AppendAudit(ctx, tx, store.AuditEntry{
			Kind: audit.KindDeclarationCancelled, Actor: actor.String(), DeclarationID: id, Plate: hub.PlateOf(cur.Decl),
			Payload: txn.AuditPayload(&audit.DeclarationCancelled{Version: cur.Decl.Version, Reason: reason}),
		}); err != nil {
			return err
		}
		for _, mid := range withdraw {
			m, err := tx.GetMessage(ctx, mid)
			if err != nil {
				return fmt.Errorf("load message %s: %w", mid, err)
			}
			if m.State == message.Pending {
				if !neverSent(m, now) {
					// Claimed since the cancellation was prepared: it may reach
					// the agency, which then needs a cancel message.
					return fmt.Errorf("%w: message %s to %s is being delivered; retry the cancellation", hub.ErrConflict, m.ID, m.Agency)
				}
				if m.State, err = message.Transition(m.State, message.Withdraw); err != nil {
					return fmt.Errorf("withdraw: %w", err)
				}
				m.LeaseOwner, m.LeaseUntil, m.UpdatedAt = "", time.Time{}, now
				if err := tx.UpdateMessage(ctx, m); err != nil {
					return fmt.Errorf("withdraw message %s: %w", mid, err)
				}
				if err := h.Tx.AppendAudit(ctx, tx, store.AuditEntry{
					Kind: audit.KindMessageWithdrawn, Actor: actor.String(), DeclarationID: id, MessageID: mid,
					Agency: m.Agency, Plate: hub.PlateOf(cur.Decl), Payload: txn.AuditPayload(&audit.MessageWithdrawn{Reason: reason}),
				}); err != nil {
					return err
				}
			}
		}
		if err := h.insertMessages(ctx, tx, cur.Decl, cancels); err != nil {
			return err
		}
		if len(cancels) > 0 {
			fx.Wake()
		}
		_, err := h.Decisions.Decide(ctx, tx, fx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return h.Views.View(ctx, id)
}

// neverSent reports whether m certainly never reached its agency: pending,
// never attempted, and not leased by a dispatcher that may be sending it
// right now. Only such a message may be withdrawn without a cancel message.
func neverSent(m *store.Message, now time.Time) bool {
	inFlight := m.LeaseOwner != "" && m.LeaseUntil.After(now)
	return m.State == message.Pending && m.Attempts == 0 && !inFlight
}

// current loads what an amendment or a cancellation starts from: the
// declaration's current version and all its messages, refusing a trader
// who does not own it.
func (h *Service) current(ctx context.Context, actor hub.Actor, id string) (*decisions.Input, []store.Message, error) {
	var cur *decisions.Input
	err := h.Tx.Store.WithTx(ctx, func(tx store.Tx) error {
		var err error
		cur, err = h.Decisions.Load(ctx, tx, id)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	if err := authorizeTrader(actor, cur.Decl); err != nil {
		return nil, nil, err
	}
	return cur, cur.Msgs, nil
}

// latestPerAgency returns, per agency, the newest message that is not
// superseded (messages come in CreatedAt order).
func latestPerAgency(msgs []store.Message) map[string]*store.Message {
	out := map[string]*store.Message{}
	for i := range msgs {
		if msgs[i].State == message.Superseded || msgs[i].Kind == message.Forward {
			continue
		}
		out[msgs[i].Agency] = &msgs[i]
	}
	return out
}

// authorizeTrader refuses a trader acting on somebody else's declaration.
// Operators and admins act on any.
func authorizeTrader(actor hub.Actor, d *store.Declaration) error {
	if actor.Role == "trader" && actor.TaxCode != d.TraderTaxCode {
		return fmt.Errorf("declaration %s: %w", d.ID, hub.ErrNotFound) // do not reveal that it exists
	}
	return nil
}

// SignFor signs an unsigned document for agency under its profile, as the
// hub's messages to it are (the forwards of internal/agencymsg too).
func (h *Service) SignFor(agency string, u *sign.Unsigned) ([]byte, error) {
	signer := h.Signer
	if s := h.AgencySigners[agency]; s != nil {
		signer = s
	}
	return signer.SignUnsigned(u)
}
