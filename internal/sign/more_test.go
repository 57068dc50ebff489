package sign

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/gatehub/gatehub/internal/pki"
)

func TestSignDeterministicRSA(t *testing.T) {
	s := newSigner(t, newIdentity(t, "hub", pki.RSA2048, t0, tExpiry))
	a, err := s.Sign(parseDoc(t, agencyMessage))
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Sign(parseDoc(t, agencyMessage))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("RSA signatures of the same input differ")
	}
	if !bytes.HasPrefix(a, []byte(`<?xml version="1.0" encoding="UTF-8"?>`)) {
		t.Errorf("missing XML declaration: %.60s", a)
	}
}

func TestSignDoesNotModifyInput(t *testing.T) {
	s := newSigner(t, newIdentity(t, "hub", pki.ECDSAP256, t0, tExpiry))
	doc := parseDoc(t, agencyMessage)
	before, _ := doc.WriteToString()
	if _, err := s.Sign(doc); err != nil {
		t.Fatal(err)
	}
	after, _ := doc.WriteToString()
	if before != after {
		t.Fatal("Sign modified its input document")
	}
}

func TestSignRefuses(t *testing.T) {
	s := newSigner(t, newIdentity(t, "hub", pki.ECDSAP256, t0, tExpiry))
	signed, err := s.Sign(parseDoc(t, agencyMessage))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sign(parseDoc(t, string(signed))); err == nil {
		t.Error("signed a document that already carries a signature")
	}
	if _, err := s.Sign(parseDoc(t, "")); err == nil {
		t.Error("signed an empty document")
	}
}

func TestNewSignerRefusesWeakOrMismatchedKeys(t *testing.T) {
	good := newIdentity(t, "hub", pki.ECDSAP256, t0, tExpiry)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	other := newIdentity(t, "hub", pki.ECDSAP256, t0, tExpiry)
	tests := []struct {
		name string
		id   *pki.Identity
	}{
		{"nil identity", nil},
		{"P-384 key", &pki.Identity{Participant: "hub", Key: p384, Cert: good.Cert}},
		{"RSA-1024 key", &pki.Identity{Participant: "hub", Key: rsa1024, Cert: good.Cert}},
		{"certificate of another key", &pki.Identity{Participant: "hub", Key: good.Key, Cert: other.Cert}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewSigner(tt.id); err == nil {
				t.Error("expected an error")
			}
		})
	}
}

// TestECDSASignatureValueForm: XML-DSig ECDSA values are r||s; the DER
// form (what goxmldsig emits by default) is refused.
func TestECDSASignatureValueForm(t *testing.T) {
	id := newIdentity(t, "borderguard", pki.ECDSAP256, t0, tExpiry)
	ts := pki.NewTrustStore()
	ts.Add("borderguard", id.Cert, t0, tExpiry)
	v := NewVerifier(ts)
	signed, err := newSigner(t, id).Sign(parseDoc(t, agencyMessage))
	if err != nil {
		t.Fatal(err)
	}
	sv := between(t, string(signed), "<ds:SignatureValue>", "</ds:SignatureValue>")
	raw, err := base64.StdEncoding.DecodeString(sv)
	if err != nil || len(raw) != 64 {
		t.Fatalf("signature value: %d bytes, %v", len(raw), err)
	}
	der, err := ecdsaRawToDER(raw)
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Replace(string(signed), sv, base64.StdEncoding.EncodeToString(der), 1)
	if _, err := v.Verify("borderguard", []byte(doc), tNow); !errors.Is(err, ErrRefused) {
		t.Fatalf("DER signature value: err = %v, want ErrRefused", err)
	}
}

func TestIdentifyAmbiguous(t *testing.T) {
	id := newIdentity(t, "province-langson", pki.ECDSAP256, t0, tExpiry)
	ts := pki.NewTrustStore()
	ts.Add("province-langson", id.Cert, t0, tExpiry)
	ts.Add("hub", id.Cert, t0, tExpiry)
	signed, err := newSigner(t, id).Sign(parseDoc(t, agencyMessage))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := NewVerifier(ts).Identify(signed, tNow); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("err = %v, want ErrUntrusted for a certificate trusted for two participants", err)
	}
}

