package main

import (
	"bytes"
	"fmt"
	"github.com/gatehub/gatehub/internal/testenv"
	"log"
	"os"
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
	algs    []string // row labels: the key and where it lives
	goSign  map[pki.Algorithm]float64
	sslSign map[pki.Algorithm]float64
	sslVer  map[pki.Algorithm]float64
	sslErr  error
	// pkcs11Note says why the PKCS#11 row is missing.
	pkcs11Note string
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
		if testenv.CI() {
			log.Fatal(err)
		}
		ip.note = err.Error()
	}
	for _, alg := range []pki.Algorithm{pki.RSA2048, pki.ECDSAP256} {
		n := map[pki.Algorithm]int{pki.RSA2048: 300, pki.ECDSAP256: 5000}[alg]
		if ip.goSign[alg], err = bench.GoRawSignCPU(alg, n); err != nil {
			log.Fatal(err)
		}
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
			log.Printf("  %s %s: ours ÷ libxmlsec1 = %.2f× wall, %.2f× CPU (ours %v, peer %v ops/s)", alg, op, s.RatioMedian, s.RatioCPUMedian, rounded(s.Ours), rounded(s.Peer))
			ip.rows = append(ip.rows, s)
			ip.algs = append(ip.algs, string(alg))
		}
		_ = os.RemoveAll(dir)
	}
	if peerOK {
		ip.runLibcrypto(r.root)
		ip.runPKCS11(r.root)
	}
}

// runLibcrypto measures the RSA sign path as the hub runs it with a key
// file: signatures by the system's libcrypto.
func (ip *inProcess) runLibcrypto(root string) {
	f, err := bench.NewFixture(root, pki.RSA2048)
	if err != nil {
		log.Fatal(err)
	}
	if f, err = bench.WithLibcrypto(f); err != nil {
		log.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "gatehub-libcrypto-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	p, err := bench.NewPeer(f, dir)
	if err != nil {
		log.Fatalf("libxmlsec1 in process: %v", err)
	}
	s, err := bench.CompareWithPeer(f, p, "sign", peerRounds, peerRound)
	if err != nil {
		log.Fatalf("libcrypto sign side by side: %v", err)
	}
	log.Printf("  rsa-2048 via libcrypto sign: ours ÷ libxmlsec1 = %.2f× wall, %.2f× CPU (ours %v, peer %v ops/s)", s.RatioMedian, s.RatioCPUMedian, rounded(s.Ours), rounded(s.Peer))
	ip.rows = append(ip.rows, s)
	ip.algs = append(ip.algs, "rsa-2048, signed by libcrypto (the hub's default for key files)")
}

// runPKCS11 measures the RSA sign path with the hub key in a PKCS#11
// token (SoftHSM2, whose RSA is OpenSSL's) against the peer's software
// key: the choice for RSA where Go's crypto/rsa is the limit.
func (ip *inProcess) runPKCS11(root string) {
	dir, err := os.MkdirTemp("", "gatehub-pkcs11-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	f, closeToken, err := bench.NewPKCS11Fixture(root, dir, pki.RSA2048)
	if err != nil {
		if testenv.CI() {
			log.Fatal(err)
		}
		ip.pkcs11Note = err.Error()
		return
	}
	defer closeToken()
	p, err := bench.NewPeer(f, dir)
	if err != nil {
		log.Fatalf("libxmlsec1 in process: %v", err)
	}
	s, err := bench.CompareWithPeer(f, p, "sign", peerRounds, peerRound)
	if err != nil {
		log.Fatalf("pkcs11 sign side by side: %v", err)
	}
	log.Printf("  rsa-2048 in PKCS#11 sign: ours ÷ libxmlsec1 = %.2f× wall, %.2f× CPU (ours %v, peer %v ops/s)", s.RatioMedian, s.RatioCPUMedian, rounded(s.Ours), rounded(s.Peer))
	ip.rows = append(ip.rows, s)
	ip.algs = append(ip.algs, "rsa-2048, hub key in PKCS#11 (SoftHSM2)")
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
		p("- ours ÷ libxmlsec1 in process, %s %s: **%.2f×** (median of %d alternated rounds; %.2f× per CPU-second)", ip.algs[i], s.Op, s.RatioMedian, len(s.Ours), s.RatioCPUMedian)
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
	p("of %v each, and the ratio is taken per round, then the median: other jobs share these cores. The", peerRound)
	p("same ratio over each side's CPU time (ops per CPU-second of the measuring process) moves less with")
	p("the load of other jobs than the wall-clock one.")
	p("")
	if len(ip.rows) == 0 {
		p("Not measured: %s.", ip.note)
		p("")
	} else {
		p("| key | operation | ours ops/s (rounds) | libxmlsec1 ops/s (rounds) | ours ÷ libxmlsec1 (median) | per CPU-second |")
		p("|---|---|---|---|---:|---:|")
		for i, s := range ip.rows {
			p("| %s | %s | %v | %v | **%.2f×** | %.2f× |", ip.algs[i], s.Op, rounded(s.Ours), rounded(s.Peer), s.RatioMedian, s.RatioCPUMedian)
		}
		p("")
	}
	p("Raw private-key bound on one core, the ceiling of each side's sign path, per CPU-second")
	p("(`openssl speed` counts CPU time; Go's loop is timed the same way):")
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
	if ip.pkcs11Note != "" {
		p("")
		p("PKCS#11 row not measured: %s.", ip.pkcs11Note)
	}
	if ip.sslErr != nil {
		p("")
		p("Note: %v", ip.sslErr)
	}
	p("")
}
