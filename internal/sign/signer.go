// Package sign produces and checks the enveloped XML-DSig signatures every
// message between the hub and the agencies carries.
//
// Profile (the only one produced and the only one accepted):
//
//   - one ds:Signature, a child of the document element;
//   - CanonicalizationMethod and the second Transform: exclusive C14N 1.0
//     without comments (http://www.w3.org/2001/10/xml-exc-c14n#);
//   - exactly one Reference with URI="" and the transforms
//     enveloped-signature then exc-c14n: the whole document minus the
//     signature is signed, so there is no Id lookup an attacker could steer
//     to a different element (the root of XML signature wrapping);
//   - DigestMethod SHA-256; SignatureMethod rsa-sha256 or ecdsa-sha256;
//   - KeyInfo/X509Data with exactly the signer's certificate.
//
// Why without comments: comments carry nothing an agency may act on, the
// content handed to callers after verification is re-parsed from the
// canonical bytes and so never contains a comment that could split a text
// node, and one algorithm instead of two keeps the allow-list minimal.
//
// How a message is signed: Prepare writes the root element directly in
// exclusive canonical form wherever the canonical writer (canonical.go)
// can, so the Reference digest is simply the SHA-256 of the bytes that are
// schema-validated and sent; SignUnsigned signs the fixed-shape SignedInfo
// and splices the ds:Signature in before the root's end tag, without
// parsing or copying the message. A tree the writer does not take is
// written faithfully and digested as it re-parses, by goxmldsig.
//
// ECDSA signature values follow XML-DSig (XML Signature 1.1
// §6.4.3): the fixed-size concatenation r||s, not ASN.1 DER. goxmldsig works
// in DER on both sides, so this package converts at the boundary; this is
// what makes our ECDSA signatures interoperable with xmlsec1 and agencies.
package sign

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/beevik/etree"
	"github.com/emmansun/gmsm/sm2"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/gatehub/gatehub/internal/pki"
)

// Algorithm identifiers of the profile.
const (
	AlgExcC14N      = "http://www.w3.org/2001/10/xml-exc-c14n#"
	AlgEnveloped    = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
	AlgSHA256       = "http://www.w3.org/2001/04/xmlenc#sha256"
	AlgRSASHA256    = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
	AlgECDSASHA256  = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
	p256FieldBytes  = 32
	minRSAKeyBits   = 2048
	xmlDeclInstruct = `version="1.0" encoding="UTF-8"`
)

// Signer signs documents on behalf of one participant. It holds no mutable
// state and is safe for concurrent use.
type Signer struct {
	id      *pki.Identity
	key     crypto.Signer // RSA key as is, ECDSA key wrapped to emit r||s
	method  string
	digest  string // DigestMethod
	profile Profile
	certB64 string // the certificate as KeyInfo carries it, encoded once
}

// NewSigner checks that the identity's key is one a profile allows (RSA ≥
// 2048 bits → rsa-sha256, ECDSA P-256 → ecdsa-sha256, both in the default
// profile; SM2 → sm2-sm3 in the SM2 profile) and that the certificate
// carries its public key. The profile is the key's: NewProfileSigner
// pins it.
func NewSigner(id *pki.Identity) (*Signer, error) { return signerFor(id) }

// NewProfileSigner is NewSigner for an agency's profile: the key must be
// one the profile signs with.
func NewProfileSigner(id *pki.Identity, profile Profile) (*Signer, error) {
	if err := profile.Validate(); err != nil {
		return nil, fmt.Errorf("new signer: %w", err)
	}
	s, err := signerFor(id)
	if err != nil {
		return nil, err
	}
	if !profile.allowsSignature(s.method) {
		return nil, fmt.Errorf("new signer %s: a %s key signs %s, which profile %s does not allow", id.Participant, keyKind(id), s.method, profile.Name)
	}
	s.profile, s.digest = profile, profile.Digest
	return s, nil
}

func keyKind(id *pki.Identity) string {
	switch k := id.Key.Public().(type) {
	case *rsa.PublicKey:
		return "RSA"
	case *ecdsa.PublicKey:
		if pki.IsSM2(id.Cert) {
			return "SM2"
		}
		return "ECDSA " + k.Curve.Params().Name
	}
	return fmt.Sprintf("%T", id.Key)
}

// Profile is the signature profile this signer signs under.
func (s *Signer) Profile() Profile { return s.profile }

