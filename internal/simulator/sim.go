// Package sim is the agency simulator: one HTTP server that plays any of
// the four agencies for the demo and the tests. It speaks the wire protocol
// of adapters/agency (README there): it checks the hub's message the way an
// agency would (XSD, hub signature, the agency's business rules), answers a
// signed ACK/NACK built by the real mapping engine, and keeps every answer
// per message id so a resend gets the original bytes back. Failure injection
// (FailFirst, FailRate, Delay, silent mode) exercises the hub's retries.
package simulator

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/gatehub/gatehub/internal/message"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/beevik/etree"

	"github.com/gatehub/gatehub/adapters/agency"
	"github.com/gatehub/gatehub/internal/mapping"
	"github.com/gatehub/gatehub/internal/sign"
)

// Validator checks a document against one XSD of the schemas/ directory;
// *schema.Validator is the production one. An interface so the simulator
// does not care whether libxml2 runs in-process or out.
type Validator interface {
	Validate(schemaFile string, xml []byte) error
}

// Answer modes.
const (
	ModeSync   = "sync"   // 200 with the signed ACK/NACK
	ModeAsync  = "async"  // 202, then the ACK/NACK is POSTed to the hub callback
	ModeSilent = "silent" // 202, and nothing ever comes back: exercises the hub's ACK deadline
)

// HubParticipant is the trust-store participant whose signature the
// simulator requires on incoming messages.
const HubParticipant = "hub"

// Config tunes one simulated agency.
type Config struct {
	Agency string // agency id; defaults to Spec.Name
	Spec   agency.Spec
	Rules  []Rule
	// Envelope reads message id, sender and receiver from an incoming
	// message; agency.ReadHeader (the schemas/common header) when nil.
	Envelope agency.EnvelopeReader
	Mode     string        // sync (default) | async | silent
	Delay    time.Duration // sync: before answering; async: before the callback
	// FailFirst answers 503 to the first N attempts of each message id.
	FailFirst int
	// FailRate answers a random share of attempts with 503, from a rand
	// seeded with Seed so a failing run can be replayed.
	FailRate float64
	Seed     int64
	// MaxRecords bounds how many message ids the simulator remembers
	// (statistics and the original signed ACK for resends); the least
	// recently used are forgotten first. 0 means DefaultMaxRecords.
	MaxRecords int
	// RetryAfter, when set, goes with every injected 503.
	RetryAfter time.Duration
	// CallbackURL is the hub base URL; async answers go to
	// {CallbackURL}/v1/acks/{agency}.
	CallbackURL string
	// CallbackClient posts async answers (http.DefaultClient when nil).
	CallbackClient *http.Client
	// CallbackAttempts and CallbackBackoff bound the small retry on a failed
	// callback (defaults 5 and 200ms, doubling).
	CallbackAttempts int
	CallbackBackoff  time.Duration
	// OnCallback, when set, is told the end of every async callback (nil
	// error: the hub took it), after the stats are updated.
	OnCallback func(messageID string, err error)
	// Orders makes the agency send HOLD/RELEASE/REVOKE about some of the
	// trucks it acknowledged (none when zero).
	Orders Orders
	// Now is the agency clock: rules, ACK timestamps and signature validity
	// use it, so tests can pin "today" against certificate expiry dates.
	Now func() time.Time
	// Misbehave breaks the protocol on purpose in the ways listed (see
	// Misbehaviour); empty for every shipped configuration.
	Misbehave []Misbehaviour
}

// MessageStats is what the simulator knows about one message id.
type MessageStats struct {
	Attempts   int          `json:"attempts"`
	First      time.Time    `json:"first"`
	Last       time.Time    `json:"last"`
	Kind       message.Kind `json:"kind,omitempty"`
	AckID      string       `json:"ackId,omitempty"`      // empty until answered
	Status     string       `json:"status,omitempty"`     // ACK | NACK, empty until answered
	ReasonCode string       `json:"reasonCode,omitempty"` // NACK reason
	Refused    string       `json:"refused,omitempty"`    // problem code of the last 4xx refusal
	Injected   int          `json:"injected,omitempty"`   // attempts answered with an injected failure
	Callbacks  int          `json:"callbacks,omitempty"`  // async callback deliveries that the hub accepted
	// CallbackError is the last callback failure, cleared on success.
	CallbackError string `json:"callbackError,omitempty"`
}

// record is the stored answer of one message id.
type record struct {
	stats MessageStats
	ack   []byte   // signed ACK/NACK; nil until answered
	body  [32]byte // SHA-256 of the answered message, to tell a resend from id reuse
}

