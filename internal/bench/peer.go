package bench

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehub/gatehub/internal/pki"
)

// peerScript drives libxmlsec1 in process through Debian's python3-xmlsec:
// the peer a ministry linking libxmlsec1 would run, unlike the xmlsec1 CLI,
// which pays a process start, library initialisation and key loading on
// every call.
//
//go:embed peer/xmlsec_peer.py
var peerScript []byte

// PeerPython is the interpreter python3-xmlsec installs for: Debian's own,
// not whichever python3 comes first on PATH.
const PeerPython = "/usr/bin/python3"

// ErrNoPeer: libxmlsec1 in process cannot be measured on this machine.
var ErrNoPeer = errors.New("libxmlsec1 in process (python3-xmlsec for " + PeerPython + ") not available")

// EnsurePeer checks that python3-xmlsec imports and, where it does not and
// apt-get can install it (root), installs it. It says what it did, or why
// the peer cannot be measured.
func EnsurePeer() (note string, err error) {
	if peerImports() {
		return "", nil
	}
	if _, err := exec.LookPath("apt-get"); err != nil || os.Geteuid() != 0 {
		return "", fmt.Errorf("%w: install the Debian package python3-xmlsec (needs apt-get as root)", ErrNoPeer)
	}
	out, err := exec.Command("apt-get", "install", "-y", "-qq", "python3-xmlsec").CombinedOutput()
	if err != nil || !peerImports() {
		return "", fmt.Errorf("%w: apt-get install python3-xmlsec: %v: %s", ErrNoPeer, err, strings.TrimSpace(string(out)))
	}
	return "python3-xmlsec was missing and was installed with apt-get for this run", nil
}

func peerImports() bool {
	return exec.Command(PeerPython, "-c", "import xmlsec, lxml").Run() == nil
}

// Peer measures libxmlsec1 in process on a fixture's message, key and
// certificate.
type Peer struct {
	Version string // python3-xmlsec and libxml2 versions
	dir     string
	script  string
	key     string
	cert    string
	unsign  string
	signed  string
	method  string // rsa | ecdsa
	// verifyCert is the certificate of the key that signed the message
	// the peer verifies (cert's, unless the fixture key is in a token).
	verifyCert string
}

