package sign

import (
	"sync"
	"testing"

	"github.com/gatehub/gatehub/internal/pki"
	"github.com/gatehub/gatehub/internal/pki/softhsmtest"
)

// TestPKCS11Signer: a hub key in a PKCS#11 token (SoftHSM2) signs
// messages that xmlsec1 and our verifier accept, from many goroutines at
// once.
func TestPKCS11Signer(t *testing.T) {
	uri := softhsmtest.New(t, "gatehub-sign", "hub")
	u, err := pki.ParsePKCS11URI(uri)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := pki.OpenToken(u)
	if err != nil {
		t.Fatal(err)
	}
	defer tok.Close()
	for _, alg := range []pki.Algorithm{pki.RSA2048, pki.ECDSAP256} {
		t.Run(string(alg), func(t *testing.T) {
			id, err := tok.Generate(u.WithObject("hub-"+string(alg)), "hub", alg, t0, tExpiry)
			if err != nil {
				t.Fatal(err)
			}
			s := newSigner(t, id)
			ts := pki.NewTrustStore()
			ts.Add("hub", id.Cert, t0, tExpiry)
			v := NewVerifier(ts)
			signed, err := s.Sign(parseDoc(t, agencyMessage))
			if err != nil {
				t.Fatal(err)
			}
			if ok, out := xmlsecVerify(t, signed, id); !ok {
				t.Fatalf("xmlsec1 refuses the token's signature: %s", out)
			}
			var wg sync.WaitGroup
			errs := make(chan error, 32)
			for range 32 {
				wg.Go(func() {
					out, err := s.Sign(parseDoc(t, agencyMessage))
					if err == nil {
						_, err = v.Verify("hub", out, tNow)
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
}
