package app_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/gatehub/gatehub/internal/message"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/acknowledgements"
	"github.com/gatehub/gatehub/internal/app"
	"github.com/gatehub/gatehub/internal/clearance"
	"github.com/gatehub/gatehub/internal/decisions"
	"github.com/gatehub/gatehub/internal/mapping"
	"github.com/gatehub/gatehub/internal/pki"
	"github.com/gatehub/gatehub/internal/refusal"
	"github.com/gatehub/gatehub/internal/sign"
	sim "github.com/gatehub/gatehub/internal/simulator"
	"github.com/gatehub/gatehub/internal/views"
)

// silent makes one agency's simulator take messages and never answer, so
// the test decides what that agency says and when.
func silent(agency string) func(*sim.Config) {
	return func(c *sim.Config) {
		if c.Agency == agency {
			c.Mode = sim.ModeSilent
		}
	}
}

// manualClock is testClock plus an offset the test advances: hub and
// simulators keep moving with real time (timeouts, backoff), and the test
// jumps over ACK deadlines without waiting for them.
type manualClock struct {
	now    func() time.Time
	offset atomic.Int64
}

func newManualClock() *manualClock { return &manualClock{now: testClock()} }

func (c *manualClock) Now() time.Time { return c.now().Add(time.Duration(c.offset.Load())) }

