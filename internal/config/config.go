// Package config reads the hub's configuration: defaults that run the whole
// hub on one machine, overridden by an optional YAML file, overridden by
// environment variables (GATEHUB_*), so that containers are configured the
// twelve-factor way and a laptop needs nothing at all.
package config

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gatehub/gatehub/internal/agencies"
	"github.com/gatehub/gatehub/internal/pki"
)

// Config is the whole hub configuration.
type Config struct {
	Addr       string `yaml:"addr"`       // listen address
	PublicURL  string `yaml:"publicURL"`  // how agencies reach us for async ACKs; default http://<addr>
	DataDir    string `yaml:"dataDir"`    // embedded store, generated dev keys
	InstanceID string `yaml:"instanceID"` // outbox lease owner; default host-pid

	DatabaseURL string `yaml:"databaseURL"` // postgres://…; empty = embedded SQLite in DataDir
	RedisURL    string `yaml:"redisURL"`    // redis://…; empty = in-process fan-out and rate limits
	RedisPrefix string `yaml:"redisPrefix"`

	GatesDir string `yaml:"gatesDir"`
	// AgenciesDir holds one <code>.yaml per agency (deploy/agencies).
	AgenciesDir string `yaml:"agenciesDir"`
	// SimulatorRulesDir holds the simulators' business rules per agency
	// (simulators/<code>.yaml); read only when the simulators run.
	SimulatorRulesDir string `yaml:"simulatorRulesDir"`
	MappingsDir       string `yaml:"mappingsDir"`
	SchemasDir        string `yaml:"schemasDir"`
	KeysDir           string `yaml:"keysDir"`  // hub signing key (+ lane decision key); default DataDir/keys
	TrustDir          string `yaml:"trustDir"` // participant certificates; default DataDir/trust
	TokensFile        string `yaml:"tokensFile"`

	// Agency endpoints by agency code, over the endpoint.url of the agency
	// files. None anywhere (and no database) = the embedded demo.
	AgencyURLs map[string]string `yaml:"agencyURLs"`
	// Agencies is the agency set Load read from AgenciesDir (nil for a
	// Config built in Go: the app loads AgenciesDir then).
	Agencies *agencies.Set `yaml:"-"`
	// Simulators runs the agency simulators in-process (demo, tests). Left
	// unset, they run only in the embedded demo setup: no database URL and no
	// agency endpoint. A production configuration never gets them by
	// accident, because a hub talking to simulators would clear trucks on
	// simulated ACKs and trust the simulators' certificates.
	Simulators     bool          `yaml:"simulators"`
	SimulatorMode  string        `yaml:"simulatorMode"` // sync | async
	SimulatorAddr  string        `yaml:"simulatorAddr"`
	SimulatorDelay time.Duration `yaml:"simulatorDelay"`
	// SimulatorRedChannel is the share of trucks (0..1) the simulated
	// customs sends to the red channel: a HOLD at gate-in (B1) after its
	// ACK, released SimulatorReleaseAfter later (0: never). The demo setup
	// holds every fourth truck customs acknowledges for 30 s unless told
	// otherwise.
	SimulatorRedChannel   float64       `yaml:"simulatorRedChannel"`
	SimulatorReleaseAfter time.Duration `yaml:"simulatorReleaseAfter"`

	Delivery  Delivery  `yaml:"delivery"`
	RateLimit RateLimit `yaml:"rateLimit"`
	Limits    Limits    `yaml:"limits"`
	TLS       TLS       `yaml:"tls"`

	CheckpointEvery time.Duration `yaml:"checkpointEvery"` // signed audit checkpoints
	// ResendOverdueEvery is how often delivered messages whose ACK is
	// overdue are sent again (same id, same bytes); 0 disables.
	ResendOverdueEvery time.Duration `yaml:"resendOverdueEvery"`
	ShutdownGrace      time.Duration `yaml:"shutdownGrace"`
	LogFormat          string        `yaml:"logFormat"` // json | text
	// DiskReserveMB: the embedded store refuses new declarations (507)
	// once its file system has less free space than this, and settles
	// what it accepted from the reserve. Not used with Postgres.
	DiskReserveMB int `yaml:"diskReserveMB"`

	// simulatorsSet records that the file or the environment chose
	// Simulators explicitly, so fill leaves the choice alone.
	simulatorsSet bool

	// HubKeyURI is the PKCS#11 URI (RFC 7512) of the hub's signing key in
	// an HSM or token; empty: KeysDir/hub.key.pem. With it, the hub's key
	// for the default signature profile is never read from disk.
	HubKeyURI string `yaml:"hubKeyURI"`
	// Production refuses what only development may do: with HubKeyURI
	// set, no hub signing key of any profile is read from or created on
	// disk.
	Production bool `yaml:"production"`
}