// TestConcurrentSignVerify is meant for -race: one Signer and one Verifier
// shared by many goroutines while the trust store is being added to.
func TestConcurrentSignVerify(t *testing.T) {
	for _, alg := range []pki.Algorithm{pki.RSA2048, pki.ECDSAP256} {
		t.Run(string(alg), func(t *testing.T) {
			id := newIdentity(t, "vehicleregistry", alg, t0, tExpiry)
			extra := newIdentity(t, "province-langson", pki.ECDSAP256, t0, tExpiry)
			ts := pki.NewTrustStore()
			ts.Add("vehicleregistry", id.Cert, t0, tExpiry)
			s, v := newSigner(t, id), NewVerifier(ts)
			var wg sync.WaitGroup
			errs := make(chan error, 16)
			for i := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if i == 0 {
						ts.Add("province-langson", extra.Cert, t0, tExpiry)
					}
					for range 5 {
						signed, err := s.Sign(parseDoc(t, agencyMessage))
						if err != nil {
							errs <- err
							return
						}
						if _, err := v.Verify("vehicleregistry", signed, tNow); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

// TestOracleOnVariedContent signs documents with awkward content (escaped
// characters, CR, tabs, attributes needing escaping, default namespaces,
// CDATA) and has xmlsec1 check every one.
func TestOracleOnVariedContent(t *testing.T) {
	docs := map[string]string{
		"escapes":           `<a xmlns="urn:d" q='x"y' amp="a&amp;b&lt;c"><b>&amp;&lt;&gt;"'</b></a>`,
		"cdata":             `<a><![CDATA[<not>markup & 同意]]></a>`,
		"carriage return":   "<a t=\"x&#13;y&#9;z\">line1&#13;\nline2\r\nline3\t</a>",
		"nested namespaces": `<p:a xmlns:p="urn:p" xmlns:q="urn:q" xmlns:unused="urn:u"><q:b p:at="1"><c xmlns="urn:c">越南</c></q:b></p:a>`,
		"empty root":        `<a/>`,
		"root with ID":      `<a ID="x1" Id="x2"><b>1</b></a>`,
	}
	for _, alg := range []pki.Algorithm{pki.RSA2048, pki.ECDSAP256} {
		id, s, v := hubPair(t, alg)
		for name, d := range docs {
			t.Run(string(alg)+"/"+name, func(t *testing.T) {
				signed, err := s.Sign(parseDoc(t, d))
				if err != nil {
					t.Fatal(err)
				}
				if ok, out := xmlsecVerify(t, signed, id); !ok {
					t.Fatalf("xmlsec1 refused: %s\n%s", out, signed)
				}
				if _, err := v.Verify("hub", signed, tNow); err != nil {
					t.Fatalf("our verifier refused: %v\n%s", err, signed)
				}
			})
		}
		// The canonical writer's table: every tree it writes (unsorted
		// attributes, prefixes, default namespaces and undeclarations,
		// redeclared prefixes, escapes, empty elements, CDATA, Vietnamese
		// and Chinese text, ...) goes out canonical and verifies; so do
		// the refused trees a receiver can parse at all, on the fallback.
		for _, c := range canonicalCases() {
			if c.reason != "" && c.build != nil {
				continue // trees no parser produces: nothing to send
			}
			t.Run(string(alg)+"/canonical writer/"+c.name, func(t *testing.T) {
				u, err := Prepare(c.document(t))
				if err != nil {
					t.Fatal(err)
				}
				if u.Canonical() != (c.reason == "") {
					t.Fatalf("canonical = %v (%s), want %v", u.Canonical(), u.reason, c.reason == "")
				}
				signed, err := s.SignUnsigned(u)
				if err != nil {
					t.Fatal(err)
				}
				if ok, out := xmlsecVerify(t, signed, id); ok != (c.xmlsecRefuses == "") {
					t.Fatalf("xmlsec1 accepted: %v, want %v (%s): %s\n%s", ok, c.xmlsecRefuses == "", c.xmlsecRefuses, out, signed)
				}
				if _, err := v.Verify("hub", signed, tNow); (err == nil) != (c.verifierRefuses == "") {
					t.Fatalf("our verifier: %v, want refused: %q\n%s", err, c.verifierRefuses, signed)
				}
			})
		}
	}
}
