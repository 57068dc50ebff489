package app_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/gatehub/gatehub/internal/agencymsg"
	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/clearance"
	"github.com/gatehub/gatehub/internal/config"
	"github.com/gatehub/gatehub/internal/decisions"
	"github.com/gatehub/gatehub/internal/directive"
	"github.com/gatehub/gatehub/internal/message"
	"github.com/gatehub/gatehub/internal/pki"
	sim "github.com/gatehub/gatehub/internal/simulator"
	"github.com/gatehub/gatehub/internal/store/storetest"
	"github.com/gatehub/gatehub/internal/views"
)

// signOrder signs one of agency's own messages with the key its simulator
// answers with, as the agency would.
func signOrder(t *testing.T, srv *sim.Server, m directive.Message) []byte {
	t.Helper()
	raw, err := srv.SignOrder(m)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func (h *harness) postOrder(agency string, raw []byte) (*http.Response, []byte) {
	h.t.Helper()
	return h.do("POST", "/v1/agencies/"+agency+"/messages", "", raw, "application/xml")
}

func (h *harness) orderOK(agency string, raw []byte) agencymsg.Answer {
	h.t.Helper()
	resp, data := h.postOrder(agency, raw)
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("post %s message: HTTP %d: %s", agency, resp.StatusCode, data)
	}
	return decodeJSON[agencymsg.Answer](h.t, data)
}

func heldBy(agency string) func(decisions.DecisionEvent) bool {
	return func(ev decisions.DecisionEvent) bool {
		return ev.Decision.Status == clearance.Hold && len(ev.Decision.Reasons) > 0 &&
			ev.Decision.Reasons[0].Code == clearance.CodeHeldByAgency && ev.Decision.Reasons[0].Agency == agency
	}
}

func isStatus(s clearance.Status) func(decisions.DecisionEvent) bool {
	return func(ev decisions.DecisionEvent) bool { return ev.Decision.Status == s }
}

// waitForwardsAcked polls (with a deadline) until every forward of the
// declaration is acknowledged by its agency, and returns them.
func (h *harness) waitForwardsAcked(id string, want int) []views.MessageView {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var fwds []views.MessageView
		acked := 0
		for _, m := range h.view(id).Messages {
			if m.Kind == message.Forward {
				fwds = append(fwds, m)
				if m.State == message.Acked {
					acked++
				}
			}
		}
		if len(fwds) == want && acked == want {
			return fwds
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("forwards of %s: %+v, want %d acked", id, fwds, want)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition with a deadline
	}
}

