package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/gatehub/gatehub/internal/message"
	"github.com/gatehub/gatehub/internal/outbox"
	"time"

	"github.com/beevik/etree"

	"github.com/gatehub/gatehub/adapters/agency"
	"github.com/gatehub/gatehub/internal/ack"
	"github.com/gatehub/gatehub/internal/ids"
	"github.com/gatehub/gatehub/internal/mapping"
	"github.com/gatehub/gatehub/internal/pki"
	"github.com/gatehub/gatehub/internal/sign"
)

func newMessageID() string { return ids.Message() }

// answer is what one POST brought back, the callback followed.
type answer struct {
	status   int    // HTTP status of the POST; 0 when none was obtained
	body     []byte // the signed ACK/NACK: the sync body or the callback
	async    bool
	problem  *agency.Problem
	noAnswer string // why there is no ACK/NACK and no refusal
}

// play sends, in order: the valid vectors (the submit resent once, as a
// duplicate), the probes made from the submit, then the invalid vectors.
func (r *run) play(ctx context.Context, valid, invalid []*vector) error {
	ids := map[string]string{} // vector message id → the id it was sent under
	var submit *vector
	for _, v := range valid {
		id := r.cfg.NewID()
		body, err := r.signed(v, id, ids)
		if err != nil {
			return err
		}
		first := r.send(ctx, v.name, id, id, body)
		r.checkValid(v.name, id, first)
		if _, seen := ids[v.id]; v.id != "" && !seen {
			// The first vector under an id is the one later ones refer to.
			ids[v.id] = id
		}
		if v.kind == message.Submit && submit == nil {
			submit = v
			r.checkDuplicate(ctx, v.name+" (resent)", id, body, first)
		}
	}
	if err := r.checkReuse(ctx, valid, ids); err != nil {
		return err
	}
	probes, err := r.probes(submit, ids)
	if err != nil {
		return err
	}
	for _, p := range probes {
		r.checkRefused(p.name, p.id, r.send(ctx, p.name, p.header, p.id, p.body))
	}
	for _, v := range invalid {
		id := r.cfg.NewID()
		body := v.raw
		if v.doc != nil {
			doc := rewriteIDs(v.doc, withOwn(ids, v.id, id))
			if body, err = r.sign(doc, !v.signed); err != nil {
				return fmt.Errorf("vector %s: %w", v.name, err)
			}
		}
		r.checkRefused(v.name, id, r.send(ctx, v.name, id, id, body))
	}
	return nil
}

// withOwn is ids plus the vector's own id mapped to its fresh one.
func withOwn(ids map[string]string, own, fresh string) map[string]string {
	out := make(map[string]string, len(ids)+1)
	for k, v := range ids {
		out[k] = v
	}
	if own != "" {
		out[own] = fresh
	}
	return out
}

// signed is v under message id, its references rewritten, signed as the hub.
func (r *run) signed(v *vector, id string, ids map[string]string) ([]byte, error) {
	doc := rewriteIDs(v.doc, withOwn(ids, v.id, id))
	body, err := r.sign(doc, true)
	if err != nil {
		return nil, fmt.Errorf("vector %s: %w", v.name, err)
	}
	// What the hub sends is valid by construction; a valid vector that
	// fails the schema after the kit's rewrite is the kit's fault, not
	// the agency's, and must not be charged to it.
	info, _ := r.cfg.Mappings.Info(r.name, v.kind)
	if err := r.cfg.Schemas.Validate(info.SchemaFile, body); err != nil {
		return nil, fmt.Errorf("vector %s fails %s once signed under a fresh id: %w", v.name, info.SchemaFile, err)
	}
	return body, nil
}

// sign serialises doc, signed as the hub when withSig (else as it is).
func (r *run) sign(doc *etree.Document, withSig bool) ([]byte, error) {
	u, err := sign.Prepare(doc)
	if err != nil {
		return nil, err
	}
	if !withSig {
		return u.Bytes(), nil
	}
	return r.cfg.Signer.SignUnsigned(u)
}