func signerFor(id *pki.Identity) (*Signer, error) {
	if id == nil || id.Key == nil || id.Cert == nil {
		return nil, errors.New("new signer: identity needs a key and a certificate")
	}
	if eq, ok := id.Key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(id.Cert.PublicKey) {
		return nil, fmt.Errorf("new signer %s: certificate does not match key", id.Participant)
	}
	s := &Signer{id: id, certB64: base64.StdEncoding.EncodeToString(id.Cert.Raw),
		profile: DefaultProfile, digest: AlgSHA256}
	switch pub := id.Key.Public().(type) {
	case *rsa.PublicKey:
		if pub.N.BitLen() < minRSAKeyBits {
			return nil, fmt.Errorf("new signer %s: RSA key of %d bits, need at least %d", id.Participant, pub.N.BitLen(), minRSAKeyBits)
		}
		s.key, s.method = id.Key, AlgRSASHA256
	case *ecdsa.PublicKey:
		if pub.Curve == sm2.P256() {
			s.key, s.method, s.profile, s.digest = sm2Signer{id.Key}, AlgSM2SM3, SM2Profile, AlgSM3
			break
		}
		if pub.Curve != elliptic.P256() {
			return nil, fmt.Errorf("new signer %s: ECDSA curve %s not allowed, need P-256", id.Participant, pub.Curve.Params().Name)
		}
		s.key, s.method = rawECDSASigner{id.Key}, AlgECDSASHA256
	default:
		return nil, fmt.Errorf("new signer %s: unsupported key type %T", id.Participant, pub)
	}
	return s, nil
}

// Participant is the id of the participant this signer signs for.
func (s *Signer) Participant() string { return s.id.Participant }

// Certificate is the certificate embedded in every signature.
func (s *Signer) Certificate() *x509.Certificate { return s.id.Cert }

// Sign returns the serialised document (XML declaration, UTF-8) with an
// enveloped signature appended as the last child of the root element. doc is
// not modified. Nodes outside the root element (comments, processing
// instructions, DOCTYPE) are dropped: only the element tree is a message.
// It is SignUnsigned(Prepare(doc)); a caller that needs the unsigned bytes
// too (to validate them against the schema) calls the two itself.
func (s *Signer) Sign(doc *etree.Document) ([]byte, error) {
	u, err := Prepare(doc)
	if err != nil {
		return nil, err
	}
	return s.SignUnsigned(u)
}

// faithfulSettings are the write settings faithful sets.
var faithfulSettings = func() etree.WriteSettings {
	d := etree.NewDocument()
	faithful(d)
	return d.WriteSettings
}()

// faithful makes etree escape the characters an XML parser would otherwise
// normalise away (CR in text; tab, CR and LF in attribute values), so the
// receiver parses exactly the tree that was digested. xmlsec1 caught the
// difference: with etree's default escaping a CR or an attribute tab
// changed meaning on the wire and broke the digest.
func faithful(doc *etree.Document) {
	doc.WriteSettings.CanonicalText = true
	doc.WriteSettings.CanonicalAttrVal = true
}

// countSignatures counts ds:Signature elements anywhere under (and
// including) el, resolving prefixes through in-scope declarations.
func countSignatures(el *etree.Element) int {
	n := 0
	if el.Tag == dsig.SignatureTag && el.NamespaceURI() == dsig.Namespace {
		n++
	}
	for _, c := range el.ChildElements() {
		n += countSignatures(c)
	}
	return n
}

// rawECDSASigner turns the ASN.1 DER signature crypto/ecdsa produces into
// the r||s form XML-DSig mandates.
type rawECDSASigner struct{ crypto.Signer }

type ecdsaSig struct{ R, S *big.Int }

func (r rawECDSASigner) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	der, err := r.Signer.Sign(rand, digest, opts)
	if err != nil {
		return nil, err
	}
	var sig ecdsaSig
	rest, err := asn1.Unmarshal(der, &sig)
	if err != nil || len(rest) > 0 {
		return nil, fmt.Errorf("decode ECDSA signature: %v", err)
	}
	out := make([]byte, 2*p256FieldBytes)
	sig.R.FillBytes(out[:p256FieldBytes])
	sig.S.FillBytes(out[p256FieldBytes:])
	return out, nil
}

// sm2Signer signs the message itself (the canonical SignedInfo), not a
// digest: SM2 hashes Z_A (from the distinguishing id and the public key)
// and the message with SM3 itself. The value is r||s, like ECDSA's.
type sm2Signer struct{ crypto.Signer }

func (k sm2Signer) Sign(rand io.Reader, msg []byte, _ crypto.SignerOpts) ([]byte, error) {
	der, err := k.Signer.Sign(rand, msg, sm2.NewSM2SignerOption(true, SM2ID))
	if err != nil {
		return nil, err
	}
	var sig ecdsaSig
	rest, err := asn1.Unmarshal(der, &sig)
	if err != nil || len(rest) > 0 {
		return nil, fmt.Errorf("decode SM2 signature: %v", err)
	}
	out := make([]byte, 2*p256FieldBytes)
	sig.R.FillBytes(out[:p256FieldBytes])
	sig.S.FillBytes(out[p256FieldBytes:])
	return out, nil
}

// ecdsaRawToDER converts an XML-DSig r||s value to the DER form
// crypto/x509 checks.
func ecdsaRawToDER(raw []byte) ([]byte, error) {
	if len(raw) != 2*p256FieldBytes {
		return nil, fmt.Errorf("ECDSA P-256 signature value is %d bytes, want %d (r||s)", len(raw), 2*p256FieldBytes)
	}
	return asn1.Marshal(ecdsaSig{
		R: new(big.Int).SetBytes(raw[:p256FieldBytes]),
		S: new(big.Int).SetBytes(raw[p256FieldBytes:]),
	})
}
