package simulator

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gatehub/gatehub/adapters/agency"
	"github.com/gatehub/gatehub/internal/agencies"
	"github.com/gatehub/gatehub/internal/mapping"
	"github.com/gatehub/gatehub/internal/pki"
	"github.com/gatehub/gatehub/internal/sign"
)

// Definition is what the simulator needs to know about one agency: its
// agency file (transport, profile) and its simulator rule file (envelope
// layout, business rules).
type Definition struct {
	Spec     agency.Spec
	Rules    []Rule
	Envelope agency.EnvelopeReader
	// RedChannel is the rule file's redChannel: nil when the agency never
	// holds a truck in the demo.
	RedChannel *RedChannelSpec
}

// Definitions reads the simulator rules (rulesDir/<code>.yaml) of every
// agency of set, in code order.
func Definitions(set *agencies.Set, rulesDir string) ([]Definition, error) {
	var out []Definition
	var errs []error
	for _, a := range set.All() {
		f, err := LoadRules(rulesDir, string(a.Code))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rules, _ := f.Compile() // LoadRules compiled them already
		out = append(out, Definition{Spec: agency.SpecOf(a), Rules: rules, Envelope: f.EnvelopeReader(), RedChannel: f.RedChannel})
	}
	return out, errors.Join(errs...)
}

// Options configures StartAll.
type Options struct {
	// Addr to listen on; 127.0.0.1:0 (a free loopback port) when empty.
	Addr string
	// Definitions of the agencies that can run (Definitions).
	Definitions []Definition
	// Agencies to run; every defined one when empty.
	Agencies  []string
	Registry  *mapping.Registry
	Validator Validator
	// Trust must hold the hub's certificate (participant "hub").
	Trust *pki.TrustStore
	// Identities are the agencies' signing keys by agency id. A missing one
	// is loaded or created in KeysDir when set, else generated in memory.
	Identities map[string]*pki.Identity
	KeysDir    string
	Algorithm  pki.Algorithm // for created keys; ECDSA P-256 when empty

	CallbackURL string // hub base URL for async answers
	Mode        string
	Delay       time.Duration
	FailFirst   int
	FailRate    float64
	Seed        int64
	Now         func() time.Time
	// Configure, when set, adjusts each agency's Config before it starts.
	Configure func(*Config)
}

// Cluster is a set of simulated agencies behind one listener, each under
// its own path prefix: {BaseURL}/{agency}/messages, /stats and /config.
type Cluster struct {
	base    string
	servers map[string]*Server
	order   []string
	ids     map[string]*pki.Identity
	http    *http.Server
	done    chan struct{}
	once    sync.Once
	closeEr error
}

// StartAll starts the simulators on a loopback (or given) listener. They
// stop when ctx ends or Close is called.
func StartAll(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Registry == nil || opts.Validator == nil || opts.Trust == nil {
		return nil, errors.New("start simulators: registry, validator and trust store are required")
	}
	if len(opts.Trust.All(HubParticipant)) == 0 {
		return nil, errors.New("start simulators: the trust store holds no certificate for the hub")
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	alg := opts.Algorithm
	if alg == "" {
		alg = pki.ECDSAP256
	}
	defs := map[string]Definition{}
	var order []string
	if len(opts.Definitions) == 0 {
		return nil, errors.New("start simulators: no agency definitions")
	}
	for _, d := range opts.Definitions {
		defs[d.Spec.Name] = d
		order = append(order, d.Spec.Name)
	}
	if len(opts.Agencies) > 0 {
		for _, a := range opts.Agencies {
			if _, ok := defs[a]; !ok {
				return nil, fmt.Errorf("start simulators: unknown agency %q", a)
			}
		}
		order = slices.DeleteFunc(order, func(a string) bool { return !slices.Contains(opts.Agencies, a) })
	}

	c := &Cluster{servers: map[string]*Server{}, order: order, ids: map[string]*pki.Identity{}, done: make(chan struct{})}
	mux := http.NewServeMux()
	for _, name := range order {
		d := defs[name]
		// Each agency signs its ACKs under its profile and accepts the
		// hub's messages only under it.
		profile := d.Spec.SignatureProfile()
		id, err := identity(opts, name, algFor(profile, alg), now())
		if err != nil {
			c.closeServers()
			return nil, err
		}
		signer, err := sign.NewProfileSigner(id, profile)
		if err != nil {
			c.closeServers()
			return nil, fmt.Errorf("start simulator %s: %w", name, err)
		}
		verifier := sign.NewVerifier(opts.Trust, sign.WithProfile(HubParticipant, profile))
		cfg := Config{
			Agency: name, Spec: d.Spec, Rules: d.Rules, Envelope: d.Envelope,
			Mode: opts.Mode, Delay: opts.Delay, FailFirst: opts.FailFirst, FailRate: opts.FailRate,
			Seed: opts.Seed, CallbackURL: opts.CallbackURL, Now: now,
		}
		if opts.Configure != nil {
			opts.Configure(&cfg)
		}
		srv, err := New(cfg, opts.Registry, opts.Validator, signer, verifier)
		if err != nil {
			c.closeServers()
			return nil, err
		}
		c.servers[name], c.ids[name] = srv, id
		mux.Handle("/"+name+"/", http.StripPrefix("/"+name, srv.Handler()))
	}
	if len(order) == 1 {
		// One agency alone also answers at the root (/messages, /stats,
		// /config), the shape of a real agency endpoint.
		mux.Handle("/", c.servers[order[0]].Handler())
	} else {
		mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
			out := map[string]map[string]MessageStats{}
			for name, s := range c.servers {
				out[name] = s.Stats()
			}
			writeJSON(w, http.StatusOK, out)
		})
	}

	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		c.closeServers()
		return nil, fmt.Errorf("start simulators: %w", err)
	}
	c.base = "http://" + ln.Addr().String()
	c.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(c.done)
		// ErrServerClosed is the normal end; anything else surfaces as
		// refused connections in the caller's deliveries.
		_ = c.http.Serve(ln)
	}()
	go func() {
		select {
		case <-ctx.Done():
			_ = c.Close()
		case <-c.done:
		}
	}()
	return c, nil
}

