package bench

import (
	"fmt"
	"path/filepath"

	"github.com/gatehub/gatehub/internal/pki"
	"github.com/gatehub/gatehub/internal/pki/softhsmtest"
	"github.com/gatehub/gatehub/internal/sign"
)

// NewPKCS11Fixture is NewFixture with the hub key generated inside a
// SoftHSM2 token under dir: the sign path then pays PKCS#11 calls and the
// provider's private-key operation (SoftHSM2 signs with OpenSSL) instead
// of Go's crypto/rsa. close ends the token session pool.
func NewPKCS11Fixture(root, dir string, alg pki.Algorithm) (f *Fixture, closeToken func() error, err error) {
	f, err = NewFixture(root, alg)
	if err != nil {
		return nil, nil, err
	}
	uri, err := softhsmtest.Setup(filepath.Join(dir, "softhsm"), "gatehub-bench", "hub")
	if err != nil {
		return nil, nil, err
	}
	u, err := pki.ParsePKCS11URI(uri)
	if err != nil {
		return nil, nil, err
	}
	tok, err := pki.OpenToken(u)
	if err != nil {
		return nil, nil, err
	}
	id, err := tok.Generate(u, "hub", alg, certFrom, certUntil)
	if err != nil {
		tok.Close()
		return nil, nil, fmt.Errorf("pkcs11 fixture: %w", err)
	}
	s, err := sign.NewSigner(id)
	if err != nil {
		tok.Close()
		return nil, nil, err
	}
	signed, err := s.Sign(f.Doc)
	if err != nil {
		tok.Close()
		return nil, nil, err
	}
	ts := pki.NewTrustStore()
	ts.Add("hub", id.Cert, certFrom, certUntil)
	f.ID, f.Signer, f.Signed, f.Verifier = id, s, signed, sign.NewVerifier(ts)
	return f, tok.Close, nil
}
