package main

import (
	"bytes"
	"fmt"
	"log"
	"os"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/bench"
	"github.com/gatehub/gatehub/internal/pki"
)

// inProcess is ours against libxmlsec1 linked in process (python3-xmlsec),
// alternated on the same message and key, and the raw bound of each side:
// Go's private-key operation against `openssl speed`.
type inProcess struct {
	note    string // peer version, how it was installed, or why it is missing
	rows    []bench.SideBySide
	algs    []pki.Algorithm
	goSign  map[pki.Algorithm]float64
	sslSign map[pki.Algorithm]float64
	sslVer  map[pki.Algorithm]float64
	sslErr  error
}

const (
	peerRounds = 5
	peerRound  = time.Second
)

func (r *report) runInProcess() {
	ip := &inProcess{goSign: map[pki.Algorithm]float64{}, sslSign: map[pki.Algorithm]float64{}, sslVer: map[pki.Algorithm]float64{}}
	r.inProcess = ip
	note, err := bench.EnsurePeer()
	peerOK := err == nil
	if err != nil {
		if os.Getenv("CI") == "true" {
			log.Fatal(err)
		}
		ip.note = err.Error()
	}
	for _, alg := range []pki.Algorithm{pki.RSA2048, pki.ECDSAP256} {
		ip.goSign[alg] = rate(testing.Benchmark(func(b *testing.B) { bench.RawSign(b, alg, false) }))
		if s, v, err := bench.OpenSSLSpeed(alg, 2); err != nil {
			ip.sslErr = err
		} else {
			ip.sslSign[alg], ip.sslVer[alg] = s, v
		}
		if !peerOK {
			continue
		}
		f, err := bench.NewFixture(r.root, alg)
		if err != nil {
			log.Fatalf("fixture %s: %v", alg, err)
		}
		dir, err := os.MkdirTemp("", "gatehub-peer-")
		if err != nil {
			log.Fatal(err)
		}
		p, err := bench.NewPeer(f, dir)
		if err != nil {
			log.Fatalf("libxmlsec1 in process: %v", err)
		}
		ip.note = p.Version
		if note != "" {
			ip.note += "; " + note
		}
		for _, op := range []string{"sign", "verify"} {
			s, err := bench.CompareWithPeer(f, p, op, peerRounds, peerRound)
			if err != nil {
				log.Fatalf("%s %s side by side: %v", alg, op, err)
			}
			log.Printf("  %s %s: ours ÷ libxmlsec1 = %.2f× (ours %v, peer %v ops/s)", alg, op, s.RatioMedian, rounded(s.Ours), rounded(s.Peer))
			ip.rows = append(ip.rows, s)
			ip.algs = append(ip.algs, alg)
		}
		_ = os.RemoveAll(dir)
	}
}

func rounded(v []float64) []int {
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x + 0.5)
	}
	return out
}

func (ip *inProcess) ratios(p func(string, ...any)) {
	for i, s := range ip.rows {
		p("- ours ÷ libxmlsec1 in process, %s %s: **%.2f×** (median of %d alternated rounds)", ip.algs[i], s.Op, s.RatioMedian, len(s.Ours))
	}
}

func (ip *inProcess) render(b *bytes.Buffer) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format+"\n", args...) }
	p("## 2a. Sign and verify paths: ours and libxmlsec1 in process")
	p("")
	p("The peer a ministry would run links libxmlsec1 into its process: Debian's python3-xmlsec (%s),", ip.note)
	p("one thread, key and certificate loaded once, the same message, key and profile (exclusive C14N,")
	p("RSA-SHA256 or ECDSA-SHA256, SHA-256, enveloped, X509 certificate in KeyInfo). One peer sign = parse")
	p("the unsigned message, add the signature template, sign, serialise; one peer verify = parse our")
	p("signed message, find the signature, verify. Ours runs on one goroutine. The two alternate, %d rounds", peerRounds)
	p("of %v each, and the ratio is taken per round, then the median: other jobs share these cores.", peerRound)
	p("")
	if len(ip.rows) == 0 {
		p("Not measured: %s.", ip.note)
		p("")
	} else {
		p("| key | operation | ours ops/s (rounds) | libxmlsec1 ops/s (rounds) | ours ÷ libxmlsec1 (median) |")
		p("|---|---|---|---|---:|")
		for i, s := range ip.rows {
			p("| %s | %s | %v | %v | **%.2f×** |", ip.algs[i], s.Op, rounded(s.Ours), rounded(s.Peer), s.RatioMedian)
		}
		p("")
	}
	p("Raw private-key bound on one core, the ceiling of each side's sign path:")
	p("")
	p("| key | Go signs/s | OpenSSL signs/s | Go ÷ OpenSSL | OpenSSL verifies/s |")
	p("|---|---:|---:|---:|---:|")
	for _, alg := range []pki.Algorithm{pki.RSA2048, pki.ECDSAP256} {
		if ip.sslSign[alg] == 0 {
			p("| %s | %.0f | — | — | — |", alg, ip.goSign[alg])
			continue
		}
		p("| %s | %.0f | %.0f | %.2f× | %.0f |", alg, ip.goSign[alg], ip.sslSign[alg], ip.goSign[alg]/ip.sslSign[alg], ip.sslVer[alg])
	}
	if ip.sslErr != nil {
		p("")
		p("Note: %v", ip.sslErr)
	}
	p("")
}
