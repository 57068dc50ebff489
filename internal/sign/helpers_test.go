package sign

import (
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

// xmlsec1Path returns the xmlsec1 binary, the independent oracle. In CI it
// must be present; elsewhere the oracle tests are skipped with a message.
func xmlsec1Path(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("xmlsec1")
	if err != nil {
		if os.Getenv("CI") == "true" {
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
	bin := xmlsec1Path(t)
	dir := t.TempDir()
	doc := writeFile(t, dir, "signed.xml", signed)
	crt := writeFile(t, dir, "cert.pem", pki.CertPEM(id.Cert))
	cmd := exec.Command(bin, "--verify",
		"--pubkey-cert-pem", crt,
		"--enabled-key-data", "key-name,x509",
		"--enabled-reference-uris", "empty",
		doc)
	out, err := cmd.CombinedOutput()
	return err == nil, strings.TrimSpace(string(out))
}
