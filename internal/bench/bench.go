// Package bench measures the hub side by side with its bounds: the raw
// private-key operation, our XML-DSig sign and verify paths against the
// xmlsec1 CLI, declarations accepted and fully processed end to end, and
// the gate's decision lookup by plate under open-loop load.
//
// The measurements live here as plain functions so that the `go test
// -bench` benchmarks in this package and cmd/benchreport (`make bench`,
// which writes docs/BENCHMARKS.md) run exactly the same code.
package bench

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/gatehub/gatehub/internal/message"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/gatehub/gatehub/internal/agencies"
	"github.com/gatehub/gatehub/internal/declaration"
	"github.com/gatehub/gatehub/internal/gate"
	"github.com/gatehub/gatehub/internal/ids"
	"github.com/gatehub/gatehub/internal/mapping"
	"github.com/gatehub/gatehub/internal/pki"
	"github.com/gatehub/gatehub/internal/sign"
)

// MessagesPerDeclaration is how many agency messages the sample
// declaration needs (customs, border guard, vehicle registry, Guangxi):
// the hub signs each, so the end-to-end signing bound is the raw RSA sign
// rate divided by this.
const MessagesPerDeclaration = 4

// Fixed instants: the sample declaration plans its crossing on
// 2026-12-01, so the hub's clock starts shortly before it (as in the
// end-to-end tests) and then advances with real time.
var (
	clockBase = time.Date(2026, 11, 25, 1, 0, 0, 0, time.UTC)
	certFrom  = clockBase.AddDate(-1, 0, 0)
	certUntil = clockBase.AddDate(2, 0, 0)
)

// Clock starts at clockBase and advances with real time.
func Clock() func() time.Time {
	start := time.Now()
	return func() time.Time { return clockBase.Add(time.Since(start)) }
}

