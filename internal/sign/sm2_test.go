package sign

import (
	"bytes"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"github.com/gatehub/gatehub/internal/testenv"
	"os/exec"
	"strings"
	"testing"

	"github.com/gatehub/gatehub/internal/pki"
)

// opensslSM2 returns the openssl binary when it verifies SM2 with SM3 and
// a distinguishing id (OpenSSL 3); in CI it must.
func opensslSM2(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("openssl")
	if err == nil {
		var out []byte
		if out, err = exec.Command(bin, "version").Output(); err == nil && !bytes.HasPrefix(out, []byte("OpenSSL 3")) {
			err = errors.New(strings.TrimSpace(string(out)) + " cannot verify SM2 with a distinguishing id")
		}
	}
	if err != nil {
		if testenv.CI() {
			t.Fatalf("openssl with SM2 (OpenSSL 3): %v", err)
		}
		t.Skipf("openssl with SM2 (OpenSSL 3) not found: %v", err)
	}
	return bin
}

func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// xmllintC14N is the exclusive canonical form of doc by libxml2.
func xmllintC14N(t *testing.T, dir, name string, doc []byte) []byte {
	t.Helper()
	return run(t, "xmllint", "--exc-c14n", writeFile(t, dir, name, doc))
}

// TestSM2SignatureOracle: a message signed under the SM2-SM3 profile
// verifies with OpenSSL 3 (SM2 with SM3 and the default distinguishing id
// over the canonical SignedInfo, which libxml2 canonicalises), its digest
// is OpenSSL's SM3 of libxml2's canonical content, and a signature OpenSSL
// makes over our SignedInfo verifies with us.
func TestSM2SignatureOracle(t *testing.T) {
	ssl := opensslSM2(t)
	if _, err := exec.LookPath("xmllint"); err != nil {
		if testenv.CI() {
			t.Fatal("xmllint not found (libxml2-utils)")
		}
		t.Skip("xmllint not found")
	}
	id := newIdentity(t, "guangxi", pki.SM2, t0, tExpiry)
	s, err := NewProfileSigner(id, SM2Profile)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := s.Sign(parseDoc(t, agencyMessage))
	if err != nil {
		t.Fatal(err)
	}
	ts := pki.NewTrustStore()
	ts.Add("guangxi", id.Cert, t0, tExpiry)
	v := NewVerifier(ts, WithProfile("guangxi", SM2Profile))
	if _, err := v.Verify("guangxi", signed, tNow); err != nil {
		t.Fatalf("our verifier: %v", err)
	}

	dir := t.TempDir()
	doc := string(signed)
	sigStart, sigEnd := strings.Index(doc, "<ds:Signature"), strings.Index(doc, "</ds:Signature>")+len("</ds:Signature>")
	// SignedInfo on its own, with the ds binding it inherits: exc-c14n
	// renders exactly that binding, so libxml2's form of this document is
	// the canonical SignedInfo.
	si := between(t, doc, "<ds:SignedInfo>", "</ds:SignedInfo>")
	siDoc := `<ds:SignedInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#">` + si + `</ds:SignedInfo>`
	siC14N := xmllintC14N(t, dir, "si.xml", []byte(siDoc))

	pub := run(t, ssl, "x509", "-in", writeFile(t, dir, "cert.pem", pki.CertPEM(id.Cert)), "-pubkey", "-noout")
	pubFile := writeFile(t, dir, "pub.pem", pub)
	raw, err := base64.StdEncoding.DecodeString(between(t, doc, "<ds:SignatureValue>", "</ds:SignatureValue>"))
	if err != nil {
		t.Fatal(err)
	}
	der, err := rawToDER(raw)
	if err != nil {
		t.Fatal(err)
	}
	verify := func(data, sig []byte) error {
		cmd := exec.Command(ssl, "pkeyutl", "-verify", "-pubin", "-inkey", pubFile, "-rawin", "-digest", "sm3",
			"-pkeyopt", "distid:"+string(SM2ID),
			"-in", writeFile(t, dir, "data.bin", data), "-sigfile", writeFile(t, dir, "sig.der", sig))
		if out, err := cmd.CombinedOutput(); err != nil {
			return errors.New(strings.TrimSpace(string(out)))
		}
		return nil
	}
	if err := verify(siC14N, der); err != nil {
		t.Fatalf("openssl refuses our SM2 signature: %v", err)
	}
	tampered := bytes.Replace(siC14N, []byte("DigestValue>"), []byte("DigestValue>A"), 1)
	if err := verify(tampered, der); err == nil {
		t.Fatal("openssl accepts our signature over a changed SignedInfo: the oracle checks nothing")
	}

	content := xmllintC14N(t, dir, "content.xml", []byte(doc[:sigStart]+doc[sigEnd:]))
	sm3 := run(t, ssl, "dgst", "-sm3", "-binary", writeFile(t, dir, "content.c14n", content))
	if got, want := between(t, doc, "<ds:DigestValue>", "</ds:DigestValue>"), base64.StdEncoding.EncodeToString(sm3); got != want {
		t.Fatalf("DigestValue %s, OpenSSL's SM3 of libxml2's canonical content %s", got, want)
	}

	// OpenSSL signs our SignedInfo with the same key: we accept its value.
	keyPEM, err := pki.KeyPEM(id.Key)
	if err != nil {
		t.Fatal(err)
	}
	osslDER := run(t, ssl, "pkeyutl", "-sign", "-inkey", writeFile(t, dir, "key.pem", keyPEM), "-rawin", "-digest", "sm3",
		"-pkeyopt", "distid:"+string(SM2ID), "-in", writeFile(t, dir, "si.c14n", siC14N))
	var rs ecdsaSig
	if _, err := asn1Unmarshal(osslDER, &rs); err != nil {
		t.Fatalf("openssl signature: %v", err)
	}
	osslRaw := make([]byte, 64)
	rs.R.FillBytes(osslRaw[:32])
	rs.S.FillBytes(osslRaw[32:])
	withOpenSSL := strings.Replace(doc, base64.StdEncoding.EncodeToString(raw), base64.StdEncoding.EncodeToString(osslRaw), 1)
	if _, err := v.Verify("guangxi", []byte(withOpenSSL), tNow); err != nil {
		t.Fatalf("we refuse OpenSSL's SM2 signature over our SignedInfo: %v", err)
	}
}

