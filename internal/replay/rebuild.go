package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/gatehub/gatehub/internal/message"
	"sort"
	"strings"
	"time"

	"github.com/beevik/etree"

	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/hub"
	"github.com/gatehub/gatehub/internal/mapping"
	"github.com/gatehub/gatehub/internal/sign"
	"github.com/gatehub/gatehub/internal/store"
)

// Rebuild outcomes.
const (
	RebuildOK       = "ok"
	RebuildMismatch = "mismatch"
	RebuildSkipped  = "skipped"
)

// xmldsigNS is the namespace of the logged ds:Signature element.
const xmldsigNS = "http://www.w3.org/2000/09/xmldsig#"

// RebuiltMessage is the rebuild result of one message.outbound entry.
type RebuiltMessage struct {
	Seq       int64        `json:"seq"`
	MessageID string       `json:"message_id"`
	Agency    string       `json:"agency"`
	Kind      message.Kind `json:"kind"`
	Outcome   string       `json:"outcome"`          // ok | mismatch | skipped
	Detail    string       `json:"detail,omitempty"` // why, for mismatch and skipped
}

func (m RebuiltMessage) String() string {
	s := fmt.Sprintf("seq %d message %s (%s %s): %s", m.Seq, m.MessageID, m.Agency, m.Kind, m.Outcome)
	if m.Detail != "" {
		s += ": " + m.Detail
	}
	return s
}

// RebuildReport lists every message.outbound entry in log order.
type RebuildReport struct {
	Messages   []RebuiltMessage `json:"messages"`
	OK         int              `json:"ok"`
	Mismatched int              `json:"mismatched"`
	Skipped    int              `json:"skipped"`
	// MappingVersionsNeeded lists "agency kind mappingVersion" for messages
	// skipped because the registry holds another mapping version: check out
	// mappings/ at that version from the repository history and run again.
	MappingVersionsNeeded []string `json:"mapping_versions_needed"`
}

// Rebuild re-runs the mapping for every message.outbound entry from what
// the log recorded before it — the message.built record (agency, kind,
// envelope, mapping version, gate context) and the declaration JSON of the
// recorded version — appends the logged ds:Signature and serialises the
// result the way internal/sign does. The message is ok when that gives the
// logged bytes exactly and the logged signature verifies over them, by
// "hub" at the entry's time, through verify. So an auditor sees that each
// signed message says what the declaration said, through the recorded
// mapping, and nothing else.
//
// A message whose mapping version differs from reg's is skipped: another
// mapping would produce other bytes without anything being wrong. The
// error is for a log Rebuild cannot read; findings are in the report.
// Rebuild holds the log's declarations in memory; RestoreStream with
// RestoreOptions.Rebuild rebuilds a log of any length as it replays it.
func Rebuild(ctx context.Context, entries []store.AuditEntry, reg *mapping.Registry, verify func(participant string, xml []byte, at time.Time) error) (*RebuildReport, error) {
	if reg == nil {
		return nil, errors.New("rebuild: no mapping registry")
	}
	sorted := make([]store.AuditEntry, len(entries))
	copy(sorted, entries)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Seq < sorted[j].Seq })

	decls := map[string]map[int]json.RawMessage{} // declaration id → version → JSON
	built := map[string]audit.MessageBuilt{}
	rb := newRebuilder(RebuildOptions{Registry: func(audit.MessageBuilt) (*mapping.Registry, error) { return reg, nil }, Verify: verify}, true)
	for i := range sorted {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		e := &sorted[i]
		switch e.Kind {
		case audit.KindDeclarationAccepted:
			putDecl(decls, e.DeclarationID, 1, e.Payload)
		case audit.KindDeclarationAmended:
			var p audit.DeclarationAmended
			if err := decodePayload(e.Payload, &p); err != nil {
				return nil, fmt.Errorf("rebuild: entry %d: %w", e.Seq, err)
			}
			putDecl(decls, e.DeclarationID, p.Version, p.Declaration)
		case audit.KindMessageBuilt:
			var b audit.MessageBuilt
			if err := decodePayload(e.Payload, &b); err != nil {
				return nil, fmt.Errorf("rebuild: entry %d: %w", e.Seq, err)
			}
			built[e.MessageID] = b
		case audit.KindMessageOutbound:
			b, ok := built[e.MessageID]
			var bp *audit.MessageBuilt
			var decl []byte
			if ok {
				bp = &b
				decl = decls[e.DeclarationID][b.DeclarationVersion]
			}
			rb.message(e, bp, decl)
		}
	}
	return rb.report(), nil
}