// Delivery tunes the outbox.
type Delivery struct {
	MaxAttempts   int           `yaml:"maxAttempts"`
	MaxAge        time.Duration `yaml:"maxAge"`
	BaseBackoff   time.Duration `yaml:"baseBackoff"`
	MaxBackoff    time.Duration `yaml:"maxBackoff"`
	Workers       int           `yaml:"workers"`
	Batch         int           `yaml:"batch"`
	Lease         time.Duration `yaml:"lease"`
	Poll          time.Duration `yaml:"poll"`
	Timeout       time.Duration `yaml:"timeout"`       // per HTTP attempt
	InCallRetries int           `yaml:"inCallRetries"` // go-retryablehttp retries inside one attempt
	// An agency's delivery circuit opens after BreakerFailures temporary
	// failures in a row, for BreakerCooldown (doubling on a failed probe).
	BreakerFailures int           `yaml:"breakerFailures"`
	BreakerCooldown time.Duration `yaml:"breakerCooldown"`
}

// RateLimit is the per-principal request budget.
type RateLimit struct {
	Rate  float64 `yaml:"rate"` // requests per second; 0 disables
	Burst int     `yaml:"burst"`
}

// Limits bound what one client may cost the hub: audit entries, CPU,
// connections.
type Limits struct {
	Refusals Refusals `yaml:"refusals"`
	// AckPerSource and AckPerAgency budget POST /v1/acks by client
	// address and by agency (Rate 0 disables), before a body is read.
	AckPerSource RateLimit `yaml:"ackPerSource"`
	AckPerAgency RateLimit `yaml:"ackPerAgency"`
	// BodyReadTimeout bounds reading a whole request (headers and body):
	// a client trickling its body holds a connection no longer.
	BodyReadTimeout time.Duration `yaml:"bodyReadTimeout"`
	// StreamsPerPrincipal and StreamsTotal bound live event streams open
	// at once on this instance; beyond them a new stream gets 429.
	StreamsPerPrincipal int `yaml:"streamsPerPrincipal"`
	StreamsTotal        int `yaml:"streamsTotal"`
}

// Refusals bound what refused anonymous requests may add to the audit log
// (see internal/refusal).
type Refusals struct {
	Window    time.Duration `yaml:"window"`    // aggregation window
	Detailed  int           `yaml:"detailed"`  // entries of their own per source and window
	PerSource RateLimit     `yaml:"perSource"` // refusals a source may cause before 429
	Entries   RateLimit     `yaml:"entries"`   // refusal entries of all sources together
}

// TLS enables HTTPS and, with ClientCAFile, mTLS client certificates.
type TLS struct {
	CertFile     string `yaml:"certFile"`
	KeyFile      string `yaml:"keyFile"`
	ClientCAFile string `yaml:"clientCAFile"`
}