// TestAgencyHoldAndRelease: customs sends a truck to the red channel with a
// HOLD at gate-in (B1) and lifts it with a RELEASE, on both stores, with
// synchronous and asynchronous agencies. The decision, the B1 lane and the
// timeline follow; the HOLD is forwarded to the border guard through the
// outbox and acknowledged; a resend is answered the same; the audit log
// keeps the signed bytes received and forwarded.
func TestAgencyHoldAndRelease(t *testing.T) {
	for _, tc := range []struct {
		name     string
		postgres bool
		mode     string
	}{
		{"sqlite-sync", false, sim.ModeSync},
		{"postgres-async", true, sim.ModeAsync},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startWith(t, setup{
				simulator: func(c *sim.Config) { c.Mode = tc.mode },
				config: func(c *config.Config) {
					if tc.postgres {
						c.DatabaseURL = storetest.PostgresDSN(t)
					}
				},
			})
			in := &instance{harness: h, client: http.DefaultClient}
			events := h.events("HUUNGHI", "EXP-1")
			v := h.submit(sample(t, withSerial("61001")))
			h.waitDecision(events, v.ID, isStatus(clearance.Cleared))
			customs := h.app.Simulators.Server("customs")

			hold := signOrder(t, customs, directive.Message{ID: "CUS-HOLD-1", Kind: directive.Hold, DeclarationID: v.ID, Version: 1,
				Checkpoint: "B1", ReasonCode: "CUS-RED-CHANNEL", ReasonText: "kiểm tra thực tế"})
			ans := h.orderOK("customs", hold)
			if ans.Duplicate || ans.Kind != "HOLD" || len(ans.Forwarded) != 1 || ans.Forwarded[0].Agency != "borderguard" {
				t.Fatalf("hold answer %+v", ans)
			}
			ev := h.waitDecision(events, v.ID, heldBy("customs"))
			if r := ev.Decision.Reasons[0]; !strings.Contains(r.EN, "B1") || !strings.Contains(r.EN, "CUS-RED-CHANNEL") {
				t.Errorf("hold reason %+v", r)
			}
			// Stored, served and announced decisions agree.
			if got := storedDecision(t, h.app.Store, v.ID, 1).Status; got != clearance.Hold {
				t.Errorf("stored decision %s", got)
			}
			if got := h.view(v.ID).Decision.Status; got != clearance.Hold {
				t.Errorf("served decision %s", got)
			}
			// The same bytes again: the same answer, nothing new.
			again := h.orderOK("customs", hold)
			ans.Duplicate = true
			if !again.ReceivedAt.Equal(ans.ReceivedAt) {
				t.Errorf("resend received at %s, first %s", again.ReceivedAt, ans.ReceivedAt)
			}
			again.ReceivedAt = ans.ReceivedAt
			if !slices.Equal(again.Forwarded, ans.Forwarded) || again.MessageID != ans.MessageID || !again.Duplicate {
				t.Errorf("resend answer %+v, first %+v", again, ans)
			}

			// The truck stands at B1: the barrier stays closed with the
			// agency's reason.
			plate := "12C-61001"
			wantAnswer(t, "B1 while held", in.reading(t, b1Camera, plateReading(plate)), clearance.KeepClosed, clearance.CodeHeldByAgency)

			// The forward reached the border guard once, acknowledged.
			fwd := h.waitForwardsAcked(v.ID, 1)[0]
			bg := h.app.Simulators.Server("borderguard")
			if st := bg.Stats()[fwd.ID]; st.Kind != sim.KindForward || st.Status != "ACK" || st.Refused != "" {
				t.Errorf("border guard's record of the forward: %+v", st)
			}

			release := signOrder(t, customs, directive.Message{ID: "CUS-REL-1", Kind: directive.Release, DeclarationID: v.ID, Version: 1,
				HoldMessageID: "CUS-HOLD-1", ReasonCode: "CUS-INSPECTED"})
			if a := h.orderOK("customs", release); len(a.Forwarded) != 0 {
				t.Errorf("release forwarded to %+v; customs' rules forward no RELEASE", a.Forwarded)
			}
			h.waitDecision(events, v.ID, isStatus(clearance.Cleared))
			// The same reading again: the lane decides afresh and opens.
			wantAnswer(t, "B1 after release", in.reading(t, b1Camera, plateReading(plate)), clearance.Open)
			if got := storedDecision(t, h.app.Store, v.ID, 1).Status; got != clearance.Cleared {
				t.Errorf("stored decision after release %s", got)
			}

			// The timeline tells the story.
			_, tl := in.timeline(t, v.ID, operatorToken)
			var summaries []string
			for _, e := range tl.Events {
				if e.Kind == audit.KindAgencyMessage {
					summaries = append(summaries, e.Summary)
				}
			}
			if len(summaries) != 2 || !strings.HasPrefix(summaries[0], "HOLD by customs at checkpoint B1") || !strings.HasPrefix(summaries[1], "RELEASE by customs") {
				t.Errorf("timeline agency messages %q", summaries)
			}

			// The audit log keeps the original signed bytes and the forward.
			logged := map[string][]byte{}
			for _, e := range h.auditXML("declaration=" + v.ID + "&kind=" + audit.KindAgencyMessage) {
				logged[e.MessageID] = []byte(e.PayloadXML)
			}
			if !bytes.Equal(logged["CUS-HOLD-1"], hold) || !bytes.Equal(logged["CUS-REL-1"], release) || len(logged) != 2 {
				t.Errorf("audit keeps %d agency messages; hold/release bytes equal: %v %v", len(logged),
					bytes.Equal(logged["CUS-HOLD-1"], hold), bytes.Equal(logged["CUS-REL-1"], release))
			}
			out := h.auditXML("message=" + fwd.ID + "&kind=" + audit.KindMessageOutbound)
			resp, body := h.do("GET", "/v1/messages/"+fwd.ID, operatorToken, nil, "")
			if len(out) != 1 || resp.StatusCode != http.StatusOK || out[0].PayloadXML != string(body) {
				t.Fatalf("forward %s: %d outbound entries, body HTTP %d", fwd.ID, len(out), resp.StatusCode)
			}
			_, _, _, original, err := readForwardBytes(body)
			if err != nil || !bytes.Equal(original, hold) {
				t.Errorf("forward does not carry the original bytes: %v", err)
			}
		})
	}
}

