package simulator

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/gatehub/gatehub/internal/message"
	"github.com/gatehub/gatehub/internal/outbox"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"

	"github.com/gatehub/gatehub/adapters/agency"
	"github.com/gatehub/gatehub/internal/mapping"
	"github.com/gatehub/gatehub/internal/sign"
)

// maxMessageBytes bounds an incoming message; agency messages are a few KB.
const maxMessageBytes = 1 << 20

// Refusal codes carried in the problem+json "code" member.
const (
	CodeNoMessageID      = "MESSAGE-ID-MISSING"
	CodeMessageIDClash   = "MESSAGE-ID-MISMATCH"
	CodeMalformed        = "XML-MALFORMED"
	CodeSignatureInvalid = "SIGNATURE-INVALID"
	CodeSchemaInvalid    = "SCHEMA-INVALID"
	CodeWrongReceiver    = "WRONG-RECEIVER"
	CodeUnknownMessage   = "MESSAGE-TYPE-UNKNOWN"
	CodeTooLarge         = "MESSAGE-TOO-LARGE"
	CodeMessageIDReused  = "MESSAGE-ID-REUSED"
)

// Handler serves the agency endpoint and the simulator controls:
//
//	POST /messages  the agency endpoint (wire protocol in adapters/agency/README.md)
//	GET  /stats     per message id: attempts, first/last seen, answer
//	GET  /config    the runtime configuration
//	PUT  /config    change mode, delay and failure injection at runtime
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /messages", s.handleMessage)
	mux.HandleFunc("GET /stats", s.handleStats)
	mux.HandleFunc("GET /config", s.handleGetConfig)
	mux.HandleFunc("PUT /config", s.handlePutConfig)
	return mux
}

func (s *Server) handleMessage(w http.ResponseWriter, r *http.Request) {
	msgID := r.Header.Get(agency.HeaderMessageID)
	if msgID == "" {
		msgID = r.Header.Get(agency.HeaderIdempotencyKey)
	}
	if msgID == "" {
		s.refuse(w, "", http.StatusBadRequest, CodeNoMessageID, "the "+agency.HeaderMessageID+" header is required")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxMessageBytes+1))
	if err != nil {
		// The hub hung up mid-body; there is nobody to answer.
		return
	}
	if len(body) > maxMessageBytes {
		s.refuse(w, msgID, http.StatusRequestEntityTooLarge, CodeTooLarge, fmt.Sprintf("message exceeds %d bytes", maxMessageBytes))
		return
	}

	cfg, inject := s.attempt(msgID)
	if inject {
		if cfg.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(cfg.RetryAfter.Round(time.Second)/time.Second)))
		}
		agency.WriteProblem(w, agency.Problem{Status: http.StatusServiceUnavailable, Title: "Simulated outage", Code: "SIM-UNAVAILABLE"})
		return
	}

	ack, perr := s.answer(msgID, body, cfg.Mode)
	if perr != nil {
		s.refuse(w, msgID, perr.Status, perr.Code, perr.Detail)
		return
	}
	switch cfg.Mode {
	case ModeSilent:
		// Taken, never answered, even when an earlier answer is stored.
		w.WriteHeader(http.StatusAccepted)
	case ModeAsync:
		s.scheduleCallback(msgID, ack, cfg)
		w.WriteHeader(http.StatusAccepted)
	default:
		if !sleep(r.Context(), cfg.Delay) {
			return
		}
		w.Header().Set("Content-Type", agency.DefaultContentType)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(ack)
	}
}

// attempt counts one attempt at msgID and decides whether failure
// injection answers it.
func (s *Server) attempt(msgID string) (runtimeConfig, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	rec := s.msgs.get(msgID)
	if rec == nil {
		rec = &record{stats: MessageStats{First: now}}
		s.msgs.put(msgID, rec)
	}
	rec.stats.Attempts++
	rec.stats.Last = now
	inject := rec.stats.Attempts <= s.cfg.FailFirst ||
		(s.cfg.FailRate > 0 && s.rnd.Float64() < s.cfg.FailRate)
	if inject {
		rec.stats.Injected++
	}
	return s.cfg, inject
}

type refusal struct {
	Status int
	Code   string
	Detail string
}

