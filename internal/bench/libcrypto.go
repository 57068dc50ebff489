package bench

import (
	"crypto/rsa"
	"errors"

	"github.com/gatehub/gatehub/internal/pki"
	"github.com/gatehub/gatehub/internal/pki/libcrypto"
	"github.com/gatehub/gatehub/internal/sign"
)

// WithLibcrypto is f with its RSA key's signatures made by the system's
// libcrypto (internal/pki/libcrypto), as the hub makes them with an RSA
// key file: the sign path without crypto/rsa as its limit.
func WithLibcrypto(f *Fixture) (*Fixture, error) {
	k, ok := f.ID.Key.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("bench: libcrypto signs RSA keys only")
	}
	ls, err := libcrypto.NewRSASigner(k)
	if err != nil {
		return nil, err
	}
	id := &pki.Identity{Participant: f.ID.Participant, Key: ls, Cert: f.ID.Cert}
	s, err := sign.NewSigner(id)
	if err != nil {
		return nil, err
	}
	g := *f
	g.Signer, g.signedCert = s, f.ID.Cert
	// The peer reads the software key: same key, same signatures.
	return &g, nil
}
