// Package conformance is the kit an agency runs against its own endpoint
// before go-live (gatehubctl conformance run). It plays the hub: it takes
// every conformance vector of the agency's format
// (conformance-tests/vectors/<agency>/{valid,invalid}), gives each a fresh
// message id, signs it with the hub's key under the agency's signature
// profile and POSTs it exactly as the outbox does (adapters/agency.Transport:
// same headers, content type and per-agency timeout). It then checks each
// answer as the hub would read it: XSD of the ACK/NACK, its signature under
// the agency's profile against the agency's certificate (internal/ack), the
// message id it refers to, a resend answered with the original bytes, and a
// refusal (4xx with a reason code, or a NACK with one) for every invalid
// vector and every probe (unsigned, tampered, foreign key, header/envelope
// id mismatch). Asynchronous agencies answer 202 and call back on an Inbox.
//
// Everything agency-specific comes in as data: the agency.Spec, its
// envelope reader, its mappings and its vectors directory. A new agency or
// message kind is more vectors and mappings, not more code here.
package conformance

import (
	"context"
	"errors"
	"fmt"
	"github.com/gatehub/gatehub/internal/message"
	"net/http"
	"time"

	"github.com/gatehub/gatehub/adapters/agency"
	"github.com/gatehub/gatehub/internal/ack"
	"github.com/gatehub/gatehub/internal/mapping"
	"github.com/gatehub/gatehub/internal/pki"
	"github.com/gatehub/gatehub/internal/sign"
)

// Agency is what the kit knows of the agency under test: its endpoint
// settings and signature profile, and how to read its messages' envelope.
type Agency struct {
	Spec     agency.Spec
	Envelope agency.EnvelopeReader
}

// Validator checks a document against one XSD under schemas/;
// *schema.Validator is the one the hub runs.
type Validator interface {
	Validate(schemaFile string, xml []byte) error
}

// DefaultAckWait is how long the kit waits for an asynchronous answer.
const DefaultAckWait = 30 * time.Second

// Config is one run.
type Config struct {
	Agency   Agency
	Endpoint string // the agency's message endpoint URL
	// VectorsDir holds the agency's vectors: VectorsDir/valid/*.xml and
	// VectorsDir/invalid/*.xml.
	VectorsDir string
	Mappings   *mapping.Registry
	Schemas    Validator
	// Signer signs as the hub, under the agency's profile.
	Signer *sign.Signer
	// Trust holds the agency's certificates (participant Spec.Name).
	Trust *pki.TrustStore
	// Client makes the POSTs (http.DefaultClient when nil); the per-agency
	// timeout comes from Spec.Timeout, as in the hub.
	Client *http.Client
	// Inbox receives asynchronous answers; nil means a 202 cannot be
	// followed and fails its check.
	Inbox   *Inbox
	AckWait time.Duration // DefaultAckWait when zero
	Now     func() time.Time
	// NewID mints message ids (the hub's ids.Message when nil).
	NewID func() string
}

// run is the state of one Run.
type run struct {
	cfg       Config
	name      string
	ackInfo   mapping.Info
	reader    *ack.Reader
	transport *agency.Transport
	report    *Report
	sent      map[string]bool
	async     map[string]int // 202s seen per message id: which callback is the next
}

func (c *Config) check() error {
	switch {
	case c.Agency.Spec.Name == "":
		return errors.New("conformance: no agency")
	case c.Agency.Envelope == nil:
		return fmt.Errorf("conformance %s: no envelope reader", c.Agency.Spec.Name)
	case c.Endpoint == "":
		return fmt.Errorf("conformance %s: no endpoint", c.Agency.Spec.Name)
	case c.Mappings == nil || c.Schemas == nil || c.Signer == nil || c.Trust == nil:
		return fmt.Errorf("conformance %s: mappings, schemas, the hub's signer and the agency's trust are required", c.Agency.Spec.Name)
	case len(c.Trust.All(c.Agency.Spec.Name)) == 0:
		return fmt.Errorf("conformance %s: no certificate of %s to verify its answers with", c.Agency.Spec.Name, c.Agency.Spec.Name)
	}
	if p := c.Signer.Profile(); p.Name != c.Agency.Spec.SignatureProfile().Name {
		return fmt.Errorf("conformance %s: the hub's signer is of profile %s, the agency wants %s", c.Agency.Spec.Name, p.Name, c.Agency.Spec.SignatureProfile().Name)
	}
	return nil
}

// Run sends every vector and probe to the endpoint and returns the report.
// An error means the run could not start (configuration, vector files);
// everything the endpoint does wrong, being unreachable included, is a
// failed check in the report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = DefaultAckWait
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.NewID == nil {
		cfg.NewID = newMessageID
	}
	name := cfg.Agency.Spec.Name
	ackInfo, ok := cfg.Mappings.Info(name, message.Ack)
	if !ok {
		return nil, fmt.Errorf("conformance %s: no ack mapping: the kit cannot read the agency's answers", name)
	}
	r := &run{
		cfg: cfg, name: name, ackInfo: ackInfo,
		reader: &ack.Reader{
			Verifier: sign.NewVerifier(cfg.Trust, sign.WithProfile(name, cfg.Agency.Spec.SignatureProfile())),
			Mappings: cfg.Mappings,
		},
		transport: agency.NewTransport(cfg.Client),
		sent:      map[string]bool{},
		async:     map[string]int{},
		report: &Report{
			Agency: name, Endpoint: cfg.Endpoint, Profile: cfg.Agency.Spec.SignatureProfile().Name,
			Started: cfg.Now().UTC(),
		},
	}
	if cfg.Inbox != nil {
		cfg.Inbox.expect(name, cfg.Mappings, r.reader)
		r.report.CallbackURL = cfg.Inbox.URL() + "/v1/acks/" + name
	}
	valid, invalid, skips, err := r.loadVectors(cfg.VectorsDir)
	if err != nil {
		return nil, err
	}
	r.report.Skipped = skips
	if err := r.play(ctx, valid, invalid); err != nil {
		return nil, err
	}
	if cfg.Inbox != nil {
		for _, u := range cfg.Inbox.unexpected(r.sent) {
			r.fail("callbacks", "", CheckCallback, "%s", u)
		}
	}
	r.report.Duration = cfg.Now().Sub(r.report.Started).Round(time.Millisecond).String()
	r.report.count()
	return r.report, nil
}
