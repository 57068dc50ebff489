// Package pki holds the participant key material of the hub: each participant
// (hub, each agency, each province) owns one signing identity — a private key
// and a self-signed X.509 certificate whose CN is the participant id — and
// every participant trusts the others through a TrustStore that maps a
// participant id to the certificates accepted for it, each with a validity
// window so keys can be rotated without a flag day.
//
// # On-disk layouts
//
// Identity (private, one per participant that signs on this machine):
//
//	<dir>/<participant>.key.pem   PKCS#8 "PRIVATE KEY", mode 0600
//	<dir>/<participant>.crt.pem   "CERTIFICATE"
//
// Trust store (public, one directory per trusted participant):
//
//	<dir>/<participant>/<name>.crt.pem      exactly one "CERTIFICATE" block
//	<dir>/<participant>/<name>.window.json  optional: {"from": RFC3339, "until": RFC3339}
//
// A window file narrows the period in which the certificate of the same
// <name> is accepted for that participant (typically: the old key of a
// rotation stops being accepted for new messages while it stays valid for
// replaying older ones). Without it the certificate's own NotBefore/NotAfter
// apply. A window can only narrow, never widen, the certificate's validity.
// Save writes <name> = Fingerprint(cert).
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
)

// Algorithm names a key type a participant may sign with.
type Algorithm string

const (
	RSA2048   Algorithm = "rsa-2048"
	ECDSAP256 Algorithm = "ecdsa-p256"
	// SM2 is the Chinese commercial curve (GB/T 32918) with SM3, the key
	// type of the China e-port signature profile; its certificates are
	// signed SM2-with-SM3.
	SM2 Algorithm = "sm2"
)

// Identity is a participant's signing key and the certificate that publishes
// its public half.
type Identity struct {
	Participant string
	Key         crypto.Signer
	Cert        *x509.Certificate
}

// Participant ids become file and directory names, so they are restricted to
// a conservative alphabet that cannot escape a directory.
var participantRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// ValidParticipant reports whether name is usable as a participant id.
func ValidParticipant(name string) error {
	if !participantRE.MatchString(name) {
		return fmt.Errorf("invalid participant id %q: want lower-case letters, digits, '.', '_' or '-', not starting with a punctuation mark", name)
	}
	return nil
}

// Generate creates a new key of the given algorithm and a self-signed
// certificate with CN=participant valid in [notBefore, notAfter].
func Generate(participant string, alg Algorithm, notBefore, notAfter time.Time) (*Identity, error) {
	if err := ValidParticipant(participant); err != nil {
		return nil, err
	}
	if !notAfter.After(notBefore) {
		return nil, fmt.Errorf("generate %s: notAfter %s is not after notBefore %s", participant, notAfter, notBefore)
	}
	var key crypto.Signer
	var err error
	switch alg {
	case RSA2048:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case ECDSAP256:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case SM2:
		key, err = sm2.GenerateKey(rand.Reader)
	default:
		return nil, fmt.Errorf("generate %s: unsupported algorithm %q", participant, alg)
	}
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", participant, err)
	}
	return SelfSign(participant, key, notBefore, notAfter)
}

// SelfSign makes the self-signed certificate (CN=participant) of a key
// held elsewhere, such as in an HSM, valid in [notBefore, notAfter].
func SelfSign(participant string, key crypto.Signer, notBefore, notAfter time.Time) (*Identity, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generate %s serial: %w", participant, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: participant, Organization: []string{"gatehub"}},
		NotBefore:             notBefore.UTC(),
		NotAfter:              notAfter.UTC(),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	var der []byte
	if isSM2(key.Public()) {
		// crypto/x509 knows neither the curve nor SM2-with-SM3.
		der, err = smx509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	} else {
		der, err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	}
	if err != nil {
		return nil, fmt.Errorf("generate %s certificate: %w", participant, err)
	}
	cert, err := ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse generated %s certificate: %w", participant, err)
	}
	return &Identity{Participant: participant, Key: key, Cert: cert}, nil
}

