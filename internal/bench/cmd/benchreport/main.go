// Command benchreport runs the gatehub benchmarks side by side on this
// machine and writes docs/BENCHMARKS.md (`make bench`): the raw signing
// bound, our sign/verify paths against the xmlsec1 CLI, declarations
// end to end (embedded store and Postgres, concurrency 1, 8, 64) on the
// accept path — POST until 201, the 4 signed messages durably committed —
// and on the full round trip until CLEARED, and the gate's decision lookup
// by plate under open-loop load. Ratios, not absolute numbers, are what carries over
// between machines.
package main

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"github.com/gatehub/gatehub/internal/testenv"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/bench"
	"github.com/gatehub/gatehub/internal/pki"
)

func main() {
	testing.Init()
	out := flag.String("out", "docs/BENCHMARKS.md", "report file, relative to the module root")
	benchtime := flag.Duration("benchtime", 2*time.Second, "duration of each micro-benchmark")
	acceptN := flag.Int("accept", 1500, "declarations per accept-path run (at least the concurrency)")
	e2eN := flag.Int("e2e", 150, "declarations per round-trip run until CLEARED (at least the concurrency)")
	xmlsecN := flag.Int("xmlsec", 100, "operations in each timed loop of the sign/verify comparison")
	lookupDur := flag.Duration("lookup", 5*time.Second, "time bound of each plate lookup run")
	isolationN := flag.Int("isolation", 300, "messages per agency in each delivery isolation run")
	dbURL := flag.String("db", os.Getenv("HUB_TEST_DATABASE_URL"), "Postgres URL for the end-to-end run (empty: skipped)")
	auditSmall := flag.Int("audit-small", 100, "declarations in the smaller synthetic audit log")
	// 10,000 declarations are 220,000 entries: about two minutes of
	// export, verify and replay here, a hundred times the smaller log.
	auditLarge := flag.Int("audit-large", 10000, "declarations in the larger synthetic audit log")
	storageN := flag.Int("storage", 100, "round trips whose stored bytes are counted")
	flag.Parse()
	if err := flag.Set("test.benchtime", benchtime.String()); err != nil {
		log.Fatal(err)
	}
	root, err := bench.RepoRoot()
	if err != nil {
		log.Fatal(err)
	}
	path := *out
	if !filepath.IsAbs(path) {
		path = filepath.Join(root, path)
	}
	r := &report{root: root, out: path}
	r.run(*acceptN, *e2eN, *xmlsecN, *lookupDur, *dbURL)
	r.runIsolation(*isolationN)
	r.runAudit([]int{*auditSmall, *auditLarge}, *storageN)
	r.took = time.Since(r.start)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(path, r.render(), 0o644); err != nil {
		log.Fatal(err)
	}
	log.Printf("wrote %s", path)
}

type report struct {
	root      string
	out       string // the report file: its own changes do not make the commit "uncommitted"
	loadStart string
	start     time.Time
	took      time.Duration

	rsa1, rsaAll, ec1, ecAll float64 // raw signs/s
	sign, verify             map[pki.Algorithm]pathResult
	xmlsecNote               string
	inProcess                *inProcess
	accept, e2e              []e2eRow
	lookups                  []bench.LookupResult
	lookupDecls              int
	isolation                map[string]bench.IsolationResult
	lanes                    []laneRow // see lanes.go
	audit                    auditResults
	notes                    []string
}

type pathResult struct {
	oursBench      float64       // ops/s from testing.Benchmark
	oursLoop       time.Duration // per op, loop of n
	xmlsec         time.Duration // per op, loop of n (process start included)
	xmlsecStart    time.Duration // per `xmlsec1 --version`
	n              int
	xmlsecComputed bool
}

type e2eRow struct {
	store string
	res   bench.EndToEndResult
	err   error
	// bound is the all-core signing bound in declarations/s, the mean of
	// measurements just before and just after this run: other jobs share
	// these cores and their load moves within a report, so each rate is
	// compared with a bound taken under the same conditions.
	bound float64
}