// NewPeer writes what the peer reads into dir and checks both directions
// once: the peer signs the message, and verifies our signed message.
func NewPeer(f *Fixture, dir string) (*Peer, error) {
	if !peerImports() {
		return nil, ErrNoPeer
	}
	key, cert := f.ID.Key, f.ID.Cert
	if _, err := pki.KeyPEM(key); err != nil {
		// A key in a token does not leave it: the peer signs with a
		// software key of the same type, verifies our token signature
		// with the token key's certificate.
		soft, err := pki.Generate("hub", pki.AlgorithmOf(cert), certFrom, certUntil)
		if err != nil {
			return nil, fmt.Errorf("peer: %w", err)
		}
		key = soft.Key
		f = &Fixture{Doc: f.Doc, Unsigned: f.Unsigned, ID: &pki.Identity{Participant: "hub", Key: soft.Key, Cert: soft.Cert},
			Signed: f.Signed, signedCert: cert}
	}
	keyPEM, err := pki.KeyPEM(key)
	if err != nil {
		return nil, fmt.Errorf("peer: %w", err)
	}
	p := &Peer{dir: dir, script: filepath.Join(dir, "xmlsec_peer.py"), key: filepath.Join(dir, "key.pem"),
		cert: filepath.Join(dir, "cert.pem"), unsign: filepath.Join(dir, "unsigned.xml"), signed: filepath.Join(dir, "signed.xml"),
		method: "rsa"}
	if _, ok := f.ID.Cert.PublicKey.(interface{ Size() int }); !ok {
		p.method = "ecdsa"
	}
	verifyCert := f.ID.Cert
	if f.signedCert != nil {
		verifyCert = f.signedCert
	}
	p.verifyCert = filepath.Join(dir, "verify-cert.pem")
	for path, data := range map[string][]byte{p.script: peerScript, p.key: keyPEM, p.cert: pki.CertPEM(f.ID.Cert),
		p.verifyCert: pki.CertPEM(verifyCert), p.unsign: f.Unsigned, p.signed: f.Signed} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, fmt.Errorf("peer: %w", err)
		}
	}
	ver, err := exec.Command(PeerPython, "-c", "import xmlsec, lxml.etree as e; print('python3-xmlsec', xmlsec.__version__ + ', libxml2', '.'.join(map(str, e.LIBXML_VERSION)))").Output()
	if err != nil {
		return nil, fmt.Errorf("peer version: %w", err)
	}
	p.Version = strings.TrimSpace(string(ver))
	for _, op := range []string{"sign", "verify"} {
		if _, err := p.Rate(op, 0); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Rate runs op ("sign" or "verify") in a loop for about d on one thread of
// a fresh interpreter (key and certificate loaded before the clock starts)
// and returns operations per second of wall-clock time and of CPU time.
func (p *Peer) Rate(op string, d time.Duration) (Rate, error) {
	msg, cert := p.signed, p.verifyCert
	if op == "sign" {
		msg, cert = p.unsign, p.cert
	}
	out, err := exec.Command(PeerPython, p.script, op, p.key, cert, msg, strconv.FormatFloat(d.Seconds(), 'f', 3, 64), p.method).CombinedOutput()
	if err != nil {
		return Rate{}, fmt.Errorf("peer %s: %v: %s", op, err, strings.TrimSpace(string(out)))
	}
	var res struct {
		OpsPerS    float64 `json:"ops_per_s"`
		OpsPerCPUS float64 `json:"ops_per_cpu_s"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return Rate{}, fmt.Errorf("peer %s output %q: %w", op, out, err)
	}
	return Rate{Wall: res.OpsPerS, CPU: res.OpsPerCPUS}, nil
}

// Rate is operations per second of wall-clock time and per second of CPU
// time of the process doing them. Other jobs on a shared machine lower
// the first; the second moves much less with them.
type Rate struct{ Wall, CPU float64 }

// OursRate runs op of our paths on the fixture in a loop for about d on
// one goroutine and returns operations per second, of wall-clock time and
// of this process's CPU time (which includes a PKCS#11 provider's work:
// SoftHSM2 runs in process).
func OursRate(f *Fixture, op string, d time.Duration) (Rate, error) {
	one := func() error { _, err := f.Verifier.Verify("hub", f.Signed, f.At); return err }
	if op == "sign" {
		one = func() error { _, err := f.Signer.Sign(f.Doc); return err }
	}
	if err := one(); err != nil {
		return Rate{}, err
	}
	n, start, cpu0 := 0, time.Now(), ProcessCPU()
	for {
		for range 20 {
			if err := one(); err != nil {
				return Rate{}, err
			}
		}
		n += 20
		if el := time.Since(start); el >= d {
			cpu := max(ProcessCPU()-cpu0, time.Microsecond)
			return Rate{Wall: float64(n) / el.Seconds(), CPU: float64(n) / cpu.Seconds()}, nil
		}
	}
}

// SideBySide is ours and the peer measured back to back, alternating.
type SideBySide struct {
	Op         string
	Ours, Peer []float64 // wall-clock ops/s, one per round
	// OursCPU and PeerCPU are ops per CPU-second, one per round.
	OursCPU, PeerCPU []float64
	RatioMedian      float64 // median of the per-round wall-clock ratios ours ÷ peer
	RatioCPUMedian   float64 // the same over CPU time
}

// CompareWithPeer alternates ours and the peer rounds times, d each: on a
// shared machine the load moves, and a ratio of two neighbouring runs is
// what carries over, not either rate. Go runs on one goroutine, the peer
// on one thread.
func CompareWithPeer(f *Fixture, p *Peer, op string, rounds int, d time.Duration) (SideBySide, error) {
	s := SideBySide{Op: op}
	var ratios, cpuRatios []float64
	for range rounds {
		o, err := OursRate(f, op, d)
		if err != nil {
			return s, err
		}
		x, err := p.Rate(op, d)
		if err != nil {
			return s, err
		}
		s.Ours, s.Peer = append(s.Ours, o.Wall), append(s.Peer, x.Wall)
		s.OursCPU, s.PeerCPU = append(s.OursCPU, o.CPU), append(s.PeerCPU, x.CPU)
		ratios, cpuRatios = append(ratios, o.Wall/x.Wall), append(cpuRatios, o.CPU/x.CPU)
	}
	s.RatioMedian, s.RatioCPUMedian = median(ratios), median(cpuRatios)
	return s, nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// OpenSSLSpeed is `openssl speed` for alg on one core: raw private-key
// signs and public-key verifies per second of CPU time (openssl's default
// clock), the bound libxmlsec1's OpenSSL back end signs against. Compare
// it with GoRawSignCPU, also per CPU-second.
func OpenSSLSpeed(alg pki.Algorithm, seconds int) (signs, verifies float64, err error) {
	name := map[pki.Algorithm]string{pki.RSA2048: "rsa2048", pki.ECDSAP256: "ecdsap256"}[alg]
	if name == "" {
		return 0, 0, fmt.Errorf("openssl speed: no benchmark for %s", alg)
	}
	out, err := exec.Command("openssl", "speed", "-mr", "-seconds", strconv.Itoa(seconds), name).Output()
	if err != nil {
		return 0, 0, fmt.Errorf("openssl speed %s: %w", name, err)
	}
	// Machine-readable result (OpenSSL 3): +F2:<n>:<bits>:<signs/s>:<verifies/s>
	// for RSA, +F4:… for ECDSA.
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(line, "+F") {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) < 5 {
			continue
		}
		s, err1 := strconv.ParseFloat(f[len(f)-2], 64)
		v, err2 := strconv.ParseFloat(f[len(f)-1], 64)
		if err1 != nil || err2 != nil || s <= 0 || v <= 0 {
			continue
		}
		return s, v, nil
	}
	return 0, 0, fmt.Errorf("openssl speed %s: no result in %q", name, out)
}

// GoRawSignCPU is Go's raw private-key operation for alg on one
// goroutine, n times, in signs per second of this process's CPU time: the
// same clock as OpenSSLSpeed.
func GoRawSignCPU(alg pki.Algorithm, n int) (float64, error) {
	id, err := pki.Generate("hub", alg, certFrom, certUntil)
	if err != nil {
		return 0, err
	}
	digest := sha256.Sum256([]byte("a typical agency message"))
	cpu0 := ProcessCPU()
	for range n {
		if _, err := id.Key.Sign(rand.Reader, digest[:], crypto.SHA256); err != nil {
			return 0, err
		}
	}
	return float64(n) / max(ProcessCPU()-cpu0, time.Microsecond).Seconds(), nil
}
