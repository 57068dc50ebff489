// Command agencysim runs simulated border agencies for demos and manual
// tests: one of them, or all of deploy/agencies behind one port, each
// checking what its simulators/<code>.yaml says.
//
//	agencysim -agency all -addr 127.0.0.1:8081 -callback http://127.0.0.1:8080 \
//	          -keys var/keys -trust var/trust -publish var/trust
//
// With -agency all each agency lives under its own prefix:
//
//	POST http://127.0.0.1:8081/customs/messages           agency endpoint
//	GET  http://127.0.0.1:8081/customs/stats              per message id
//	PUT  http://127.0.0.1:8081/customs/config             {"mode":"async","failFirst":2}
//	GET  http://127.0.0.1:8081/stats                      all agencies
//
// (every other agency likewise). With a single agency the
// same paths also work without the prefix (/messages, /stats, /config).
//
// Keys: each agency's key and certificate are loaded from -keys, or created
// there on first run. The hub's certificate is read from the trust store
// directory -trust (participant "hub"), or from -keys/hub.crt.pem when the
// hub shares the keys directory in development. -publish adds the agencies'
// certificates to a trust store directory so the hub can verify their ACKs.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gatehub/gatehub/internal/agencies"
	"github.com/gatehub/gatehub/internal/mapping"
	"github.com/gatehub/gatehub/internal/pki"
	"github.com/gatehub/gatehub/internal/schema"
	sim "github.com/gatehub/gatehub/internal/simulator"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], log, nil)
	stop()
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		log.Error("agencysim", "error", err)
		os.Exit(1)
	}
}

type flags struct {
	agency, addr, mode, callback string
	keys, trust, publish         string
	schemas, mappings, alg       string
	agencies, rules, misbehave   string
	delay, retryAfter            time.Duration
	failFirst                    int
	failRate                     float64
	seed                         int64
}

func parseFlags(args []string) (flags, error) {
	var f flags
	fs := flag.NewFlagSet("agencysim", flag.ContinueOnError)
	fs.StringVar(&f.agency, "agency", "all", "agency to simulate: all, or a comma list of agency codes (deploy/agencies)")
	fs.StringVar(&f.addr, "addr", "127.0.0.1:8081", "listen address")
	fs.StringVar(&f.mode, "mode", sim.ModeSync, "answer mode: sync (200 + ACK), async (202 + callback), silent (202, never answers)")
	fs.DurationVar(&f.delay, "delay", 0, "processing delay before answering (sync) or calling back (async)")
	fs.IntVar(&f.failFirst, "fail-first", 0, "answer 503 to the first N attempts of each message id")
	fs.Float64Var(&f.failRate, "fail-rate", 0, "answer 503 to this share of attempts (0..1)")
	fs.Int64Var(&f.seed, "seed", 1, "seed of the -fail-rate random source")
	fs.DurationVar(&f.retryAfter, "retry-after", 0, "Retry-After sent with injected 503s (0: none)")
	fs.StringVar(&f.callback, "callback", "http://127.0.0.1:8080", "hub base URL; async ACKs go to {callback}/v1/acks/{agency}")
	fs.StringVar(&f.keys, "keys", "var/keys", "directory of the agencies' keys (created when missing)")
	fs.StringVar(&f.trust, "trust", "var/trust", "trust store directory holding the hub's certificate")
	fs.StringVar(&f.publish, "publish", "", "trust store directory to add the agencies' certificates to (empty: do not)")
	fs.StringVar(&f.schemas, "schemas", "schemas", "XSD directory")
	fs.StringVar(&f.mappings, "mappings", "mappings", "mapping directory")
	fs.StringVar(&f.agencies, "agencies", "deploy/agencies", "agency files directory")
	fs.StringVar(&f.rules, "rules", "simulators", "simulator rules directory (<agency>.yaml)")
	fs.StringVar(&f.alg, "alg", string(pki.ECDSAP256), "key algorithm for created agency keys: ecdsa-p256 or rsa-2048")
	fs.StringVar(&f.misbehave, "misbehave", "", "break the protocol on purpose, to see gatehubctl conformance run catch it: a comma list of "+misbehaviours())
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return f, nil
}