// ratio is the row's rate as a share of its signing bound.
func (row e2eRow) ratio() float64 { return row.res.PerSecond / row.bound }

// rsaShare is the part of the CPU one declaration cost that went into its
// RSA signatures: the share of the all-core bound the run would reach with
// every core busy, hence the ceiling of ratio for this cost per declaration.
func (row e2eRow) rsaShare() float64 {
	return float64(runtime.NumCPU()) / (row.bound * row.res.CPUPerDeclaration().Seconds())
}

// signingBound measures the all-core RSA-2048 signing rate and returns it
// in declarations per second.
func signingBound() float64 {
	return rate(testing.Benchmark(func(b *testing.B) { bench.RawSign(b, pki.RSA2048, true) })) / bench.MessagesPerDeclaration
}

func rate(r testing.BenchmarkResult) float64 {
	if r.N == 0 || r.T == 0 {
		return 0
	}
	return float64(r.N) / r.T.Seconds()
}

func (r *report) run(acceptN, e2eN, xmlsecN int, lookupDur time.Duration, dbURL string) {
	r.start, r.loadStart = time.Now(), loadavg()
	defer func() { r.took = time.Since(r.start) }()

	log.Print("1/7 signing bound")
	r.rsa1 = rate(testing.Benchmark(func(b *testing.B) { bench.RawSign(b, pki.RSA2048, false) }))
	r.rsaAll = rate(testing.Benchmark(func(b *testing.B) { bench.RawSign(b, pki.RSA2048, true) }))
	r.ec1 = rate(testing.Benchmark(func(b *testing.B) { bench.RawSign(b, pki.ECDSAP256, false) }))
	r.ecAll = rate(testing.Benchmark(func(b *testing.B) { bench.RawSign(b, pki.ECDSAP256, true) }))

	log.Print("2/7 sign and verify paths, ours and xmlsec1")
	r.sign, r.verify = map[pki.Algorithm]pathResult{}, map[pki.Algorithm]pathResult{}
	for _, alg := range []pki.Algorithm{pki.RSA2048, pki.ECDSAP256} {
		f, err := bench.NewFixture(r.root, alg)
		if err != nil {
			log.Fatalf("fixture %s: %v", alg, err)
		}
		s := pathResult{n: xmlsecN, oursBench: rate(testing.Benchmark(func(b *testing.B) { bench.SignPath(b, f) }))}
		v := pathResult{n: xmlsecN, oursBench: rate(testing.Benchmark(func(b *testing.B) { bench.VerifyPath(b, f) }))}
		s.oursLoop = must(bench.Loop(xmlsecN, func() error { _, err := f.Signer.Sign(f.Doc); return err }))
		v.oursLoop = must(bench.Loop(xmlsecN, func() error { _, err := f.Verifier.Verify("hub", f.Signed, f.At); return err }))
		dir, err := os.MkdirTemp("", "gatehub-xmlsec1-")
		if err != nil {
			log.Fatal(err)
		}
		x, err := bench.NewXmlsec1(f, dir)
		switch {
		case errors.Is(err, bench.ErrNoXmlsec1):
			if testenv.CI() {
				log.Fatal(err)
			}
			r.xmlsecNote = err.Error()
		case err != nil:
			log.Fatal(err)
		default:
			r.xmlsecNote = x.Version
			start := must(bench.Loop(xmlsecN, x.Start))
			s.xmlsec, s.xmlsecStart, s.xmlsecComputed = must(bench.Loop(xmlsecN, x.Sign)), start, true
			v.xmlsec, v.xmlsecStart, v.xmlsecComputed = must(bench.Loop(xmlsecN, x.Verify)), start, true
		}
		_ = os.RemoveAll(dir)
		r.sign[alg], r.verify[alg] = s, v
	}

	log.Print("2a/7 sign and verify paths, ours and libxmlsec1 in process")
	r.runInProcess()

	log.Print("3/7 end to end")
	stores := []string{"sqlite"}
	if dbURL != "" {
		stores = append(stores, "postgres")
	} else {
		r.notes = append(r.notes, "Postgres end-to-end skipped: set HUB_TEST_DATABASE_URL (or -db).")
	}
	var lookupHub *bench.Hub
	for _, st := range stores {
		for _, mode := range []bench.Mode{bench.AcceptOnly, bench.RoundTrip} {
			dir, err := os.MkdirTemp("", "gatehub-bench-")
			if err != nil {
				log.Fatal(err)
			}
			var h *bench.Hub
			if st == "sqlite" {
				h, err = bench.StartHubMode(r.root, dir, "", mode)
			} else {
				h, err = bench.StartPostgresHub(r.root, dir, dbURL, mode)
			}
			if err != nil {
				log.Fatalf("start %s hub: %v", st, err)
			}
			run, n0, name, rows := (*bench.Hub).RunEndToEnd, e2eN, "until CLEARED", &r.e2e
			if mode == bench.AcceptOnly {
				run, n0, name, rows = (*bench.Hub).RunAccept, acceptN, "accept", &r.accept
			}
			ctx := context.Background()
			if _, err := run(h, ctx, 16, 8); err != nil { // warm up
				log.Fatalf("%s %s warm-up: %v", st, name, err)
			}
			for _, c := range []int{1, 8, 64} {
				n := max(n0, c)
				if c == 1 {
					n = max(n0/3, 1) // one at a time is slow and its rate settles quickly
				}
				before := signingBound()
				res, err := run(h, ctx, n, c)
				bound := (before + signingBound()) / 2
				log.Printf("  %s %s c%d: %.1f decl/s (%d in %v) %v", st, name, c, res.PerSecond, res.N, res.Elapsed.Round(time.Millisecond), errOrEmpty(err))
				*rows = append(*rows, e2eRow{store: st, res: res, err: err, bound: bound})
			}
			if st == "sqlite" && mode == bench.RoundTrip {
				lookupHub = h
				defer func() { _ = lookupHub.Close(); _ = os.RemoveAll(dir) }()
			} else {
				_ = h.Close()
				_ = os.RemoveAll(dir)
			}
		}
	}

	if dbURL != "" {
		r.runMixed(e2eN, dbURL)
	}

	log.Print("4/7 plate lookup")
	plates := lookupHub.Plates(lookupHub.Submitted())
	r.lookupDecls = len(plates)
	for _, rps := range []float64{1000, 5000} {
		count := int(rps * lookupDur.Seconds())
		res := lookupHub.RunPlateLookup(context.Background(), plates, rps, count, lookupDur)
		log.Printf("  %.0f req/s offered: %.0f completed/s, p50 %v, p99 %v, errors %d", rps, res.PerSecond, res.P50, res.P99, res.Errors)
		r.lookups = append(r.lookups, res)
	}
	r.runLanes(dbURL)
}