func (c *manualClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// agencySigner signs as one of the simulated agencies, with the key the
// cluster created under the hub's data directory.
func (h *harness) agencySigner(agency string) *sign.Signer {
	h.t.Helper()
	profile, file := app.Specs(h.app.Agencies.Current())[agency].SignatureProfile(), agency
	if profile.Name == sign.SM2Profile.Name {
		file += ".sm2"
	}
	id, err := pki.LoadIdentityAs(filepath.Join(h.app.Config.DataDir, "simulator-keys"), file, agency)
	if err != nil {
		h.t.Fatalf("load %s key: %v", agency, err)
	}
	s, err := sign.NewProfileSigner(id, profile)
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

// ackFor builds agency's ACK/NACK of message msgID (in that agency's
// format) and signs it with signer, which need not be the agency's.
func (h *harness) ackFor(signer *sign.Signer, agency, declID, msgID, ackID, status, reason string) []byte {
	h.t.Helper()
	now := h.app.Tx.Clock()
	f := mapping.AckFields{AckID: ackID, RefMessageID: msgID, Status: status, IssuedAt: now}
	if status == "NACK" {
		f.ReasonCode, f.ReasonText = reason, "refused by the test"
	}
	doc, _, err := h.app.Operator.Mappings.BuildAck(agency, f, mapping.Envelope{
		MessageID: ackID, Kind: message.Ack, Sender: agency, Receiver: "hub",
		DeclarationID: declID, Version: 1, CreatedAt: now,
	})
	if err != nil {
		h.t.Fatalf("build %s ack: %v", agency, err)
	}
	raw, err := signer.Sign(doc)
	if err != nil {
		h.t.Fatal(err)
	}
	return raw
}

func (h *harness) postAck(agency string, raw []byte) (*http.Response, []byte) {
	h.t.Helper()
	return h.do("POST", "/v1/acks/"+agency, "", raw, "application/xml")
}

// messageOf returns the declaration's latest message to agency.
func messageOf(t *testing.T, v views.DeclarationView, agency string) views.MessageView {
	t.Helper()
	var out *views.MessageView
	for i := range v.Messages {
		if v.Messages[i].Agency == agency {
			out = &v.Messages[i]
		}
	}
	if out == nil {
		t.Fatalf("no message to %s in %+v", agency, v.Messages)
	}
	return *out
}

// reasonCode returns the code of ev's reason about agency, "" if none.
func reasonCode(ev decisions.DecisionEvent, agency string) string {
	for _, r := range ev.Decision.Reasons {
		if r.Agency == agency {
			return r.Code
		}
	}
	return ""
}

// awaitingAckOnly holds once every agency but agency has answered ACK and
// agency's message was delivered: the state in which the test speaks for
// agency.
func awaitingAckOnly(agency string) func(decisions.DecisionEvent) bool {
	return func(ev decisions.DecisionEvent) bool {
		return ev.Decision.Status == "PENDING" && slices.Equal(ev.Decision.Awaiting, []string{agency}) &&
			reasonCode(ev, agency) == clearance.CodeAwaitingAck
	}
}

func decodeJSON[T any](t *testing.T, data []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	return v
}

type auditEntry struct {
	Kind      string          `json:"kind"`
	Agency    string          `json:"agency"`
	MessageID string          `json:"messageId"`
	Payload   json.RawMessage `json:"payload"`
}

func (h *harness) audit(query string) []auditEntry {
	h.t.Helper()
	resp, data := h.do("GET", "/v1/audit?"+query, "dev-auditor", nil, "")
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("audit: HTTP %d: %s", resp.StatusCode, data)
	}
	return decodeJSON[struct {
		Entries []auditEntry `json:"entries"`
	}](h.t, data).Entries
}

// wrapVariants are signature-wrapping and tampering variants of a signed
// ACK whose verified form is ACK: each, if it were believed, would say NACK
// or point at other content.
func wrapVariants(t *testing.T, signed string, otherCert string) map[string]string {
	t.Helper()
	decl, open, content, sig, closing := splitSigned(t, signed)
	if !strings.Contains(content, "<Status>ACK</Status>") {
		t.Fatalf("ACK without <Status>ACK</Status>: %s", content)
	}
	evil := strings.Replace(content, "<Status>ACK</Status>", "<Status>NACK</Status><Reason><Code>EVIL</Code></Reason>", 1)
	orig := open + content + closing
	cert := between(t, sig, "<ds:X509Certificate>", "</ds:X509Certificate>")
	return map[string]string{
		"evil root, signed original moved under a wrapper": decl + open + evil + "<Wrapper>" + orig + "</Wrapper>" + sig + closing,
		"signed document nested under a new root":          decl + `<Envelope xmlns="urn:evil">` + signed[len(decl):] + "</Envelope>",
		"evil root, signed original nested inside":         decl + open + evil + signed[len(decl):] + closing,
		"evil content under the original signature":        decl + open + evil + sig + closing,
		"original moved into ds:Object":                    decl + open + evil + strings.Replace(sig, "</ds:Signature>", "<ds:Object>"+orig+"</ds:Object></ds:Signature>", 1) + closing,
		"second Signature at the root":                     decl + open + content + sig + sig + closing,
		"signature moved into Response":                    decl + open + strings.Replace(content, "</Response>", sig+"</Response>", 1) + closing,
		"evil sibling appended after signed content":       decl + open + content + "<Response><Status>NACK</Status></Response>" + sig + closing,
		"KeyInfo certificate of another agency":            strings.Replace(signed, cert, otherCert, 1),
		"DOCTYPE with an internal entity":                  strings.Replace(signed, "?>", `?><!DOCTYPE RoadManifestResponse [<!ENTITY e "NACK">]>`, 1),
		"no signature":                                     decl + orig,
	}
}

// splitSigned cuts an enveloped-signed document into its XML declaration,
// root start tag, signed content, Signature and root end tag.
func splitSigned(t *testing.T, signed string) (decl, open, content, sig, closing string) {
	t.Helper()
	i := strings.Index(signed, "?>") + 2
	j := strings.Index(signed[i:], ">") + i + 1
	k := strings.Index(signed, "<ds:Signature")
	l := strings.Index(signed, "</ds:Signature>") + len("</ds:Signature>")
	if i < 2 || k < 0 || l < k {
		t.Fatalf("unexpected signed document shape: %s", signed)
	}
	return signed[:i], signed[i:j], signed[j:k], signed[k:l], signed[l:]
}

func between(t *testing.T, s, from, to string) string {
	t.Helper()
	i := strings.Index(s, from)
	if i < 0 {
		t.Fatalf("%q not found", from)
	}
	j := strings.Index(s[i+len(from):], to)
	if j < 0 {
		t.Fatalf("%q not found after %q", to, from)
	}
	return s[i+len(from) : i+len(from)+j]
}

// TestAckRefusals posts customs' answers by hand (its simulator is silent)
// and checks what the hub accepts, what it refuses and that every refusal
// is in the audit log with its reason.
func TestAckRefusals(t *testing.T) {
	h := start(t, silent("customs"))
	events := h.events("HUUNGHI", "EXP-1")
	v := h.submit(sample(t, nil))
	h.waitDecision(events, v.ID, awaitingAckOnly("customs"))
	v = h.view(v.ID)
	msgID := messageOf(t, v, "customs").ID
	guangxiMsg := messageOf(t, v, "guangxi").ID

	customs := h.agencySigner("customs")
	borderguard := h.agencySigner("borderguard")
	valid := h.ackFor(customs, "customs", v.ID, msgID, "CUS-ACK-1", "ACK", "")
	otherCert := between(t, string(h.ackFor(borderguard, "customs", v.ID, msgID, "X", "ACK", "")), "<ds:X509Certificate>", "</ds:X509Certificate>")

	type ackCase struct {
		name       string
		agency     string // path agency; customs when empty
		body       []byte
		status     int
		problem    string // problem type, refusals only
		duplicate  bool
		wantStatus string // ACK | NACK for accepted answers
	}
	tests := []ackCase{
		{name: "signed by another agency's key", body: h.ackFor(borderguard, "customs", v.ID, msgID, "CUS-ACK-1", "ACK", ""),
			status: http.StatusForbidden, problem: "/problems/ack-refused/signature"},
		{name: "valid ACK posted as another agency", agency: "borderguard", body: valid,
			status: http.StatusForbidden, problem: "/problems/ack-refused/signature"},
		{name: "unknown message id", body: h.ackFor(customs, "customs", v.ID, "00000000-0000-4000-8000-000000000000", "CUS-ACK-X", "ACK", ""),
			status: http.StatusUnprocessableEntity, problem: "/problems/ack-refused/unknown_message"},
		{name: "message addressed to another agency", body: h.ackFor(customs, "customs", v.ID, guangxiMsg, "CUS-ACK-G", "NACK", "CUS-EVIL"),
			status: http.StatusUnprocessableEntity, problem: "/problems/ack-refused/wrong_agency"},
	}
	variants := wrapVariants(t, string(valid), otherCert)
	names := make([]string, 0, len(variants))
	for name := range variants {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		tests = append(tests, ackCase{name: "wrapping: " + name, body: []byte(variants[name]),
			status: http.StatusForbidden, problem: "/problems/ack-refused/signature"})
	}
	tests = append(tests,
		ackCase{name: "valid ACK", body: valid, status: http.StatusOK, wantStatus: "ACK"},
		ackCase{name: "same bytes again", body: valid, status: http.StatusOK, duplicate: true, wantStatus: "ACK"},
		ackCase{name: "conflicting NACK", body: h.ackFor(customs, "customs", v.ID, msgID, "CUS-NACK-2", "NACK", "CUS-LATE"),
			status: http.StatusConflict, problem: "/problems/ack-refused/conflict"},
	)

	refused := map[string]int{} // refusal code → count
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			agency := tc.agency
			if agency == "" {
				agency = "customs"
			}
			resp, data := h.postAck(agency, tc.body)
			if resp.StatusCode != tc.status {
				t.Fatalf("HTTP %d, want %d: %s", resp.StatusCode, tc.status, data)
			}
			if tc.problem != "" {
				p := decodeJSON[struct{ Type string }](t, data)
				if p.Type != tc.problem {
					t.Fatalf("problem type %q, want %q: %s", p.Type, tc.problem, data)
				}
				refused[strings.TrimPrefix(tc.problem, "/problems/ack-refused/")]++
				// Nothing a refused answer says reaches the truck.
				if got := h.view(v.ID); got.Decision.Status != "PENDING" && got.Decision.Status != "CLEARED" {
					t.Fatalf("after a refused ACK the decision is %s", got.Decision.Status)
				}
				return
			}
			res := decodeJSON[acknowledgements.AckResult](t, data)
			if res.Duplicate != tc.duplicate || res.Status != tc.wantStatus || res.MessageID != msgID {
				t.Fatalf("result %+v, want duplicate=%v status %s for %s", res, tc.duplicate, tc.wantStatus, msgID)
			}
		})
	}

	// The valid ACK cleared the truck; the duplicate and the conflicting
	// NACK changed nothing.
	got := h.view(v.ID)
	m := messageOf(t, got, "customs")
	if got.Decision.Status != "CLEARED" || m.State != "acked" || m.Ack == nil || m.Ack.AckID != "CUS-ACK-1" {
		t.Fatalf("decision %s, customs %s ack %+v; want CLEARED by CUS-ACK-1", got.Decision.Status, m.State, m.Ack)
	}
	if n := len(h.audit("kind=ack.inbound&message=" + msgID)); n != 1 {
		t.Errorf("%d ack.inbound entries for %s, want exactly one", n, msgID)
	}

	// Every refusal is in the audit log, with its code and, posted by an
	// anonymous client, the digest of the bytes (bounded whatever was sent).
	posted := map[string]bool{}
	for _, tc := range tests {
		sum := sha256.Sum256(tc.body)
		posted[hex.EncodeToString(sum[:])] = true
	}
	logged := map[string]int{}
	for _, e := range h.audit("kind=ack.refused&limit=1000") {
		var p struct {
			Code, Reason, Body string
			BodyDigest         refusal.Digest
		}
		if err := json.Unmarshal(e.Payload, &p); err != nil {
			t.Fatalf("ack.refused payload %s: %v", e.Payload, err)
		}
		if p.Reason == "" || p.Body != "" || !posted[p.BodyDigest.SHA256] || len(p.BodyDigest.Prefix) > refusal.PrefixBytes {
			t.Errorf("anonymous ack.refused entry without reason or digest of a posted body, or with the body: %s", e.Payload)
		}
		if len(e.Payload) > refusal.MaxEntryBytes {
			t.Errorf("ack.refused entry of %d bytes, bound %d", len(e.Payload), refusal.MaxEntryBytes)
		}
		logged[p.Code]++
	}
	if fmt.Sprint(logged) != fmt.Sprint(refused) {
		t.Fatalf("audit log refusals %v, want %v", logged, refused)
	}

	// Posted over customs' own authenticated connection, a refused ACK is
	// kept whole.
	conflict := h.ackFor(customs, "customs", v.ID, msgID, "CUS-NACK-3", "NACK", "CUS-LATE")
	resp, data := h.do("POST", "/v1/acks/customs", "dev-agency-customs", conflict, "application/xml")
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("authenticated conflicting NACK: HTTP %d %s", resp.StatusCode, data)
	}
	whole := 0
	for _, e := range h.audit("kind=ack.refused&limit=1000") {
		var p struct{ Body string }
		if json.Unmarshal(e.Payload, &p) == nil && p.Body != "" {
			if b, err := base64.StdEncoding.DecodeString(p.Body); err != nil || !bytes.Equal(b, conflict) {
				t.Fatalf("authenticated refusal body is not the posted bytes: %v", err)
			}
			whole++
		}
	}
	if whole != 1 {
		t.Fatalf("%d refusals kept whole, want the authenticated one", whole)
	}
}

