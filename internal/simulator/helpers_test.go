package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/gatehub/gatehub/internal/message"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/gatehub/gatehub/adapters/agency"
	"github.com/gatehub/gatehub/internal/agencies"
	"github.com/gatehub/gatehub/internal/declaration"
	"github.com/gatehub/gatehub/internal/gate"
	"github.com/gatehub/gatehub/internal/mapping"
	"github.com/gatehub/gatehub/internal/pki"
	"github.com/gatehub/gatehub/internal/sign"
)

const (
	schemasDir  = "../../schemas"
	mappingsDir = "../../mappings"
	declsDir    = "../../conformance-tests/declarations"
	gatesDir    = "../../deploy/gates"
	agenciesDir = "../../deploy/agencies"
	rulesDir    = "../../simulators"
)

// testDefinitions are the shipped agencies with their shipped simulator
// rules.
func testDefinitions(t testing.TB) []Definition {
	t.Helper()
	defs, err := Definitions(knownAgencies(t), rulesDir)
	if err != nil {
		t.Fatal(err)
	}
	return defs
}

// knownAgencies is the shipped agency set.
func knownAgencies(t testing.TB) *agencies.Set {
	t.Helper()
	set, err := agencies.LoadDir(agenciesDir)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// simNow is the agencies' "today" in tests: every document of the
// conformance declarations is still valid on it.
var simNow = time.Date(2025, 11, 25, 9, 0, 0, 0, time.UTC)

// xmllint validates with the libxml2 CLI, the same engine the runtime
// validator wraps but through an independent front end.
type xmllint struct{ dir string }

func (x xmllint) Validate(schemaFile string, doc []byte) error {
	cmd := exec.Command("xmllint", "--noout", "--nonet", "--schema", filepath.Join(x.dir, schemaFile), "-")
	cmd.Stdin = bytes.NewReader(doc)
	if out, err := cmd.CombinedOutput(); err != nil {
		return &validationError{string(out)}
	}
	return nil
}

type validationError struct{ out string }

func (e *validationError) Error() string { return "xmllint: " + e.out }

func requireTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s not installed", name)
	}
}

func loadRegistry(t *testing.T) *mapping.Registry {
	t.Helper()
	reg, err := mapping.Load(mappingsDir)
	if err != nil {
		t.Fatalf("load mappings: %v", err)
	}
	return reg
}

func requireMapping(t *testing.T, reg *mapping.Registry, agencyName string) {
	t.Helper()
	for _, k := range []message.Kind{message.Submit, message.Ack} {
		if _, ok := reg.Info(agencyName, k); !ok {
			t.Skipf("no %s %s mapping yet", agencyName, k)
		}
	}
}

func newIdentity(t *testing.T, participant string) *pki.Identity {
	t.Helper()
	id, err := pki.Generate(participant, pki.ECDSAP256, simNow.AddDate(-1, 0, 0), simNow.AddDate(2, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func newSigner(t *testing.T, id *pki.Identity) *sign.Signer {
	t.Helper()
	s, err := sign.NewSigner(id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rig is one simulated agency under test plus the hub side that talks to it.
type rig struct {
	t          *testing.T
	agency     string
	reg        *mapping.Registry
	hub        *pki.Identity
	hubSigner  *sign.Signer
	agencyID   *pki.Identity
	sim        *Server
	http       *httptest.Server
	transport  *agency.Transport
	ackVerifer *sign.Verifier
}

func newRig(t *testing.T, agencyName string, tweak func(*Config)) *rig {
	t.Helper()
	requireTool(t, "xmllint")
	reg := loadRegistry(t)
	requireMapping(t, reg, agencyName)
	var def Definition
	for _, d := range testDefinitions(t) {
		if d.Spec.Name == agencyName {
			def = d
		}
	}
	hub := newIdentity(t, HubParticipant)
	trust := pki.NewTrustStore()
	trust.Add(HubParticipant, hub.Cert, time.Time{}, time.Time{})
	agencyID := newIdentity(t, agencyName)
	cfg := Config{Agency: agencyName, Spec: def.Spec, Rules: def.Rules, Envelope: def.Envelope, Now: func() time.Time { return simNow }}
	if tweak != nil {
		tweak(&cfg)
	}
	s, err := New(cfg, reg, xmllint{schemasDir}, newSigner(t, agencyID), sign.NewVerifier(trust))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		srv.Close()
		s.Close()
	})
	hubTrust := pki.NewTrustStore()
	hubTrust.Add(agencyName, agencyID.Cert, time.Time{}, time.Time{})
	return &rig{t: t, agency: agencyName, reg: reg, hub: hub, hubSigner: newSigner(t, hub), agencyID: agencyID,
		sim: s, http: srv, transport: agency.NewTransport(srv.Client()), ackVerifer: sign.NewVerifier(hubTrust)}
}

func loadDeclaration(t *testing.T, name string) *declaration.Declaration {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(declsDir, name))
	if err != nil {
		t.Fatal(err)
	}
	var d declaration.Declaration
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return &d
}

// testGate is the mapping context of a gate from the real onboarding
// files, so the tests follow whatever fields the mappings come to need.
func testGate(t *testing.T, code string) map[string]any {
	t.Helper()
	g, err := gate.LoadFile(filepath.Join(gatesDir, strings.ToLower(code)+".yaml"), knownAgencies(t))
	if err != nil {
		t.Fatalf("gate %s: %v", code, err)
	}
	return g.Context()
}

// build maps decl to the agency's message of kind with the real mapping
// engine; edit, when set, changes the document before it is signed.
func (r *rig) build(kind message.Kind, msgID string, decl *declaration.Declaration, edit func(*etree.Document)) []byte {
	r.t.Helper()
	env := mapping.Envelope{
		MessageID: msgID, Kind: kind, Sender: HubParticipant, Receiver: r.agency,
		DeclarationID: "D-2025-0001", Version: 1, CreatedAt: simNow.Add(-time.Minute),
	}
	if kind != message.Submit {
		env.PreviousMessageID, env.Version = msgID+"-prev", 2
	}
	doc, _, err := r.reg.Build(r.agency, kind, decl, env, testGate(r.t, decl.Gate))
	if err != nil {
		r.t.Fatalf("build %s %s: %v", r.agency, kind, err)
	}
	if edit != nil {
		edit(doc)
	}
	signed, err := r.hubSigner.Sign(doc)
	if err != nil {
		r.t.Fatal(err)
	}
	return signed
}

func (r *rig) post(msgID string, body []byte) agency.Response {
	r.t.Helper()
	resp, err := r.transport.Post(context.Background(), agency.Spec{Name: r.agency}, r.http.URL+"/messages", msgID, body)
	if err != nil {
		r.t.Fatal(err)
	}
	return resp
}

// readAck verifies the agency signature as the hub does and parses it.
func (r *rig) readAck(body []byte) mapping.AckFields {
	r.t.Helper()
	root, err := r.ackVerifer.Verify(r.agency, body, simNow)
	if err != nil {
		r.t.Fatalf("ack signature: %v\n%s", err, body)
	}
	a, err := r.reg.ParseAck(r.agency, root)
	if err != nil {
		r.t.Fatalf("parse ack: %v\n%s", err, body)
	}
	return a
}

func problemCode(t *testing.T, resp agency.Response) string {
	t.Helper()
	p, ok := agency.ParseProblem(resp.ContentType, resp.Body)
	if !ok {
		t.Fatalf("status %d without problem body: %q", resp.Status, resp.Body)
	}
	return p.Code
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}
