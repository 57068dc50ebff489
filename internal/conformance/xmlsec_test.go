package conformance_test

import (
	"bytes"
	"crypto/sha256"
	"github.com/gatehub/gatehub/internal/testenv"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/gatehub/gatehub/adapters/agency"
	"github.com/gatehub/gatehub/internal/conformance"
	"github.com/gatehub/gatehub/internal/pki"
	"github.com/gatehub/gatehub/internal/sign"
	sim "github.com/gatehub/gatehub/internal/simulator"
)

// xmlsecAgency is an agency whose signatures our code does not make: it
// decides like the customs simulator (whose answers it takes), but signs
// every ACK/NACK itself with `xmlsec1 --sign` and its own key. tamper, when
// set, changes the signed ACK's referenced message id after signing.
type xmlsecAgency struct {
	t      *testing.T
	bin    string
	id     *pki.Identity
	next   http.Handler
	tamper bool

	mu    sync.Mutex
	cache map[[32]byte][]byte // the simulator's answer → xmlsec1's, so a resend gets the same bytes
}

func (a *xmlsecAgency) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := httptest.NewRecorder()
	a.next.ServeHTTP(rec, r)
	if rec.Code != http.StatusOK {
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		return
	}
	body := a.resign(rec.Body.Bytes())
	if a.tamper {
		id := r.Header.Get(agency.HeaderMessageID)
		last := "f"
		if strings.HasSuffix(id, last) {
			last = "e"
		}
		body = bytes.Replace(body, []byte(id), []byte(id[:len(id)-1]+last), 1)
	}
	w.Header().Set("Content-Type", agency.DefaultContentType)
	_, _ = w.Write(body)
}

// resign drops the simulator's signature and has xmlsec1 sign the answer.
func (a *xmlsecAgency) resign(simAck []byte) []byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	key := sha256.Sum256(simAck)
	if b, ok := a.cache[key]; ok {
		return b
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(simAck); err != nil {
		a.t.Errorf("simulator answer: %v", err)
		return simAck
	}
	root := doc.Root()
	for _, c := range root.ChildElements() {
		if c.Tag == "Signature" {
			root.RemoveChild(c)
		}
	}
	unsigned, err := doc.WriteToString()
	if err != nil {
		a.t.Errorf("serialise: %v", err)
		return simAck
	}
	end := strings.LastIndex(unsigned, "</")
	tmpl := unsigned[:end] + `<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>` +
		`<ds:CanonicalizationMethod Algorithm="` + sign.AlgExcC14N + `"/>` +
		`<ds:SignatureMethod Algorithm="` + sign.AlgRSASHA256 + `"/>` +
		`<ds:Reference URI=""><ds:Transforms><ds:Transform Algorithm="` + sign.AlgEnveloped + `"/>` +
		`<ds:Transform Algorithm="` + sign.AlgExcC14N + `"/></ds:Transforms>` +
		`<ds:DigestMethod Algorithm="` + sign.AlgSHA256 + `"/><ds:DigestValue/></ds:Reference>` +
		`</ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo></ds:Signature>` + unsigned[end:]
	dir := a.t.TempDir()
	keyPEM, err := pki.KeyPEM(a.id.Key)
	if err != nil {
		a.t.Errorf("key: %v", err)
		return simAck
	}
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			a.t.Error(err)
		}
		return p
	}
	keyFile, certFile := write("key.pem", keyPEM), write("cert.pem", pki.CertPEM(a.id.Cert))
	in, out := write("tmpl.xml", []byte(tmpl)), filepath.Join(dir, "signed.xml")
	if msg, err := exec.Command(a.bin, "--sign", "--privkey-pem", keyFile+","+certFile, "--output", out, in).CombinedOutput(); err != nil {
		a.t.Errorf("xmlsec1 --sign: %v\n%s", err, msg)
		return simAck
	}
	signed, err := os.ReadFile(out)
	if err != nil {
		a.t.Error(err)
		return simAck
	}
	a.cache[key] = signed
	return signed
}

func xmlsec1(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("xmlsec1")
	if err != nil {
		if testenv.CI() {
			t.Fatalf("xmlsec1 is required in CI: %v", err)
		}
		t.Skip("xmlsec1 not installed")
	}
	return p
}

// TestXmlsec1SignedAgency: the kit accepts answers an independent
// XML-DSig implementation signed, and refuses them once one referenced id
// is changed after signing.
func TestXmlsec1SignedAgency(t *testing.T) {
	bin := xmlsec1(t)
	f := newFixture(t)
	inbox := startInbox(t)
	c := f.startSims(t, sim.ModeSync, inbox, nil, "customs")
	now := time.Now()
	id, err := pki.Generate("customs", pki.RSA2048, now.Add(-time.Hour), now.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, tamper := range []bool{false, true} {
		name := "signed"
		if tamper {
			name = "tampered"
		}
		t.Run(name, func(t *testing.T) {
			a := &xmlsecAgency{t: t, bin: bin, id: id, next: c.Server("customs").Handler(), tamper: tamper, cache: map[[32]byte][]byte{}}
			srv := httptest.NewServer(http.StripPrefix("/customs", a))
			t.Cleanup(srv.Close)
			cfg := f.config(t, c, "customs", inbox)
			cfg.Endpoint = srv.URL + "/customs/messages"
			cfg.Trust = pki.NewTrustStore()
			cfg.Trust.Add("customs", id.Cert, time.Time{}, time.Time{})
			rep := run(t, cfg)
			if !tamper {
				if !rep.OK() {
					t.Fatalf("xmlsec1-signed answers refused:\n%s", text(t, rep))
				}
				return
			}
			if rep.OK() {
				t.Fatalf("tampered xmlsec1-signed answers accepted:\n%s", text(t, rep))
			}
			first := rep.Failures()[0]
			if first.Vector != "valid/submit.xml" || first.Check != conformance.CheckSignature || !strings.Contains(first.Detail, "digest does not match") {
				t.Fatalf("first failure = %+v\n%s", first, text(t, rep))
			}
		})
	}
}
