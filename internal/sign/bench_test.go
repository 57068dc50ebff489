package sign

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/gatehub/gatehub/internal/pki"
)

// typicalMessage builds a customs-manifest-like document of about 5 KB:
// an envelope head and a dozen consignment lines with mixed-script text.
func typicalMessage() string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<cm:RoadManifest xmlns:cm="urn:gatehub:customs:manifest:1" xmlns:h="urn:gatehub:common:1" version="1.0">
  <h:Head><h:MessageId>CUS-2026-000123</h:MessageId><h:MessageType>SUBMIT</h:MessageType><h:Sender>hub</h:Sender><h:Receiver>customs</h:Receiver><h:Timestamp>2026-06-01T08:30:00+07:00</h:Timestamp></h:Head>
  <cm:Conveyance><cm:PlateVN>12C-345.67</cm:PlateVN><cm:PlateCN>桂F·12345</cm:PlateCN><cm:Driver>Nguyễn Văn An</cm:Driver><cm:Gate>VNHHL</cm:Gate></cm:Conveyance>
  <cm:Consignments>
`)
	for i := 1; b.Len() < 4800; i++ {
		fmt.Fprintf(&b, `    <cm:Consignment seq="%d"><cm:HSCode>08109010</cm:HSCode><cm:Description>Thanh long tươi 新鲜火龙果 lot %d</cm:Description><cm:Packages unit="CT">%d</cm:Packages><cm:GrossKg>%d.50</cm:GrossKg><cm:Value currency="USD">%d.00</cm:Value><cm:Container>TGHU%07d</cm:Container></cm:Consignment>
`, i, i, 100+i, 1200+i, 5000+i, 1000000+i)
	}
	b.WriteString("  </cm:Consignments>\n</cm:RoadManifest>\n")
	return b.String()
}

var benchAlgs = []pki.Algorithm{pki.RSA2048, pki.ECDSAP256}

func BenchmarkSign(b *testing.B) {
	msg := typicalMessage()
	for _, alg := range benchAlgs {
		b.Run(string(alg), func(b *testing.B) {
			s := newSigner(b, newIdentity(b, "hub", alg, t0, tExpiry))
			doc := parseDoc(b, msg)
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Sign(doc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	msg := typicalMessage()
	for _, alg := range benchAlgs {
		b.Run(string(alg), func(b *testing.B) {
			id := newIdentity(b, "customs", alg, t0, tExpiry)
			signed, err := newSigner(b, id).Sign(parseDoc(b, msg))
			if err != nil {
				b.Fatal(err)
			}
			ts := pki.NewTrustStore()
			ts.Add("customs", id.Cert, t0, tExpiry)
			v := NewVerifier(ts)
			b.SetBytes(int64(len(signed)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify("customs", signed, tNow); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRawSign measures the private-key operation alone over a SHA-256
// digest, to separate crypto cost from XML work in BenchmarkSign.
func BenchmarkRawSign(b *testing.B) {
	digest := sha256.Sum256([]byte(typicalMessage()))
	for _, alg := range benchAlgs {
		b.Run(string(alg), func(b *testing.B) {
			key := newIdentity(b, "hub", alg, t0, tExpiry).Key
			b.ReportAllocs()
			for b.Loop() {
				if _, err := key.Sign(rand.Reader, digest[:], crypto.SHA256); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestTypicalMessageSize(t *testing.T) {
	if n := len(typicalMessage()); n < 4500 || n > 6000 {
		t.Fatalf("typical message is %d bytes, want about 5 KB", n)
	}
}

// nullKey stands in for the private key so that BenchmarkSignXMLWork times
// only the XML work around the signature: what the canonical writer and the
// splice save, free of the RSA/ECDSA cost and its noise.
type nullKey struct{ crypto.Signer }

func (k nullKey) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return make([]byte, 256), nil
}

// BenchmarkSignXMLWork compares the sign path without the key operation:
// "legacy" is the path before messages were written canonically
// (faithful write, re-read, copy, goxmldsig signature, signed tree written
// again), "prepared" is Prepare then SignUnsigned.
func BenchmarkSignXMLWork(b *testing.B) {
	s := newSigner(b, newIdentity(b, "hub", pki.RSA2048, t0, tExpiry))
	s.key = nullKey{s.key}
	for _, m := range []struct{ name, doc string }{{"typical", typicalMessage()}, {"agency", agencyMessage}} {
		doc := parseDoc(b, m.doc)
		b.Run(m.name+"/legacy", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := legacySignSerialised(s, legacySerialise(doc)); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(m.name+"/prepared", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				u, err := Prepare(doc)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := s.SignUnsigned(u); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