func errOrEmpty(err error) string {
	if err == nil {
		return ""
	}
	return "ERROR: " + err.Error()
}

func must[T any](v T, err error) T {
	if err != nil {
		log.Fatal(err)
	}
	return v
}

func machine() (cpu, mem string) {
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(line, "MemTotal:") {
				var kb int64
				fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "MemTotal:")), "%d", &kb)
				mem = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
			}
		}
	}
	return cpu, mem
}

func loadavg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func gitCommit(root, report string) string {
	out, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	status := []string{"-C", root, "status", "--porcelain", "--untracked-files=no"}
	if rel, err := filepath.Rel(root, report); err == nil && filepath.IsLocal(rel) {
		status = append(status, "--", ".", ":(exclude)"+filepath.ToSlash(rel))
	}
	if st, err := exec.Command("git", status...).Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		c += " (with uncommitted changes)"
	}
	return c
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func (r *report) render() []byte {
	var b bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	cpu, mem := machine()
	bound := r.rsaAll / bench.MessagesPerDeclaration
	bound1 := r.rsa1 / bench.MessagesPerDeclaration

	p("# Benchmarks")
	p("")
	p("Generated by `make bench` (`go run ./internal/bench/cmd/benchreport`); the same measurements run as")
	p("`go test -bench` benchmarks in `internal/bench` (see `make bench-go`). Everything below ran in one")
	p("process, one after the other, on one machine: compare the **ratios**, not the absolute numbers, with")
	p("another machine.")
	p("")
	p("| | |")
	p("|---|---|")
	p("| machine | %d cores (nproc), %s, %s RAM, %s/%s |", runtime.NumCPU(), cpu, mem, runtime.GOOS, runtime.GOARCH)
	p("| load average (1, 5, 15 min) | %s at the start, %s at the end: other jobs share these cores, so rates move between runs; the ratios within one run are what to compare |", r.loadStart, loadavg())
	p("| Go | %s |", runtime.Version())
	p("| commit | %s |", gitCommit(r.root, r.out))
	p("| command | `make bench` |")
	p("| date | %s, took %v |", r.start.UTC().Format("2006-01-02 15:04 MST"), r.took.Round(time.Second))
	p("")
	p("## The ratios that matter")
	p("")
	for _, set := range []struct {
		rows []e2eRow
		name string
	}{{r.accept, "accept path (POST → 201, durable)"}, {r.e2e, "full round trip (until CLEARED)"}} {
		for _, st := range []struct{ store, name string }{{"sqlite", "embedded store"}, {"postgres", "Postgres"}, {mixedStore, "Postgres, 2 agencies by callback"}} {
			for _, row := range set.rows {
				if row.store == st.store {
					p("- %s ÷ signing bound, %s, c=%d: **%.0f %%** (%.1f ÷ %.1f decl/s, the bound measured around the run)%s", set.name, st.name, row.res.Concurrency,
						100*row.ratio(), row.res.PerSecond, row.bound, failed(row.err))
				}
			}
		}
	}
	r.inProcess.ratios(p)
	for _, alg := range []pki.Algorithm{pki.RSA2048, pki.ECDSAP256} {
		s, v := r.sign[alg], r.verify[alg]
		if s.xmlsecComputed {
			p("- ours ÷ xmlsec1 CLI (process per call), %s sign: **%.1f×** faster per operation with process start subtracted (%s vs %s), **%.0f×** as run (%s vs %s per `xmlsec1` call)", alg,
				float64(net(s))/float64(s.oursLoop), ms(s.oursLoop), ms(net(s)), float64(s.xmlsec)/float64(s.oursLoop), ms(s.oursLoop), ms(s.xmlsec))
			p("- ours ÷ xmlsec1 CLI (process per call), %s verify: **%.1f×** per operation with process start subtracted (%s vs %s), **%.0f×** as run (%s vs %s)", alg,
				float64(net(v))/float64(v.oursLoop), ms(v.oursLoop), ms(net(v)), float64(v.xmlsec)/float64(v.oursLoop), ms(v.oursLoop), ms(v.xmlsec))
		}
	}
	p("")
	p("A ratio above 1× means ours is faster. The signing bound for end-to-end is the raw RSA-2048")
	p("signatures/s on all cores ÷ %d messages per declaration (the hub key is RSA-2048 by default),", bench.MessagesPerDeclaration)
	p("measured again just before and just after each end-to-end run (the mean is the row's bound), so")
	p("that a rate and its bound saw the same load.")
	p("")
	p("## 1. Signing bound (Go crypto, raw private-key operation over a SHA-256 digest)")
	p("")
	p("| key | 1 goroutine | all %d cores |", runtime.NumCPU())
	p("|---|---:|---:|")
	p("| RSA-2048 | %.0f signs/s | %.0f signs/s |", r.rsa1, r.rsaAll)
	p("| ECDSA P-256 | %.0f signs/s | %.0f signs/s |", r.ec1, r.ecAll)
	p("")
	p("End-to-end signing bound: %.0f ÷ %d = **%.1f declarations/s** (all cores; %.1f on one core).", r.rsaAll, bench.MessagesPerDeclaration, bound, bound1)
	p("")
	r.inProcess.render(&b)
	p("## 2b. Sign and verify paths: ours and the xmlsec1 CLI, process per call")
	p("")
	p("One typical agency message: the customs submit message of the Hữu Nghị sample declaration, built")
	p("by the real mapping (%d bytes unsigned). Ours = `sign.Signer.Sign` (serialise, exclusive C14N, SHA-256,", r.fixtureSize())
	p("sign, write) and `sign.Verifier.Verify` (limits, profile checks, trust, digest and signature, content")
	p("re-read). xmlsec1 (%s) signs the same document from a template and verifies our signed output, one", r.xmlsecNote)
	p("process per operation; `xmlsec1 --version` in a loop of the same count measures the process start,")
	p("which is subtracted for the per-operation comparison. What remains for xmlsec1 still includes, per")
	p("call, initialising its crypto library and loading the key and certificate files, which a program")
	p("linking libxmlsec1 would pay once; ours signs with a key already in memory.")
	p("")
	p("| key | operation | ours (benchmark) | ours (loop of n) | xmlsec1 per call (process per call) | xmlsec1 start | xmlsec1 minus start | n |")
	p("|---|---|---:|---:|---:|---:|---:|---:|")
	for _, alg := range []pki.Algorithm{pki.RSA2048, pki.ECDSAP256} {
		for _, op := range []struct {
			name string
			res  pathResult
		}{{"sign", r.sign[alg]}, {"verify", r.verify[alg]}} {
			x, st, nt := "—", "—", "—"
			if op.res.xmlsecComputed {
				x, st, nt = ms(op.res.xmlsec), ms(op.res.xmlsecStart), ms(net(op.res))
			}
			p("| %s | %s | %.0f ops/s | %s | %s | %s | %s | %d |", alg, op.name, op.res.oursBench, ms(op.res.oursLoop), x, st, nt, op.res.n)
		}
	}
	p("")
	p("## 3. End to end: declarations accepted and fully processed")
	p("")
	p("A complete embedded hub (`internal/app`, the assembly gatehubd runs), all on loopback. Each client")
	p("POSTs a declaration over HTTP (`/v1/declarations`, trader token; a new plate each time) and submits")
	p("the next one when its answer came (closed loop, c clients), measured two ways.")
	p("")
	p("### 3a. Accept path: POST until 201")
	p("")
	p("Until the hub answered 201 Created: it decoded and validated the declaration, mapped it into the")
	p("4 agency messages, XSD-validated and signed (XML-DSig, RSA-2048) each, and committed the")
	p("declaration, the 4 signed outbox messages and the audit entries in one durable transaction")
	p("(SQLite: `synchronous(FULL)`, group commit; Postgres: default `synchronous_commit`). Delivery is")
	p("switched off for this run (`bench.AcceptOnly`: the hub's dispatcher wake-up hook is unset and its")
	p("poll interval is a day), so nothing is sent and the hub does no work beyond the accept path; the")
	p("committed messages stay pending. This is the issue's \"4 mapped, XSD-validated, signed messages +")
	p("durable commit\".")
	p("")
	r.e2eTable(&b, r.accept)
	p("")
	p("Signing bound: all-core RSA-2048 signatures/s ÷ %d, the mean of measurements just before and just", bench.MessagesPerDeclaration)
	p("after the row's run. CPU/decl:")
	p("the process's CPU time (user + system, clients included) during the run ÷ declarations. Cores busy:")
	p("that CPU time ÷ the run's time. RSA share of CPU: the part of CPU/decl that the %d private-key", bench.MessagesPerDeclaration)
	p("operations take at the bound's rate, which is the ratio the run would reach with every core busy:")
	p("÷ bound ≈ RSA share × cores busy ÷ cores.")
	p("")
	p("### 3b. Full round trip: until CLEARED")
	p("")
	p("The in-process agency simulators answer in sync mode. Each client waits until its decision is")
	p("CLEARED: besides the accept path, the dispatcher delivered the 4 messages, the simulators verified,")
	p("validated and answered with signed ACKs, the hub verified those and derived the decision. The")
	p("simulators' work (verify, validate, sign an ECDSA ACK) runs on the same cores, so this measures")
	p("more than the hub alone.")
	p("")
	r.e2eTable(&b, r.e2e)
	p("")
	p("Rows `%s` (both tables): Postgres with the border guard and the Guangxi single window answering", mixedStore)
	p("by callback (202, then a signed ACK POSTed to `/v1/acks/{agency}`) and the other two in the")
	p("delivery response, so two ACK transactions of one declaration race each other and the settle")
	p("transactions: the production mode of issue 20. Its accept rows measure POST until 201 while the")
	p("hub delivers and takes callbacks (a busy hub as traders see it; the backlog is drained before the")
	p("next row), not with delivery off.")
	p("")
	p("## 4. Gate decision lookup by plate")
	p("")
	p("`GET /v1/decisions?plate=…` with the operator token `dev-operator` over loopback HTTP, against the")
	p("embedded-store hub of 3b (%d declarations, plates cycled). Open loop: request i is sent at", r.lookupDecls)
	p("start + i/rate whether or not earlier ones finished, and its latency counts from that slot, so")
	p("queueing shows up in the percentiles instead of lowering the offered load. Bounded by count")
	p("(rate × %v) and time.", r.lookupDuration())
	p("")
	p("Latencies are over the requests that completed; errors are requests refused or still unanswered")
	p("2 s after the last send slot (cancelled).")
	p("")
	p("| offered | sent | completed/s | p50 | p99 | max | errors |")
	p("|---:|---:|---:|---:|---:|---:|---:|")
	for _, l := range r.lookups {
		p("| %.0f req/s | %d | %.0f | %s | %s | %s | %d |", l.Offered, l.Sent, l.PerSecond, ms(l.P50), ms(l.P99), ms(l.Max), l.Errors)
	}
	p("")
	r.renderIsolation(p)
	r.renderLanes(p)
	r.renderAudit(&b)
	for _, n := range r.notes {
		p("Note: %s", n)
	}
	if len(r.notes) > 0 {
		p("")
	}
	b.Write(analysis)
	return b.Bytes()
}