// TestAckForSupersededMessage: after an amendment, an answer to the
// replaced message is refused and does not clear the truck; only the
// answer to the replacement does.
func TestAckForSupersededMessage(t *testing.T) {
	h := start(t, silent("customs"))
	events := h.events("HUUNGHI", "EXP-1")
	v := h.submit(sample(t, nil))
	h.waitDecision(events, v.ID, awaitingAckOnly("customs"))
	old := messageOf(t, h.view(v.ID), "customs")

	resp, data := h.do("PUT", "/v1/declarations/"+v.ID, traderToken, sample(t, func(m map[string]any) {
		m["vehicle"].(map[string]any)["plateVN"] = "12C-67890"
	}), "application/json")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("amend: HTTP %d: %s", resp.StatusCode, data)
	}
	h.waitDecision(events, v.ID, func(ev decisions.DecisionEvent) bool { return ev.Version == 2 && awaitingAckOnly("customs")(ev) })
	cur := messageOf(t, h.view(v.ID), "customs")
	if cur.ID == old.ID || cur.PreviousID != old.ID {
		t.Fatalf("customs replacement %s previous %s, want a new message replacing %s", cur.ID, cur.PreviousID, old.ID)
	}

	customs := h.agencySigner("customs")
	resp, data = h.postAck("customs", h.ackFor(customs, "customs", v.ID, old.ID, "CUS-OLD", "ACK", ""))
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(data), "/problems/ack-refused/superseded") {
		t.Fatalf("ACK of the superseded message: HTTP %d %s", resp.StatusCode, data)
	}
	got := h.view(v.ID)
	if got.Decision.Status != "PENDING" || !slices.Equal(got.Decision.Awaiting, []string{"customs"}) {
		t.Fatalf("an ACK of the superseded message moved the decision to %s %v", got.Decision.Status, got.Decision.Awaiting)
	}
	for _, m := range got.Messages {
		if m.ID == old.ID && (m.State != "superseded" || m.Ack != nil) {
			t.Fatalf("superseded message now %s with ack %+v", m.State, m.Ack)
		}
	}

	resp, data = h.postAck("customs", h.ackFor(customs, "customs", v.ID, cur.ID, "CUS-NEW", "ACK", ""))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("ACK of the replacement: HTTP %d %s", resp.StatusCode, data)
	}
	if res := decodeJSON[acknowledgements.AckResult](t, data); res.Decision != "CLEARED" {
		t.Fatalf("ACK of the replacement: decision %q", res.Decision)
	}
	entries := h.audit("kind=ack.refused&message=" + old.ID)
	if len(entries) != 1 || !strings.Contains(string(entries[0].Payload), `"superseded"`) {
		t.Fatalf("audit of the superseded ACK: %+v", entries)
	}
}

