// Package app assembles a running hub from configuration: store, fan-out,
// rate limits, keys and trust, mappings and schemas, the outbox dispatcher,
// the HTTP server and, in the embedded demo setup, the agency simulators.
// gatehubd is a thin main around it, and end-to-end tests start the very
// same assembly.
package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehub/gatehub/adapters/agency"
	"github.com/gatehub/gatehub/adapters/gatedevice"
	"github.com/gatehub/gatehub/internal/ack"
	"github.com/gatehub/gatehub/internal/acknowledgements"
	"github.com/gatehub/gatehub/internal/agencies"
	"github.com/gatehub/gatehub/internal/agencymsg"
	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/auth"
	"github.com/gatehub/gatehub/internal/config"
	"github.com/gatehub/gatehub/internal/console"
	"github.com/gatehub/gatehub/internal/decisions"
	"github.com/gatehub/gatehub/internal/diskspace"
	"github.com/gatehub/gatehub/internal/eventrelay"
	"github.com/gatehub/gatehub/internal/fanout"
	"github.com/gatehub/gatehub/internal/gate"
	"github.com/gatehub/gatehub/internal/gateconfig"
	"github.com/gatehub/gatehub/internal/httpapi"
	"github.com/gatehub/gatehub/internal/hub"
	"github.com/gatehub/gatehub/internal/inputs"
	"github.com/gatehub/gatehub/internal/lanes"
	"github.com/gatehub/gatehub/internal/mapping"
	"github.com/gatehub/gatehub/internal/metrics"
	"github.com/gatehub/gatehub/internal/operator"
	"github.com/gatehub/gatehub/internal/outbox"
	"github.com/gatehub/gatehub/internal/pki"
	"github.com/gatehub/gatehub/internal/ratelimit"
	"github.com/gatehub/gatehub/internal/refusal"
	"github.com/gatehub/gatehub/internal/refusallog"
	"github.com/gatehub/gatehub/internal/schema"
	"github.com/gatehub/gatehub/internal/sign"
	sim "github.com/gatehub/gatehub/internal/simulator"
	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/store/postgres"
	"github.com/gatehub/gatehub/internal/store/sqlite"
	"github.com/gatehub/gatehub/internal/submission"
	"github.com/gatehub/gatehub/internal/tracing"
	"github.com/gatehub/gatehub/internal/txn"
	"github.com/gatehub/gatehub/internal/version"
	"github.com/gatehub/gatehub/internal/views"
)

// Specs returns the transport description of every agency of set.
func Specs(set *agencies.Set) map[string]agency.Spec {
	out := map[string]agency.Spec{}
	for _, a := range set.All() {
		out[string(a.Code)] = agency.SpecOf(a)
	}
	return out
}

// LoadAgencies is the agency set of cfg: the one config.Load read, or
// AgenciesDir's files.
func LoadAgencies(cfg config.Config) (*agencies.Set, error) {
	if cfg.Agencies != nil {
		return cfg.Agencies, nil
	}
	set, err := agencies.LoadDir(cfg.AgenciesDir)
	if err != nil {
		return nil, fmt.Errorf("load agencies: %w", err)
	}
	return set, nil
}

// Bus is the fan-out lane devices and instances subscribe to.
func (a *App) Bus() fanout.Bus { return a.bus }

// App is an assembled hub.
type App struct {
	Config config.Config
	Log    *slog.Logger
	Store  store.Store
	// The hub's orchestration, by concept (see docs/ARCHITECTURE.md).
	Tx         *txn.Runner
	Decisions  *decisions.Decider
	Submission *submission.Service
	Views      *views.Service
	Operator   *operator.Service
	Acks       *acknowledgements.Service
	GateConfig *gateconfig.Service
	RefusalLog *refusallog.Recorder
	// AgencyMessages receives the agencies' own messages (HOLD, RELEASE,
	// REVOKE, CROSSING-CONFIRMED) and forwards them.
	AgencyMessages *agencymsg.Service
	Dispatcher     *outbox.Dispatcher
	Relay          *eventrelay.Relay
	Server         *httpapi.Server
	Metrics        *metrics.Metrics
	Trust          *pki.TrustStore
	Identity       *pki.Identity
	LaneKey        *lanes.LaneSigner
	Lanes          *lanes.Service
	Simulators     *sim.Cluster // nil unless Config.Simulators
	// Agencies is the agency set in force; ReloadAgencies swaps it.
	Agencies *agencies.Registry

	listener net.Listener
	http     *http.Server
	redis    *redis.Client
	bus      fanout.Bus
	schemas  *schema.Validator
	mappings *mapping.Registry // the agency reload checks new agency files against them
	closers  []func() error

	gatesSynced chan struct{}
	// disk guards the embedded store's file system; nil with Postgres.
	disk *diskspace.Guard
}

