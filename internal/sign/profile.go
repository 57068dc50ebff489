package sign

import (
	"fmt"
	"slices"
)

// Algorithm identifiers of the SM2-SM3 profile. XML-DSig defines no URIs
// for the Chinese commercial algorithms and the e-port profile's own are
// not published; the OID URNs (RFC 3061) of GM/T 0006 name them without
// inventing a W3C namespace: 1.2.156.10197.1.401 is SM3,
// 1.2.156.10197.1.501 SM2 signature with SM3. They are part of the profile
// value, so an agency that wants other URIs gets a profile with its own.
const (
	AlgSM3    = "urn:oid:1.2.156.10197.1.401"
	AlgSM2SM3 = "urn:oid:1.2.156.10197.1.501"
)

// SM2ID is the SM2 distinguishing identifier (GB/T 32918.2 ZA) every
// SM2-SM3 signature of the profile is made and checked with: the default
// of GM/T 0009, which UKeys and OpenSSL (distid) use unless told otherwise.
var SM2ID = []byte("1234567812345678")

// Profile is an agency's signature profile: the canonicalisation (also the
// Reference's second transform), the digest and the signature methods its
// messages are signed with and its ACKs are accepted with. The shape
// around them (one enveloped signature, URI="", X509 in KeyInfo) is the
// same for every profile.
type Profile struct {
	Name       string
	C14N       string
	Digest     string
	Signatures []string

	union []Profile // anyProfile: the signature is read before its signer is known
}

var (
	// DefaultProfile: exclusive C14N, SHA-256, RSA-SHA256 or
	// ECDSA-SHA256 (P-256). Every agency but the Guangxi single window.
	DefaultProfile = Profile{Name: "xmldsig-sha256", C14N: AlgExcC14N, Digest: AlgSHA256,
		Signatures: []string{AlgRSASHA256, AlgECDSASHA256}}
	// SM2Profile: exclusive C14N, SM3, SM2 with SM3 (the China e-port
	// signature profile): the Guangxi single window.
	SM2Profile = Profile{Name: "sm2-sm3", C14N: AlgExcC14N, Digest: AlgSM3,
		Signatures: []string{AlgSM2SM3}}

	anyProfile = Profile{Name: "any", C14N: AlgExcC14N, union: []Profile{DefaultProfile, SM2Profile}}
)

// ProfileByName returns one of the profiles this package implements.
func ProfileByName(name string) (Profile, error) {
	for _, p := range []Profile{DefaultProfile, SM2Profile} {
		if p.Name == name {
			return p, nil
		}
	}
	return Profile{}, fmt.Errorf("unknown signature profile %q (want %s or %s)", name, DefaultProfile.Name, SM2Profile.Name)
}

// Validate refuses a profile naming an algorithm this package does not
// implement, or pairing a digest with a signature method of another.
func (p Profile) Validate() error {
	if p.C14N != AlgExcC14N {
		return fmt.Errorf("profile %s: canonicalisation %q not implemented", p.Name, p.C14N)
	}
	if len(p.Signatures) == 0 {
		return fmt.Errorf("profile %s: no signature method", p.Name)
	}
	for _, s := range p.Signatures {
		want := AlgSHA256
		switch s {
		case AlgRSASHA256, AlgECDSASHA256:
		case AlgSM2SM3:
			want = AlgSM3
		default:
			return fmt.Errorf("profile %s: signature method %q not implemented", p.Name, s)
		}
		if p.Digest != want {
			return fmt.Errorf("profile %s: digest %q does not go with signature method %q", p.Name, p.Digest, s)
		}
	}
	return nil
}

func (p Profile) allowsSignature(method string) bool {
	for _, u := range p.union {
		if u.allowsSignature(method) {
			return true
		}
	}
	return slices.Contains(p.Signatures, method)
}

func (p Profile) allowsDigest(digest string) bool {
	for _, u := range p.union {
		if u.allowsDigest(digest) {
			return true
		}
	}
	return p.Digest != "" && p.Digest == digest
}

// allowsPair reports whether one profile (of a union: one of its members)
// signs with method over digest.
func (p Profile) allowsPair(method, digest string) bool {
	for _, u := range p.union {
		if u.allowsPair(method, digest) {
			return true
		}
	}
	return p.Digest == digest && slices.Contains(p.Signatures, method)
}

// hint names the profile a refused method belongs to, so that an operator
// reading the refusal sees "signed under another agency's profile".
func (p Profile) hint(method string) string {
	for _, o := range []Profile{DefaultProfile, SM2Profile} {
		if o.Name != p.Name && o.allowsSignature(method) {
			return fmt.Sprintf(" (profile %s, the signer's is %s)", o.Name, p.Name)
		}
	}
	return ""
}
