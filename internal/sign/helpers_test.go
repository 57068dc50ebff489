package sign

import (
	"encoding/base64"
	"github.com/gatehub/gatehub/internal/testenv"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/gatehub/gatehub/internal/pki"
)

// Fixed instants keep the tests independent of the wall clock.
var (
	t0      = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tNow    = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	tExpiry = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
)

// agencyMessage is an ACK-like message with namespaces, attributes and
// UTF-8 Chinese and Vietnamese text, in the shape of the agency formats.
const agencyMessage = `<?xml version="1.0" encoding="UTF-8"?>
<gx:GuangxiAckMessage xmlns:gx="urn:gatehub:guangxi:ack:1" xmlns:cm="urn:gatehub:common:1" guid="8f2c1d1e-0000-4000-8000-000000000001" version="1.0">
  <gx:Head>
    <cm:MessageId>GX-ACK-2026-000001</cm:MessageId>
    <cm:Sender>guangxi</cm:Sender>
    <cm:Receiver>hub</cm:Receiver>
    <cm:Timestamp>2026-06-01T12:00:00+08:00</cm:Timestamp>
  </gx:Head>
  <gx:Body>
    <gx:Decision code="ACCEPT">同意通关</gx:Decision>
    <gx:Port code="CNPXG">凭祥友谊关口岸</gx:Port>
    <gx:Plate>桂F·12345</gx:Plate>
    <gx:Remark>Hàng hóa: thanh long &amp; vải thiều; 火龙果 &lt;20吨&gt;</gx:Remark>
  </gx:Body>
</gx:GuangxiAckMessage>
`

func parseDoc(t testing.TB, s string) *etree.Document {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromString(s); err != nil {
		t.Fatalf("parse test document: %v", err)
	}
	return doc
}

func newIdentity(t testing.TB, participant string, alg pki.Algorithm, from, until time.Time) *pki.Identity {
	t.Helper()
	id, err := pki.Generate(participant, alg, from, until)
	if err != nil {
		t.Fatalf("generate %s: %v", participant, err)
	}
	return id
}

func newSigner(t testing.TB, id *pki.Identity) *Signer {
	t.Helper()
	s, err := NewSigner(id)
	if err != nil {
		t.Fatalf("new signer: %v", err)
	}
	return s
}

// hubPair returns a fresh "hub" identity of alg, its signer, and a verifier
// that trusts it for [t0, tExpiry).
func hubPair(t testing.TB, alg pki.Algorithm) (*pki.Identity, *Signer, *Verifier) {
	t.Helper()
	id := newIdentity(t, "hub", alg, t0, tExpiry)
	ts := pki.NewTrustStore()
	ts.Add("hub", id.Cert, t0, tExpiry)
	return id, newSigner(t, id), NewVerifier(ts)
}

// xmlsec1Path returns the xmlsec1 binary, the independent oracle. In CI it
// must be present; elsewhere the oracle tests are skipped with a message.
func xmlsec1Path(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("xmlsec1")
	if err != nil {
		if testenv.CI() {
			t.Fatalf("xmlsec1 not found (install the xmlsec1 package): %v", err)
		}
		t.Skipf("xmlsec1 not found, skipping oracle test: %v", err)
	}
	return p
}

func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// xmlsecVerify runs `xmlsec1 --verify` trusting exactly cert (as a bare
// public key from the certificate, so no X.509 chain building is involved)
// and reports whether xmlsec1 accepted the signature.
func xmlsecVerify(t testing.TB, signed []byte, id *pki.Identity) (bool, string) {
	t.Helper()
	return xmlsecVerifyArgs(t, signed, id)
}

func xmlsecVerifyArgs(t testing.TB, signed []byte, id *pki.Identity, extraArgs ...string) (bool, string) {
	t.Helper()
	bin := xmlsec1Path(t)
	dir := t.TempDir()
	doc := writeFile(t, dir, "signed.xml", signed)
	crt := writeFile(t, dir, "cert.pem", pki.CertPEM(id.Cert))
	cmd := exec.Command(bin, "--verify",
		"--pubkey-cert-pem", crt,
		"--enabled-key-data", "key-name,x509",
		"--enabled-reference-uris", "empty,same-doc")
	cmd.Args = append(append(cmd.Args, extraArgs...), doc)
	out, err := cmd.CombinedOutput()
	return err == nil, strings.TrimSpace(string(out))
}

// sigTemplate is the Signature skeleton xmlsec1 fills in; the algorithm
// URIs are parameters so tests can produce genuinely valid signatures with
// algorithms outside our allow-list.
type sigTemplate struct {
	C14N, Method, Digest, URI string
}

func (st sigTemplate) render() string {
	c14n, digest, uri := st.C14N, st.Digest, st.URI
	if c14n == "" {
		c14n = AlgExcC14N
	}
	if digest == "" {
		digest = AlgSHA256
	}
	transforms := `<ds:Transform Algorithm="` + AlgEnveloped + `"/><ds:Transform Algorithm="` + c14n + `"/>`
	return `<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>` +
		`<ds:CanonicalizationMethod Algorithm="` + c14n + `"/>` +
		`<ds:SignatureMethod Algorithm="` + st.Method + `"/>` +
		`<ds:Reference URI="` + uri + `"><ds:Transforms>` + transforms + `</ds:Transforms>` +
		`<ds:DigestMethod Algorithm="` + digest + `"/><ds:DigestValue/></ds:Reference>` +
		`</ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo></ds:Signature>`
}

func methodFor(id *pki.Identity) string {
	if _, ok := id.Cert.PublicKey.(interface{ Size() int }); ok { // *rsa.PublicKey has Size
		return AlgRSASHA256
	}
	return AlgECDSASHA256
}

// xmlsecSign has xmlsec1 sign doc (a complete document whose root element
// ends with "</...>") with id's key, inserting the template as the last
// child of the root element. extraArgs are passed through (e.g. --id-attr).
func xmlsecSign(t testing.TB, doc string, id *pki.Identity, st sigTemplate, extraArgs ...string) []byte {
	t.Helper()
	bin := xmlsec1Path(t)
	if st.Method == "" {
		st.Method = methodFor(id)
	}
	end := strings.LastIndex(doc, "</")
	if end < 0 {
		t.Fatal("template document has no end tag")
	}
	tmpl := doc[:end] + st.render() + doc[end:]
	dir := t.TempDir()
	keyPEM, err := pki.KeyPEM(id.Key)
	if err != nil {
		t.Fatal(err)
	}
	key := writeFile(t, dir, "key.pem", keyPEM)
	crt := writeFile(t, dir, "cert.pem", pki.CertPEM(id.Cert))
	in := writeFile(t, dir, "tmpl.xml", []byte(tmpl))
	outPath := filepath.Join(dir, "signed.xml")
	args := append([]string{"--sign", "--privkey-pem", key + "," + crt, "--output", outPath}, extraArgs...)
	args = append(args, in)
	if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("xmlsec1 --sign: %v\n%s", err, out)
	}
	signed, err := os.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
