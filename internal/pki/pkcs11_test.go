package pki_test

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/pki"
	"github.com/gatehub/gatehub/internal/pki/softhsmtest"
)

func TestParsePKCS11URI(t *testing.T) {
	tests := []struct {
		uri, wantErr string
	}{
		{"pkcs11:token=gatehub;object=hub?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=/run/pin", ""},
		{"pkcs11:serial=abc;id=%01%02?module-path=/m.so&pin-value=1", ""},
		{"pkcs11:token=t;object=o", "module-path"},
		{"pkcs11:object=o?module-path=/m.so", "token or serial"},
		{"pkcs11:token=t?module-path=/m.so", "object"},
		{"pkcs11:token=t;object=o?module-path=/m.so&pin-value=1&pin-source=/f", "not both"},
		{"pkcs11:token=t;object=o;colour=red?module-path=/m.so", "unknown path attribute"},
		{"file:///etc/key.pem", "scheme"},
	}
	for _, tt := range tests {
		u, err := pki.ParsePKCS11URI(tt.uri)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tt.uri, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s: err = %v, want %q", tt.uri, err, tt.wantErr)
		case err == nil && strings.Contains(u.String(), "pin-value=1"):
			t.Errorf("%s: String shows the PIN: %s", tt.uri, u)
		}
	}
}

// TestPKCS11Identity: keys generated in SoftHSM2 sign, come back from the
// token with their certificate, and sign concurrently on every core
// through the session pool.
func TestPKCS11Identity(t *testing.T) {
	uri := softhsmtest.New(t, "gatehub-pki", "hub")
	u, err := pki.ParsePKCS11URI(uri)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := pki.OpenToken(u)
	if err != nil {
		t.Fatal(err)
	}
	defer tok.Close()
	now := time.Now()
	for _, alg := range []pki.Algorithm{pki.RSA2048, pki.ECDSAP256} {
		t.Run(string(alg), func(t *testing.T) {
			ku := u.WithObject("hub-" + string(alg))
			id, err := tok.Generate(ku, "hub", alg, now.Add(-time.Minute), now.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tok.Generate(ku, "hub", alg, now, now.Add(time.Hour)); err == nil {
				t.Fatal("a second key under the same label was generated")
			}
			back, err := tok.Identity(ku, "hub")
			if err != nil {
				t.Fatal(err)
			}
			if !back.Cert.Equal(id.Cert) {
				t.Fatal("certificate from the token differs")
			}
			if _, err := tok.Identity(ku, "customs"); err == nil {
				t.Fatal("hub's key accepted as customs'")
			}
			digest := sha256.Sum256([]byte("message"))
			var wg sync.WaitGroup
			errs := make(chan error, 16)
			for range 16 {
				wg.Go(func() {
					sig, err := back.Key.Sign(rand.Reader, digest[:], crypto.SHA256)
					if err == nil {
						err = back.Cert.CheckSignature(sigAlg(alg), []byte("message"), sig)
					}
					errs <- err
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
		})
	}
	if _, _, err := pki.LoadPKCS11Identity(softhsmtest.URI("gatehub-pki", "nothing"), "hub"); err == nil {
		t.Fatal("a missing object was found")
	}
	id, closeTok, err := pki.LoadPKCS11Identity(softhsmtest.URI("gatehub-pki", "hub-rsa-2048"), "hub")
	if err != nil {
		t.Fatal(err)
	}
	defer closeTok()
	if pki.AlgorithmOf(id.Cert) != pki.RSA2048 {
		t.Fatalf("loaded %s", pki.AlgorithmOf(id.Cert))
	}
}

func sigAlg(alg pki.Algorithm) x509.SignatureAlgorithm {
	if alg == pki.RSA2048 {
		return x509.SHA256WithRSA
	}
	return x509.ECDSAWithSHA256
}
