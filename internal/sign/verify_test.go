package sign

import (
	"errors"
	"testing"

	"github.com/gatehub/gatehub/internal/pki"
)

func TestSignVerifyRoundTrip(t *testing.T) {
	for _, alg := range []pki.Algorithm{pki.RSA2048, pki.ECDSAP256} {
		t.Run(string(alg), func(t *testing.T) {
			gx := newIdentity(t, "guangxi", alg, t0, tExpiry)
			other := newIdentity(t, "customs", alg, t0, tExpiry)
			ts := pki.NewTrustStore()
			ts.Add("guangxi", gx.Cert, t0, tExpiry)
			ts.Add("customs", other.Cert, t0, tExpiry)
			v := NewVerifier(ts)

			signed, err := newSigner(t, gx).Sign(parseDoc(t, agencyMessage))
			if err != nil {
				t.Fatal(err)
			}
			el, err := v.Verify("guangxi", signed, tNow)
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			if got := el.FindElement("./Body/Plate").Text(); got != "桂F·12345" {
				t.Errorf("plate = %q", got)
			}
			if countSignatures(el) != 0 {
				t.Error("verified content still carries the signature")
			}
			if _, err := v.Verify("customs", signed, tNow); !errors.Is(err, ErrUntrusted) {
				t.Errorf("verify as customs: err = %v, want ErrUntrusted", err)
			}
			p, _, err := v.Identify(signed, tNow)
			if err != nil || p != "guangxi" {
				t.Errorf("identify = %q, %v", p, err)
			}
		})
	}
}