// Default returns the embedded single-machine configuration.
func Default() Config {
	host, _ := os.Hostname()
	return Config{
		Addr:              "127.0.0.1:8080",
		DataDir:           "data",
		InstanceID:        fmt.Sprintf("%s-%d", host, os.Getpid()),
		RedisPrefix:       "gatehub:",
		GatesDir:          "deploy/gates",
		AgenciesDir:       "deploy/agencies",
		SimulatorRulesDir: "simulators",
		MappingsDir:       "mappings",
		SchemasDir:        "schemas",
		TokensFile:        "deploy/tokens.dev.yaml",
		SimulatorMode:     "sync",
		SimulatorAddr:     "127.0.0.1:0",
		Delivery: Delivery{
			MaxAttempts: 12, MaxAge: time.Hour, BaseBackoff: 2 * time.Second, MaxBackoff: 5 * time.Minute,
			Workers: 8, Batch: 32, Lease: 2 * time.Minute, Poll: time.Second, Timeout: 20 * time.Second, InCallRetries: 2,
			BreakerFailures: 5, BreakerCooldown: 2 * time.Second,
		},
		RateLimit: RateLimit{Rate: 50, Burst: 100},
		Limits: Limits{
			Refusals: Refusals{
				Window: time.Minute, Detailed: 5,
				PerSource: RateLimit{Rate: 0.2, Burst: 30}, Entries: RateLimit{Rate: 5, Burst: 200},
			},
			AckPerSource:        RateLimit{Rate: 200, Burst: 400},
			AckPerAgency:        RateLimit{Rate: 200, Burst: 400},
			BodyReadTimeout:     30 * time.Second,
			StreamsPerPrincipal: 4,
			StreamsTotal:        2000,
		},
		CheckpointEvery:    time.Minute,
		ResendOverdueEvery: 30 * time.Second,
		ShutdownGrace:      30 * time.Second,
		LogFormat:          "json",
		DiskReserveMB:      256,
	}
}

// Load applies the YAML file at path (if not empty) and then the
// environment to the defaults, and fills derived values.
func Load(path string, env func(string) string) (Config, error) {
	c := Default()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("read config: %w", err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(data)))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil {
			return c, fmt.Errorf("%s: %w", path, err)
		}
		var keys map[string]yaml.Node
		if err := yaml.Unmarshal(data, &keys); err == nil {
			_, c.simulatorsSet = keys["simulators"]
		}
	}
	if err := c.applyEnv(env); err != nil {
		return c, err
	}
	set, err := agencies.LoadDir(c.AgenciesDir)
	if err != nil {
		return c, fmt.Errorf("agencies: %w", err)
	}
	c.Agencies = set
	for _, a := range set.Strings() {
		if v := env(EndpointEnv(a)); v != "" {
			if c.AgencyURLs == nil {
				c.AgencyURLs = map[string]string{}
			}
			c.AgencyURLs[a] = v
		}
	}
	c.fill()
	return c, c.Validate()
}

// EndpointEnv is the environment variable of an agency's endpoint URL.
func EndpointEnv(code string) string {
	return "GATEHUB_AGENCY_" + strings.ToUpper(code) + "_URL"
}