// RepoRoot finds the module root: the directory of go.mod above the working
// directory, or above this source file.
func RepoRoot() (string, error) {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		starts = append(starts, filepath.Dir(file))
	}
	for _, dir := range starts {
		for d := dir; ; d = filepath.Dir(d) {
			if data, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil &&
				bytes.Contains(data, []byte("module github.com/gatehub/gatehub\n")) {
				return d, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return "", errors.New("bench: cannot find the gatehub module root (go.mod)")
}

// SampleDeclaration returns the Hữu Nghị export sample with its Vietnamese
// plate replaced by a distinct valid one per i, so that every declaration
// of a run is its own truck.
func SampleDeclaration(root string, i int) ([]byte, error) {
	raw, err := os.ReadFile(filepath.Join(root, "conformance-tests/declarations/huu-nghi-export.json"))
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	m["vehicle"].(map[string]any)["plateVN"] = Plate(i)
	// Its own Chinese plate too: a vehicle has one active crossing per gate.
	m["vehicle"].(map[string]any)["plateCN"] = PlateCN(i)
	return json.Marshal(m)
}

// PlateCN is the i-th benchmark Chinese plate, of the same truck as Plate(i).
func PlateCN(i int) string { return fmt.Sprintf("桂A%05d", 10000+i%90000) }

// Plate is the i-th benchmark plate (12C-10000 … 12C-99999, then wrapping).
func Plate(i int) string { return fmt.Sprintf("12C-%05d", 10000+i%90000) }

// Fixture is one typical agency message and a hub identity to sign it with.
type Fixture struct {
	Doc      *etree.Document // the customs submit message, unsigned
	Unsigned []byte          // Doc serialised
	ID       *pki.Identity
	Signer   *sign.Signer
	Signed   []byte // Doc signed by Signer
	Verifier *sign.Verifier
	At       time.Time // an instant inside the certificate's validity

	signedCert *x509.Certificate // peer fixtures: the certificate Signed was made with, when not ID's
}

// NewFixture builds the customs submit message of the sample declaration
// through the real mapping (the largest of the four agency messages) and
// signs it with a fresh key of alg.
func NewFixture(root string, alg pki.Algorithm) (*Fixture, error) {
	known, err := agencies.LoadDir(filepath.Join(root, "deploy/agencies"))
	if err != nil {
		return nil, err
	}
	gates, err := gate.LoadDir(filepath.Join(root, "deploy/gates"), known)
	if err != nil {
		return nil, err
	}
	maps, err := mapping.Load(filepath.Join(root, "mappings"))
	if err != nil {
		return nil, err
	}
	body, err := SampleDeclaration(root, 0)
	if err != nil {
		return nil, err
	}
	d, err := declaration.Decode(bytes.NewReader(body), declaration.Options{Gates: gates, Now: clockBase})
	if err != nil {
		return nil, fmt.Errorf("decode sample: %w", err)
	}
	g, ok := gates.Gate(d.Gate)
	if !ok {
		return nil, fmt.Errorf("sample gate %s not configured", d.Gate)
	}
	env := mapping.Envelope{MessageID: ids.Message(), Kind: message.Submit, Sender: "hub", Receiver: "customs",
		DeclarationID: ids.Declaration(clockBase), Version: 1, CreatedAt: clockBase}
	doc, _, err := maps.Build("customs", message.Submit, d, env, g.Context())
	if err != nil {
		return nil, fmt.Errorf("map sample: %w", err)
	}
	unsigned, err := doc.WriteToBytes()
	if err != nil {
		return nil, err
	}
	id, err := pki.Generate("hub", alg, certFrom, certUntil)
	if err != nil {
		return nil, err
	}
	s, err := sign.NewSigner(id)
	if err != nil {
		return nil, err
	}
	signed, err := s.Sign(doc)
	if err != nil {
		return nil, err
	}
	ts := pki.NewTrustStore()
	ts.Add("hub", id.Cert, certFrom, certUntil)
	return &Fixture{Doc: doc, Unsigned: unsigned, ID: id, Signer: s, Signed: signed,
		Verifier: sign.NewVerifier(ts), At: clockBase}, nil
}

// RawSign measures the private-key operation alone over a SHA-256 digest,
// on one goroutine (parallel=false) or on every core (b.RunParallel).
func RawSign(b *testing.B, alg pki.Algorithm, parallel bool) {
	id, err := pki.Generate("hub", alg, certFrom, certUntil)
	if err != nil {
		b.Fatal(err)
	}
	digest := sha256.Sum256([]byte("a typical agency message"))
	b.ReportAllocs()
	b.ResetTimer()
	if parallel {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := id.Key.Sign(rand.Reader, digest[:], crypto.SHA256); err != nil {
					b.Error(err)
					return
				}
			}
		})
	} else {
		for b.Loop() {
			if _, err := id.Key.Sign(rand.Reader, digest[:], crypto.SHA256); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "signs/s")
}

