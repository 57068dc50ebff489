package bench

import (
	"context"
	"errors"
	"fmt"
	"github.com/gatehub/gatehub/internal/message"
	"github.com/gatehub/gatehub/internal/testenv"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/pki"
	"github.com/gatehub/gatehub/internal/store/storetest"
)

func root(tb testing.TB) string {
	tb.Helper()
	r, err := RepoRoot()
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func fixture(tb testing.TB, alg pki.Algorithm) *Fixture {
	tb.Helper()
	f, err := NewFixture(root(tb), alg)
	if err != nil {
		tb.Fatalf("fixture: %v", err)
	}
	return f
}

var algs = []pki.Algorithm{pki.RSA2048, pki.ECDSAP256}

// BenchmarkSigningBound: raw private-key operations per second, on one
// core and on all of them. RSA-2048 on all cores ÷ 4 is the end-to-end
// signing bound.
func BenchmarkSigningBound(b *testing.B) {
	for _, alg := range algs {
		b.Run(string(alg)+"/1core", func(b *testing.B) { RawSign(b, alg, false) })
		b.Run(string(alg)+"/allcores", func(b *testing.B) { RawSign(b, alg, true) })
	}
}

func BenchmarkSignPath(b *testing.B) {
	for _, alg := range algs {
		b.Run(string(alg), func(b *testing.B) { SignPath(b, fixture(b, alg)) })
	}
}

func BenchmarkVerifyPath(b *testing.B) {
	for _, alg := range algs {
		b.Run(string(alg), func(b *testing.B) { VerifyPath(b, fixture(b, alg)) })
	}
}

// BenchmarkXmlsec1 runs the xmlsec1 CLI once per operation; "start" is
// `xmlsec1 --version`, the process start cost to subtract for a per-op
// comparison with BenchmarkSignPath/BenchmarkVerifyPath.
func BenchmarkXmlsec1(b *testing.B) {
	for _, alg := range algs {
		b.Run(string(alg), func(b *testing.B) {
			x, err := NewXmlsec1(fixture(b, alg), b.TempDir())
			if errors.Is(err, ErrNoXmlsec1) {
				if testenv.CI() {
					b.Fatal(err)
				}
				b.Skip(err)
			}
			if err != nil {
				b.Fatal(err)
			}
			for name, op := range map[string]func() error{"start": x.Start, "sign": x.Sign, "verify": x.Verify} {
				b.Run(name, func(b *testing.B) {
					for b.Loop() {
						if err := op(); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
				})
			}
		})
	}
}

// BenchmarkAccept: the accept path end to end. Declarations POSTed over
// loopback HTTP until the hub answered 201: 4 mapped, XSD-validated, signed
// messages committed durably with the declaration and the audit entries.
// Delivery is switched off (AcceptOnly). Use -benchtime Nx (e.g. 300x): N
// is the number of declarations per sub-benchmark.
func BenchmarkAccept(b *testing.B) {
	benchmarkEndToEnd(b, AcceptOnly)
}

// BenchmarkEndToEnd: the full round trip. Declarations POSTed over loopback
// HTTP and processed until CLEARED (4 mapped, XSD-validated, signed
// messages committed with the declaration, delivered to the in-process
// simulators, their signed ACKs verified). Use -benchtime Nx (e.g. 200x):
// N is the number of declarations per sub-benchmark.
func BenchmarkEndToEnd(b *testing.B) {
	benchmarkEndToEnd(b, RoundTrip)
}

func benchmarkEndToEnd(b *testing.B, mode Mode) {
	run := (*Hub).RunEndToEnd
	if mode == AcceptOnly {
		run = (*Hub).RunAccept
	}
	for _, st := range []string{"sqlite", "postgres"} {
		b.Run(st, func(b *testing.B) {
			dsn := ""
			if st == "postgres" {
				dsn = storetest.PostgresDSN(b)
			}
			h, err := StartHubMode(root(b), b.TempDir(), dsn, mode)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() {
				if err := h.Close(); err != nil {
					b.Error(err)
				}
			})
			// Warm up: keys loaded, connections open, caches filled.
			if _, err := run(h, context.Background(), 16, 8); err != nil {
				b.Fatal(err)
			}
			for _, c := range []int{1, 8, 64} {
				b.Run(fmt.Sprintf("c%d", c), func(b *testing.B) {
					n := max(b.N, c)
					cpu0 := ProcessCPU()
					b.ResetTimer()
					r, err := run(h, context.Background(), n, c)
					b.StopTimer()
					if err != nil {
						b.Fatal(err)
					}
					b.ReportMetric(r.PerSecond, "decl/s")
					// CPU of this process (hub and clients) per declaration:
					// unlike the rate, it hardly moves when other jobs share
					// the cores, so it is what to compare before/after.
					b.ReportMetric(float64((ProcessCPU()-cpu0).Microseconds())/1000/float64(n), "cpu-ms/decl")
					rs, polls := h.WatchStats()
					b.Logf("%d declarations at c=%d: %.1f decl/s (stream resumed %d times, %d fallback polls)", r.N, c, r.PerSecond, rs, polls)
				})
			}
		})
	}
}

// BenchmarkPlateLookup: GET /v1/decisions?plate=… at 1k and 5k requests/s
// offered (open loop), against a hub holding a few hundred cleared
// declarations. Each sub-benchmark runs b.N requests (bounded to 10 s).
func BenchmarkPlateLookup(b *testing.B) {
	h, err := StartHub(root(b), b.TempDir(), "")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = h.Close() })
	if _, err := h.RunEndToEnd(context.Background(), 200, 16); err != nil {
		b.Fatal(err)
	}
	plates := h.Plates(200)
	for _, rate := range []float64{1000, 5000} {
		b.Run(fmt.Sprintf("%.0frps", rate), func(b *testing.B) {
			r := h.RunPlateLookup(context.Background(), plates, rate, b.N, 10*time.Second)
			if r.Errors > 0 {
				b.Fatalf("%d of %d lookups failed, first: %s", r.Errors, r.Sent, r.FirstErr)
			}
			b.ReportMetric(r.PerSecond, "req/s")
			b.ReportMetric(float64(r.P50.Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(r.P99.Microseconds())/1000, "p99-ms")
		})
	}
}

