package pki

import (
	"crypto"
	"crypto/elliptic"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/ThalesGroup/crypto11"
)

// PKCS11URI locates a key in a PKCS#11 token (RFC 7512), the form the
// configuration and `gatehubctl keys` take:
//
//	pkcs11:token=gatehub;object=hub?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=/run/secrets/hsm-pin
//
// Path attributes: token (label) or serial, object (the key's label), id
// (hex-escaped CKA_ID, optional). Query: module-path (the provider
// library, required), pin-source (a file holding the user PIN, the form
// for production) or pin-value (tests, development).
type PKCS11URI struct {
	Module    string
	Token     string
	Serial    string
	Object    string
	ID        []byte
	PinSource string
	PinValue  string
}

// IsPKCS11URI reports whether s is meant as a PKCS#11 URI.
func IsPKCS11URI(s string) bool { return strings.HasPrefix(s, "pkcs11:") }

// ParsePKCS11URI parses and checks a PKCS#11 URI.
func ParsePKCS11URI(s string) (*PKCS11URI, error) {
	if !IsPKCS11URI(s) {
		return nil, fmt.Errorf("pkcs11 uri %q: want the scheme \"pkcs11\"", redactURI(s))
	}
	rest := strings.TrimPrefix(s, "pkcs11:")
	path, query, _ := strings.Cut(rest, "?")
	u := &PKCS11URI{}
	for _, attr := range strings.Split(path, ";") {
		if attr == "" {
			continue
		}
		k, v, ok := strings.Cut(attr, "=")
		if !ok {
			return nil, fmt.Errorf("pkcs11 uri: path attribute %q has no value", k)
		}
		val, err := url.PathUnescape(v)
		if err != nil {
			return nil, fmt.Errorf("pkcs11 uri: %s: %w", k, err)
		}
		switch k {
		case "token":
			u.Token = val
		case "serial":
			u.Serial = val
		case "object":
			u.Object = val
		case "id":
			u.ID = []byte(val)
		case "type", "manufacturer", "model", "library-manufacturer", "library-description", "library-version", "slot-description", "slot-manufacturer", "slot-id":
			// Informational in RFC 7512; the token and object select.
		default:
			return nil, fmt.Errorf("pkcs11 uri: unknown path attribute %q", k)
		}
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, fmt.Errorf("pkcs11 uri: query: %w", err)
	}
	for k, v := range q {
		switch k {
		case "module-path":
			u.Module = v[0]
		case "pin-source":
			u.PinSource = strings.TrimPrefix(v[0], "file:")
		case "pin-value":
			u.PinValue = v[0]
		default:
			return nil, fmt.Errorf("pkcs11 uri: unknown query attribute %q", k)
		}
	}
	switch {
	case u.Module == "":
		return nil, errors.New("pkcs11 uri: module-path (the provider library) is required")
	case u.Token == "" && u.Serial == "":
		return nil, errors.New("pkcs11 uri: token or serial is required")
	case u.Token != "" && u.Serial != "":
		return nil, errors.New("pkcs11 uri: give token or serial, not both")
	case u.Object == "" && len(u.ID) == 0:
		return nil, errors.New("pkcs11 uri: object (the key label) or id is required")
	case u.PinSource != "" && u.PinValue != "":
		return nil, errors.New("pkcs11 uri: give pin-source or pin-value, not both")
	}
	return u, nil
}

// redactURI keeps a PIN out of error messages and logs.
func redactURI(s string) string {
	if i := strings.Index(s, "pin-value="); i >= 0 {
		end := strings.IndexByte(s[i:], '&')
		if end < 0 {
			return s[:i] + "pin-value=REDACTED"
		}
		return s[:i] + "pin-value=REDACTED" + s[i+end:]
	}
	return s
}

// String is the URI with the PIN value redacted.
func (u *PKCS11URI) String() string {
	var b strings.Builder
	b.WriteString("pkcs11:")
	if u.Token != "" {
		b.WriteString("token=" + url.PathEscape(u.Token))
	} else {
		b.WriteString("serial=" + url.PathEscape(u.Serial))
	}
	if u.Object != "" {
		b.WriteString(";object=" + url.PathEscape(u.Object))
	}
	if len(u.ID) > 0 {
		b.WriteString(";id=" + url.PathEscape(string(u.ID)))
	}
	b.WriteString("?module-path=" + url.QueryEscape(u.Module))
	switch {
	case u.PinSource != "":
		b.WriteString("&pin-source=" + url.QueryEscape(u.PinSource))
	case u.PinValue != "":
		b.WriteString("&pin-value=REDACTED")
	}
	return b.String()
}

// WithObject is the same token and PIN, another key.
func (u *PKCS11URI) WithObject(label string) *PKCS11URI {
	c := *u
	c.Object, c.ID = label, nil
	return &c
}

func (u *PKCS11URI) pin() (string, error) {
	if u.PinSource == "" {
		return u.PinValue, nil
	}
	data, err := os.ReadFile(u.PinSource)
	if err != nil {
		return "", fmt.Errorf("pkcs11 pin-source: %w", err)
	}
	return strings.TrimRight(string(data), "\r\n"), nil
}

// Token is an open PKCS#11 token. Its session pool holds two sessions per
// core, so that signatures run on every core at once (a PKCS#11 session
// does one operation at a time); crypto11 lends a session per operation.
// Safe for concurrent use. Close it when done.
type Token struct {
	uri *PKCS11URI
	ctx *crypto11.Context
}