func (r *report) e2eTable(b *bytes.Buffer, rows []e2eRow) {
	fmt.Fprintln(b, "| store | clients | declarations | time | decl/s | signing bound | ÷ bound | CPU/decl | cores busy | RSA share of CPU |")
	fmt.Fprintln(b, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, row := range rows {
		status := fmt.Sprintf("%.1f", row.res.PerSecond)
		if row.err != nil {
			status = "failed: " + row.err.Error()
		}
		fmt.Fprintf(b, "| %s | %d | %d | %v | %s | %.1f | %.0f %% | %s | %.2f of %d | %.0f %% |\n", row.store, row.res.Concurrency, row.res.N,
			row.res.Elapsed.Round(time.Millisecond), status, row.bound, 100*row.ratio(), ms(row.res.CPUPerDeclaration()),
			row.res.Cores(), runtime.NumCPU(), 100*row.rsaShare())
	}
}

func failed(err error) string {
	if err == nil {
		return ""
	}
	return " — failed: " + err.Error()
}

func net(p pathResult) time.Duration { return max(p.xmlsec-p.xmlsecStart, time.Microsecond) }

func (r *report) fixtureSize() int {
	f, err := bench.NewFixture(r.root, pki.ECDSAP256)
	if err != nil {
		return 0
	}
	return len(f.Unsigned)
}

func (r *report) lookupDuration() time.Duration {
	if len(r.lookups) == 0 || r.lookups[0].Offered == 0 {
		return 0
	}
	return time.Duration(float64(r.lookups[0].Sent+r.lookups[0].Missed) / r.lookups[0].Offered * float64(time.Second))
}

// analysis is the hand-written part of the report: profile findings and
// what limits end-to-end throughput. Kept next to the program so that
// regenerating the numbers keeps the explanation.
//
//go:embed analysis.md
var analysis []byte