// Endpoints resolves every agency's endpoint URL: the hub configuration
// (agencyURLs, GATEHUB_AGENCY_<CODE>_URL) over the agency file's
// endpoint.url. Without simulators every agency needs one: a deployment
// never falls back to simulated ACKs because an endpoint is missing.
func (c Config) Endpoints(set *agencies.Set) (map[string]string, error) {
	out := map[string]string{}
	var errs []string
	for _, a := range set.All() {
		url := c.AgencyURLs[string(a.Code)]
		if url == "" {
			url = a.Endpoint.URL
		}
		if url != "" {
			out[string(a.Code)] = url
			continue
		}
		if !c.Simulators {
			errs = append(errs, "no endpoint for agency "+string(a.Code)+" ("+EndpointEnv(string(a.Code))+" or endpoint.url in "+a.Source+"): "+
				"a deployment needs every agency's endpoint; simulators run only in the embedded demo (no database URL, no agency endpoint) or with GATEHUB_SIMULATORS=true")
		}
	}
	for _, code := range sortedKeys(c.AgencyURLs) {
		if _, ok := set.Lookup(code); !ok {
			errs = append(errs, fmt.Sprintf("agencyURLs.%s: unknown agency %q (known: %s)", code, code, strings.Join(set.Strings(), ", ")))
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("configuration: %s", strings.Join(errs, "; "))
	}
	return out, nil
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (c *Config) applyEnv(env func(string) string) error {
	str := func(name string, dst *string) {
		if v := env(name); v != "" {
			*dst = v
		}
	}
	var errs []string
	dur := func(name string, dst *time.Duration) {
		if v := env(name); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: %v", name, err))
				return
			}
			*dst = d
		}
	}
	num := func(name string, dst *int) {
		if v := env(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: not an integer", name))
				return
			}
			*dst = n
		}
	}
	boolean := func(name string, dst *bool) {
		if v := env(name); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: not a boolean", name))
				return
			}
			*dst = b
		}
	}
	str("GATEHUB_ADDR", &c.Addr)
	str("GATEHUB_PUBLIC_URL", &c.PublicURL)
	str("GATEHUB_DATA_DIR", &c.DataDir)
	str("GATEHUB_INSTANCE_ID", &c.InstanceID)
	str("GATEHUB_DATABASE_URL", &c.DatabaseURL)
	str("GATEHUB_REDIS_URL", &c.RedisURL)
	str("GATEHUB_REDIS_PREFIX", &c.RedisPrefix)
	str("GATEHUB_GATES_DIR", &c.GatesDir)
	str("GATEHUB_AGENCIES_DIR", &c.AgenciesDir)
	str("GATEHUB_SIMULATOR_RULES_DIR", &c.SimulatorRulesDir)
	str("GATEHUB_MAPPINGS_DIR", &c.MappingsDir)
	str("GATEHUB_SCHEMAS_DIR", &c.SchemasDir)
	str("GATEHUB_KEYS_DIR", &c.KeysDir)
	str("GATEHUB_TRUST_DIR", &c.TrustDir)
	str("GATEHUB_TOKENS_FILE", &c.TokensFile)
	str("GATEHUB_SIMULATOR_MODE", &c.SimulatorMode)
	str("GATEHUB_SIMULATOR_ADDR", &c.SimulatorAddr)
	dur("GATEHUB_SIMULATOR_DELAY", &c.SimulatorDelay)
	dur("GATEHUB_SIMULATOR_RELEASE_AFTER", &c.SimulatorReleaseAfter)
	if v := env("GATEHUB_SIMULATOR_RED_CHANNEL"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("GATEHUB_SIMULATOR_RED_CHANNEL: %w", err)
		}
		c.SimulatorRedChannel = f
	}
	boolean("GATEHUB_SIMULATORS", &c.Simulators)
	if env("GATEHUB_SIMULATORS") != "" {
		c.simulatorsSet = true
	}
	str("GATEHUB_TLS_CERT", &c.TLS.CertFile)
	str("GATEHUB_TLS_KEY", &c.TLS.KeyFile)
	str("GATEHUB_TLS_CLIENT_CA", &c.TLS.ClientCAFile)
	str("GATEHUB_LOG_FORMAT", &c.LogFormat)
	str("GATEHUB_HUB_KEY_URI", &c.HubKeyURI)
	boolean("GATEHUB_PRODUCTION", &c.Production)
	num("GATEHUB_DELIVERY_MAX_ATTEMPTS", &c.Delivery.MaxAttempts)
	dur("GATEHUB_DELIVERY_MAX_AGE", &c.Delivery.MaxAge)
	dur("GATEHUB_DELIVERY_BASE_BACKOFF", &c.Delivery.BaseBackoff)
	dur("GATEHUB_DELIVERY_MAX_BACKOFF", &c.Delivery.MaxBackoff)
	num("GATEHUB_DELIVERY_WORKERS", &c.Delivery.Workers)
	dur("GATEHUB_DELIVERY_LEASE", &c.Delivery.Lease)
	dur("GATEHUB_DELIVERY_POLL", &c.Delivery.Poll)
	dur("GATEHUB_DELIVERY_TIMEOUT", &c.Delivery.Timeout)
	num("GATEHUB_DELIVERY_IN_CALL_RETRIES", &c.Delivery.InCallRetries)
	num("GATEHUB_DELIVERY_BREAKER_FAILURES", &c.Delivery.BreakerFailures)
	dur("GATEHUB_DELIVERY_BREAKER_COOLDOWN", &c.Delivery.BreakerCooldown)
	dur("GATEHUB_CHECKPOINT_EVERY", &c.CheckpointEvery)
	num("GATEHUB_DISK_RESERVE_MB", &c.DiskReserveMB)
	dur("GATEHUB_RESEND_OVERDUE_EVERY", &c.ResendOverdueEvery)
	if len(errs) > 0 {
		return fmt.Errorf("environment: %s", strings.Join(errs, "; "))
	}
	return nil
}

