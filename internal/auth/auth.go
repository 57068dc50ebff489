// Package auth identifies the caller of an HTTP request. Traders, operators,
// auditors and admins present bearer tokens, stored only as SHA-256 hashes;
// gate devices present their device token (hashes live in the gate files)
// or an mTLS client certificate; agencies present an mTLS certificate known
// to the trust store (and, independently, sign every ACK).
package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync/atomic"

	"go.yaml.in/yaml/v3"

	"github.com/gatehub/gatehub/internal/gate"
)

// Roles.
const (
	RoleTrader   = "trader"
	RoleAgency   = "agency"
	RoleDevice   = "gate-device"
	RoleOperator = "operator"
	RoleAuditor  = "auditor"
	RoleAdmin    = "admin"
)

var roles = map[string]bool{RoleTrader: true, RoleAgency: true, RoleDevice: true, RoleOperator: true, RoleAuditor: true, RoleAdmin: true}

// Principal is an authenticated caller.
type Principal struct {
	Role    string
	Subject string // who: a user name, an agency id, a device id
	TaxCode string // traders: the only declarations they may see
	Agency  string // agencies: their participant id
	Gate    string // devices: their gate and lane
	Lane    string
}

// String is the form written to the audit log.
func (p Principal) String() string { return p.Role + ":" + p.Subject }

// TokenEntry is one line of the tokens file.
type TokenEntry struct {
	SHA256  string `yaml:"sha256"`
	Role    string `yaml:"role"`
	Subject string `yaml:"subject"`
	TaxCode string `yaml:"taxCode,omitempty"`
	Agency  string `yaml:"agency,omitempty"`
}

// Tokens maps token hashes to principals.
type Tokens struct {
	entries []tokenEntry
}

type tokenEntry struct {
	hash [32]byte
	p    Principal
}

// ParseTokens reads a tokens file: a YAML list of TokenEntry.
func ParseTokens(name string, data []byte) (*Tokens, error) {
	var list []TokenEntry
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&list); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	t := &Tokens{}
	for i, e := range list {
		raw, err := hex.DecodeString(e.SHA256)
		if err != nil || len(raw) != sha256.Size {
			return nil, fmt.Errorf("%s: entry %d: sha256 must be 64 hex digits", name, i+1)
		}
		if !roles[e.Role] || e.Role == RoleDevice {
			return nil, fmt.Errorf("%s: entry %d: role %q is not one of trader, agency, operator, auditor, admin (devices are configured in gate files)", name, i+1, e.Role)
		}
		if e.Subject == "" {
			return nil, fmt.Errorf("%s: entry %d: subject is required", name, i+1)
		}
		if e.Role == RoleTrader && e.TaxCode == "" {
			return nil, fmt.Errorf("%s: entry %d: a trader token needs its taxCode", name, i+1)
		}
		if e.Role == RoleAgency && e.Agency == "" {
			return nil, fmt.Errorf("%s: entry %d: an agency token needs its agency", name, i+1)
		}
		var h [32]byte
		copy(h[:], raw)
		t.entries = append(t.entries, tokenEntry{hash: h, p: Principal{Role: e.Role, Subject: e.Subject, TaxCode: e.TaxCode, Agency: e.Agency}})
	}
	return t, nil
}

// LoadTokens reads a tokens file from disk.
func LoadTokens(path string) (*Tokens, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read tokens: %w", err)
	}
	return ParseTokens(path, data)
}

// HashToken returns the hex SHA-256 of a token, the form the files hold.
func HashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// Lookup finds the principal of a token. Every entry is compared in
// constant time so the response time does not reveal a near match.
func (t *Tokens) Lookup(token string) (Principal, bool) {
	if t == nil {
		return Principal{}, false
	}
	h := sha256.Sum256([]byte(token))
	var found Principal
	ok := false
	for _, e := range t.entries {
		if subtle.ConstantTimeCompare(h[:], e.hash[:]) == 1 {
			found, ok = e.p, true
		}
	}
	return found, ok
}

// Authenticator resolves requests to principals. Tokens can be swapped at
// run time (SetTokens) like gate configuration.
type Authenticator struct {
	tokens atomic.Pointer[Tokens]
	Gates  *gate.Registry
	// AgencyCerts maps an mTLS client certificate fingerprint (hex SHA-256 of
	// DER) to the agency it belongs to.
	AgencyCerts func(fingerprint string) (agency string, ok bool)
}

// NewAuthenticator builds an authenticator over tokens and gate devices.
func NewAuthenticator(t *Tokens, gates *gate.Registry) *Authenticator {
	a := &Authenticator{Gates: gates}
	a.tokens.Store(t)
	return a
}

// SetTokens replaces the token table.
func (a *Authenticator) SetTokens(t *Tokens) { a.tokens.Store(t) }

// Authenticate returns the caller of r. A verified client certificate wins
// over a bearer token.
func (a *Authenticator) Authenticate(r *http.Request) (Principal, bool) {
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.PeerCertificates) > 0 {
		sum := sha256.Sum256(r.TLS.PeerCertificates[0].Raw)
		fp := hex.EncodeToString(sum[:])
		if a.Gates != nil {
			if d, l, g, ok := a.Gates.Current().DeviceByCertFingerprint(fp); ok {
				return Principal{Role: RoleDevice, Subject: d.ID, Gate: g.Code, Lane: l.ID}, true
			}
		}
		if a.AgencyCerts != nil {
			if agency, ok := a.AgencyCerts(fp); ok {
				return Principal{Role: RoleAgency, Subject: agency, Agency: agency}, true
			}
		}
	}
	token, ok := bearer(r)
	if !ok {
		return Principal{}, false
	}
	if p, ok := a.tokens.Load().Lookup(token); ok {
		return p, true
	}
	if a.Gates != nil {
		if d, l, g, ok := a.Gates.Current().DeviceByToken(token); ok {
			return Principal{Role: RoleDevice, Subject: d.ID, Gate: g.Code, Lane: l.ID}, true
		}
	}
	return Principal{}, false
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	const prefix = "Bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	return strings.TrimSpace(h[len(prefix):]), true
}