// Options lets tests inject what production derives from the environment.
type Options struct {
	Log *slog.Logger
	Now func() time.Time
	// Listener, when set, is used instead of listening on Config.Addr.
	Listener net.Listener
	// Configure adjusts each simulator's configuration (tests).
	ConfigureSimulator func(*sim.Config)
	// DiskProbe replaces statfs for the embedded store's disk guard (tests).
	DiskProbe diskspace.Probe
}

// New builds the hub. Nothing is served until Run.
func New(ctx context.Context, cfg config.Config, opt Options) (_ *App, err error) {
	a := &App{Config: cfg, Log: opt.Log, gatesSynced: make(chan struct{}, 16)}
	if a.Log == nil {
		a.Log = slog.Default()
	}
	// Every line logged with a request's context names the request.
	a.Log = slog.New(tracing.LogHandler(a.Log.Handler()))
	now := opt.Now
	if now == nil {
		now = time.Now
	}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}

	// Store.
	if cfg.DatabaseURL != "" {
		st, err := postgres.Open(ctx, cfg.DatabaseURL)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		a.Store = st
	} else {
		st, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, "gatehub.db"))
		if err != nil {
			return nil, fmt.Errorf("open embedded store: %w", err)
		}
		a.Store = st
		a.disk = &diskspace.Guard{Path: cfg.DataDir, Probe: opt.DiskProbe, Reserve: uint64(cfg.DiskReserveMB) << 20}
		if cfg.DiskReserveMB == 0 {
			a.disk = nil // disabled on purpose
		}
	}
	a.closers = append(a.closers, a.Store.Close)

	// Fan-out and rate limits: Redis across instances, in-process otherwise.
	var limiter, ackPerSource, ackPerAgency ratelimit.Limiter
	limit := ratelimit.Limit{Rate: cfg.RateLimit.Rate, Burst: cfg.RateLimit.Burst}
	newLimiter := func(rl config.RateLimit, name string) ratelimit.Limiter {
		if rl.Rate <= 0 {
			return nil
		}
		l := ratelimit.Limit{Rate: rl.Rate, Burst: rl.Burst}
		if a.redis != nil {
			return ratelimit.NewRedis(a.redis, cfg.RedisPrefix+name+":", l, now)
		}
		return ratelimit.NewMemory(l, now)
	}
	if cfg.RedisURL != "" {
		ropt, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("redis url: %w", err)
		}
		a.redis = redis.NewClient(ropt)
		a.closers = append(a.closers, a.redis.Close)
		a.bus = fanout.NewRedis(a.redis, cfg.RedisPrefix+"events:", 1000)
		if limit.Rate > 0 {
			limiter = ratelimit.NewRedis(a.redis, cfg.RedisPrefix+"rl:", limit, now)
		}
	} else {
		a.bus = fanout.NewMemory(1000)
		if limit.Rate > 0 {
			limiter = ratelimit.NewMemory(limit, now)
		}
	}
	a.closers = append(a.closers, a.bus.Close)
	ackPerSource = newLimiter(cfg.Limits.AckPerSource, "rl-ack-source")
	ackPerAgency = newLimiter(cfg.Limits.AckPerAgency, "rl-ack-agency")

	// Configuration as data. Agencies first: gate files name them.
	agencySet, err := LoadAgencies(cfg)
	if err != nil {
		return nil, err
	}
	a.Agencies = agencies.NewRegistry(agencySet)
	gates, err := gate.LoadDir(cfg.GatesDir, agencySet)
	if err != nil {
		return nil, fmt.Errorf("load gates: %w", err)
	}
	registry := gate.NewRegistry(gates)
	maps, err := mapping.Load(cfg.MappingsDir)
	if err != nil {
		return nil, fmt.Errorf("load mappings: %w", err)
	}
	a.mappings = maps
	if err := checkMappings(agencySet, maps); err != nil {
		return nil, err
	}
	a.schemas, err = schema.Load(cfg.SchemasDir)
	if err != nil {
		return nil, fmt.Errorf("load schemas: %w", err)
	}
	a.closers = append(a.closers, func() error { a.schemas.Close(); return nil })
	// The files just loaded, content-addressed in the store: every
	// message.built names them, and audit archives carry them.
	buildInputs, err := inputs.Collect(map[string]string{"mappings": cfg.MappingsDir, "schemas": cfg.SchemasDir})
	if err != nil {
		return nil, err
	}
	if err := buildInputs.Store(ctx, a.Store); err != nil {
		return nil, fmt.Errorf("store build inputs: %w", err)
	}

	// Keys and trust.
	if a.Identity, err = hubIdentity(cfg, now()); err != nil {
		return nil, err
	}
	if closer, ok := a.Identity.Key.(interface{ Close() error }); ok {
		a.closers = append(a.closers, closer.Close)
	}
	a.Trust, err = loadTrust(cfg.TrustDir)
	if err != nil {
		return nil, err
	}
	a.Trust.Add(hub.Participant, a.Identity.Cert, time.Time{}, time.Time{})
	if err := trustAgencyFiles(agencySet, a.Trust); err != nil {
		return nil, err
	}
	signer, err := sign.NewSigner(a.Identity)
	if err != nil {
		return nil, fmt.Errorf("hub signer: %w", err)
	}
	agencySigners, err := agencySigners(cfg, agencySet, signer, a.Trust, now())
	if err != nil {
		return nil, err
	}
	laneKey, laneKeyID, err := gatedevice.LoadOrCreateKey(cfg.KeysDir)
	if err != nil {
		return nil, fmt.Errorf("lane decision key: %w", err)
	}
	a.LaneKey = &lanes.LaneSigner{Key: laneKey, KeyID: laneKeyID}

	// Listener first: the simulators need the callback URL.
	a.listener = opt.Listener
	if a.listener == nil {
		a.listener, err = net.Listen("tcp", cfg.Addr)
		if err != nil {
			return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
		}
	}
	publicURL := cfg.PublicURL
	if strings.HasSuffix(publicURL, ":0") || opt.Listener != nil {
		// Agencies call back on this URL: it must name the scheme we serve.
		scheme := "http"
		if cfg.TLS.CertFile != "" {
			scheme = "https"
		}
		publicURL = scheme + "://" + a.listener.Addr().String()
	}
	a.Config.PublicURL = publicURL

	endpoints := map[string]acknowledgements.Endpoint{}
	specs := Specs(agencySet)
	urls, err := cfg.Endpoints(agencySet)
	if err != nil {
		return nil, err
	}
	for name, url := range urls {
		endpoints[name] = acknowledgements.Endpoint{Spec: specs[name], URL: url}
	}
	if cfg.Simulators {
		defs, err := sim.Definitions(agencySet, cfg.SimulatorRulesDir)
		if err != nil {
			return nil, fmt.Errorf("agency simulators: %w", err)
		}
		red := map[string]*sim.RedChannelSpec{}
		for _, d := range defs {
			red[d.Spec.Name] = d.RedChannel
		}
		// Not bound to ctx: the simulators are agencies the dispatcher may
		// still be talking to while Run shuts down; they close with the
		// other resources, after in-flight deliveries settled.
		a.Simulators, err = sim.StartAll(context.WithoutCancel(ctx), sim.Options{
			Definitions: defs,
			Addr:        cfg.SimulatorAddr, Registry: maps, Validator: a.schemas, Trust: a.Trust,
			KeysDir: filepath.Join(cfg.DataDir, "simulator-keys"), CallbackURL: publicURL,
			Mode: cfg.SimulatorMode, Delay: cfg.SimulatorDelay, Now: now,
			Configure: func(c *sim.Config) {
				c.Orders = SimulatorOrders(red[c.Agency], cfg)
				if opt.ConfigureSimulator != nil {
					opt.ConfigureSimulator(c)
				}
			},
		})
		if err != nil {
			return nil, fmt.Errorf("start agency simulators: %w", err)
		}
		a.closers = append(a.closers, a.Simulators.Close)
		a.Simulators.TrustAgencies(a.Trust)
		for name, url := range a.Simulators.Endpoints() {
			if _, configured := endpoints[name]; !configured {
				endpoints[name] = acknowledgements.Endpoint{Spec: specs[name], URL: url}
			}
		}
	}

	// Persist what we trust, so that offline tools (audit export, verify)
	// see the same certificates the hub used.
	if err := a.Trust.Save(cfg.TrustDir); err != nil {
		return nil, fmt.Errorf("save trust store: %w", err)
	}

	a.Metrics = metrics.New()
	a.Metrics.Init(agencySet.Strings(), registry.Current().Codes())
	a.Metrics.WatchCertificates(a.certificates)
	if pg, ok := a.Store.(*postgres.Store); ok {
		pg.OnRetry(a.Metrics.StoreRetry)
	}
	guard := refusal.New(refusal.Config{
		Window: cfg.Limits.Refusals.Window, Detailed: cfg.Limits.Refusals.Detailed,
		PerSource: ratelimit.Limit{Rate: cfg.Limits.Refusals.PerSource.Rate, Burst: cfg.Limits.Refusals.PerSource.Burst},
		Global:    ratelimit.Limit{Rate: cfg.Limits.Refusals.Entries.Rate, Burst: cfg.Limits.Refusals.Entries.Burst},
	}, now)
	// Wake and WakeEvents are set below, once the dispatcher and the relay
	// exist.
	a.Tx = &txn.Runner{Store: a.Store, Now: now}
	a.Decisions = &decisions.Decider{Tx: a.Tx, Gates: registry, Agencies: a.Agencies, Metrics: a.Metrics}
	a.Views = &views.Service{Tx: a.Tx, Decisions: a.Decisions}
	a.Lanes = &lanes.Service{Tx: a.Tx, Decisions: a.Decisions, Gates: registry, Signer: a.LaneKey, Metrics: a.Metrics}
	a.Submission = &submission.Service{
		Tx: a.Tx, Decisions: a.Decisions, Views: a.Views, Gates: registry, Mappings: maps, Schemas: a.schemas,
		Signer: signer, AgencySigners: agencySigners, Inputs: buildInputs.ID, Metrics: a.Metrics, Crossings: a.Lanes,
	}
	a.Acks = &acknowledgements.Service{
		Tx: a.Tx, Decisions: a.Decisions, Gates: registry,
		Acks:     &ack.Reader{Verifier: sign.NewVerifier(a.Trust, AgencyProfiles(agencySet)...), Mappings: maps},
		Refusals: guard, Metrics: a.Metrics, Log: a.Log,
	}
	a.Operator = &operator.Service{Tx: a.Tx, Decisions: a.Decisions, Gates: registry, Mappings: maps}
	a.GateConfig = &gateconfig.Service{Tx: a.Tx, Gates: registry, Agencies: a.Agencies, Log: a.Log}
	a.RefusalLog = &refusallog.Recorder{Tx: a.Tx, Refusals: guard, Metrics: a.Metrics, Log: a.Log}
	rules := DirectiveRules(agencySet)
	if err := rules.Validate(a.Operator.KnownAgency); err != nil {
		return nil, fmt.Errorf("agency message rules: %w", err)
	}
	a.AgencyMessages = &agencymsg.Service{Tx: a.Tx, Decisions: a.Decisions, Sign: a.Submission.SignFor,
		Verifier: a.Acks.Acks.Verifier, Schemas: a.schemas, Rules: rules, Refusals: guard, Log: a.Log, Metrics: a.Metrics}
	a.Decisions.Orders = agencymsg.Orders
	inCallRetries := cfg.Delivery.InCallRetries
	if inCallRetries == 0 {
		// In the configuration 0 means no in-call retries (the default is
		// set by config.Default); RetryOptions reads 0 as "use its default"
		// and wants a negative number for none.
		inCallRetries = -1
	}
	client := agency.NewRetryingClient(agency.RetryOptions{
		MaxRetries: inCallRetries, Base: &http.Client{Timeout: cfg.Delivery.Timeout},
	})
	a.Dispatcher = &outbox.Dispatcher{
		Store: a.Store, Hooks: a.Acks,
		Sender: &acknowledgements.Sender{Transport: agency.NewTransport(client), Endpoints: endpoints, Now: now, Acks: a.Acks},
		Policy: outbox.Policy{
			MaxAttempts: cfg.Delivery.MaxAttempts, MaxAge: cfg.Delivery.MaxAge,
			BaseBackoff: cfg.Delivery.BaseBackoff, MaxBackoff: cfg.Delivery.MaxBackoff, Jitter: jitter(),
		},
		Owner: cfg.InstanceID, Batch: cfg.Delivery.Batch, Lease: cfg.Delivery.Lease,
		Workers: cfg.Delivery.Workers, Poll: cfg.Delivery.Poll, Now: now, Log: a.Log,
		// One delivery lane per agency: one agency's outage never delays
		// another's messages.
		Agencies: agencyNames(agencySet, endpoints),
		Breaker:  outbox.BreakerPolicy{Failures: cfg.Delivery.BreakerFailures, Cooldown: cfg.Delivery.BreakerCooldown},
	}
	a.Operator.ResetDelivery = a.Dispatcher.ResetBreaker
	if a.Metrics != nil {
		for _, name := range a.Dispatcher.Agencies {
			a.Metrics.DeliveryCircuit(name, false) // present from the start, so alerts see the first opening
		}
		a.Dispatcher.OnBreaker = func(agency string, _, to outbox.BreakerState) {
			a.Metrics.DeliveryCircuit(agency, to != outbox.BreakerClosed)
		}
	}
	a.Tx.Wake = a.Dispatcher.Wake
	a.Relay, err = eventrelay.New(eventrelay.Config{
		Store: a.Store, Bus: a.bus, Owner: cfg.InstanceID, Now: now, Log: a.Log,
		OnPublished: func(evs []store.Event) { a.Metrics.EventsPublished(len(evs)) },
		OnBacklog:   a.Metrics.EventBacklog,
	})
	if err != nil {
		return nil, fmt.Errorf("event relay: %w", err)
	}
	a.Tx.WakeEvents = a.Relay.Wake
	// Gate files applied at run time (on this or another instance, before
	// this start) override the shipped ones.
	if err := a.GateConfig.SyncGates(ctx); err != nil {
		a.Log.Error("stored gate configuration not installed; the shipped file stays", "error", err)
	}

	tokens, err := loadTokens(cfg.TokensFile)
	if err != nil {
		return nil, err
	}
	authn := auth.NewAuthenticator(tokens, registry)
	authn.AgencyCerts = func(fp string) (string, bool) {
		// Only certificates trusted now: a certificate retired by a key
		// rotation stays in the store to verify old signatures, but must
		// not open a new session.
		now := a.Tx.Clock()
		for _, p := range a.Trust.Participants() {
			for _, c := range a.Trust.Certificates(p, now) {
				if pki.Fingerprint(c) == fp && p != hub.Participant {
					return p, true
				}
			}
		}
		return "", false
	}
	// Live event streams end when graceful shutdown starts (devices
	// reconnect elsewhere with Last-Event-ID); other requests may finish.
	streams, endStreams := context.WithCancel(context.Background())
	a.closers = append(a.closers, func() error { endStreams(); return nil })
	a.Server = &httpapi.Server{
		Tx: a.Tx, Submission: a.Submission, Views: a.Views, Operator: a.Operator, Acks: a.Acks,
		GateConfig: a.GateConfig, RefusalLog: a.RefusalLog, AgencyMessages: a.AgencyMessages, Lanes: a.Lanes, Auth: authn, Gates: registry, Agencies: a.Agencies, Codes: maps.Codes(), Bus: a.bus, Metrics: a.Metrics, Limiter: limiter, Log: a.Log,
		AckPerSource: ackPerSource, AckPerAgency: ackPerAgency, BodyReadTimeout: cfg.Limits.BodyReadTimeout,
		StreamsPerPrincipal: cfg.Limits.StreamsPerPrincipal, StreamsTotal: cfg.Limits.StreamsTotal,
		Ready: a.ready, Admit: a.admit, BeforeScrape: a.refreshMessageCounts, Streams: streams,
		ReloadAgencies: a.ReloadAgencies,
		OnGateApplied: func(_ context.Context, g *gate.Gate) error {
			a.Log.Info("gate configuration applied", "gate", g.Code)
			return nil
		},
	}
	con, err := console.New(&console.Server{
		API: a.Server, Auth: authn, Gates: registry, Bus: a.bus, Log: a.Log,
		Secure: cfg.TLS.CertFile != "", Streams: streams, Now: now,
		Timeline: console.Merged{console.ViewTimeline{}, console.CrossingTimeline{Lanes: a.Lanes}},
		Export: func(ctx context.Context, w io.Writer) error {
			// The certificates the hub trusts, as gatehubctl audit export
			// puts them in the archive for offline verification.
			certs := map[string][]*x509.Certificate{}
			for _, p := range a.Trust.Participants() {
				certs[p] = a.Trust.All(p)
			}
			_, err := audit.Export(ctx, a.Store, store.AuditFilter{}, certs, a.Tx.Clock(), w)
			return err
		},
	})
	if err != nil {
		return nil, err
	}
	a.Server.Console = con.Handler()
	a.http = &http.Server{
		Handler:           a.Server.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(a.Log.Handler(), slog.LevelWarn),
	}
	a.http.RegisterOnShutdown(endStreams)
	if cfg.TLS.CertFile != "" {
		tc, err := tlsConfig(cfg.TLS)
		if err != nil {
			return nil, err
		}
		a.http.TLSConfig = tc
	}
	return a, nil
}