func (c *Config) fill() {
	if c.KeysDir == "" {
		c.KeysDir = c.DataDir + "/keys"
	}
	if c.TrustDir == "" {
		c.TrustDir = c.DataDir + "/trust"
	}
	fileURL := slices.ContainsFunc(c.Agencies.All(), func(a *agencies.Agency) bool { return a.Endpoint.URL != "" })
	if !c.simulatorsSet && c.DatabaseURL == "" && len(c.AgencyURLs) == 0 && !fileURL {
		// Embedded store and no agency configured at all: the demo setup
		// that `gatehubd` with no flags is. Anything else is a deployment,
		// where missing endpoints are an error (Validate), not a cue to
		// simulate the agencies.
		c.Simulators = true
		if c.SimulatorRedChannel == 0 && c.SimulatorReleaseAfter == 0 {
			c.SimulatorRedChannel, c.SimulatorReleaseAfter = 0.25, 30*time.Second
		}
	}
	if c.PublicURL == "" {
		scheme := "http"
		if c.TLS.CertFile != "" {
			scheme = "https"
		}
		c.PublicURL = scheme + "://" + c.Addr
	}
}

// Validate checks values that would otherwise fail late.
func (c Config) Validate() error {
	var errs []string
	if c.DiskReserveMB < 0 {
		errs = append(errs, "diskReserveMB must not be negative")
	}
	if c.SimulatorMode != "sync" && c.SimulatorMode != "async" && c.SimulatorMode != "silent" {
		errs = append(errs, "simulatorMode must be sync, async or silent")
	}
	if c.SimulatorRedChannel < 0 || c.SimulatorRedChannel > 1 {
		errs = append(errs, "simulatorRedChannel must be between 0 and 1")
	}
	if c.SimulatorReleaseAfter < 0 {
		errs = append(errs, "simulatorReleaseAfter must not be negative")
	}
	if c.Delivery.MaxAttempts < 1 {
		errs = append(errs, "delivery.maxAttempts must be at least 1")
	}
	if c.Delivery.Workers < 1 {
		errs = append(errs, "delivery.workers must be at least 1")
	}
	if c.Delivery.BreakerFailures < 1 || c.Delivery.BreakerCooldown <= 0 {
		errs = append(errs, "delivery.breakerFailures must be at least 1 and delivery.breakerCooldown positive")
	}
	if c.Delivery.Lease <= c.Delivery.Timeout {
		errs = append(errs, "delivery.lease must exceed delivery.timeout, or two instances could send the same attempt")
	}
	l := c.Limits
	if l.Refusals.Window <= 0 || l.Refusals.Detailed < 1 || l.Refusals.PerSource.Rate <= 0 || l.Refusals.PerSource.Burst < 1 ||
		l.Refusals.Entries.Rate <= 0 || l.Refusals.Entries.Burst < 1 {
		errs = append(errs, "limits.refusals: window, detailed and both budgets (rate, burst) must be positive")
	}
	for name, rl := range map[string]RateLimit{"limits.ackPerSource": l.AckPerSource, "limits.ackPerAgency": l.AckPerAgency, "rateLimit": c.RateLimit} {
		if rl.Rate < 0 || (rl.Rate > 0 && rl.Burst < 1) {
			errs = append(errs, name+": rate must be 0 (off) or positive with a burst of at least 1")
		}
	}
	if l.BodyReadTimeout <= 0 {
		errs = append(errs, "limits.bodyReadTimeout must be positive")
	}
	if l.StreamsPerPrincipal < 1 || l.StreamsTotal < l.StreamsPerPrincipal {
		errs = append(errs, "limits.streamsPerPrincipal must be at least 1 and limits.streamsTotal at least as large")
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		errs = append(errs, "tls.certFile and tls.keyFile go together")
	}
	if c.TLS.ClientCAFile != "" && c.TLS.CertFile == "" {
		errs = append(errs, "tls.clientCAFile needs tls.certFile")
	}
	if c.HubKeyURI != "" {
		if _, err := pki.ParsePKCS11URI(c.HubKeyURI); err != nil {
			errs = append(errs, "hubKeyURI: "+err.Error())
		}
	}
	if c.Agencies != nil {
		if _, err := c.Endpoints(c.Agencies); err != nil {
			errs = append(errs, strings.TrimPrefix(err.Error(), "configuration: "))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("configuration: %s", strings.Join(errs, "; "))
	}
	return nil
}