// RebuildOptions configure rebuilding during RestoreStream.
type RebuildOptions struct {
	// Registry returns the mappings the message of b was built with (for
	// instance from the inputs the archive carries); nil with a nil error
	// when they are not at hand, which skips the message.
	Registry func(b audit.MessageBuilt) (*mapping.Registry, error)
	// Verify checks the hub's signature over a rebuilt message.
	Verify func(participant string, xml []byte, at time.Time) error
}

// rebuilder accumulates a RebuildReport.
type rebuilder struct {
	opts   RebuildOptions
	all    bool // list every message, not only those that are not ok
	rep    RebuildReport
	needed map[string]bool
}

func newRebuilder(opts RebuildOptions, all bool) *rebuilder {
	return &rebuilder{opts: opts, all: all, needed: map[string]bool{}}
}

// maxListed bounds the messages a streamed rebuild lists one by one.
const maxListed = 10000

func (rb *rebuilder) message(e *store.AuditEntry, b *audit.MessageBuilt, decl []byte) {
	var reg *mapping.Registry
	var regErr error
	if b != nil {
		reg, regErr = rb.opts.Registry(*b)
	}
	res := rebuildOne(e, b, decl, reg, regErr, rb.opts.Verify, rb.needed)
	switch res.Outcome {
	case RebuildOK:
		rb.rep.OK++
	case RebuildMismatch:
		rb.rep.Mismatched++
	default:
		rb.rep.Skipped++
	}
	if rb.all || (res.Outcome != RebuildOK && len(rb.rep.Messages) < maxListed) {
		rb.rep.Messages = append(rb.rep.Messages, res)
	}
}

func (rb *rebuilder) report() *RebuildReport {
	rep := rb.rep
	rep.MappingVersionsNeeded = nil
	for k := range rb.needed {
		rep.MappingVersionsNeeded = append(rep.MappingVersionsNeeded, k)
	}
	sort.Strings(rep.MappingVersionsNeeded)
	return &rep
}

func putDecl(decls map[string]map[int]json.RawMessage, id string, version int, body []byte) {
	if decls[id] == nil {
		decls[id] = map[int]json.RawMessage{}
	}
	decls[id][version] = append(json.RawMessage(nil), body...)
}