// answer returns the signed answer to msgID: the stored one for a resend,
// else a new one. In silent mode a new message is checked but not answered
// (nil), so that a later resend in another mode is answered afresh.
func (s *Server) answer(msgID string, body []byte, mode string) ([]byte, *refusal) {
	sum := sha256.Sum256(body)
	s.mu.Lock()
	rec := s.msgs.get(msgID)
	if rec == nil {
		// Forgotten between attempt and answer under a flood of other ids.
		rec = &record{stats: MessageStats{First: s.now(), Attempts: 1, Last: s.now()}}
		s.msgs.put(msgID, rec)
	}
	ackID := AckID(s.agency, msgID)
	if rec.ack != nil {
		ack, same := rec.ack, rec.body == sum
		attempts := rec.stats.Attempts
		s.mu.Unlock()
		if !same {
			// Not a resend: handing out the other message's ACK would let
			// the hub believe this content was accepted.
			return nil, &refusal{http.StatusConflict, CodeMessageIDReused,
				"message id " + msgID + " was already answered for different content"}
		}
		if !s.misbehaves(MisbehaveDuplicateDiffers) {
			return ack, nil
		}
		// Broken on purpose: the resend is answered as a new message.
		ackID = fmt.Sprintf("%s-%d", ackID, attempts)
	} else {
		s.mu.Unlock()
	}

	now := s.now()
	root, err := s.verifier.Verify(HubParticipant, body, now)
	if err != nil {
		if isMalformed(body) {
			return nil, &refusal{http.StatusBadRequest, CodeMalformed, "the body is not well-formed XML"}
		}
		return nil, &refusal{http.StatusUnprocessableEntity, CodeSignatureInvalid, err.Error()}
	}
	info, ok := s.messageInfo(root)
	if !ok {
		info, ok = forwardInfo(root)
	}
	if !ok {
		return nil, &refusal{http.StatusUnprocessableEntity, CodeUnknownMessage,
			fmt.Sprintf("{%s}%s is not a message %s accepts", root.NamespaceURI(), root.Tag, s.agency)}
	}
	// The raw body, signature included, is what the XSD describes; rules
	// below read only the verified element.
	if err := s.val.Validate(info.SchemaFile, body); err != nil && !s.misbehaves(MisbehaveAcceptInvalid) {
		return nil, &refusal{http.StatusUnprocessableEntity, CodeSchemaInvalid, err.Error()}
	}
	env, err := s.envelope(root)
	if info.Kind == KindForward {
		var e agency.Envelope
		e, err = readForward(root)
		env = envelope{Envelope: e}
	}
	if err != nil {
		return nil, &refusal{http.StatusUnprocessableEntity, CodeUnknownMessage, err.Error()}
	}
	if env.MessageID != msgID {
		return nil, &refusal{http.StatusUnprocessableEntity, CodeMessageIDClash,
			fmt.Sprintf("header says message %q, the signed envelope says %q", msgID, env.MessageID)}
	}
	if env.Receiver != s.agency {
		return nil, &refusal{http.StatusUnprocessableEntity, CodeWrongReceiver,
			fmt.Sprintf("message is addressed to %q, this is %q", env.Receiver, s.agency)}
	}
	env.Kind = info.Kind

	verdict := Verdict{OK: true}
	if env.Kind != message.Cancel && env.Kind != message.Forward && !s.misbehaves(MisbehaveAcceptInvalid) {
		// A cancel withdraws the truck; there is nothing left to check.
		verdict = Evaluate(s.rules, root, now)
	}
	if mode == ModeSilent {
		s.mu.Lock()
		rec.stats.Kind = env.Kind
		s.mu.Unlock()
		return nil, nil
	}
	ack, err := s.buildAck(ackID, msgID, env, verdict, now)
	if err != nil {
		return nil, &refusal{http.StatusInternalServerError, "SIM-INTERNAL", err.Error()}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if rec.ack != nil && s.misbehaves(MisbehaveDuplicateDiffers) {
		return ack, nil
	}
	if rec.ack != nil {
		// A concurrent attempt at the same id answered first; its bytes
		// are the original.
		if rec.body != sum {
			return nil, &refusal{http.StatusConflict, CodeMessageIDReused,
				"message id " + msgID + " was already answered for different content"}
		}
		return rec.ack, nil
	}
	rec.ack, rec.body = ack, sum
	rec.stats.Kind = env.Kind
	rec.stats.AckID = ackID
	rec.stats.Status, rec.stats.ReasonCode = "ACK", ""
	if !verdict.OK {
		rec.stats.Status, rec.stats.ReasonCode = "NACK", verdict.Code
	}
	rec.stats.Refused = ""
	if env.Kind == message.Submit && verdict.OK {
		s.acked++
		s.scheduleOrders(s.orders, s.acked, env, s.cfg)
	}
	return ack, nil
}

func (s *Server) buildAck(ackID, msgID string, env envelope, v Verdict, now time.Time) ([]byte, error) {
	ref := msgID
	if s.misbehaves(MisbehaveWrongReference) {
		ref = "OTHER-" + msgID
	}
	fields := mapping.AckFields{AckID: ackID, RefMessageID: ref, Status: "ACK", IssuedAt: now}
	if !v.OK {
		fields.Status, fields.ReasonCode, fields.ReasonText = "NACK", v.Code, v.Text
	}
	doc, _, err := s.reg.BuildAck(s.agency, fields, mapping.Envelope{
		MessageID:     ackID,
		Kind:          message.Ack,
		Sender:        s.agency,
		Receiver:      env.Sender,
		DeclarationID: env.DeclarationID,
		Version:       env.Version,
		CreatedAt:     now,
	})
	if err != nil {
		return nil, fmt.Errorf("build %s ack for %s: %w", s.agency, msgID, err)
	}
	if s.misbehaves(MisbehaveUnsignedAck) {
		u, err := sign.Prepare(doc)
		if err != nil {
			return nil, fmt.Errorf("serialise %s ack for %s: %w", s.agency, msgID, err)
		}
		return u.Bytes(), nil
	}
	signed, err := s.signer.Sign(doc)
	if err != nil {
		return nil, fmt.Errorf("sign %s ack for %s: %w", s.agency, msgID, err)
	}
	if s.misbehaves(MisbehaveTamperedSignature) {
		signed = tamperSignature(signed)
	}
	return signed, nil
}

func (s *Server) refuse(w http.ResponseWriter, msgID string, status int, code, detail string) {
	if msgID != "" {
		s.mu.Lock()
		if rec := s.msgs.peek(msgID); rec != nil {
			rec.stats.Refused = code
		}
		s.mu.Unlock()
	}
	agency.WriteProblem(w, agency.Problem{Status: status, Code: code, Detail: detail, Instance: msgID})
}

// isMalformed tells a body that is not XML at all from one whose signature
// failed, so the refusal names the real problem.
func isMalformed(body []byte) bool {
	doc := etree.NewDocument()
	return doc.ReadFromBytes(body) != nil || doc.Root() == nil
}

// envelope is the routing data of a message plus its kind.
type envelope struct {
	agency.Envelope
	Kind message.Kind
}

// messageInfo finds which of the agency's inbound message kinds root is,
// by the root element name and namespace the mappings declare. Acks are
// never inbound.
func (s *Server) messageInfo(root *etree.Element) (mapping.Info, bool) {
	for _, kind := range s.reg.Kinds(s.agency) {
		info, ok := s.reg.Info(s.agency, kind)
		if !ok || kind == message.Ack {
			continue
		}
		if info.Root == root.Tag && info.Namespace == root.NamespaceURI() {
			return info, true
		}
	}
	return mapping.Info{}, false
}

// scheduleCallback posts ack to the hub in the background, bound to the
// server's lifetime.
func (s *Server) scheduleCallback(msgID string, ack []byte, cfg runtimeConfig) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if !sleep(s.ctx, cfg.Delay) {
			return
		}
		err := s.postCallback(s.ctx, ack, cfg)
		s.mu.Lock()
		if rec := s.msgs.peek(msgID); rec == nil {
			// Forgotten meanwhile: nothing to report it on.
		} else if err != nil {
			rec.stats.CallbackError = err.Error()
		} else {
			rec.stats.Callbacks++
			rec.stats.CallbackError = ""
		}
		s.mu.Unlock()
		if s.onCB != nil {
			s.onCB(msgID, err)
		}
	}()
}