// run serves until ctx ends. ready, when set, is handed the running
// cluster (tests use it to learn the address).
func run(ctx context.Context, args []string, log *slog.Logger, ready func(*sim.Cluster)) error {
	f, err := parseFlags(args)
	if err != nil {
		return err
	}

	set, err := agencies.LoadDir(f.agencies)
	if err != nil {
		return err
	}
	defs, err := sim.Definitions(set, f.rules)
	if err != nil {
		return err
	}
	reg, err := mapping.Load(f.mappings)
	if err != nil {
		return fmt.Errorf("load mappings: %w", err)
	}
	val, err := schema.Load(f.schemas)
	if err != nil {
		return fmt.Errorf("load schemas: %w", err)
	}
	defer val.Close()
	trust, err := hubTrust(f.trust, f.keys)
	if err != nil {
		return err
	}
	var misbehave []sim.Misbehaviour
	for _, m := range strings.Split(f.misbehave, ",") {
		if m = strings.TrimSpace(m); m != "" {
			misbehave = append(misbehave, sim.Misbehaviour(m))
		}
	}
	var only []string
	if f.agency != "all" {
		only = strings.Split(f.agency, ",")
	}
	cluster, err := sim.StartAll(ctx, sim.Options{
		Definitions: defs, Addr: f.addr, Agencies: only, Registry: reg, Validator: val, Trust: trust,
		KeysDir: f.keys, Algorithm: pki.Algorithm(f.alg),
		CallbackURL: f.callback, Mode: f.mode, Delay: f.delay, FailFirst: f.failFirst,
		FailRate: f.failRate, Seed: f.seed,
		Configure: func(c *sim.Config) {
			c.RetryAfter = f.retryAfter
			c.Misbehave = misbehave
		},
	})
	if err != nil {
		return err
	}
	defer cluster.Close()

	if f.publish != "" {
		out := pki.NewTrustStore()
		cluster.TrustAgencies(out)
		if err := out.Save(f.publish); err != nil {
			return fmt.Errorf("publish agency certificates: %w", err)
		}
	}
	certs := cluster.Certificates()
	for _, a := range cluster.Agencies() {
		log.Info("agency simulator", "agency", a, "endpoint", cluster.Endpoint(a),
			"cert", pki.Fingerprint(certs[a])[:16], "mode", f.mode)
	}
	if ready != nil {
		ready(cluster)
	}
	<-ctx.Done()
	log.Info("shutting down")
	return nil
}

// hubTrust builds the trust store the simulators check the hub against.
func hubTrust(trustDir, keysDir string) (*pki.TrustStore, error) {
	ts := pki.NewTrustStore()
	if st, err := os.Stat(trustDir); err == nil && st.IsDir() {
		loaded, err := pki.LoadTrustStore(trustDir)
		if err != nil {
			return nil, err
		}
		ts = loaded
	}
	if len(ts.All(sim.HubParticipant)) == 0 {
		data, err := os.ReadFile(filepath.Join(keysDir, sim.HubParticipant+".crt.pem"))
		if err != nil {
			return nil, fmt.Errorf("no hub certificate in trust store %s nor in %s: %w", trustDir, keysDir, err)
		}
		cert, err := pki.ParseCertPEM(data)
		if err != nil {
			return nil, fmt.Errorf("hub certificate: %w", err)
		}
		ts.Add(sim.HubParticipant, cert, time.Time{}, time.Time{})
	}
	return ts, nil
}

func misbehaviours() string {
	var names []string
	for _, m := range sim.Misbehaviours() {
		names = append(names, string(m))
	}
	return strings.Join(names, ", ")
}