func rebuildOne(e *store.AuditEntry, b *audit.MessageBuilt, decl []byte, reg *mapping.Registry, regErr error,
	verify func(string, []byte, time.Time) error, needed map[string]bool) RebuiltMessage {
	res := RebuiltMessage{Seq: e.Seq, MessageID: e.MessageID, Agency: e.Agency, Outcome: RebuildSkipped}
	if b == nil {
		res.Detail = "no message.built record before it"
		return res
	}
	res.Kind = b.Kind
	if b.Kind == message.Forward {
		// Not made by a mapping: it wraps another agency's signed message,
		// which the log holds (agency.message) beside it.
		res.Detail = "a forward of an agency's own message, not built from a mapping"
		return res
	}
	if decl == nil {
		res.Detail = fmt.Sprintf("declaration %s version %d is not in the log", e.DeclarationID, b.DeclarationVersion)
		return res
	}
	if regErr != nil {
		res.Outcome, res.Detail = RebuildMismatch, "the mappings it was built with cannot be loaded: "+regErr.Error()
		return res
	}
	var info mapping.Info
	ok := false
	if reg != nil {
		info, ok = reg.Info(b.Agency, b.Kind)
	}
	switch {
	case !ok:
		res.Detail = fmt.Sprintf("no %s %s mapping loaded; mapping version %s needed", b.Agency, b.Kind, b.MappingVersion)
		needed[b.Agency+" "+string(b.Kind)+" "+b.MappingVersion] = true
		return res
	case info.MappingVersion != b.MappingVersion:
		res.Detail = fmt.Sprintf("built with mapping version %s, loaded mappings are version %s: check out mappings/%s at version %s from the repository history",
			b.MappingVersion, info.MappingVersion, b.Agency, b.MappingVersion)
		needed[b.Agency+" "+string(b.Kind)+" "+b.MappingVersion] = true
		return res
	}
	env := mapping.Envelope{
		MessageID: e.MessageID, Kind: b.Kind, PreviousMessageID: b.PreviousMessageID, Sender: b.Sender,
		Receiver: b.Receiver, DeclarationID: e.DeclarationID, Version: b.DeclarationVersion,
		CreatedAt: b.CreatedAt, Reason: b.Reason,
	}
	res.Outcome = RebuildMismatch
	doc, _, err := reg.Build(b.Agency, b.Kind, json.RawMessage(decl), env, b.Gate)
	if err != nil {
		res.Detail = "mapping fails on the logged input: " + err.Error()
		return res
	}
	sig, err := loggedSignature(e.Payload)
	if err != nil {
		res.Detail = err.Error()
		return res
	}
	rebuilt, err := SignedForm(doc, sig)
	if err != nil {
		res.Detail = err.Error()
		return res
	}
	if !bytes.Equal(rebuilt, e.Payload) {
		res.Detail = firstDifference(e.Payload, rebuilt)
		return res
	}
	if verify != nil {
		if err := verify(hub.Participant, rebuilt, e.Time); err != nil {
			res.Detail = "logged signature does not verify over the rebuilt message: " + err.Error()
			return res
		}
	} else {
		res.Outcome, res.Detail = RebuildOK, "signature not checked: no verifier"
		return res
	}
	res.Outcome = RebuildOK
	return res
}

// loggedSignature returns the ds:Signature child of the logged document's
// root element.
func loggedSignature(logged []byte) (*etree.Element, error) {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(logged); err != nil {
		return nil, fmt.Errorf("logged message is not XML: %w", err)
	}
	root := doc.Root()
	if root == nil {
		return nil, errors.New("logged message has no root element")
	}
	var found *etree.Element
	for _, c := range root.ChildElements() {
		if c.Tag == "Signature" && c.NamespaceURI() == xmldsigNS {
			if found != nil {
				return nil, errors.New("logged message has two ds:Signature elements")
			}
			found = c
		}
	}
	if found == nil {
		return nil, errors.New("logged message has no ds:Signature under its root")
	}
	return found, nil
}

// SignedForm serialises doc with sig appended as the last child of its root
// exactly as sign.Signer.Sign writes a signed message: the XML declaration,
// then sign.Prepare(doc).Bytes() with sig, written by etree, spliced in
// before the root's end tag. sig is not modified, nor is doc. TestRebuild* compares against real signed messages
// to keep the two in step.
func SignedForm(doc *etree.Document, sig *etree.Element) ([]byte, error) {
	if doc == nil || doc.Root() == nil {
		return nil, errors.New("rebuilt document has no root element")
	}
	u, err := sign.Prepare(doc)
	if err != nil {
		return nil, fmt.Errorf("serialise rebuilt message: %w", err)
	}
	out, err := u.WithSignature(sig)
	if err != nil {
		return nil, fmt.Errorf("serialise rebuilt message: %w", err)
	}
	return out, nil
}

// firstDifference names the first line where the logged and the rebuilt
// bytes differ.
func firstDifference(logged, rebuilt []byte) string {
	a := strings.Split(string(logged), "\n")
	b := strings.Split(string(rebuilt), "\n")
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y || i >= len(a) || i >= len(b) {
			return fmt.Sprintf("line %d: logged %q, rebuilt %q", i+1, clip(x), clip(y))
		}
	}
	return "bytes differ"
}

func clip(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 160 {
		return s[:160] + "…"
	}
	return s
}
