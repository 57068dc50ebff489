package conformance_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/agencies"
	"github.com/gatehub/gatehub/internal/conformance"
	"github.com/gatehub/gatehub/internal/mapping"
	"github.com/gatehub/gatehub/internal/pki"
	"github.com/gatehub/gatehub/internal/schema"
	"github.com/gatehub/gatehub/internal/sign"
	sim "github.com/gatehub/gatehub/internal/simulator"
)

const (
	schemasDir  = "../../schemas"
	mappingsDir = "../../mappings"
	vectorsDir  = "../../conformance-tests/vectors"
)

// hubKeys is the hub as the kit plays it: an RSA key for the default
// profile and an SM2 key for the Guangxi one, both trusted by the
// simulators as the hub's.
type hubKeys struct {
	rsa, sm2 *pki.Identity
}

func newHubKeys(t *testing.T) hubKeys {
	t.Helper()
	now := time.Now()
	rsa, err := pki.Generate("hub", pki.RSA2048, now.Add(-time.Hour), now.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	sm2, err := pki.Generate("hub", pki.SM2, now.Add(-time.Hour), now.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return hubKeys{rsa, sm2}
}

func (k hubKeys) trust() *pki.TrustStore {
	ts := pki.NewTrustStore()
	ts.Add("hub", k.rsa.Cert, time.Time{}, time.Time{})
	ts.Add("hub", k.sm2.Cert, time.Time{}, time.Time{})
	return ts
}

// signer is the hub's signer for an agency of profile p, as internal/app
// picks it: the SM2 key for SM2-SM3, the RSA key otherwise.
func (k hubKeys) signer(t *testing.T, p sign.Profile) *sign.Signer {
	t.Helper()
	id := k.rsa
	if p.Name == sign.SM2Profile.Name {
		id = k.sm2
	}
	s, err := sign.NewProfileSigner(id, p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type fixture struct {
	reg    *mapping.Registry
	schema *schema.Validator
	keys   hubKeys
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	reg, err := mapping.Load(mappingsDir)
	if err != nil {
		t.Fatal(err)
	}
	v, err := schema.Load(schemasDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return &fixture{reg: reg, schema: v, keys: newHubKeys(t)}
}

// shippedDefinitions are the shipped agency files with their simulators.
func shippedDefinitions(t *testing.T) []sim.Definition {
	t.Helper()
	set, err := agencies.LoadDir("../../deploy/agencies")
	if err != nil {
		t.Fatal(err)
	}
	defs, err := sim.Definitions(set, "../../simulators")
	if err != nil {
		t.Fatal(err)
	}
	return defs
}

func definition(t *testing.T, name string) sim.Definition {
	t.Helper()
	for _, d := range shippedDefinitions(t) {
		if d.Spec.Name == name {
			return d
		}
	}
	t.Fatalf("no agency %s", name)
	return sim.Definition{}
}

// startSims starts the shipped simulators of agencies in mode, calling
// back on inbox, each configured further by tweak.
func (f *fixture) startSims(t *testing.T, mode string, inbox *conformance.Inbox, tweak func(*sim.Config), agencies ...string) *sim.Cluster {
	t.Helper()
	c, err := sim.StartAll(t.Context(), sim.Options{
		Definitions: shippedDefinitions(t), Agencies: agencies, Registry: f.reg, Validator: f.schema, Trust: f.keys.trust(),
		Mode: mode, CallbackURL: inbox.URL(), Configure: tweak,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func startInbox(t *testing.T) *conformance.Inbox {
	t.Helper()
	in, err := conformance.StartInbox(t.Context(), "127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = in.Close() })
	return in
}

// config is a run of the kit against one agency of c.
func (f *fixture) config(t *testing.T, c *sim.Cluster, name string, inbox *conformance.Inbox) conformance.Config {
	t.Helper()
	d := definition(t, name)
	ts := pki.NewTrustStore()
	c.TrustAgencies(ts)
	return conformance.Config{
		Agency:     conformance.Agency{Spec: d.Spec, Envelope: d.Envelope},
		Endpoint:   c.Endpoint(name),
		VectorsDir: filepath.Join(vectorsDir, name),
		Mappings:   f.reg, Schemas: f.schema,
		Signer: f.keys.signer(t, d.Spec.SignatureProfile()), Trust: ts,
		Inbox: inbox, AckWait: 10 * time.Second,
	}
}

func run(t *testing.T, cfg conformance.Config) *conformance.Report {
	t.Helper()
	rep, err := conformance.Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func text(t *testing.T, rep *conformance.Report) string {
	t.Helper()
	var b bytes.Buffer
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestShippedSimulatorsPass: every shipped simulator, answering
// synchronously and by callback, passes the whole kit; each run covers the
// valid vectors, the duplicate, the amendment and cancellation, the probes
// and every invalid vector of the agency's format.
func TestShippedSimulatorsPass(t *testing.T) {
	f := newFixture(t)
	for _, mode := range []string{sim.ModeSync, sim.ModeAsync} {
		t.Run(mode, func(t *testing.T) {
			inbox := startInbox(t)
			c := f.startSims(t, mode, inbox, nil)
			for _, name := range c.Agencies() {
				t.Run(name, func(t *testing.T) {
					rep := run(t, f.config(t, c, name, inbox))
					if !rep.OK() {
						t.Fatalf("shipped simulator fails:\n%s", text(t, rep))
					}
					assertCoverage(t, rep, name, mode)
				})
			}
		})
	}
}

// assertCoverage: the run did what it says, not a vacuous pass.
func assertCoverage(t *testing.T, rep *conformance.Report, name, mode string) {
	t.Helper()
	has := func(vector string, c conformance.CheckName, detail string) bool {
		for _, ch := range rep.Checks {
			if strings.HasPrefix(ch.Vector, vector) && ch.Check == c && strings.Contains(ch.Detail, detail) {
				return true
			}
		}
		return false
	}
	how := "HTTP 200"
	if mode == sim.ModeAsync {
		how = "by callback"
	}
	for _, want := range []struct {
		vector string
		check  conformance.CheckName
		detail string
	}{
		{"valid/submit.xml", conformance.CheckAnswer, how},
		{"valid/submit.xml", conformance.CheckSignature, "profile"},
		{"valid/submit.xml", conformance.CheckSchema, "valid against"},
		{"valid/submit.xml (resent)", conformance.CheckIdempotency, "original signed answer"},
		{"valid/submit.xml (id reused by valid/amend.xml)", conformance.CheckIdempotency, "refused: HTTP 409 MESSAGE-ID-REUSED"},
		{"valid/amend.xml", conformance.CheckReference, "refers to the message sent"},
		{"valid/cancel.xml", conformance.CheckOutcome, "ACK"},
		{"probe/unsigned", conformance.CheckOutcome, "refused: HTTP 422 SIGNATURE-INVALID"},
		{"probe/digest-tampered", conformance.CheckOutcome, "refused"},
		{"probe/signed-by-another-key", conformance.CheckOutcome, "refused"},
		{"probe/header-id-mismatch", conformance.CheckOutcome, "MESSAGE-ID-MISMATCH"},
		{"invalid/malformed-truncated.xml", conformance.CheckOutcome, "XML-MALFORMED"},
		{"invalid/unknown-element.xml", conformance.CheckOutcome, "SCHEMA-INVALID"},
	} {
		if !has(want.vector, want.check, want.detail) {
			t.Errorf("%s: no passing %s check of %s saying %q:\n%s", name, want.check, want.vector, want.detail, text(t, rep))
		}
	}
	files, _ := filepath.Glob(filepath.Join(vectorsDir, name, "invalid", "*.xml"))
	sentInvalid := map[string]bool{}
	for _, c := range rep.Checks {
		if strings.HasPrefix(c.Vector, "invalid/") {
			sentInvalid[c.Vector] = true
		}
	}
	skippedInvalid := 0
	for _, s := range rep.Skipped {
		if strings.HasPrefix(s.Vector, "invalid/") {
			skippedInvalid++
		}
	}
	if len(sentInvalid)+skippedInvalid != len(files) || len(sentInvalid) < len(files)/2 {
		t.Errorf("%s: %d invalid vectors on disk, %d sent, %d skipped", name, len(files), len(sentInvalid), skippedInvalid)
	}
}

// TestBrokenSimulatorFails: a simulator broken in one way fails the kit on
// exactly the check that catches it, with a reason saying what is wrong.
func TestBrokenSimulatorFails(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		misbehave sim.Misbehaviour
		mode      string
		vector    string // the first failure is on this vector…
		check     conformance.CheckName
		reason    string // …and says this
	}{
		{sim.MisbehaveUnsignedAck, sim.ModeSync, "valid/submit.xml", conformance.CheckSignature, "no ds:Signature"},
		{sim.MisbehaveTamperedSignature, sim.ModeSync, "valid/submit.xml", conformance.CheckSignature, "the hub would refuse this answer"},
		{sim.MisbehaveWrongReference, sim.ModeSync, "valid/submit.xml", conformance.CheckReference, "the answer refers to message \"OTHER-"},
		{sim.MisbehaveWrongReference, sim.ModeAsync, "valid/submit.xml", conformance.CheckAnswer, "no callback referring to"},
		{sim.MisbehaveDuplicateDiffers, sim.ModeSync, "valid/submit.xml (resent)", conformance.CheckIdempotency, "the resend was answered differently (ack id"},
		{sim.MisbehaveDuplicateDiffers, sim.ModeAsync, "valid/submit.xml (resent)", conformance.CheckIdempotency, "the resend was answered differently (ack id"},
		{sim.MisbehaveAcceptInvalid, sim.ModeSync, "invalid/", conformance.CheckOutcome, "accepted (ACK) a message it must refuse"},
	}
	for _, tt := range tests {
		t.Run(string(tt.misbehave)+"/"+tt.mode, func(t *testing.T) {
			inbox := startInbox(t)
			c := f.startSims(t, tt.mode, inbox, func(cfg *sim.Config) { cfg.Misbehave = []sim.Misbehaviour{tt.misbehave} }, "customs")
			cfg := f.config(t, c, "customs", inbox)
			cfg.AckWait = 2 * time.Second
			rep := run(t, cfg)
			if rep.OK() {
				t.Fatalf("a simulator that misbehaves (%s) passes:\n%s", tt.misbehave, text(t, rep))
			}
			first := rep.Failures()[0]
			if !strings.HasPrefix(first.Vector, tt.vector) || first.Check != tt.check || !strings.Contains(first.Detail, tt.reason) {
				t.Fatalf("first failure = %s %s %q, want %s %s containing %q\n%s", first.Vector, first.Check, first.Detail, tt.vector, tt.check, tt.reason, text(t, rep))
			}
			out := text(t, rep)
			if !strings.Contains(out, "FAIL") || !strings.Contains(out, "FAILED:") {
				t.Fatalf("text report does not show the failure:\n%s", out)
			}
		})
	}
}

// TestReportJSON: -o json carries every check with its verdict and reason.
func TestReportJSON(t *testing.T) {
	f := newFixture(t)
	inbox := startInbox(t)
	c := f.startSims(t, sim.ModeSync, inbox, func(cfg *sim.Config) { cfg.Misbehave = []sim.Misbehaviour{sim.MisbehaveUnsignedAck} }, "borderguard")
	rep := run(t, f.config(t, c, "borderguard", inbox))
	var b bytes.Buffer
	if err := rep.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var back conformance.Report
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Agency != "borderguard" || back.Failed == 0 || back.Failed != rep.Failed || len(back.Checks) != len(rep.Checks) {
		t.Fatalf("json report = %+v", back)
	}
	for _, ch := range back.Checks {
		if ch.Detail == "" || ch.Vector == "" || ch.Check == "" {
			t.Fatalf("check without vector, name or reason: %+v", ch)
		}
	}
}

// TestRunRefusesWhatCannotWork: a run that could only produce nonsense
// does not start.
func TestRunRefusesWhatCannotWork(t *testing.T) {
	f := newFixture(t)
	inbox := startInbox(t)
	c := f.startSims(t, sim.ModeSync, inbox, nil, "guangxi")
	good := f.config(t, c, "guangxi", inbox)
	tests := []struct {
		name string
		edit func(*conformance.Config)
		want string
	}{
		{"no certificate of the agency", func(c *conformance.Config) { c.Trust = pki.NewTrustStore() }, "no certificate of guangxi"},
		{"signer of another profile", func(c *conformance.Config) { c.Signer = f.keys.signer(t, sign.DefaultProfile) }, "the agency wants sm2-sm3"},
		{"no vectors", func(c *conformance.Config) { c.VectorsDir = t.TempDir() }, "no valid message vectors"},
		{"no endpoint", func(c *conformance.Config) { c.Endpoint = "" }, "no endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.edit(&cfg)
			_, err := conformance.Run(t.Context(), cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestUnreachableEndpoint: an endpoint that is not there fails every
// check with the reason, rather than the run.
func TestUnreachableEndpoint(t *testing.T) {
	f := newFixture(t)
	inbox := startInbox(t)
	c := f.startSims(t, sim.ModeSync, inbox, nil, "customs")
	cfg := f.config(t, c, "customs", inbox)
	_ = c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	rep, err := conformance.Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Passed != 0 || rep.Failed == 0 || !strings.Contains(rep.Checks[0].Detail, "no answer: ") {
		t.Fatalf("unreachable endpoint:\n%s", text(t, rep))
	}
}

// TestAgencyFaults: a hung endpoint is cut at the agency's own timeout (as
// the hub's outbox cuts it), and a 202 with nowhere to call back is named;
// both are failed checks with the reason, not a failed run.
func TestAgencyFaults(t *testing.T) {
	f := newFixture(t)
	inbox := startInbox(t)
	c := f.startSims(t, sim.ModeAsync, inbox, nil, "vehicleregistry")
	// One valid vector keeps the run short: the probes are made from it.
	vectors := t.TempDir()
	if err := os.MkdirAll(filepath.Join(vectors, "valid"), 0o755); err != nil {
		t.Fatal(err)
	}
	submit, err := os.ReadFile(filepath.Join(vectorsDir, "vehicleregistry", "valid", "submit.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(vectors, "valid", "submit.xml"), submit, 0o600); err != nil {
		t.Fatal(err)
	}
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read the body first: only then does the server notice the
		// client hanging up, which ends the wait.
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	t.Cleanup(hung.Close)

	tests := []struct {
		name string
		edit func(*conformance.Config)
		want string
	}{
		{"hung endpoint", func(cfg *conformance.Config) {
			cfg.Endpoint = hung.URL + "/messages"
			cfg.Agency.Spec.Timeout = 200 * time.Millisecond
		}, "context deadline exceeded"},
		{"async without a listener", func(cfg *conformance.Config) { cfg.Inbox = nil }, "202 (answer by callback), but this run has no callback listener"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := f.config(t, c, "vehicleregistry", inbox)
			cfg.VectorsDir = vectors
			tt.edit(&cfg)
			start := time.Now()
			rep := run(t, cfg)
			if rep.OK() {
				t.Fatalf("passes:\n%s", text(t, rep))
			}
			first := rep.Failures()[0]
			if first.Vector != "valid/submit.xml" || first.Check != conformance.CheckAnswer || !strings.Contains(first.Detail, tt.want) {
				t.Fatalf("first failure = %+v\n%s", first, text(t, rep))
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Fatalf("run took %s: the agency timeout was not applied", d)
			}
		})
	}
}