func loadTrust(dir string) (*pki.TrustStore, error) {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return pki.NewTrustStore(), nil
	}
	ts, err := pki.LoadTrustStore(dir)
	if err != nil {
		return nil, fmt.Errorf("load trust store: %w", err)
	}
	return ts, nil
}

func loadTokens(path string) (*auth.Tokens, error) {
	if path == "" {
		return &auth.Tokens{}, nil
	}
	t, err := auth.LoadTokens(path)
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	return t, nil
}

func tlsConfig(c config.TLS) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls key pair: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if c.ClientCAFile != "" {
		pem, err := os.ReadFile(c.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client CA %s holds no certificate", c.ClientCAFile)
		}
		// Verify when offered; traders and operators still use bearer tokens.
		tc.ClientCAs, tc.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	return tc, nil
}

// agencyNames lists every agency a message may go to: the known ones
// whether or not an endpoint is configured (a message to an agency without
// one is retried, and shows as failing, until an operator adds it; without
// a lane it would wait unseen) and any other configured.
func agencyNames(set *agencies.Set, endpoints map[string]acknowledgements.Endpoint) []string {
	names := set.Strings()
	for name := range endpoints {
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// URL is the base URL the hub serves on.
func (a *App) URL() string { return a.Config.PublicURL }

// ready reports readiness. Only what makes this instance unable to serve
// fails it: the store and the signing certificate. Redis is used fail-open
// (in-process fan-out and rate limits carry on) and one Redis outage is
// shared by every replica, so failing readiness on it would take them all
// out of the load balancer at once: it is reported degraded. So is a low
// disk, which refuses new declarations only (ACKs must still come in).
func (a *App) ready(ctx context.Context) httpapi.Readiness {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	rd := httpapi.Readiness{Ready: true, Checks: map[string]string{"store": "ok", "signing": "ok"}}
	if err := a.Store.Ping(ctx); err != nil {
		rd.Ready, rd.Checks["store"] = false, err.Error()
	}
	if a.Identity.Cert.NotAfter.Before(a.Tx.Clock()) {
		rd.Ready, rd.Checks["signing"] = false, "hub signing certificate expired"
	}
	if a.redis != nil {
		rd.Checks["redis"] = "ok"
		if err := a.redis.Ping(ctx).Err(); err != nil {
			rd.Checks["redis"] = err.Error()
			rd.Degraded = append(rd.Degraded, "redis")
		}
	}
	if a.disk != nil {
		st := a.disk.Read()
		rd.Checks["disk"] = st.String()
		if st.Low || st.Err != nil {
			rd.Degraded = append(rd.Degraded, "disk")
		}
	}
	return rd
}

// admit refuses new declarations while the embedded store's disk is low.
func (a *App) admit(ctx context.Context) error {
	if a.disk == nil {
		return nil
	}
	return a.disk.Admit(ctx)
}

// Run serves HTTP, delivers the outbox and writes audit checkpoints until
// ctx ends, then shuts down gracefully: the listener closes, in-flight
// requests and deliveries finish (bounded by ShutdownGrace), resources close.
func (a *App) Run(ctx context.Context) error {
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	gateEvents, err := a.bus.Subscribe(runCtx, gateconfig.GateConfigTopic, "")
	if err != nil && runCtx.Err() == nil {
		// Not fatal: the periodic sync in watchGates still installs applied
		// gates and retries the subscription.
		a.Log.Error("subscribe to gate configuration events", "error", err)
	}
	// Whatever was applied between New and the subscription.
	if err := a.GateConfig.SyncGates(runCtx); err != nil {
		a.Log.Error("stored gate configuration not installed", "error", err)
	}
	// wg.Go, not Add(n) and n Dones: a loop added later cannot unbalance it.
	wg.Go(func() { _ = a.Relay.Run(runCtx) })
	wg.Go(func() { a.watchGates(runCtx, gateEvents) })
	wg.Go(func() { a.resendOverdue(runCtx) })
	wg.Go(func() { _ = a.Dispatcher.Run(runCtx) })
	wg.Go(func() { a.checkpoints(runCtx) })
	wg.Go(func() {
		every(runCtx, a.RefusalLog.Refusals.Window(), func() { a.RefusalLog.FlushRefusals(runCtx, false) })
	})
	wg.Go(func() { a.messageCounts(runCtx) })
	go func() {
		var err error
		if a.http.TLSConfig != nil {
			err = a.http.ServeTLS(a.listener, "", "")
		} else {
			err = a.http.Serve(a.listener)
		}
		if !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
		close(errc)
	}()
	info := version.Get()
	a.Log.Info("gatehub serving", "url", a.URL(), "instance", a.Config.InstanceID, "simulators", a.Simulators != nil,
		"version", info.Version, "commit", info.Commit)
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	stopping := time.Now()
	reason := "stop requested"
	if serveErr != nil {
		reason = "serve failed"
	} else if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		reason = cause.Error()
	}
	a.Log.Info("gatehub shutting down", "instance", a.Config.InstanceID, "reason", reason,
		"grace_ms", a.Config.ShutdownGrace.Milliseconds())
	defer func() {
		a.Log.Info("gatehub stopped", "instance", a.Config.InstanceID, "duration_ms", time.Since(stopping).Milliseconds())
	}()
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.Config.ShutdownGrace)
	defer cancel()
	if err := a.http.Shutdown(shutdownCtx); err != nil {
		a.Log.Warn("http shutdown did not finish within the grace period", "error", err)
	}
	stop()
	wg.Wait() // the dispatcher finishes and settles its in-flight batch
	// Counted refusals are written before the last checkpoint signs them.
	a.RefusalLog.FlushRefusals(context.WithoutCancel(ctx), true)
	// The events of those last settles: published now rather than by the
	// next instance or start (they are stored either way).
	if _, err := a.Relay.RunOnce(context.WithoutCancel(ctx)); err != nil {
		a.Log.Warn("last event relay round", "error", err)
	}
	if a.Config.CheckpointEvery > 0 {
		// The last entries of a run are then covered by a signature too, not
		// only by the chain's continuity with whatever comes next.
		a.checkpoint(context.WithoutCancel(ctx))
	}
	a.close()
	return serveErr
}

