package hub

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
	"time"

	"github.com/beevik/etree"
	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/declaration"
	"github.com/gatehub/gatehub/internal/gate"
	"github.com/gatehub/gatehub/internal/ids"
	"github.com/gatehub/gatehub/internal/mapping"
	"github.com/gatehub/gatehub/internal/sign"
	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/tracing"
)

// Errors the HTTP layer maps to status codes.
var (
	ErrNotFound = errors.New("not found")
	// ErrConflict: the request collides with current state (a concurrent
	// amendment, an Idempotency-Key reused for a different body).
	ErrConflict = errors.New("conflict")
	// ErrInvalidState: the operation does not apply in the current state
	// (amending a cancelled declaration, redriving a delivered message).
	ErrInvalidState = errors.New("invalid state")
	ErrUnknownGate  = errors.New("unknown gate")
)

// Declaration statuses.
const (
	StatusActive    = "active"
	StatusCancelled = "cancelled"
)

// Actor says who asked for a change; it goes into the audit log.
type Actor struct {
	Role        string // trader | operator | admin | …
	Participant string // token subject
	TaxCode     string // traders only
}

func (a Actor) String() string {
	if a.Participant == "" {
		return a.Role
	}
	return a.Role + ":" + a.Participant
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
func (h *Hub) Submit(ctx context.Context, actor Actor, req SubmitRequest) (view *DeclarationView, created bool, err error) {
	d := req.Declaration
	body, err := json.Marshal(d)
	if err != nil {
		return nil, false, fmt.Errorf("encode declaration: %w", err)
	}
	reqHash := hashHex(body)
	trader := d.Trader.TaxCode
	if req.IdempotencyKey != "" {
		if id, found, err := h.idempotent(ctx, h.readTx, trader, req.IdempotencyKey, reqHash); err != nil || found {
			if err != nil {
				return nil, false, err
			}
			v, err := h.View(ctx, id)
			return v, false, err
		}
	}
	g, ok := h.Gates.Current().Gate(d.Gate)
	if !ok {
		return nil, false, fmt.Errorf("%w %q", ErrUnknownGate, d.Gate)
	}
	now := h.now()
	id := ids.Declaration(now)
	agencies := g.RequiredAgencies(d.Direction, d.CargoKind)
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
		PlateVN: d.Vehicle.PlateVN, PlateCN: d.Vehicle.PlateCN, Status: StatusActive,
		Body: body, IdempotencyKey: req.IdempotencyKey, CreatedAt: now,
	}
	// What the transaction writes is all there is to know about the new
	// declaration: decide on it and answer from these records instead of
	// reading them back.
	fresh := &clearanceInput{decl: rec, body: *d, required: agencies, current: map[string]*store.Message{}}
	for _, m := range msgs {
		fresh.msgs = append(fresh.msgs, *m.msg)
	}
	// The order the store lists them in, so the answer reads like a GET.
	slices.SortFunc(fresh.msgs, func(a, b store.Message) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	for i := range fresh.msgs {
		fresh.current[fresh.msgs[i].Agency] = &fresh.msgs[i]
	}
	if err := fresh.collectStatuses(func(string) (*store.Ack, error) { return nil, nil }); err != nil {
		return nil, false, err
	}
	err = h.inTx(ctx, func(tx store.Tx, fx *effects) error {
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
		if err := h.appendAudit(ctx, tx, store.AuditEntry{
			Kind: audit.KindDeclarationAccepted, Actor: actor.String(), DeclarationID: id, Plate: plateOf(rec), Payload: body,
		}); err != nil {
			return err
		}
		if err := h.insertMessages(ctx, tx, rec, msgs); err != nil {
			return err
		}
		fx.wake = true
		_, err := h.decideFrom(ctx, tx, fx, fresh, true)
		return err
	})
	if errors.Is(err, store.ErrConflict) && req.IdempotencyKey != "" {
		// A concurrent request with the same key won the race: answer as it
		// did. Through the writer, not a reader: the winner may share our
		// commit group, and its row is only visible to readers once that
		// group has committed, which a later group's transaction follows.
		id, found, ierr := h.idempotent(ctx, h.Store.WithTx, trader, req.IdempotencyKey, reqHash)
		if ierr != nil || !found {
			return nil, false, fmt.Errorf("%w: %v", ErrConflict, err)
		}
		v, err := h.View(ctx, id)
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
	return renderView(fresh, nil, h.now()), true, nil
}

// idempotent looks up an Idempotency-Key in a transaction run by inTx.
func (h *Hub) idempotent(ctx context.Context, inTx func(context.Context, func(store.Tx) error) error, trader, key, reqHash string) (string, bool, error) {
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
		return "", false, fmt.Errorf("%w: Idempotency-Key %q was used for a different declaration", ErrConflict, key)
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

func (h *Hub) insertMessages(ctx context.Context, tx store.Tx, d *store.Declaration, msgs []*builtMessage) error {
	stampRequest(ctx, msgs)
	for _, b := range msgs {
		m := b.msg
		if err := tx.InsertMessage(ctx, m); err != nil {
			return fmt.Errorf("insert %s message: %w", m.Agency, err)
		}
		// What an auditor needs to rebuild the message and compare it with
		// the bytes logged next (audit replay --rebuild).
		if err := h.appendAudit(ctx, tx, store.AuditEntry{
			Kind: audit.KindMessageBuilt, Actor: Participant, DeclarationID: d.ID, MessageID: m.ID,
			Agency: m.Agency, Plate: plateOf(d), Payload: auditPayload(&b.built),
		}); err != nil {
			return err
		}
		if err := h.appendAudit(ctx, tx, store.AuditEntry{
			Kind: audit.KindMessageOutbound, Actor: Participant, DeclarationID: d.ID, MessageID: m.ID,
			Agency: m.Agency, Plate: plateOf(d), Payload: m.Body,
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
func (h *Hub) buildAll(agencies []string, build func(agency string) (*builtMessage, error)) ([]*builtMessage, error) {
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
func (h *Hub) buildMessage(d any, declID string, version int, agency string, kind message.Kind, prevID, reason string, g *gate.Gate, now time.Time) (*builtMessage, error) {
	env := mapping.Envelope{
		MessageID: ids.Message(), Kind: kind, PreviousMessageID: prevID, Sender: Participant,
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
	signer := h.Signer
	if s := h.AgencySigners[agency]; s != nil {
		signer = s
	}
	signed, err := signer.SignUnsigned(unsigned)
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
func (h *Hub) contentHash(d any, agency string, kind message.Kind, doc *etree.Document, env mapping.Envelope, g *gate.Gate) (string, error) {
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

func plateOf(d *store.Declaration) string {
	if d.PlateVN != "" {
		return d.PlateVN
	}
	return d.PlateCN
}