// SignPath measures our sign path on one message: serialise, exclusive
// C14N, SHA-256 digest, RSA/ECDSA signature, signed document written.
func SignPath(b *testing.B, f *Fixture) {
	b.SetBytes(int64(len(f.Unsigned)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.Signer.Sign(f.Doc); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// VerifyPath measures our verify path: parse, profile checks, trust
// look-up, digest and signature check, content re-read.
func VerifyPath(b *testing.B, f *Fixture) {
	b.SetBytes(int64(len(f.Signed)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.Verifier.Verify("hub", f.Signed, f.At); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// Xmlsec1 runs the xmlsec1 CLI on the fixture's message: sign (from a
// template), verify, and --version (the cost of starting the process).
type Xmlsec1 struct {
	Bin, Version string
	dir          string
	tmpl, signed string
	key, cert    string
}

// ErrNoXmlsec1 is returned when the xmlsec1 binary is not on PATH.
var ErrNoXmlsec1 = errors.New("xmlsec1 not found on PATH (apt-get install xmlsec1)")

// NewXmlsec1 writes the fixture's key, certificate, signature template and
// our signed document to dir for xmlsec1 to read.
func NewXmlsec1(f *Fixture, dir string) (*Xmlsec1, error) {
	bin, err := exec.LookPath("xmlsec1")
	if err != nil {
		return nil, ErrNoXmlsec1
	}
	ver, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("xmlsec1 --version: %w", err)
	}
	keyPEM, err := pki.KeyPEM(f.ID.Key)
	if err != nil {
		return nil, err
	}
	method := sign.AlgRSASHA256
	if _, ok := f.ID.Cert.PublicKey.(interface{ Size() int }); !ok {
		method = sign.AlgECDSASHA256
	}
	doc := string(f.Unsigned)
	end := strings.LastIndex(doc, "</")
	tmpl := doc[:end] + `<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>` +
		`<ds:CanonicalizationMethod Algorithm="` + sign.AlgExcC14N + `"/>` +
		`<ds:SignatureMethod Algorithm="` + method + `"/>` +
		`<ds:Reference URI=""><ds:Transforms><ds:Transform Algorithm="` + sign.AlgEnveloped + `"/>` +
		`<ds:Transform Algorithm="` + sign.AlgExcC14N + `"/></ds:Transforms>` +
		`<ds:DigestMethod Algorithm="` + sign.AlgSHA256 + `"/><ds:DigestValue/></ds:Reference>` +
		`</ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo></ds:Signature>` + doc[end:]
	x := &Xmlsec1{Bin: bin, Version: strings.TrimSpace(string(ver)), dir: dir,
		tmpl: filepath.Join(dir, "tmpl.xml"), signed: filepath.Join(dir, "signed.xml"),
		key: filepath.Join(dir, "key.pem"), cert: filepath.Join(dir, "cert.pem")}
	for path, data := range map[string][]byte{x.tmpl: []byte(tmpl), x.signed: f.Signed, x.key: keyPEM, x.cert: pki.CertPEM(f.ID.Cert)} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, err
		}
	}
	// Both directions must work before anything is timed.
	if err := x.Sign(); err != nil {
		return nil, err
	}
	if err := x.Verify(); err != nil {
		return nil, fmt.Errorf("xmlsec1 refuses our signature: %w", err)
	}
	return x, nil
}

func (x *Xmlsec1) run(args ...string) error {
	out, err := exec.Command(x.Bin, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("xmlsec1 %s: %v: %s", args[0], err, bytes.TrimSpace(out))
	}
	return nil
}

// Sign has xmlsec1 sign the template with the fixture's key.
func (x *Xmlsec1) Sign() error {
	return x.run("--sign", "--privkey-pem", x.key+","+x.cert, "--output", filepath.Join(x.dir, "out.xml"), x.tmpl)
}

// Verify has xmlsec1 verify the document our signer produced.
func (x *Xmlsec1) Verify() error {
	return x.run("--verify", "--pubkey-cert-pem", x.cert, "--enabled-key-data", "key-name,x509",
		"--enabled-reference-uris", "empty,same-doc", x.signed)
}

// Start runs `xmlsec1 --version`: process start alone.
func (x *Xmlsec1) Start() error { return x.run("--version") }

// ProcessCPU is the user and system CPU time this process has used so far.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Loop runs op n times and returns the time per operation.
func Loop(n int, op func() error) (time.Duration, error) {
	start := time.Now()
	for range n {
		if err := op(); err != nil {
			return 0, err
		}
	}
	return time.Since(start) / time.Duration(n), nil
}

// Percentile returns the p-th percentile (0 < p ≤ 100) of sorted durations
// by the nearest-rank method.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted))+0.999999) - 1
	rank = max(0, min(rank, len(sorted)-1))
	return sorted[rank]
}

// waitGroupErr collects the first error of several goroutines.
type waitGroupErr struct {
	wg   sync.WaitGroup
	once sync.Once
	err  error
}

func (w *waitGroupErr) Go(fn func() error) {
	w.wg.Go(func() {
		if err := fn(); err != nil {
			w.once.Do(func() { w.err = err })
		}
	})
}

func (w *waitGroupErr) Wait() error { w.wg.Wait(); return w.err }

// ctxSleep sleeps d unless ctx ends first.
func ctxSleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