// errPermanent marks a callback the hub refused; retrying cannot help.
var errPermanent = errors.New("refused by the hub")

func (s *Server) postCallback(ctx context.Context, ack []byte, cfg runtimeConfig) error {
	return s.post(ctx, "/v1/acks/"+s.agency, ack, cfg)
}

// post sends body to path of the hub, with the callback's small retry.
func (s *Server) post(ctx context.Context, path string, ack []byte, cfg runtimeConfig) error {
	if cfg.CallbackURL == "" {
		return errors.New("no hub URL to post to")
	}
	url := strings.TrimRight(cfg.CallbackURL, "/") + path
	wait := cfg.CallbackBackoff
	var last error
	for i := range cfg.CallbackAttempts {
		if i > 0 {
			if !sleep(ctx, wait) {
				return ctx.Err()
			}
			wait *= 2
		}
		last = s.postOnce(ctx, url, ack)
		if last == nil || errors.Is(last, errPermanent) {
			return last
		}
	}
	return fmt.Errorf("callback to %s: gave up after %d attempts: %w", url, cfg.CallbackAttempts, last)
}

func (s *Server) postOnce(ctx context.Context, url string, ack []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(ack))
	if err != nil {
		return fmt.Errorf("callback to %s: %w", url, err)
	}
	req.Header.Set("Content-Type", agency.DefaultContentType)
	resp, err := s.callback.Do(req)
	if err != nil {
		return fmt.Errorf("callback to %s: %w", url, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch agency.Classify(agency.Response{Status: resp.StatusCode, Body: []byte{'-'}}, nil) {
	case outbox.Delivered:
		return nil
	case outbox.Permanent:
		return fmt.Errorf("callback to %s: status %d: %w", url, resp.StatusCode, errPermanent)
	default:
		return fmt.Errorf("callback to %s: status %d", url, resp.StatusCode)
	}
}

// sleep waits d or until ctx ends; it reports whether the full wait passed.
// It simulates agency latency and paces callback retries; it never orders
// events in tests.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (s *Server) handleStats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Stats())
}