// auditXML lists audit entries with their XML payloads.
func (h *harness) auditXML(query string) []struct {
	MessageID  string `json:"messageId"`
	PayloadXML string `json:"payloadXML"`
} {
	h.t.Helper()
	resp, data := h.do("GET", "/v1/audit?"+query, "dev-auditor", nil, "")
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("audit: HTTP %d: %s", resp.StatusCode, data)
	}
	return decodeJSON[struct {
		Entries []struct {
			MessageID  string `json:"messageId"`
			PayloadXML string `json:"payloadXML"`
		} `json:"entries"`
	}](h.t, data).Entries
}

func readForwardBytes(raw []byte) (string, string, directive.Kind, []byte, error) {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		return "", "", "", nil, err
	}
	return directive.ReadForward(doc.Root())
}

// TestAgencyMessageRefusals: each refusal over HTTP, its status and
// problem type, an audit entry for each, and nothing changed by any.
func TestAgencyMessageRefusals(t *testing.T) {
	h := start(t, nil)
	events := h.events("HUUNGHI", "EXP-1")
	v := h.submit(sample(t, withSerial("62001")))
	h.waitDecision(events, v.ID, isStatus(clearance.Cleared))
	customs, bg, vr := h.app.Simulators.Server("customs"), h.app.Simulators.Server("borderguard"), h.app.Simulators.Server("vehicleregistry")
	hold := func(id string, edit func(*directive.Message)) directive.Message {
		m := directive.Message{ID: id, Kind: directive.Hold, DeclarationID: v.ID, Version: 1, Checkpoint: "B1", ReasonCode: "CUS-RED"}
		if edit != nil {
			edit(&m)
		}
		return m
	}
	good := signOrder(t, customs, hold("CUS-OK-1", nil))
	otherCert := between(t, string(signOrder(t, bg, hold("X", nil))), "<ds:X509Certificate>", "</ds:X509Certificate>")

	type refusalCase struct {
		name    string
		agency  string
		body    []byte
		status  int
		problem string
	}
	cases := []refusalCase{
		{"signed by another agency's key", "customs", signOrder(t, bg, hold("CUS-X-1", func(m *directive.Message) { m.Sender = "customs" })),
			http.StatusForbidden, "signature"},
		{"valid message posted as another agency", "borderguard", good, http.StatusForbidden, "signature"},
		{"sender names another agency", "borderguard", signOrder(t, bg, hold("BG-X-1", func(m *directive.Message) { m.Sender = "customs" })),
			http.StatusForbidden, "wrong_agency"},
		{"kind the agency may not send", "vehicleregistry", signOrder(t, vr, hold("VR-HOLD-1", nil)), http.StatusForbidden, "kind_not_allowed"},
		{"tampered after signing", "customs", bytes.Replace(good, []byte("<Checkpoint>B1</Checkpoint>"), []byte("<Checkpoint>B2</Checkpoint>"), 1),
			http.StatusForbidden, "signature"},
		{"unknown declaration", "customs", signOrder(t, customs, hold("CUS-X-2", func(m *directive.Message) { m.DeclarationID = "DCL-NOPE" })),
			http.StatusUnprocessableEntity, "unknown_declaration"},
		{"version never declared", "customs", signOrder(t, customs, hold("CUS-X-3", func(m *directive.Message) { m.Version = 7 })),
			http.StatusUnprocessableEntity, "unknown_declaration"},
		{"release without a hold", "customs", signOrder(t, customs, directive.Message{ID: "CUS-REL-X", Kind: directive.Release, DeclarationID: v.ID, Version: 1}),
			http.StatusConflict, "no_hold"},
		{"schema-invalid (reason code lower case)", "customs", signOrder(t, customs, hold("CUS-X-4", func(m *directive.Message) { m.ReasonCode = "red" })),
			http.StatusBadRequest, "schema"},
		{"not XML", "customs", []byte("hold the truck"), http.StatusForbidden, "signature"},
	}
	for name, body := range holdWrapVariants(t, string(good), otherCert) {
		cases = append(cases, refusalCase{"wrapped: " + name, "customs", []byte(body), 0, ""})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, data := h.postOrder(tc.agency, tc.body)
			p := decodeJSON[struct{ Type string }](t, data)
			if tc.status == 0 {
				// Wrapping: refused whatever the reason the verifier names.
				if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusBadRequest {
					t.Fatalf("HTTP %d: %s", resp.StatusCode, data)
				}
				return
			}
			if resp.StatusCode != tc.status || p.Type != "/problems/agency-message-refused/"+tc.problem {
				t.Fatalf("HTTP %d %s, want %d %s: %s", resp.StatusCode, p.Type, tc.status, tc.problem, data)
			}
		})
	}

	// Oversized: refused before it is read.
	big := append(bytes.Clone(good[:len(good)-2]), bytes.Repeat([]byte(" "), agencymsg.MaxBytes)...)
	if resp, _ := h.postOrder("customs", big); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized: HTTP %d", resp.StatusCode)
	}
	// Anonymous refusals are logged bounded: a digest, never the body.
	refused := h.audit("kind=" + audit.KindAgencyMessageRefused)
	if len(refused) < len(cases) {
		t.Errorf("%d refusals logged for %d refused posts", len(refused), len(cases))
	}
	for _, e := range refused {
		var p struct {
			Body   string          `json:"body"`
			Digest json.RawMessage `json:"bodyDigest"`
		}
		_ = json.Unmarshal(e.Payload, &p)
		if p.Body != "" || len(p.Digest) == 0 {
			t.Errorf("anonymous refusal logged with body %q digest %s", p.Body, p.Digest)
		}
	}

	// Nothing of them stuck: still CLEARED, no agency message, no forward.
	if got := storedDecision(t, h.app.Store, v.ID, 1).Status; got != clearance.Cleared {
		t.Fatalf("decision after refusals %s", got)
	}
	if n := len(h.audit("kind=" + audit.KindAgencyMessage)); n != 0 {
		t.Fatalf("%d agency messages accepted", n)
	}

	// Accepted once; the same id with other bytes is a conflict.
	h.orderOK("customs", good)
	h.waitDecision(events, v.ID, heldBy("customs"))
	other := signOrder(t, customs, hold("CUS-OK-1", func(m *directive.Message) { m.Checkpoint = "B2" }))
	if resp, data := h.postOrder("customs", other); resp.StatusCode != http.StatusConflict || !strings.Contains(string(data), "/conflict") {
		t.Fatalf("same id, other bytes: HTTP %d %s", resp.StatusCode, data)
	}

	metrics := h.scrape()
	for series, want := range map[string]float64{
		`gatehub_agency_messages_total{agency="customs",kind="HOLD",outcome="accepted"}`:                 1,
		`gatehub_agency_messages_total{agency="customs",kind="HOLD",outcome="conflict"}`:                 1,
		`gatehub_agency_messages_total{agency="vehicleregistry",kind="HOLD",outcome="kind_not_allowed"}`: 1,
	} {
		if got := metricValue(t, metrics, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}

	// Superseded: the trader amends; a message about version 1 is late.
	resp, data := h.do("PUT", "/v1/declarations/"+v.ID, traderToken, sample(t, func(m map[string]any) {
		withSerial("62001")(m)
		m["vehicle"].(map[string]any)["grossWeightKg"] = 38700
	}), "application/json")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("amend: HTTP %d %s", resp.StatusCode, data)
	}
	late := signOrder(t, customs, directive.Message{ID: "CUS-REL-LATE", Kind: directive.Release, DeclarationID: v.ID, Version: 1})
	if resp, data := h.postOrder("customs", late); resp.StatusCode != http.StatusConflict || !strings.Contains(string(data), "/superseded") {
		t.Fatalf("superseded: HTTP %d %s", resp.StatusCode, data)
	}
	// The hold outlives the amendment: only customs lifts it.
	h.waitDecision(events, v.ID, func(ev decisions.DecisionEvent) bool { return ev.Version == 2 && heldBy("customs")(ev) })
}

