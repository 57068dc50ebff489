// Package hubtest assembles the hub's orchestration packages on a real
// store with a fake clock, for their unit tests: no HTTP, no dispatcher
// running, no simulators. Agencies' ACKs are built from their mappings and
// signed with keys generated for the test and trusted by the hub.
package hubtest

import (
	"encoding/json"
	"fmt"
	"github.com/gatehub/gatehub/internal/message"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/ack"
	"github.com/gatehub/gatehub/internal/acknowledgements"
	"github.com/gatehub/gatehub/internal/agencies"
	"github.com/gatehub/gatehub/internal/app"
	"github.com/gatehub/gatehub/internal/decisions"
	"github.com/gatehub/gatehub/internal/declaration"
	"github.com/gatehub/gatehub/internal/gate"
	"github.com/gatehub/gatehub/internal/gateconfig"
	"github.com/gatehub/gatehub/internal/hub"
	"github.com/gatehub/gatehub/internal/mapping"
	"github.com/gatehub/gatehub/internal/operator"
	"github.com/gatehub/gatehub/internal/pki"
	"github.com/gatehub/gatehub/internal/refusal"
	"github.com/gatehub/gatehub/internal/refusallog"
	"github.com/gatehub/gatehub/internal/schema"
	"github.com/gatehub/gatehub/internal/sign"
	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/store/storetest"
	"github.com/gatehub/gatehub/internal/submission"
	"github.com/gatehub/gatehub/internal/txn"
	"github.com/gatehub/gatehub/internal/views"
)

// Start is the fake clock's first instant: the sample declaration's dates
// are valid then.
var Start = time.Date(2026, 11, 25, 1, 0, 0, 0, time.UTC)

// Clock is a fake clock that moves only when told.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Hub is the orchestration assembled on one store.
type Hub struct {
	Store      store.Store
	Clock      *Clock
	Gates      *gate.Registry
	Mappings   *mapping.Registry
	Tx         *txn.Runner
	Decisions  *decisions.Decider
	Views      *views.Service
	Submission *submission.Service
	Acks       *acknowledgements.Service
	Operator   *operator.Service
	GateConfig *gateconfig.Service
	RefusalLog *refusallog.Recorder
	// Wakes and EventWakes count the post-commit wake-ups of the
	// dispatcher and of the event relay.
	Wakes, EventWakes atomic.Int64

	signers map[string]*sign.Signer
}