// probe is a message the kit makes from the submit vector that every agency
// must refuse.
type probe struct {
	name, header, id string
	body             []byte
}

func (r *run) probes(submit *vector, ids map[string]string) ([]probe, error) {
	var out []probe
	add := func(name string, build func(u *sign.Unsigned, id string) ([]byte, error), header func(id string) string) error {
		id := r.cfg.NewID()
		u, err := sign.Prepare(rewriteIDs(submit.doc, withOwn(ids, submit.id, id)))
		if err != nil {
			return fmt.Errorf("probe %s: %w", name, err)
		}
		body, err := build(u, id)
		if err != nil {
			return fmt.Errorf("probe %s: %w", name, err)
		}
		h := id
		if header != nil {
			h = header(id)
		}
		out = append(out, probe{name: "probe/" + name, header: h, id: id, body: body})
		return nil
	}
	hubSigned := func(u *sign.Unsigned, _ string) ([]byte, error) { return r.cfg.Signer.SignUnsigned(u) }
	foreign, err := r.foreignSigner()
	if err != nil {
		return nil, err
	}
	steps := []struct {
		name   string
		build  func(*sign.Unsigned, string) ([]byte, error)
		header func(string) string
	}{
		{"unsigned", func(u *sign.Unsigned, _ string) ([]byte, error) { return u.Bytes(), nil }, nil},
		{"digest-tampered", func(u *sign.Unsigned, id string) ([]byte, error) {
			b, err := hubSigned(u, id)
			if err != nil {
				return nil, err
			}
			return tamperDigest(b)
		}, nil},
		{"signed-by-another-key", func(u *sign.Unsigned, _ string) ([]byte, error) { return foreign.SignUnsigned(u) }, nil},
		// The headers name another message than the signed envelope: an
		// agency that trusts the header would answer the wrong message.
		{"header-id-mismatch", hubSigned, func(string) string { return r.cfg.NewID() }},
	}
	for _, s := range steps {
		if err := add(s.name, s.build, s.header); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// foreignSigner is a key named "hub" that the agency has never trusted,
// of the same type and profile as the hub's.
func (r *run) foreignSigner() (*sign.Signer, error) {
	now := r.cfg.Now()
	id, err := pki.Generate("hub", pki.AlgorithmOf(r.cfg.Signer.Certificate()), now.Add(-time.Hour), now.Add(24*time.Hour))
	if err != nil {
		return nil, fmt.Errorf("probe key: %w", err)
	}
	return sign.NewProfileSigner(id, r.cfg.Signer.Profile())
}

// tamperDigest changes one character of the first DigestValue: the
// signature itself is intact, but it no longer covers the content.
func tamperDigest(signed []byte) ([]byte, error) {
	tag := []byte("DigestValue>")
	i := bytes.Index(signed, tag)
	if i < 0 || i+len(tag) >= len(signed) {
		return nil, errors.New("signed message has no DigestValue")
	}
	out := bytes.Clone(signed)
	i += len(tag)
	if out[i] == 'A' {
		out[i] = 'B'
	} else {
		out[i] = 'A'
	}
	return out, nil
}

// send POSTs body as the outbox does and follows a 202 to its callback.
func (r *run) send(ctx context.Context, vec, header, id string, body []byte) answer {
	r.sent[id] = true
	r.sent[header] = true
	resp, err := r.transport.Post(ctx, r.cfg.Agency.Spec, r.cfg.Endpoint, header, body)
	if err != nil {
		return answer{noAnswer: "no answer: " + err.Error()}
	}
	a := answer{status: resp.Status}
	switch agency.Classify(resp, nil) {
	case outbox.Permanent:
		if p, ok := agency.ParseProblem(resp.ContentType, resp.Body); ok {
			a.problem = &p
		} else {
			a.problem = &agency.Problem{Status: resp.Status}
		}
	case outbox.Temporary:
		a.noAnswer = fmt.Sprintf("HTTP %d, which the hub treats as temporary and retries; an answer (200 with the signed ACK/NACK, 202, or a 4xx refusal) was expected", resp.Status)
	case outbox.Delivered:
		if !resp.Async {
			a.body = resp.Body
			return a
		}
		a.async = true
		if r.cfg.Inbox == nil {
			a.noAnswer = "202 (answer by callback), but this run has no callback listener"
			return a
		}
		r.async[header]++
		body, ok := r.cfg.Inbox.wait(ctx, id, r.async[header], r.cfg.AckWait)
		if !ok {
			a.noAnswer = fmt.Sprintf("202, then no callback referring to %s within %s at %s/v1/acks/%s", id, r.cfg.AckWait, r.cfg.Inbox.URL(), r.name)
			return a
		}
		a.body = body
	}
	return a
}

// how says how an answer came, for the report.
func (a answer) how() string {
	if a.async {
		return "202, then the signed answer by callback"
	}
	return fmt.Sprintf("HTTP %d with the signed answer", a.status)
}

// checkAnswer runs the checks every ACK/NACK gets and returns its fields
// when its signature holds.
func (r *run) checkAnswer(vec, id string, body []byte) (mapping.AckFields, bool) {
	if err := r.cfg.Schemas.Validate(r.ackInfo.SchemaFile, body); err != nil {
		r.fail(vec, id, CheckSchema, "the answer fails %s: %v", r.ackInfo.SchemaFile, err)
	} else {
		r.pass(vec, id, CheckSchema, "the answer is valid against %s", r.ackInfo.SchemaFile)
	}
	f, err := r.reader.Read(r.name, body, r.cfg.Now())
	switch {
	case errors.Is(err, ack.ErrSignature):
		r.fail(vec, id, CheckSignature, "the hub would refuse this answer: %v", err)
		return f, false
	case err != nil:
		r.pass(vec, id, CheckSignature, "signed under profile %s by a certificate of %s", r.report.Profile, r.name)
		r.fail(vec, id, CheckContent, "the hub cannot read this answer: %v", err)
		return f, false
	}
	r.pass(vec, id, CheckSignature, "signed under profile %s by a certificate of %s", r.report.Profile, r.name)
	if f.RefMessageID != id {
		r.fail(vec, id, CheckReference, "the answer refers to message %q; the kit sent %q", f.RefMessageID, id)
	} else {
		r.pass(vec, id, CheckReference, "refers to the message sent")
	}
	return f, true
}

// checkValid: a valid message is answered, ACK or NACK with a reason.
func (r *run) checkValid(vec, id string, a answer) {
	switch {
	case a.problem != nil:
		r.fail(vec, id, CheckAnswer, "a valid message was refused: %s", problemText(a.problem))
		return
	case a.body == nil:
		r.fail(vec, id, CheckAnswer, "%s", a.noAnswer)
		return
	}
	r.pass(vec, id, CheckAnswer, "%s", a.how())
	f, ok := r.checkAnswer(vec, id, a.body)
	if !ok {
		return
	}
	switch {
	case f.Status == ack.StatusAck:
		r.pass(vec, id, CheckOutcome, "ACK")
	case f.ReasonCode == "":
		r.fail(vec, id, CheckOutcome, "NACK without a reason code: the hub cannot tell the trader why")
	default:
		r.pass(vec, id, CheckOutcome, "NACK %s (a business decision, which a valid message may get)", f.ReasonCode)
	}
}

// checkRefused: an invalid message or a probe must be refused, by a 4xx
// with a reason code or a signed NACK with one; never ACKed.
func (r *run) checkRefused(vec, id string, a answer) {
	if r.judgeRefusal(vec, id, CheckOutcome, a) {
		return
	}
	f, ok := r.checkAnswer(vec, id, a.body)
	if !ok {
		return
	}
	switch {
	case f.Status == ack.StatusAck:
		r.fail(vec, id, CheckOutcome, "accepted (ACK) a message it must refuse: expected a 4xx with a reason code, or a NACK with one")
	case f.ReasonCode == "":
		r.fail(vec, id, CheckOutcome, "NACK without a reason code")
	default:
		r.pass(vec, id, CheckOutcome, "NACK %s", f.ReasonCode)
	}
}

// checkDuplicate resends the very bytes under the same id: the answer must
// be the original one, byte for byte, so the hub's retry changes nothing.
func (r *run) checkDuplicate(ctx context.Context, vec, id string, body []byte, first answer) {
	if first.body == nil {
		r.fail(vec, id, CheckIdempotency, "not checked: the first send got no answer")
		return
	}
	again := r.send(ctx, vec, id, id, body)
	switch {
	case again.problem != nil:
		r.fail(vec, id, CheckIdempotency, "the resend was refused (%s); it must get the original answer", problemText(again.problem))
	case again.body == nil:
		r.fail(vec, id, CheckIdempotency, "the resend got no answer: %s", again.noAnswer)
	case !bytes.Equal(again.body, first.body):
		r.fail(vec, id, CheckIdempotency, "the resend was answered differently (%s); a resend must get the original signed bytes back", r.difference(first.body, again.body))
	default:
		r.pass(vec, id, CheckIdempotency, "the resend got the original signed answer back (%s)", again.how())
	}
}

// checkReuse sends other content (the first vector of another kind) under
// the submit's message id, already answered: the agency must refuse it
// (409 MESSAGE-ID-REUSED in the protocol), never hand out the submit's
// ACK, which would let the hub believe this content accepted.
func (r *run) checkReuse(ctx context.Context, valid []*vector, ids map[string]string) error {
	var submit, other *vector
	for _, v := range valid {
		switch {
		case v.kind == message.Submit && submit == nil:
			submit = v
		case v.kind != message.Submit && other == nil:
			other = v
		}
	}
	if other == nil || submit.id == "" {
		return nil
	}
	id := ids[submit.id]
	body, err := r.signed(other, id, ids)
	if err != nil {
		return err
	}
	vec := submit.name + " (id reused by " + other.name + ")"
	if a := r.send(ctx, vec, id, id, body); !r.judgeRefusal(vec, id, CheckIdempotency, a) {
		r.fail(vec, id, CheckIdempotency, "other content under an answered id was answered (%s); it must be refused (409 MESSAGE-ID-REUSED), or the hub believes it accepted", a.how())
	}
	return nil
}

// judgeRefusal records the verdict on an answer to a message that must be
// refused, when the transport already decides it (a 4xx, or no answer);
// false means a signed answer came, for the caller to judge.
func (r *run) judgeRefusal(vec, id string, c CheckName, a answer) bool {
	switch {
	case a.problem != nil && a.problem.Code != "":
		r.pass(vec, id, c, "refused: %s", problemText(a.problem))
	case a.problem != nil:
		r.fail(vec, id, c, "refused with HTTP %d but no reason code (a problem+json document with a \"code\" member)", a.problem.Status)
	case a.body == nil:
		r.fail(vec, id, c, "it must be refused, got %s", a.noAnswer)
	default:
		return false
	}
	return true
}

// difference names how two answers differ, for a human.
func (r *run) difference(a, b []byte) string {
	fa, ea := r.reader.Read(r.name, a, r.cfg.Now())
	fb, eb := r.reader.Read(r.name, b, r.cfg.Now())
	switch {
	case ea != nil || eb != nil:
		return fmt.Sprintf("%d bytes, then %d other bytes", len(a), len(b))
	case fa.AckID != fb.AckID:
		return fmt.Sprintf("ack id %s, then %s", fa.AckID, fb.AckID)
	case fa.Status != fb.Status:
		return fmt.Sprintf("%s, then %s", fa.Status, fb.Status)
	}
	return "same fields, other bytes"
}

func problemText(p *agency.Problem) string {
	s := fmt.Sprintf("HTTP %d", p.Status)
	if p.Code != "" {
		s += " " + p.Code
	}
	if p.Detail != "" {
		s += ": " + p.Detail
	}
	return s
}