// holdWrapVariants are signature-wrapping variants of a signed HOLD at B1:
// each, if believed, would hold the truck elsewhere or another truck.
func holdWrapVariants(t *testing.T, signed, otherCert string) map[string]string {
	t.Helper()
	decl, open, content, sig, closing := splitSigned(t, signed)
	evil := strings.Replace(content, "<Checkpoint>B1</Checkpoint>", "<Checkpoint>B0</Checkpoint>", 1)
	orig := open + content + closing
	cert := between(t, sig, "<ds:X509Certificate>", "</ds:X509Certificate>")
	return map[string]string{
		"evil root, signed original under a wrapper": decl + open + evil + "<Wrapper>" + orig + "</Wrapper>" + sig + closing,
		"signed document nested under a new root":    decl + `<Envelope xmlns="urn:evil">` + signed[len(decl):] + "</Envelope>",
		"evil content under the original signature":  decl + open + evil + sig + closing,
		"original moved into ds:Object":              decl + open + evil + strings.Replace(sig, "</ds:Signature>", "<ds:Object>"+orig+"</ds:Object></ds:Signature>", 1) + closing,
		"second Signature":                           decl + open + content + sig + sig + closing,
		"evil Directive appended":                    decl + open + content + "<Directive><Checkpoint>B0</Checkpoint></Directive>" + sig + closing,
		"KeyInfo certificate of another agency":      strings.Replace(signed, cert, otherCert, 1),
		"no signature":                               decl + orig,
	}
}

