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
// ECDSA signature values follow XML-DSig (XML Signature 1.1
// §6.4.3): the fixed-size concatenation r||s, not ASN.1 DER. goxmldsig works
// in DER on both sides, so this package converts at the boundary; this is
// what makes our ECDSA signatures interoperable with xmlsec1 and agencies.
package sign

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/beevik/etree"
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
	id     *pki.Identity
	key    crypto.Signer // RSA key as is, ECDSA key wrapped to emit r||s
	method string
}

// NewSigner checks that the identity's key is one the profile allows
// (RSA ≥ 2048 bits → rsa-sha256, ECDSA P-256 → ecdsa-sha256) and that the
// certificate carries its public key.
func NewSigner(id *pki.Identity) (*Signer, error) {
	if id == nil || id.Key == nil || id.Cert == nil {
		return nil, errors.New("new signer: identity needs a key and a certificate")
	}
	if eq, ok := id.Key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(id.Cert.PublicKey) {
		return nil, fmt.Errorf("new signer %s: certificate does not match key", id.Participant)
	}
	s := &Signer{id: id}
	switch pub := id.Key.Public().(type) {
	case *rsa.PublicKey:
		if pub.N.BitLen() < minRSAKeyBits {
			return nil, fmt.Errorf("new signer %s: RSA key of %d bits, need at least %d", id.Participant, pub.N.BitLen(), minRSAKeyBits)
		}
		s.key, s.method = id.Key, AlgRSASHA256
	case *ecdsa.PublicKey:
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
func (s *Signer) Sign(doc *etree.Document) ([]byte, error) {
	raw, err := Serialise(doc)
	if err != nil {
		return nil, err
	}
	return s.SignSerialised(raw)
}

// Serialise writes the root element of doc (nothing outside it) with the
// escaping Sign uses, without an XML declaration: the unsigned form of the
// message Sign would produce from doc. doc is not modified. A caller that
// needs the bytes too (to validate them against the schema) serialises once
// and passes them to SignSerialised.
func Serialise(doc *etree.Document) ([]byte, error) {
	if doc == nil || doc.Root() == nil {
		return nil, errors.New("sign: document has no root element")
	}
	var buf bytes.Buffer
	// What a document holding only this root writes (etree writes an
	// element the same way whatever its parent), without copying the tree.
	doc.Root().WriteTo(&buf, &faithfulSettings)
	return buf.Bytes(), nil
}

// faithfulSettings are the write settings faithful sets.
var faithfulSettings = func() etree.WriteSettings {
	d := etree.NewDocument()
	faithful(d)
	return d.WriteSettings
}()

// SignSerialised signs a message given as Serialise wrote it; Sign(doc) is
// SignSerialised(Serialise(doc)). raw is read back and the tree a receiver's
// parser will see is what gets digested and written out, so bytes from
// elsewhere are signed exactly as they parse (only the root element is kept).
func (s *Signer) SignSerialised(raw []byte) ([]byte, error) {
	// Re-read before digesting so the signed tree is exactly what a
	// receiver's parser will see (line-end normalisation, merged text
	// nodes, escaping): the digest must be over the bytes we send.
	norm := etree.NewDocument()
	if err := norm.ReadFromBytes(raw); err != nil {
		return nil, fmt.Errorf("sign: re-read: %w", err)
	}
	root := norm.Root()
	if root == nil {
		return nil, errors.New("sign: document has no root element")
	}
	if countSignatures(root) > 0 {
		return nil, errors.New("sign: document already contains a ds:Signature")
	}

	ctx, err := dsig.NewSigningContext(s.key, [][]byte{s.id.Cert.Raw})
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	ctx.Hash = crypto.SHA256
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	// An empty id attribute name matches no attribute, which makes
	// goxmldsig always emit Reference URI="" (whole document).
	ctx.IdAttribute = ""
	if err := ctx.SetSignatureMethod(s.method); err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	// goxmldsig canonicalises the element it digests in place (exc-c14n
	// pushes namespace declarations down to their users); digest a copy so
	// the message keeps the form it was authored in.
	sig, err := ctx.ConstructSignature(root.Copy(), true)
	if err != nil {
		return nil, fmt.Errorf("sign as %s: %w", s.id.Participant, err)
	}
	root.AddChild(sig)
	out := etree.NewDocument()
	faithful(out)
	out.CreateProcInst("xml", xmlDeclInstruct)
	out.SetRoot(root)
	var buf bytes.Buffer
	if _, err := out.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("sign: serialise signed document: %w", err)
	}
	return buf.Bytes(), nil
}

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