// Close releases everything without serving (for callers that never Run).
func (a *App) Close() { a.close() }

func (a *App) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		if err := a.closers[i](); err != nil {
			a.Log.Warn("close", "error", err)
		}
	}
	a.closers = nil
	if a.listener != nil {
		_ = a.listener.Close()
	}
}

// checkpoints signs the audit chain head periodically, so an auditor can
// prove the log was not truncated or rewritten after the fact.
func (a *App) checkpoints(ctx context.Context) {
	every(ctx, a.Config.CheckpointEvery, func() { a.checkpoint(ctx) })
}

// checkpoint signs the current chain head (nothing when it is unchanged).
func (a *App) checkpoint(ctx context.Context) {
	cp := audit.NewCheckpointer(a.Identity.Key, pki.Fingerprint(a.Identity.Cert))
	err := a.Store.WithTx(ctx, func(tx store.Tx) error {
		_, err := cp.Checkpoint(ctx, tx, a.Tx.Clock())
		return err
	})
	if err != nil && ctx.Err() == nil {
		a.Log.Error("audit checkpoint", "error", err)
	}
}

// every runs fn each period until ctx ends; a period <= 0 disables it.
func every(ctx context.Context, period time.Duration, fn func()) {
	if period <= 0 {
		return
	}
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fn()
	}
}