// TestAgencyMessagesTwoInstances: two hubs on one Postgres. A HOLD posted
// to one is the decision on both; a registry REVOKE posted to the other
// rejects the truck everywhere and is forwarded, once per subscriber, to
// customs and the border guard.
func TestAgencyMessagesTwoInstances(t *testing.T) {
	c := startCluster(t, nil)
	events := mergeDecisions(c.a.events("HUUNGHI", "EXP-1"), c.b.events("HUUNGHI", "EXP-1"))
	v := c.a.submit(sample(t, withSerial("63001")))
	waitFinal(c.a.harness, events, []string{v.ID}, 30*time.Second)

	hold := signOrder(t, c.sims.Server("customs"), directive.Message{ID: "CUS-2I-HOLD", Kind: directive.Hold, DeclarationID: v.ID,
		Version: 1, Checkpoint: "B2", ReasonCode: "CUS-RED"})
	c.a.orderOK("customs", hold)
	for _, in := range []*instance{c.a, c.b} {
		if got := in.view(v.ID).Decision.Status; got != clearance.Hold {
			t.Errorf("%s: decision %s after a HOLD posted to hub-a", in.app.Config.InstanceID, got)
		}
	}
	// The resend to the other instance is the same message.
	if again := c.b.orderOK("customs", hold); !again.Duplicate {
		t.Errorf("resend to hub-b: %+v", again)
	}

	revoke := signOrder(t, c.sims.Server("vehicleregistry"), directive.Message{ID: "VR-2I-REVOKE", Kind: directive.Revoke,
		DeclarationID: v.ID, Version: 1, Subject: "PERMIT", DocumentNumber: "GPLV-0001", ReasonCode: "VR-PERMIT-REVOKED"})
	ans := c.b.orderOK("vehicleregistry", revoke)
	var subs []string
	for _, f := range ans.Forwarded {
		subs = append(subs, f.Agency)
	}
	if strings.Join(subs, ",") != "customs,borderguard" {
		t.Fatalf("revoke forwarded to %v", subs)
	}
	for _, in := range []*instance{c.a, c.b} {
		d := in.view(v.ID).Decision
		if d.Status != clearance.Rejected || d.Reasons[0].Code != clearance.CodeRevokedByAgency {
			t.Errorf("%s: decision %s %+v after the REVOKE", in.app.Config.InstanceID, d.Status, d.Reasons)
		}
	}
	fwds := c.a.waitForwardsAcked(v.ID, 3) // the HOLD's to the border guard, the REVOKE's two
	for _, f := range fwds {
		srv := c.sims.Server(f.Agency)
		if n := srv.Deliveries(f.ID); n != 1 {
			t.Errorf("%s received forward %s %d times, want once", f.Agency, f.ID, n)
		}
	}
}