// TestHubClears is the harness's own check: one declaration through the
// embedded hub reaches CLEARED and its plate answers.
func TestHubClears(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a whole hub")
	}
	h, err := StartHub(root(t), t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := h.RunEndToEnd(ctx, 3, 2); err != nil {
		t.Fatal(err)
	}
	r := h.RunPlateLookup(ctx, h.Plates(3), 100, 20, 5*time.Second)
	if r.OK != 20 {
		t.Fatalf("lookups: %+v", r)
	}
}

// TestHubAcceptsWithoutDelivering: a hub started AcceptOnly answers 201 and
// never delivers — its messages stay pending.
func TestHubAcceptsWithoutDelivering(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a whole hub")
	}
	h, err := StartHubMode(root(t), t.TempDir(), "", AcceptOnly)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := h.RunAccept(ctx, 4, 2); err != nil {
		t.Fatal(err)
	}
	id, err := h.Submit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // a delivering hub would have sent by now
	v, err := h.App.Views.View(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Messages) != MessagesPerDeclaration {
		t.Fatalf("%d messages, want %d", len(v.Messages), MessagesPerDeclaration)
	}
	for _, m := range v.Messages {
		if m.State != message.Pending || m.Attempts != 0 {
			t.Errorf("%s message %s after %d attempts, want pending, none (nothing delivered)", m.Agency, m.State, m.Attempts)
		}
	}
	if err := h.SubmitAndClear(ctx); err == nil {
		t.Error("SubmitAndClear on an AcceptOnly hub: no error")
	}
}