// OpenToken logs in to the token the URI names.
func OpenToken(u *PKCS11URI) (*Token, error) {
	pin, err := u.pin()
	if err != nil {
		return nil, err
	}
	ctx, err := crypto11.Configure(&crypto11.Config{
		Path: u.Module, TokenLabel: u.Token, TokenSerial: u.Serial, Pin: pin,
		MaxSessions: max(2, 2*runtime.GOMAXPROCS(0)), PoolWaitTimeout: 30 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", u, err)
	}
	return &Token{uri: u, ctx: ctx}, nil
}

// Close logs out and closes the token's sessions.
func (t *Token) Close() error { return t.ctx.Close() }

func (t *Token) selectors(u *PKCS11URI) (id, label []byte) {
	if len(u.ID) > 0 {
		id = u.ID
	}
	if u.Object != "" {
		label = []byte(u.Object)
	}
	return id, label
}

// Identity is participant's key in the token (selected by the URI's object
// and id) with its certificate, which is kept in the token beside it under
// the same label and id. The private key never leaves the token.
func (t *Token) Identity(u *PKCS11URI, participant string) (*Identity, error) {
	if err := ValidParticipant(participant); err != nil {
		return nil, err
	}
	id, label := t.selectors(u)
	keys, err := t.ctx.FindKeyPairs(id, label)
	if err != nil {
		return nil, fmt.Errorf("%s: find key: %w", u, err)
	}
	switch len(keys) {
	case 0:
		return nil, fmt.Errorf("%s: no key pair with that label/id in the token", u)
	case 1:
	default:
		return nil, fmt.Errorf("%s: %d key pairs match: give the id too", u, len(keys))
	}
	key := keys[0]
	cert, err := t.ctx.FindCertificate(id, label, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: find certificate: %w", u, err)
	}
	if cert == nil {
		return nil, fmt.Errorf("%s: the token holds the key but no certificate for it (gatehubctl keys gen writes both)", u)
	}
	if cert.Subject.CommonName != participant {
		return nil, fmt.Errorf("%s: certificate CN is %q, want %q", u, cert.Subject.CommonName, participant)
	}
	if !publicKeysEqual(key.Public(), cert.PublicKey) {
		return nil, fmt.Errorf("%s: certificate does not match the key", u)
	}
	return &Identity{Participant: participant, Key: key, Cert: cert}, nil
}

// Generate creates a key pair of alg in the token under the URI's object
// label (and id, or the label as id), self-signs its certificate with it
// for participant and stores the certificate in the token beside it. An
// existing key under that label is an error: rotation uses a new label.
func (t *Token) Generate(u *PKCS11URI, participant string, alg Algorithm, notBefore, notAfter time.Time) (*Identity, error) {
	if err := ValidParticipant(participant); err != nil {
		return nil, err
	}
	if !notAfter.After(notBefore) {
		return nil, fmt.Errorf("generate %s: notAfter %s is not after notBefore %s", participant, notAfter, notBefore)
	}
	if u.Object == "" {
		return nil, fmt.Errorf("%s: generating needs an object label", u)
	}
	id := u.ID
	if len(id) == 0 {
		id = []byte(u.Object)
	}
	label := []byte(u.Object)
	if existing, err := t.ctx.FindKeyPairs(nil, label); err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	} else if len(existing) > 0 {
		return nil, fmt.Errorf("%s: the token already holds a key labelled %q", u, u.Object)
	}
	var key crypto.Signer
	var err error
	switch alg {
	case RSA2048:
		key, err = t.ctx.GenerateRSAKeyPairWithLabel(id, label, 2048)
	case ECDSAP256:
		key, err = t.ctx.GenerateECDSAKeyPairWithLabel(id, label, elliptic.P256())
	default:
		return nil, fmt.Errorf("generate %s in %s: algorithm %q not supported in tokens (rsa-2048, ecdsa-p256)", participant, u, alg)
	}
	if err != nil {
		return nil, fmt.Errorf("generate %s in %s: %w", participant, u, err)
	}
	ident, err := SelfSign(participant, key, notBefore, notAfter)
	if err != nil {
		return nil, err
	}
	if err := t.ctx.ImportCertificateWithLabel(id, label, ident.Cert); err != nil {
		return nil, fmt.Errorf("store %s certificate in %s: %w", participant, u, err)
	}
	return ident, nil
}

// ImportCertificate stores cert in the token under the URI's label and id
// (a certificate issued by a CA for a key generated in the token).
func (t *Token) ImportCertificate(u *PKCS11URI, cert *x509.Certificate) error {
	id, label := t.selectors(u)
	if len(id) == 0 {
		id = label
	}
	if err := t.ctx.ImportCertificateWithLabel(id, label, cert); err != nil {
		return fmt.Errorf("import certificate into %s: %w", u, err)
	}
	return nil
}

// LoadPKCS11Identity opens the token of uri and returns participant's
// identity from it; closing the token (close) ends the identity's use.
func LoadPKCS11Identity(uri, participant string) (id *Identity, closeToken func() error, err error) {
	u, err := ParsePKCS11URI(uri)
	if err != nil {
		return nil, nil, err
	}
	t, err := OpenToken(u)
	if err != nil {
		return nil, nil, err
	}
	id, err = t.Identity(u, participant)
	if err != nil {
		t.Close()
		return nil, nil, err
	}
	return id, t.Close, nil
}