// TestSimulatedRedChannel: the demo's simulated customs holds a truck at
// B1 after its ACK and releases it, as `make run` shows.
func TestSimulatedRedChannel(t *testing.T) {
	h := startWith(t, setup{config: func(c *config.Config) {
		c.SimulatorRedChannel, c.SimulatorReleaseAfter = 1, 200*time.Millisecond
	}})
	events := h.events("HUUNGHI", "EXP-1")
	v := h.submit(sample(t, withSerial("64001")))
	h.waitDecision(events, v.ID, isStatus(clearance.Cleared))
	ev := h.waitDecision(events, v.ID, heldBy("customs"))
	if !strings.Contains(ev.Decision.Reasons[0].EN, "checkpoint B1") {
		t.Errorf("hold reason %+v", ev.Decision.Reasons[0])
	}
	h.waitDecision(events, v.ID, isStatus(clearance.Cleared))
	// The simulator records an order once it read the hub's answer, which
	// may come after the decision it caused was announced.
	deadline := time.Now().Add(10 * time.Second)
	for sent := h.app.Simulators.Server("customs").OrdersSent(); len(sent) != 2; sent = h.app.Simulators.Server("customs").OrdersSent() {
		if time.Now().After(deadline) {
			t.Fatalf("customs sent %v, want a HOLD and its RELEASE", sent)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
	}
}

// TestAgencyMessageSignedByXmlsec1: a HOLD signed by xmlsec1, which shares
// no code with ours, with customs' key is accepted and holds the truck;
// and xmlsec1 verifies the HOLD our simulator signs.
func TestAgencyMessageSignedByXmlsec1(t *testing.T) {
	bin, err := exec.LookPath("xmlsec1")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("xmlsec1 is required in CI: %v", err)
		}
		t.Skip("xmlsec1 not installed")
	}
	h := start(t, nil)
	events := h.events("HUUNGHI", "EXP-1")
	v := h.submit(sample(t, withSerial("65001")))
	h.waitDecision(events, v.ID, isStatus(clearance.Cleared))
	id, err := pki.LoadIdentityAs(filepath.Join(h.app.Config.DataDir, "simulator-keys"), "customs", "customs")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keyPEM, err := pki.KeyPEM(id.Key)
	if err != nil {
		t.Fatal(err)
	}
	key, crt := write("key.pem", keyPEM), write("cert.pem", pki.CertPEM(id.Cert))

	doc, err := directive.Build(directive.Message{ID: "CUS-XMLSEC-1", Kind: directive.Hold, Sender: "customs", DeclarationID: v.ID,
		Version: 1, Checkpoint: "B1", ReasonCode: "CUS-RED-CHANNEL", CreatedAt: h.app.Tx.Clock()})
	if err != nil {
		t.Fatal(err)
	}
	unsigned, err := doc.WriteToString()
	if err != nil {
		t.Fatal(err)
	}
	method := "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
	if _, rsa := id.Cert.PublicKey.(interface{ Size() int }); rsa {
		method = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
	}
	const c14n = "http://www.w3.org/2001/10/xml-exc-c14n#"
	tmpl := `<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>` +
		`<ds:CanonicalizationMethod Algorithm="` + c14n + `"/><ds:SignatureMethod Algorithm="` + method + `"/>` +
		`<ds:Reference URI=""><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>` +
		`<ds:Transform Algorithm="` + c14n + `"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>` +
		`<ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo></ds:Signature>`
	end := strings.LastIndex(unsigned, "</")
	in := write("tmpl.xml", []byte(unsigned[:end]+tmpl+unsigned[end:]))
	out := filepath.Join(dir, "signed.xml")
	if b, err := exec.Command(bin, "--sign", "--privkey-pem", key+","+crt, "--output", out, in).CombinedOutput(); err != nil {
		t.Fatalf("xmlsec1 --sign: %v\n%s", err, b)
	}
	signed, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	h.orderOK("customs", signed)
	h.waitDecision(events, v.ID, heldBy("customs"))

	// The other way: xmlsec1 verifies what the simulated customs signs.
	ours := write("ours.xml", signOrder(t, h.app.Simulators.Server("customs"), directive.Message{ID: "CUS-XMLSEC-2",
		Kind: directive.Release, DeclarationID: v.ID, Version: 1}))
	if b, err := exec.Command(bin, "--verify", "--pubkey-cert-pem", crt, "--enabled-key-data", "key-name,x509",
		"--enabled-reference-uris", "empty,same-doc", ours).CombinedOutput(); err != nil {
		t.Fatalf("xmlsec1 refused our simulator's RELEASE: %v\n%s", err, b)
	}
}