// algFor is the key type an agency of profile signs with: SM2 for the
// SM2-SM3 profile, alg otherwise.
func algFor(profile sign.Profile, alg pki.Algorithm) pki.Algorithm {
	if profile.Name == sign.SM2Profile.Name {
		return pki.SM2
	}
	return alg
}

func identity(opts Options, name string, alg pki.Algorithm, now time.Time) (*pki.Identity, error) {
	if id := opts.Identities[name]; id != nil {
		return id, nil
	}
	if opts.KeysDir != "" {
		file := name
		if alg == pki.SM2 {
			file = name + ".sm2" // beside a key of another type kept by an older run
		}
		id, _, err := pki.LoadOrCreateAs(opts.KeysDir, file, name, alg, now)
		if err != nil {
			return nil, fmt.Errorf("start simulator %s: key: %w", name, err)
		}
		return id, nil
	}
	id, err := pki.Generate(name, alg, now.Add(-time.Hour), now.Add(365*24*time.Hour))
	if err != nil {
		return nil, fmt.Errorf("start simulator %s: key: %w", name, err)
	}
	return id, nil
}

// BaseURL is the listener's URL, e.g. http://127.0.0.1:41234.
func (c *Cluster) BaseURL() string { return c.base }

// Endpoint is the agency endpoint URL the hub posts messages to.
func (c *Cluster) Endpoint(agencyName string) string {
	return c.base + "/" + agencyName + "/messages"
}

// Endpoints maps every running agency to its endpoint URL.
func (c *Cluster) Endpoints() map[string]string {
	out := make(map[string]string, len(c.order))
	for _, a := range c.order {
		out[a] = c.Endpoint(a)
	}
	return out
}

// Agencies lists the running agencies in definition order.
func (c *Cluster) Agencies() []string { return slices.Clone(c.order) }

// Server returns one agency's simulator, nil if it is not running.
func (c *Cluster) Server(agencyName string) *Server { return c.servers[agencyName] }

// Certificates are the agencies' signing certificates, for the hub's trust
// store.
func (c *Cluster) Certificates() map[string]*x509.Certificate {
	out := make(map[string]*x509.Certificate, len(c.ids))
	for a, id := range c.ids {
		out[a] = id.Cert
	}
	return out
}

// TrustAgencies adds every agency certificate to ts for its participant.
func (c *Cluster) TrustAgencies(ts *pki.TrustStore) {
	for a, id := range c.ids {
		ts.Add(a, id.Cert, time.Time{}, time.Time{})
	}
}

// Close stops the listener and the simulators' pending callbacks.
func (c *Cluster) Close() error {
	c.once.Do(func() {
		if c.http != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c.closeEr = c.http.Shutdown(ctx)
		}
		c.closeServers()
	})
	return c.closeEr
}

func (c *Cluster) closeServers() {
	for _, s := range c.servers {
		_ = s.Close()
	}
}

// String describes the cluster for logs.
func (c *Cluster) String() string {
	var b strings.Builder
	for _, a := range c.order {
		fmt.Fprintf(&b, "%s=%s ", a, c.Endpoint(a))
	}
	return strings.TrimSpace(b.String())
}