// Root is the repository root, where deploy/gates, mappings and schemas are.
func Root(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("hubtest: no caller")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

var (
	loadOnce sync.Once
	loaded   struct {
		maps    *mapping.Registry
		schemas *schema.Validator
		err     error
	}
)

// New assembles a hub on st with the shipped gates, mappings and schemas.
func New(t testing.TB, st store.Store) *Hub {
	t.Helper()
	root := Root(t)
	loadOnce.Do(func() {
		loaded.maps, loaded.err = mapping.Load(filepath.Join(root, "mappings"))
		if loaded.err == nil {
			loaded.schemas, loaded.err = schema.Load(filepath.Join(root, "schemas"))
		}
	})
	if loaded.err != nil {
		t.Fatalf("hubtest: load: %v", loaded.err)
	}
	known, err := agencies.LoadDir(filepath.Join(root, "deploy/agencies"))
	if err != nil {
		t.Fatalf("hubtest: agencies: %v", err)
	}
	reg := agencies.NewRegistry(known)
	gates, err := gate.LoadDir(filepath.Join(root, "deploy/gates"), known)
	if err != nil {
		t.Fatalf("hubtest: gates: %v", err)
	}
	h := &Hub{Store: st, Clock: &Clock{now: Start}, Gates: gate.NewRegistry(gates), Mappings: loaded.maps, signers: map[string]*sign.Signer{}}
	hubID, err := pki.Generate(hub.Participant, pki.RSA2048, Start.Add(-time.Hour), Start.Add(365*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := sign.NewSigner(hubID)
	if err != nil {
		t.Fatal(err)
	}
	trust := pki.NewTrustStore()
	for name, spec := range app.Specs(known) {
		profile := spec.SignatureProfile()
		alg := pki.RSA2048
		if profile.Name == sign.SM2Profile.Name {
			alg = pki.SM2
		}
		id, err := pki.Generate(name, alg, Start.Add(-time.Hour), Start.Add(365*24*time.Hour))
		if err != nil {
			t.Fatalf("hubtest: %s key: %v", name, err)
		}
		trust.Add(name, id.Cert, time.Time{}, time.Time{})
		if h.signers[name], err = sign.NewProfileSigner(id, profile); err != nil {
			t.Fatal(err)
		}
	}
	h.Tx = &txn.Runner{Store: st, Now: h.Clock.Now, Wake: func() { h.Wakes.Add(1) }, WakeEvents: func() { h.EventWakes.Add(1) }}
	h.Decisions = &decisions.Decider{Tx: h.Tx, Gates: h.Gates, Agencies: reg}
	h.Views = &views.Service{Tx: h.Tx, Decisions: h.Decisions}
	h.Submission = &submission.Service{
		Tx: h.Tx, Decisions: h.Decisions, Views: h.Views, Gates: h.Gates, Mappings: h.Mappings,
		Schemas: loaded.schemas, Signer: signer,
	}
	quiet := slog.New(slog.DiscardHandler)
	guard := refusal.New(refusal.Config{}, h.Clock.Now)
	h.Acks = &acknowledgements.Service{
		Tx: h.Tx, Decisions: h.Decisions, Gates: h.Gates, Refusals: guard, Log: quiet,
		Acks: &ack.Reader{Verifier: sign.NewVerifier(trust, app.AgencyProfiles(known)...), Mappings: h.Mappings},
	}
	h.Operator = &operator.Service{Tx: h.Tx, Decisions: h.Decisions, Gates: h.Gates, Mappings: h.Mappings}
	h.GateConfig = &gateconfig.Service{Tx: h.Tx, Gates: h.Gates, Agencies: reg, Log: quiet}
	h.RefusalLog = &refusallog.Recorder{Tx: h.Tx, Refusals: guard, Log: quiet}
	return h
}

// Stores are the stores a package's tests run on: the embedded one in a
// temporary directory and a Postgres database of the test's own.
var Stores = []struct {
	Name string
	Open func(t *testing.T) store.Store
}{
	{"sqlite", func(t *testing.T) store.Store { return storetest.OpenSQLite(t) }},
	{"postgres", func(t *testing.T) store.Store { return storetest.OpenPostgres(t) }},
}

// Trader is the actor of the sample declaration's trader.
var Trader = hub.Actor{Role: "trader", Participant: "trader", TaxCode: "0101234567"}

// Operator is an operator actor.
var Operator = hub.Actor{Role: "operator", Participant: "ops"}

// Declaration is the sample export declaration at Huu Nghi, with the i-th
// truck's own VN and CN plates (one active crossing per vehicle and gate).
func Declaration(t testing.TB, i int) *declaration.Declaration {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(Root(t), "conformance-tests/declarations/huu-nghi-export.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d declaration.Declaration
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	d.Vehicle.PlateVN = fmt.Sprintf("12C-%05d", 10000+i)
	d.Vehicle.PlateCN = fmt.Sprintf("桂A%05d", 10000+i)
	return &d
}

// Ack is agency's signed answer (status ACK or NACK) to message msgID.
func (h *Hub) Ack(t testing.TB, agency, declID, msgID, ackID, status string) []byte {
	t.Helper()
	now := h.Clock.Now()
	f := mapping.AckFields{AckID: ackID, RefMessageID: msgID, Status: status, IssuedAt: now}
	if status == ack.StatusNack {
		f.ReasonCode, f.ReasonText = "R01", "refused by the test"
	}
	doc, _, err := h.Mappings.BuildAck(agency, f, mapping.Envelope{
		MessageID: ackID, Kind: message.Ack, Sender: agency, Receiver: hub.Participant,
		DeclarationID: declID, Version: 1, CreatedAt: now,
	})
	if err != nil {
		t.Fatalf("build %s ack: %v", agency, err)
	}
	raw, err := h.signers[agency].Sign(doc)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// Signer is agency's signing key, which its ACKs are signed with.
func (h *Hub) Signer(agency string) *sign.Signer { return h.signers[agency] }

// Submit submits the i-th truck's declaration and returns its view.
func (h *Hub) Submit(t testing.TB, i int) *views.DeclarationView {
	t.Helper()
	v, _, err := h.Submission.Submit(t.Context(), Trader, submission.SubmitRequest{Declaration: Declaration(t, i)})
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	return v
}

// Audit returns the audit entries of declaration id, oldest first.
func (h *Hub) Audit(t testing.TB, id string) []store.AuditEntry {
	t.Helper()
	es, err := h.Views.AuditFind(t.Context(), store.AuditFilter{DeclarationID: id})
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// Kinds lists the kinds of es.
func Kinds(es []store.AuditEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Kind
	}
	return out
}
