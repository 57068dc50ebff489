package simulator

import (
	"context"
	"github.com/gatehub/gatehub/internal/message"
	"github.com/gatehub/gatehub/internal/outbox"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehub/gatehub/adapters/agency"
	"github.com/gatehub/gatehub/internal/mapping"
	"github.com/gatehub/gatehub/internal/pki"
	"github.com/gatehub/gatehub/internal/schema"
	"github.com/gatehub/gatehub/internal/sign"
)

// TestStartAll runs the four simulators in-process as gatehubd
// -with-simulators does, with the runtime (libxml2) validator, and sends
// each agency its own message through its prefixed endpoint.
func TestStartAll(t *testing.T) {
	reg := loadRegistry(t)
	for _, d := range testDefinitions(t) {
		requireMapping(t, reg, d.Spec.Name)
	}
	val, err := schema.Load(schemasDir)
	if err != nil {
		t.Fatal(err)
	}
	defer val.Close()
	hub := newIdentity(t, HubParticipant)
	trust := pki.NewTrustStore()
	trust.Add(HubParticipant, hub.Cert, time.Time{}, time.Time{})
	// The Guangxi single window takes only SM2-SM3 signatures.
	hubSM2, err := pki.Generate(HubParticipant, pki.SM2, simNow.Add(-time.Hour), simNow.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	trust.Add(HubParticipant, hubSM2.Cert, time.Time{}, time.Time{})
	hubSM2Signer, err := sign.NewProfileSigner(hubSM2, sign.SM2Profile)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := StartAll(ctx, Options{Definitions: testDefinitions(t), Registry: reg, Validator: val, Trust: trust, Now: func() time.Time { return simNow }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	hubTrust := pki.NewTrustStore()
	c.TrustAgencies(hubTrust)
	verifier := sign.NewVerifier(hubTrust, sign.WithProfile("guangxi", sign.SM2Profile))
	hubSigner := newSigner(t, hub)
	decl := loadDeclaration(t, "huu-nghi-export.json")
	tr := agency.NewTransport(nil)

	if got, want := len(c.Agencies()), len(testDefinitions(t)); got != want {
		t.Fatalf("%d agencies running, want %d", got, want)
	}
	for _, name := range c.Agencies() {
		msgID := "M-ALL-" + name
		doc, _, err := reg.Build(name, message.Submit, decl, mapping.Envelope{
			MessageID: msgID, Sender: HubParticipant, Receiver: name, DeclarationID: "D-1", Version: 1, CreatedAt: simNow,
		}, testGate(t, decl.Gate))
		if err != nil {
			t.Fatal(err)
		}
		signer := hubSigner
		if name == "guangxi" {
			signer = hubSM2Signer
			// Under the default profile it is refused.
			wrong, err := hubSigner.Sign(doc)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := tr.Post(ctx, testDefinitions(t)[0].Spec, c.Endpoint(name), msgID+"-rsa", wrong)
			if err != nil || agency.Classify(resp, nil) != outbox.Permanent || !strings.Contains(string(resp.Body), "not allowed") {
				t.Fatalf("guangxi: message under the default profile: %+v %v", resp, err)
			}
		}
		body, err := signer.Sign(doc)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := tr.Post(ctx, testDefinitions(t)[0].Spec, c.Endpoint(name), msgID, body)
		if err != nil || resp.Status != http.StatusOK {
			t.Fatalf("%s: %+v %v", name, resp, err)
		}
		root, err := verifier.Verify(name, resp.Body, simNow)
		if err != nil {
			t.Fatalf("%s ack signature: %v", name, err)
		}
		if sm2 := strings.Contains(string(resp.Body), sign.AlgSM2SM3); sm2 != (name == "guangxi") {
			t.Fatalf("%s ack: signed SM2-SM3 %t", name, sm2)
		}
		a, err := reg.ParseAck(name, root)
		if err != nil || a.Status != "ACK" || a.RefMessageID != msgID {
			t.Fatalf("%s ack %+v %v", name, a, err)
		}
		// A message for customs posted to borderguard is refused, not acked.
		if name == "customs" {
			resp, err := tr.Post(ctx, agency.Spec{Name: "borderguard"}, c.Endpoint("borderguard"), msgID, body)
			if err != nil || agency.Classify(resp, nil) != outbox.Permanent {
				t.Fatalf("cross-posted message: %+v %v", resp, err)
			}
		}
	}
	var all map[string]map[string]MessageStats
	getJSON(t, c.BaseURL()+"/stats", &all)
	if all["guangxi"]["M-ALL-guangxi"].Status != "ACK" {
		t.Fatalf("aggregate stats = %+v", all)
	}

	// Cancelling the context stops the listener.
	cancel()
	c.Close()
	if _, err := http.Get(c.BaseURL() + "/stats"); err == nil {
		t.Fatal("listener still answering after shutdown")
	}
}

func TestStartAllRefusesBadOptions(t *testing.T) {
	reg := loadRegistry(t)
	trust := pki.NewTrustStore()
	if _, err := StartAll(context.Background(), Options{Definitions: testDefinitions(t), Registry: reg, Validator: xmllint{schemasDir}, Trust: trust}); err == nil {
		t.Fatal("started without a hub certificate")
	}
	trust.Add(HubParticipant, newIdentity(t, HubParticipant).Cert, time.Time{}, time.Time{})
	if _, err := StartAll(context.Background(), Options{Definitions: testDefinitions(t), Registry: reg, Validator: xmllint{schemasDir}, Trust: trust, Agencies: []string{"police"}}); err == nil {
		t.Fatal("started an unknown agency")
	}
}
