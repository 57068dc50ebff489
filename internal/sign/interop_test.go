package sign

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/pki"
)

// TestXmlsec1SignedAccepted: documents signed by xmlsec1 (not by our code)
// with an agency key are accepted for that agency only, and only while the
// content and the trust window hold.
func TestXmlsec1SignedAccepted(t *testing.T) {
	for _, alg := range []pki.Algorithm{pki.RSA2048, pki.ECDSAP256} {
		t.Run(string(alg), func(t *testing.T) {
			customs := newIdentity(t, "customs", alg, t0, tExpiry)
			guangxi := newIdentity(t, "guangxi", alg, t0, tExpiry)
			signed := xmlsecSign(t, agencyMessage, guangxi, sigTemplate{})

			ts := pki.NewTrustStore()
			ts.Add("customs", customs.Cert, time.Time{}, time.Time{})
			ts.Add("guangxi", guangxi.Cert, time.Time{}, time.Time{})
			v := NewVerifier(ts)

			tampered := bytes.Replace(signed, []byte("12345"), []byte("12346"), 1)
			if bytes.Equal(tampered, signed) {
				t.Fatal("tamper target not found")
			}
			tests := []struct {
				name        string
				participant string
				doc         []byte
				at          time.Time
				wantErr     error
			}{
				{"signer agency", "guangxi", signed, tNow, nil},
				{"another agency", "customs", signed, tNow, ErrUntrusted},
				{"unknown participant", "borderguard", signed, tNow, ErrUntrusted},
				{"one character tampered", "guangxi", tampered, tNow, ErrInvalid},
				{"before trust window", "guangxi", signed, t0.Add(-time.Second), ErrUntrusted},
				{"after trust window", "guangxi", signed, tExpiry.Add(time.Second), ErrUntrusted},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					el, err := v.Verify(tt.participant, tt.doc, tt.at)
					if tt.wantErr == nil {
						if err != nil {
							t.Fatalf("verify: %v", err)
						}
						if got := el.FindElement("./Body/Decision").Text(); got != "同意通关" {
							t.Errorf("decision = %q", got)
						}
						return
					}
					if !errors.Is(err, tt.wantErr) {
						t.Fatalf("err = %v, want %v", err, tt.wantErr)
					}
				})
			}
		})
	}
}

// TestRotation: an agency rotates its key. The old certificate's trust
// window is narrowed to end at the handover; messages signed with the old
// key verify at instants inside that window and are refused after it, while
// messages signed with the new key verify from the new window on.
func TestRotation(t *testing.T) {
	handover := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	oldID := newIdentity(t, "customs", pki.RSA2048, t0, tExpiry)
	newID := newIdentity(t, "customs", pki.ECDSAP256, handover.Add(-24*time.Hour), tExpiry.AddDate(1, 0, 0))

	ts := pki.NewTrustStore()
	ts.Add("customs", oldID.Cert, time.Time{}, handover)
	ts.Add("customs", newID.Cert, time.Time{}, time.Time{})
	v := NewVerifier(ts)

	oldSigned := xmlsecSign(t, agencyMessage, oldID, sigTemplate{})
	newSigned, err := newSigner(t, newID).Sign(parseDoc(t, agencyMessage))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		doc     []byte
		at      time.Time
		wantErr error
	}{
		{"old key inside its window", oldSigned, handover.Add(-time.Hour), nil},
		{"old key at the handover instant", oldSigned, handover, nil},
		{"old key after its window", oldSigned, handover.Add(time.Second), ErrUntrusted},
		{"new key during overlap", newSigned, handover.Add(-time.Hour), nil},
		{"new key after handover", newSigned, tExpiry.Add(24 * time.Hour), nil},
		{"new key before its certificate", newSigned, t0, ErrUntrusted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify("customs", tt.doc, tt.at)
			if tt.wantErr == nil && err != nil {
				t.Fatalf("verify: %v", err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
	p, _, err := v.Identify(oldSigned, handover.Add(-time.Hour))
	if err != nil || p != "customs" {
		t.Errorf("identify old-key message = %q, %v", p, err)
	}
}

// TestXmlsec1ValidButOutsideProfile: xmlsec1 produces cryptographically
// valid signatures with algorithms or references we do not allow; each is
// refused by policy (ErrRefused), not by accident.
func TestXmlsec1ValidButOutsideProfile(t *testing.T) {
	rsa := newIdentity(t, "guangxi", pki.RSA2048, t0, tExpiry)
	ec := newIdentity(t, "guangxi", pki.ECDSAP256, t0, tExpiry)
	ts := pki.NewTrustStore()
	ts.Add("guangxi", rsa.Cert, time.Time{}, time.Time{})
	ts.Add("guangxi", ec.Cert, time.Time{}, time.Time{})
	v := NewVerifier(ts)

	withID := `<?xml version="1.0" encoding="UTF-8"?><m:Ack xmlns:m="urn:gatehub:test" ID="ack-1"><m:Text>同意</m:Text></m:Ack>`
	tests := []struct {
		name string
		id   *pki.Identity
		doc  string
		st   sigTemplate
		args []string
	}{
		{"rsa-sha1 signature method", rsa, agencyMessage, sigTemplate{Method: "http://www.w3.org/2000/09/xmldsig#rsa-sha1"}, nil},
		{"ecdsa-sha1 signature method", ec, agencyMessage, sigTemplate{Method: "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1"}, nil},
		{"rsa-sha512 signature method", rsa, agencyMessage, sigTemplate{Method: "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"}, nil},
		{"sha1 digest", rsa, agencyMessage, sigTemplate{Digest: "http://www.w3.org/2000/09/xmldsig#sha1"}, nil},
		{"inclusive c14n", rsa, agencyMessage, sigTemplate{C14N: "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"}, nil},
		{"exc-c14n with comments", rsa, agencyMessage, sigTemplate{C14N: "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"}, nil},
		{"reference by Id", rsa, withID, sigTemplate{URI: "#ack-1"}, []string{"--id-attr:ID", "urn:gatehub:test:Ack"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			signed := xmlsecSign(t, tt.doc, tt.id, tt.st, tt.args...)
			if ok, out := xmlsecVerifyArgs(t, signed, tt.id, tt.args...); !ok {
				t.Fatalf("precondition: xmlsec1 does not verify its own signature: %s", out)
			}
			if _, err := v.Verify("guangxi", signed, tNow); !errors.Is(err, ErrRefused) {
				t.Fatalf("err = %v, want ErrRefused", err)
			}
		})
	}
}