func keyPath(dir, participant string) string  { return filepath.Join(dir, participant+".key.pem") }
func certPath(dir, participant string) string { return filepath.Join(dir, participant+".crt.pem") }

// Save writes the identity to dir (created 0700 if missing). The key file is
// written 0600 through a temporary file and a rename so a crash never leaves
// a half-written key behind.
func (id *Identity) Save(dir string) error { return id.SaveAs(dir, id.Participant) }

// SaveAs is Save under another file name (see LoadIdentityAs).
func (id *Identity) SaveAs(dir, name string) error {
	if err := ValidParticipant(id.Participant); err != nil {
		return err
	}
	if err := ValidParticipant(name); err != nil {
		return err
	}
	keyDER, err := marshalPKCS8(id.Key)
	if err != nil {
		return fmt.Errorf("save %s: marshal key: %w", id.Participant, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save %s: %w", id.Participant, err)
	}
	if err := writeFileAtomic(keyPath(dir, name), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return fmt.Errorf("save %s key: %w", id.Participant, err)
	}
	if err := writeFileAtomic(certPath(dir, name), CertPEM(id.Cert), 0o644); err != nil {
		return fmt.Errorf("save %s certificate: %w", id.Participant, err)
	}
	return nil
}

// ParseCertificate parses a DER certificate, SM2 ones included (which
// crypto/x509 refuses: unknown curve).
func ParseCertificate(der []byte) (*x509.Certificate, error) {
	cert, err := x509.ParseCertificate(der)
	if err == nil {
		return cert, nil
	}
	if c, smErr := smx509.ParseCertificate(der); smErr == nil && isSM2(c.PublicKey) {
		return c.ToX509(), nil
	}
	return nil, err
}

// isSM2 reports whether pub is a public key on the SM2 curve.
func isSM2(pub crypto.PublicKey) bool {
	k, ok := pub.(*ecdsa.PublicKey)
	return ok && k.Curve == sm2.P256()
}

// IsSM2 reports whether the certificate carries an SM2 public key.
func IsSM2(cert *x509.Certificate) bool { return cert != nil && isSM2(cert.PublicKey) }

// marshalPKCS8 encodes any key this package makes, SM2 included.
func marshalPKCS8(key crypto.Signer) ([]byte, error) {
	if k, ok := key.(*sm2.PrivateKey); ok {
		return smx509.MarshalPKCS8PrivateKey(k)
	}
	return x509.MarshalPKCS8PrivateKey(key)
}

// CertPEM encodes a certificate as a PEM "CERTIFICATE" block.
func CertPEM(cert *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
}

// KeyPEM encodes a private key as a PKCS#8 PEM block (the form OpenSSL-based
// tools such as xmlsec1 read).
func KeyPEM(key crypto.Signer) ([]byte, error) {
	der, err := marshalPKCS8(key)
	if err != nil {
		return nil, fmt.Errorf("marshal key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// LoadIdentity reads the identity Save wrote and checks that key,
// certificate and participant id belong together.
func LoadIdentity(dir, participant string) (*Identity, error) {
	return LoadIdentityAs(dir, participant, participant)
}

// LoadIdentityAs reads the identity saved under name (SaveAs) for
// participant: a participant with keys of two profiles (the hub signs
// RSA for most agencies, SM2 for the Guangxi single window) keeps the
// second under another name.
func LoadIdentityAs(dir, name, participant string) (*Identity, error) {
	if err := ValidParticipant(participant); err != nil {
		return nil, err
	}
	if err := ValidParticipant(name); err != nil {
		return nil, err
	}
	keyBytes, err := os.ReadFile(keyPath(dir, name))
	if err != nil {
		return nil, fmt.Errorf("load %s identity: %w", name, err)
	}
	key, err := ParseKeyPEM(keyBytes)
	if err != nil {
		return nil, fmt.Errorf("load %s identity: %w", name, err)
	}
	certBytes, err := os.ReadFile(certPath(dir, name))
	if err != nil {
		return nil, fmt.Errorf("load %s identity: %w", name, err)
	}
	cert, err := ParseCertPEM(certBytes)
	if err != nil {
		return nil, fmt.Errorf("load %s identity: %w", name, err)
	}
	if cert.Subject.CommonName != participant {
		return nil, fmt.Errorf("load %s identity: certificate CN is %q, want %q", name, cert.Subject.CommonName, participant)
	}
	if !publicKeysEqual(key.Public(), cert.PublicKey) {
		return nil, fmt.Errorf("load %s identity: certificate does not match private key", name)
	}
	return &Identity{Participant: participant, Key: key, Cert: cert}, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}

// ParseKeyPEM reads a PKCS#8, PKCS#1 (RSA) or SEC1 (EC) private key.
func ParseKeyPEM(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block in key file")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			if k, smErr := smx509.ParsePKCS8PrivateKey(block.Bytes); smErr == nil {
				if sk, ok := k.(*sm2.PrivateKey); ok {
					return sk, nil
				}
			}
		}
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("unexpected PEM block %q in key file", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		return k, nil
	case *sm2.PrivateKey:
		return k, nil
	default:
		return nil, fmt.Errorf("unsupported private key type %T", key)
	}
}

// ParseCertPEM reads exactly one PEM certificate; trailing certificates are
// refused so a file can never silently carry a second, unnoticed key.
func ParseCertPEM(data []byte) (*x509.Certificate, error) {
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no CERTIFICATE PEM block")
	}
	if extra, _ := pem.Decode(rest); extra != nil {
		return nil, errors.New("more than one PEM block in certificate file")
	}
	cert, err := ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	return cert, nil
}

// Validity of identities minted by LoadOrCreate. The hour of back-dating
// tolerates clock skew between the hub and a freshly started agency stub.
const (
	devBackdate = time.Hour
	devLifetime = 2 * 365 * 24 * time.Hour
)

// LoadOrCreate loads the participant's identity from dir or, when neither
// file exists, generates and saves one. It is meant for development and the
// embedded single-binary mode; production identities are provisioned.
// A lone key or certificate file is an error rather than being overwritten.
func LoadOrCreate(dir, participant string, alg Algorithm, now time.Time) (*Identity, bool, error) {
	return LoadOrCreateAs(dir, participant, participant, alg, now)
}

// LoadOrCreateAs is LoadOrCreate for an identity kept under name. A loaded
// key of another algorithm than alg is an error, not silently used.
func LoadOrCreateAs(dir, name, participant string, alg Algorithm, now time.Time) (*Identity, bool, error) {
	if err := ValidParticipant(participant); err != nil {
		return nil, false, err
	}
	if err := ValidParticipant(name); err != nil {
		return nil, false, err
	}
	_, keyErr := os.Stat(keyPath(dir, name))
	_, certErr := os.Stat(certPath(dir, name))
	keyMissing, certMissing := errors.Is(keyErr, fs.ErrNotExist), errors.Is(certErr, fs.ErrNotExist)
	switch {
	case keyMissing && certMissing:
		id, err := Generate(participant, alg, now.Add(-devBackdate), now.Add(devLifetime))
		if err != nil {
			return nil, false, err
		}
		if err := id.SaveAs(dir, name); err != nil {
			return nil, false, err
		}
		return id, true, nil
	case keyMissing != certMissing:
		return nil, false, fmt.Errorf("identity %s in %s is incomplete (key present: %t, certificate present: %t)", name, dir, !keyMissing, !certMissing)
	}
	id, err := LoadIdentityAs(dir, name, participant)
	if err != nil {
		return nil, false, err
	}
	if got := AlgorithmOf(id.Cert); alg == SM2 && got != SM2 || alg != SM2 && got == SM2 {
		return nil, false, fmt.Errorf("identity %s in %s is %s, want %s", name, dir, got, alg)
	}
	return id, false, nil
}

// AlgorithmOf names the key type of a certificate ("" when none of ours).
func AlgorithmOf(cert *x509.Certificate) Algorithm {
	switch k := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() == 2048 {
			return RSA2048
		}
		return Algorithm(fmt.Sprintf("rsa-%d", k.N.BitLen()))
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return ECDSAP256
		case sm2.P256():
			return SM2
		}
	}
	return ""
}