// TestAckWrappingOfSimulatorAck wraps the very bytes the customs simulator
// answered with: none of the variants is taken, and the stored answer stays
// the simulator's.
func TestAckWrappingOfSimulatorAck(t *testing.T) {
	h := start(t, nil)
	events := h.events("HUUNGHI", "EXP-1")
	v := h.submit(sample(t, nil))
	h.waitDecision(events, v.ID, func(ev decisions.DecisionEvent) bool { return ev.Decision.Status == "CLEARED" })
	msgID := messageOf(t, h.view(v.ID), "customs").ID
	genuine, ok := h.app.Simulators.Server("customs").Ack(msgID)
	if !ok {
		t.Fatalf("the customs simulator kept no answer to %s", msgID)
	}
	otherCert := between(t, string(h.ackFor(h.agencySigner("guangxi"), "customs", v.ID, msgID, "X", "ACK", "")), "<ds:X509Certificate>", "</ds:X509Certificate>")
	variants := wrapVariants(t, string(genuine), otherCert)
	for name, doc := range variants {
		t.Run(name, func(t *testing.T) {
			resp, data := h.postAck("customs", []byte(doc))
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(data), "/problems/ack-refused/signature") {
				t.Fatalf("HTTP %d %s, want 403 signature", resp.StatusCode, data)
			}
		})
	}
	// The genuine bytes, resent, are a duplicate.
	resp, data := h.postAck("customs", genuine)
	if resp.StatusCode != http.StatusOK || !decodeJSON[acknowledgements.AckResult](t, data).Duplicate {
		t.Fatalf("resent simulator ACK: HTTP %d %s", resp.StatusCode, data)
	}
	got := h.view(v.ID)
	if m := messageOf(t, got, "customs"); got.Decision.Status != "CLEARED" || m.Ack == nil || m.Ack.AckID != sim.AckID("customs", msgID) {
		t.Fatalf("decision %s, customs ack %+v: the wrapped variants changed something", got.Decision.Status, m.Ack)
	}
	if n := len(h.audit("kind=ack.refused&agency=customs&limit=1000")); n != len(variants) {
		t.Fatalf("%d ack.refused entries, want %d", n, len(variants))
	}
}
