package app

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"slices"
	"time"

	"github.com/gatehub/gatehub/internal/agencies"
	"github.com/gatehub/gatehub/internal/config"
	"github.com/gatehub/gatehub/internal/hub"
	"github.com/gatehub/gatehub/internal/pki"
	"github.com/gatehub/gatehub/internal/pki/libcrypto"
	"github.com/gatehub/gatehub/internal/sign"
)

// AgencyProfiles are the verifier options that hold each agency to its
// signature profile (its agency file's signature): an ACK signed under another
// agency's profile is refused.
func AgencyProfiles(set *agencies.Set) []sign.Option {
	var opts []sign.Option
	for _, a := range set.All() {
		opts = append(opts, sign.WithProfile(string(a.Code), a.Signature))
	}
	return opts
}

// AuditorProfiles are AgencyProfiles plus the hub's: the hub signs under
// every agency's profile, so whoever reads all of its messages (audit
// verify, replay) accepts any of those for "hub".
func AuditorProfiles(set *agencies.Set) []sign.Option {
	return append(AgencyProfiles(set), sign.WithProfile(hub.Participant, usedProfiles(set)...))
}

// usedProfiles lists the default profile and every other one an agency
// uses, each once.
func usedProfiles(set *agencies.Set) []sign.Profile {
	out := []sign.Profile{sign.DefaultProfile}
	for _, a := range set.All() {
		p := a.Signature
		if !slices.ContainsFunc(out, func(q sign.Profile) bool { return q.Name == p.Name }) {
			out = append(out, p)
		}
	}
	return out
}

// profileKeys maps a non-default profile to the key type the hub
// signs it with and the name its key files go under in the keys
// directory, beside hub.key.pem.
var profileKeys = map[string]struct {
	alg  pki.Algorithm
	file string
}{
	sign.SM2Profile.Name: {pki.SM2, hub.Participant + ".sm2"},
}

// hubIdentity is the hub's key for the default profile: from the PKCS#11
// token cfg.HubKeyURI names (nothing read from disk), or else from
// KeysDir, created there in development when missing.
func hubIdentity(cfg config.Config, now time.Time) (*pki.Identity, error) {
	if cfg.HubKeyURI != "" {
		id, closeToken, err := pki.LoadPKCS11Identity(cfg.HubKeyURI, hub.Participant)
		if err != nil {
			return nil, fmt.Errorf("hub signing key: %w", err)
		}
		id.Key = tokenKey{id.Key, closeToken}
		return id, nil
	}
	if cfg.Production {
		id, err := pki.LoadIdentity(cfg.KeysDir, hub.Participant)
		if err != nil {
			return nil, fmt.Errorf("hub signing key (production creates none): %w", err)
		}
		return viaLibcrypto(id)
	}
	id, _, err := pki.LoadOrCreate(cfg.KeysDir, hub.Participant, pki.RSA2048, now)
	if err != nil {
		return nil, fmt.Errorf("hub signing key: %w", err)
	}
	return viaLibcrypto(id)
}

// viaLibcrypto has the system's libcrypto make an RSA key's signatures:
// about three times the signatures per core of crypto/rsa, byte for byte
// the same (PKCS#1 v1.5 is deterministic; see internal/pki/libcrypto and
// docs/DECISIONS.md). Other keys are returned as they are.
func viaLibcrypto(id *pki.Identity) (*pki.Identity, error) {
	k, ok := id.Key.(*rsa.PrivateKey)
	if !ok {
		return id, nil
	}
	s, err := libcrypto.NewRSASigner(k)
	if err != nil {
		return nil, fmt.Errorf("hub signing key: %w", err)
	}
	return &pki.Identity{Participant: id.Participant, Key: s, Cert: id.Cert}, nil
}

// tokenKey is a key in a token, closed with the app.
type tokenKey struct {
	crypto.Signer
	close func() error
}

func (k tokenKey) Close() error { return k.close() }

// agencySigners makes the hub's signer for each agency whose profile the
// default signer does not sign: one identity per profile (loaded, or
// created in development), its certificate trusted for the hub.
func agencySigners(cfg config.Config, set *agencies.Set, def *sign.Signer, trust *pki.TrustStore, now time.Time) (map[string]*sign.Signer, error) {
	byProfile := map[string]*sign.Signer{def.Profile().Name: def}
	out := map[string]*sign.Signer{}
	for _, a := range set.All() {
		name, profile := string(a.Code), a.Signature
		s := byProfile[profile.Name]
		if s == nil {
			k, ok := profileKeys[profile.Name]
			if !ok {
				return nil, fmt.Errorf("agency %s: no hub key type for signature profile %s", name, profile.Name)
			}
			if cfg.Production && cfg.HubKeyURI != "" {
				// The token layer signs RSA and ECDSA; SM2 tokens (GM/T
				// 0016 SKF, vendor PKCS#11 mechanisms) are not driven yet,
				// and production reads no signing key from disk.
				return nil, fmt.Errorf("agency %s: signature profile %s needs the hub's %s key, which production with hubKeyURI may not read from disk and tokens cannot hold yet", name, profile.Name, k.alg)
			}
			id, _, err := pki.LoadOrCreateAs(cfg.KeysDir, k.file, hub.Participant, k.alg, now)
			if err != nil {
				return nil, fmt.Errorf("hub %s signing key: %w", profile.Name, err)
			}
			if s, err = sign.NewProfileSigner(id, profile); err != nil {
				return nil, fmt.Errorf("hub %s signer: %w", profile.Name, err)
			}
			trust.Add(hub.Participant, id.Cert, time.Time{}, time.Time{})
			byProfile[profile.Name] = s
		}
		if s != def {
			out[name] = s
		}
	}
	return out, nil
}

// ArchiveVerifier trusts the certificates an audit archive carries, each
// within its own validity, under the agencies' profiles and all of the
// hub's (AuditorProfiles): what audit verify and replay check messages
// and ACKs with.
func ArchiveVerifier(set *agencies.Set, certs map[string][]*x509.Certificate) *sign.Verifier {
	ts := pki.NewTrustStore()
	for p, list := range certs {
		for _, c := range list {
			ts.Add(p, c, time.Time{}, time.Time{})
		}
	}
	return sign.NewVerifier(ts, AuditorProfiles(set)...)
}

// HubKeyFile is the name, in the keys directory, under which the hub keeps
// the key that signs under profile: hub (hub.key.pem) for the default
// profile, hub.sm2 for SM2-SM3. Tools that sign as the hub outside the
// server (gatehubctl conformance run) load the same files.
func HubKeyFile(profile sign.Profile) string {
	if k, ok := profileKeys[profile.Name]; ok {
		return k.file
	}
	return hub.Participant
}