// messageCountsEvery is how often the per agency/state message gauge is
// recounted between scrapes.
const messageCountsEvery = 5 * time.Second

// messageCounts keeps the gatehub_messages gauge (outbox depth, dead
// letters, unanswered messages) current. Scrapes refresh it too; the loop
// covers registries read in-process and surfaces a failing count in the log
// even when nobody scrapes.
func (a *App) messageCounts(ctx context.Context) {
	t := time.NewTicker(messageCountsEvery)
	defer t.Stop()
	for {
		a.refreshMessageCounts(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *App) refreshMessageCounts(ctx context.Context) {
	// Gates applied since (here or on another instance) get their lane
	// counters at zero too.
	a.Metrics.Init(nil, a.GateConfig.Gates.Current().Codes())
	var counts map[[2]string]int
	var oldest map[string]time.Time
	err := a.Store.WithTx(ctx, func(tx store.Tx) error {
		var err error
		if counts, err = tx.CountMessages(ctx); err != nil {
			return err
		}
		oldest, err = tx.OldestPending(ctx)
		return err
	})
	if err != nil {
		if ctx.Err() == nil {
			a.Log.Warn("count messages for metrics", "error", err)
		}
		return
	}
	a.Metrics.SetMessageCounts(counts)
	a.Metrics.SetOldestPending(oldest, a.Tx.Clock())
}

// certificates lists what gatehub_certificate_expiry_timestamp_seconds
// reports: the hub's signing certificate and, per agency, the trusted
// certificate whose trust ends last. After a rotation that is the new
// certificate, so the retired one (kept only to verify old signatures)
// never raises an alert; an agency whose only certificate expired keeps
// reporting that past time, so the alert keeps firing until a new one is
// imported.
func (a *App) certificates() []metrics.Certificate {
	out := []metrics.Certificate{{Participant: hub.Participant, Role: "hub", Cert: a.Identity.Cert}}
	for _, p := range a.Trust.Participants() {
		if p == hub.Participant {
			continue
		}
		var best metrics.Certificate
		for _, c := range a.Trust.All(p) {
			_, until, ok := a.Trust.Window(p, c)
			if !ok {
				until = c.NotAfter
			}
			if best.Cert == nil || until.After(best.Until) {
				best = metrics.Certificate{Participant: p, Role: "agency", Cert: c, Until: until}
			}
		}
		if best.Cert != nil {
			out = append(out, best)
		}
	}
	return out
}

// watchGates installs gate files applied on any instance. The event only
// says that something changed; the store says what, so a lost or repeated
// event does no harm, and a slow periodic sync catches up after a Redis
// outage that dropped events.
func (a *App) watchGates(ctx context.Context, events <-chan fanout.Event) {
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if events == nil {
				events, _ = a.bus.Subscribe(ctx, gateconfig.GateConfigTopic, "")
			}
		case _, ok := <-events:
			if !ok {
				// The bus dropped us (Redis reconnect, overflow): sync now and
				// try to subscribe again; on failure the ticker retries.
				events, _ = a.bus.Subscribe(ctx, gateconfig.GateConfigTopic, "")
			}
		}
		if err := a.GateConfig.SyncGates(ctx); err != nil && ctx.Err() == nil {
			a.Log.Error("stored gate configuration not installed", "error", err)
		}
		select {
		case a.gatesSynced <- struct{}{}:
		default:
		}
	}
}

// GatesSynced receives after each time this instance re-read the stored
// gate files because of an event or its periodic sync (tests wait on it).
func (a *App) GatesSynced() <-chan struct{} { return a.gatesSynced }

// resendOverdue periodically sends again what agencies have not answered
// in time (hub.ResendOverdue).
func (a *App) resendOverdue(ctx context.Context) {
	every(ctx, a.Config.ResendOverdueEvery, func() {
		n, err := a.Operator.ResendOverdue(ctx, 100)
		switch {
		case err != nil && ctx.Err() == nil:
			a.Log.Error("resend overdue messages", "error", err)
		case n > 0:
			a.Log.Warn("resending messages whose ACK is overdue", "count", n)
		}
	})
}