// BenchmarkLaneDecision: lane decision latency, from a device reading sent
// over loopback HTTP to its lane event published on the fan-out bus, with
// 200 lanes busy at once (each: camera, weighbridge, QR of one truck after
// another, at a checkpoint needing all three). b.N trucks in all, at least
// one per lane; -benchtime 200x is one round.
func BenchmarkLaneDecision(b *testing.B) {
	for _, st := range []string{"sqlite", "postgres"} {
		b.Run(st, func(b *testing.B) {
			dsn := ""
			if st == "postgres" {
				dsn = storetest.PostgresDSN(b)
			}
			const lanes = 200
			h, err := StartLaneHub(root(b), b.TempDir(), dsn, lanes)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() {
				if err := h.Close(); err != nil {
					b.Error(err)
				}
			})
			rounds := max(1, (b.N+lanes-1)/lanes)
			b.ResetTimer()
			r, err := h.RunLanes(context.Background(), lanes, rounds)
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			if r.Opens != r.Trucks {
				b.Fatalf("%d OPEN events for %d trucks", r.Opens, r.Trucks)
			}
			b.ReportMetric(float64(r.P50.Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(r.P99.Microseconds())/1000, "p99-ms")
			b.Logf("%d lanes busy, %d trucks, %d readings in %s: p50 %s, p99 %s, max %s", r.Lanes, r.Trucks, r.Readings, r.Elapsed, r.P50, r.P99, r.Max)
		})
	}
}

// BenchmarkInProcessPeer: our sign and verify paths and libxmlsec1 in
// process (python3-xmlsec), alternated on the same message and key; the
// metric is the median ratio ours ÷ libxmlsec1. Under CI the peer must be
// there; elsewhere it is skipped with the reason.
func BenchmarkInProcessPeer(b *testing.B) {
	if _, err := EnsurePeer(); err != nil {
		if testenv.CI() {
			b.Fatal(err)
		}
		b.Skip(err)
	}
	type run struct {
		name string
		f    *Fixture
		ops  []string
	}
	var runs []run
	for _, alg := range algs {
		runs = append(runs, run{string(alg), fixture(b, alg), []string{"sign", "verify"}})
	}
	if f, err := WithLibcrypto(fixture(b, pki.RSA2048)); err == nil {
		runs = append(runs, run{"rsa-2048-libcrypto", f, []string{"sign"}})
	} else {
		b.Fatal(err)
	}
	// The hub key in a PKCS#11 token (SoftHSM2, OpenSSL inside): where
	// Go's RSA is the sign path's limit.
	if f, closeToken, err := NewPKCS11Fixture(root(b), b.TempDir(), pki.RSA2048); err == nil {
		b.Cleanup(func() { _ = closeToken() })
		runs = append(runs, run{"rsa-2048-pkcs11", f, []string{"sign"}})
	} else if testenv.CI() {
		b.Fatal(err)
	}
	for _, r := range runs {
		f := r.f
		p, err := NewPeer(f, b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		for _, op := range r.ops {
			b.Run(r.name+"/"+op, func(b *testing.B) {
				var last SideBySide
				for b.Loop() {
					if last, err = CompareWithPeer(f, p, op, 1, 200*time.Millisecond); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(last.Ours[0], "ours-ops/s")
				b.ReportMetric(last.Peer[0], "libxmlsec1-ops/s")
				b.ReportMetric(last.RatioMedian, "ours/libxmlsec1")
				b.ReportMetric(last.RatioCPUMedian, "ours/libxmlsec1-cpu")
			})
		}
	}
}

// BenchmarkOpenSSLBound: the raw private-key rates of Go and of OpenSSL
// (`openssl speed`, which libxmlsec1 signs with) on one core.
func BenchmarkOpenSSLBound(b *testing.B) {
	for _, alg := range algs {
		b.Run(string(alg), func(b *testing.B) {
			var s, v float64
			var err error
			for b.Loop() {
				if s, v, err = OpenSSLSpeed(alg, 1); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(s, "openssl-signs/s")
			b.ReportMetric(v, "openssl-verifies/s")
		})
	}
}