// TestCrossingConfirmedFromGuangxi: the Guangxi single window (SM2-SM3
// signatures) records the truck at its gate; the hub keeps it on the
// timeline, forwards it to customs and the border guard, and the decision
// stays as it was. A caller holding the border guard's token cannot post
// it as Guangxi; with Guangxi's own token a refusal is logged whole.
func TestCrossingConfirmedFromGuangxi(t *testing.T) {
	h := start(t, nil)
	events := h.events("HUUNGHI", "EXP-1")
	v := h.submit(sample(t, withSerial("66001")))
	h.waitDecision(events, v.ID, isStatus(clearance.Cleared))
	gx := h.app.Simulators.Server("guangxi")
	confirmed := signOrder(t, gx, directive.Message{ID: "GX-CONF-1", Kind: directive.CrossingConfirmed, DeclarationID: v.ID,
		Version: 1, PortCode: "7201", PassedAt: h.app.Tx.Clock(), Plate: "桂A66001"})

	if resp, data := h.do("POST", "/v1/agencies/guangxi/messages", "dev-agency-borderguard", confirmed, "application/xml"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("posted with the border guard's token: HTTP %d %s", resp.StatusCode, data)
	}
	ans := h.orderOK("guangxi", confirmed)
	var subs []string
	for _, f := range ans.Forwarded {
		subs = append(subs, f.Agency)
	}
	if strings.Join(subs, ",") != "customs,borderguard" {
		t.Fatalf("forwarded to %v", subs)
	}
	h.waitForwardsAcked(v.ID, 2)
	if got := storedDecision(t, h.app.Store, v.ID, 1).Status; got != clearance.Cleared {
		t.Errorf("decision after the confirmation %s", got)
	}
	in := &instance{harness: h, client: http.DefaultClient}
	_, tl := in.timeline(t, v.ID, operatorToken)
	var found, forwards int
	for _, e := range tl.Events {
		if e.Kind == audit.KindAgencyMessage && strings.HasPrefix(e.Summary, "CROSSING-CONFIRMED by guangxi at port 7201") {
			found++
		}
		if strings.HasPrefix(e.Summary, "forward of CROSSING-CONFIRMED GX-CONF-1 from guangxi") {
			forwards++
		}
	}
	if found != 1 || forwards != 2 {
		t.Errorf("timeline: %d confirmations, %d forwards", found, forwards)
	}

	// Refused under Guangxi's own credentials: kept whole for the agency.
	tampered := bytes.Replace(confirmed, []byte("7201"), []byte("7202"), 1)
	if resp, _ := h.do("POST", "/v1/agencies/guangxi/messages", "dev-agency-guangxi", tampered, "application/xml"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("tampered: HTTP %d", resp.StatusCode)
	}
	var whole bool
	for _, e := range h.audit("kind=" + audit.KindAgencyMessageRefused) {
		var p struct {
			Body string `json:"body"`
		}
		_ = json.Unmarshal(e.Payload, &p)
		whole = whole || p.Body != ""
	}
	if !whole {
		t.Error("a refusal on the agency's own connection was not kept whole")
	}
}