// TestProfilesAreAgencies: a message or ACK under another agency's profile
// is refused, whatever key signed it.
func TestProfilesAreAgencies(t *testing.T) {
	gx := newIdentity(t, "guangxi", pki.SM2, t0, tExpiry)
	gxRSA := newIdentity(t, "guangxi", pki.RSA2048, t0, tExpiry)
	customs := newIdentity(t, "customs", pki.RSA2048, t0, tExpiry)
	customsSM2 := newIdentity(t, "customs", pki.SM2, t0, tExpiry)
	hubRSA := newIdentity(t, "hub", pki.RSA2048, t0, tExpiry)
	hubSM2 := newIdentity(t, "hub", pki.SM2, t0, tExpiry)
	ts := pki.NewTrustStore()
	for _, id := range []*pki.Identity{gx, gxRSA, customs, customsSM2, hubRSA, hubSM2} {
		ts.Add(id.Participant, id.Cert, t0, tExpiry)
	}
	agencies := NewVerifier(ts, WithProfile("guangxi", SM2Profile))
	gxSim := NewVerifier(ts, WithProfile("hub", SM2Profile))
	auditor := NewVerifier(ts, WithProfile("guangxi", SM2Profile), WithProfile("hub", DefaultProfile, SM2Profile))
	signWith := func(id *pki.Identity) []byte {
		t.Helper()
		out, err := newSigner(t, id).Sign(parseDoc(t, agencyMessage))
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	tests := []struct {
		name        string
		v           *Verifier
		participant string
		doc         []byte
		wantErr     error
	}{
		{"guangxi ACK under SM2", agencies, "guangxi", signWith(gx), nil},
		{"guangxi ACK under RSA (customs' profile)", agencies, "guangxi", signWith(gxRSA), ErrRefused},
		{"customs ACK under RSA", agencies, "customs", signWith(customs), nil},
		{"customs ACK under SM2 (guangxi's profile)", agencies, "customs", signWith(customsSM2), ErrRefused},
		{"hub message to guangxi under SM2", gxSim, "hub", signWith(hubSM2), nil},
		{"hub message to guangxi under RSA", gxSim, "hub", signWith(hubRSA), ErrRefused},
		{"auditor: hub under RSA", auditor, "hub", signWith(hubRSA), nil},
		{"auditor: hub under SM2", auditor, "hub", signWith(hubSM2), nil},
		{"auditor: guangxi under RSA", auditor, "guangxi", signWith(gxRSA), ErrRefused},
		{"SM2 method with SHA-256 digest", auditor, "hub", bytes.Replace(signWith(hubSM2), []byte(AlgSM3), []byte(AlgSHA256), 1), ErrRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.v.Verify(tt.participant, tt.doc, tNow)
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
	// An SM2 certificate nobody trusts is untrusted, not malformed.
	stranger := newIdentity(t, "guangxi", pki.SM2, t0, tExpiry)
	if _, err := agencies.Verify("guangxi", signWith(stranger), tNow); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("untrusted SM2 key: %v, want untrusted", err)
	}
	// Identify applies the profile of the participant it finds.
	if p, _, err := agencies.Identify(signWith(gx), tNow); err != nil || p != "guangxi" {
		t.Fatalf("identify SM2 guangxi: %q %v", p, err)
	}
	if _, _, err := agencies.Identify(signWith(gxRSA), tNow); !errors.Is(err, ErrRefused) {
		t.Fatalf("identify RSA guangxi: %v, want refused", err)
	}
	if _, err := NewProfileSigner(gxRSA, SM2Profile); err == nil {
		t.Fatal("an RSA key was accepted for the SM2 profile")
	}
	if _, err := NewProfileSigner(gx, DefaultProfile); err == nil {
		t.Fatal("an SM2 key was accepted for the default profile")
	}
}

func asn1Unmarshal(der []byte, v any) ([]byte, error) { return asn1.Unmarshal(der, v) }