// Server is one simulated agency.
type Server struct {
	agency   string
	spec     agency.Spec
	rules    []Rule
	envFn    agency.EnvelopeReader
	reg      *mapping.Registry
	val      Validator
	signer   *sign.Signer
	verifier *sign.Verifier
	now      func() time.Time
	callback *http.Client
	onCB     func(string, error)
	// misbehave is fixed at New: a simulator is broken for its whole life.
	misbehave []Misbehaviour

	mu   sync.Mutex
	cfg  runtimeConfig
	rnd  *rand.Rand
	msgs *records

	orders     Orders
	ordersSent []string // ids of the orders the hub accepted
	orderErrs  int
	acked      int // submits acknowledged, in order

	ctx    context.Context // bounds callback goroutines; cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// runtimeConfig is the part of Config that PUT /config may change.
type runtimeConfig struct {
	CallbackURL      string
	Mode             string
	Delay            time.Duration
	FailFirst        int
	FailRate         float64
	RetryAfter       time.Duration
	CallbackAttempts int
	CallbackBackoff  time.Duration
}

// New builds a simulator for cfg.Agency. reg builds the ACKs, val checks
// incoming messages against the agency XSDs, signer is the agency's key and
// verifier must trust the hub.
func New(cfg Config, reg *mapping.Registry, val Validator, signer *sign.Signer, verifier *sign.Verifier) (*Server, error) {
	if cfg.Agency == "" {
		cfg.Agency = cfg.Spec.Name
	}
	if cfg.Agency == "" {
		return nil, errors.New("new simulator: no agency name")
	}
	if cfg.Spec.Name == "" {
		cfg.Spec.Name = cfg.Agency
	}
	if reg == nil || val == nil || signer == nil || verifier == nil {
		return nil, fmt.Errorf("new simulator %s: registry, validator, signer and verifier are required", cfg.Agency)
	}
	if cfg.Mode == "" {
		cfg.Mode = ModeSync
	}
	if err := checkMode(cfg.Mode); err != nil {
		return nil, fmt.Errorf("new simulator %s: %w", cfg.Agency, err)
	}
	if cfg.FailRate < 0 || cfg.FailRate > 1 {
		return nil, fmt.Errorf("new simulator %s: fail rate %v outside [0,1]", cfg.Agency, cfg.FailRate)
	}
	if err := cfg.Orders.validate(); err != nil {
		return nil, fmt.Errorf("new simulator %s: %w", cfg.Agency, err)
	}
	if err := checkMisbehaviours(cfg.Misbehave); err != nil {
		return nil, fmt.Errorf("new simulator %s: %w", cfg.Agency, err)
	}
	if cfg.Envelope == nil {
		cfg.Envelope = agency.ReadHeader
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CallbackClient == nil {
		cfg.CallbackClient = http.DefaultClient
	}
	if cfg.CallbackAttempts <= 0 {
		cfg.CallbackAttempts = 5
	}
	if cfg.CallbackBackoff <= 0 {
		cfg.CallbackBackoff = 200 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		agency:    cfg.Agency,
		spec:      cfg.Spec,
		rules:     cfg.Rules,
		envFn:     cfg.Envelope,
		reg:       reg,
		val:       val,
		signer:    signer,
		verifier:  verifier,
		now:       cfg.Now,
		callback:  cfg.CallbackClient,
		onCB:      cfg.OnCallback,
		misbehave: slices.Clone(cfg.Misbehave),
		cfg: runtimeConfig{
			CallbackURL: cfg.CallbackURL, Mode: cfg.Mode, Delay: cfg.Delay,
			FailFirst: cfg.FailFirst, FailRate: cfg.FailRate, RetryAfter: cfg.RetryAfter,
			CallbackAttempts: cfg.CallbackAttempts, CallbackBackoff: cfg.CallbackBackoff,
		},
		rnd:    rand.New(rand.NewPCG(uint64(cfg.Seed), 0x5eed)),
		msgs:   newRecords(cfg.MaxRecords),
		orders: cfg.Orders,
		ctx:    ctx,
		cancel: cancel,
	}, nil
}

func checkMode(m string) error {
	switch m {
	case ModeSync, ModeAsync, ModeSilent:
		return nil
	}
	return fmt.Errorf("unknown mode %q (want sync, async or silent)", m)
}

// Agency is the id of the agency this server plays.
func (s *Server) Agency() string { return s.agency }

// Close stops pending async callbacks and waits for their goroutines.
func (s *Server) Close() error {
	s.cancel()
	s.wg.Wait()
	return nil
}

// Deliveries is the number of attempts seen for messageID, injected
// failures and refusals included.
func (s *Server) Deliveries(messageID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.msgs.peek(messageID); r != nil {
		return r.stats.Attempts
	}
	return 0
}

// Stats is a snapshot of every message id seen.
func (s *Server) Stats() map[string]MessageStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]MessageStats, s.msgs.len())
	s.msgs.each(func(id string, r *record) { out[id] = r.stats })
	return out
}

// Ack returns the stored signed answer to messageID, if any.
func (s *Server) Ack(messageID string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.msgs.peek(messageID)
	if r == nil || r.ack == nil {
		return nil, false
	}
	return r.ack, true
}

// AckID is the id the simulator gives its answer to messageID. It is
// derived, not random, so that even a simulator restarted without its
// memory answers a resend with the same ACK id.
func AckID(agencyName, messageID string) string {
	sum := sha256.Sum256([]byte(agencyName + "\x00" + messageID))
	return "ACK-" + hex.EncodeToString(sum[:12])
}

// Verdict is the outcome of the rules on one message.
type Verdict struct {
	OK   bool
	Code string
	Text string
}

// Evaluate runs rules in order and returns the first failure, or OK. First
// failure only: a real agency answers one reason code per NACK.
func Evaluate(rules []Rule, root *etree.Element, now time.Time) Verdict {
	for _, r := range rules {
		if ok, code, text := r.Check(root, now); !ok {
			return Verdict{Code: code, Text: text}
		}
	}
	return Verdict{OK: true}
}

func (s *Server) envelope(root *etree.Element) (envelope, error) {
	env, err := s.envFn(root)
	if err != nil {
		return envelope{}, fmt.Errorf("read %s envelope: %w", s.agency, err)
	}
	return envelope{Envelope: env}, nil
}
