package sign

import (
	"testing"

	"github.com/gatehub/gatehub/internal/pki"
)

func TestSignedVerifiesWithXmlsec1(t *testing.T) {
	for _, alg := range []pki.Algorithm{pki.RSA2048, pki.ECDSAP256} {
		t.Run(string(alg), func(t *testing.T) {
			id := newIdentity(t, "hub", alg, t0, tExpiry)
			signed, err := newSigner(t, id).Sign(parseDoc(t, agencyMessage))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s", signed)
			ok, out := xmlsecVerify(t, signed, id)
			if !ok {
				t.Fatalf("xmlsec1 refused our signature: %s", out)
			}
		})
	}
}