// configJSON is the wire form of the runtime configuration; durations are
// Go duration strings ("250ms").
type configJSON struct {
	Agency      string   `json:"agency"`
	Mode        *string  `json:"mode,omitempty"`
	Delay       *string  `json:"delay,omitempty"`
	FailFirst   *int     `json:"failFirst,omitempty"`
	FailRate    *float64 `json:"failRate,omitempty"`
	RetryAfter  *string  `json:"retryAfter,omitempty"`
	CallbackURL *string  `json:"callbackUrl,omitempty"`
}

func (s *Server) handleGetConfig(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.configView())
}

func (s *Server) configView() configJSON {
	s.mu.Lock()
	c := s.cfg
	s.mu.Unlock()
	delay, ra := c.Delay.String(), c.RetryAfter.String()
	return configJSON{Agency: s.agency, Mode: &c.Mode, Delay: &delay, FailFirst: &c.FailFirst,
		FailRate: &c.FailRate, RetryAfter: &ra, CallbackURL: &c.CallbackURL}
}

func (s *Server) handlePutConfig(w http.ResponseWriter, r *http.Request) {
	var in configJSON
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		agency.WriteProblem(w, agency.Problem{Status: http.StatusBadRequest, Detail: err.Error()})
		return
	}
	if err := s.Reconfigure(in.update()); err != nil {
		agency.WriteProblem(w, agency.Problem{Status: http.StatusUnprocessableEntity, Detail: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, s.configView())
}

// Update is a partial change of the runtime configuration: nil fields stay.
type Update struct {
	Mode        *string
	Delay       *time.Duration
	FailFirst   *int
	FailRate    *float64
	RetryAfter  *time.Duration
	CallbackURL *string
	err         error
}

func (in configJSON) update() Update {
	u := Update{Mode: in.Mode, FailFirst: in.FailFirst, FailRate: in.FailRate, CallbackURL: in.CallbackURL}
	parse := func(name string, v *string) *time.Duration {
		if v == nil {
			return nil
		}
		d, err := time.ParseDuration(*v)
		if err != nil && u.err == nil {
			u.err = fmt.Errorf("%s: %w", name, err)
		}
		return &d
	}
	u.Delay = parse("delay", in.Delay)
	u.RetryAfter = parse("retryAfter", in.RetryAfter)
	return u
}

// Reconfigure applies u atomically: all of it or, on a bad value, none.
func (s *Server) Reconfigure(u Update) error {
	if u.err != nil {
		return u.err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cfg
	if u.Mode != nil {
		if err := checkMode(*u.Mode); err != nil {
			return err
		}
		c.Mode = *u.Mode
	}
	if u.Delay != nil {
		if *u.Delay < 0 {
			return errors.New("delay must not be negative")
		}
		c.Delay = *u.Delay
	}
	if u.FailFirst != nil {
		if *u.FailFirst < 0 {
			return errors.New("failFirst must not be negative")
		}
		c.FailFirst = *u.FailFirst
	}
	if u.FailRate != nil {
		if *u.FailRate < 0 || *u.FailRate > 1 {
			return fmt.Errorf("failRate %v outside [0,1]", *u.FailRate)
		}
		c.FailRate = *u.FailRate
	}
	if u.RetryAfter != nil {
		c.RetryAfter = *u.RetryAfter
	}
	if u.CallbackURL != nil {
		c.CallbackURL = *u.CallbackURL
	}
	s.cfg = c
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
