package sign

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/gatehub/gatehub/internal/pki"
)

// Errors a caller may want to tell apart (wrapped; test with errors.Is).
var (
	// ErrRefused: the input is outside the accepted profile or limits
	// (size, depth, DOCTYPE, no or several signatures, algorithms, shape).
	ErrRefused = errors.New("signed document refused")
	// ErrUntrusted: the signing certificate is not trusted for the expected
	// participant at the given instant.
	ErrUntrusted = errors.New("signer not trusted")
	// ErrInvalid: the signature or the digest does not match the content.
	ErrInvalid = errors.New("signature invalid")
)

// Default limits, generous for agency messages (a few KB) yet small enough
// that a hostile peer cannot make verification expensive.
const (
	DefaultMaxBytes = 1 << 20
	DefaultMaxDepth = 64
)

// Option tunes a Verifier.
type Option func(*Verifier)

// WithMaxBytes sets the largest input accepted.
func WithMaxBytes(n int) Option { return func(v *Verifier) { v.maxBytes = n } }

// WithMaxDepth sets the deepest element nesting accepted.
func WithMaxDepth(n int) Option { return func(v *Verifier) { v.maxDepth = n } }

// Verifier checks signed documents against a trust store. It keeps no state
// of its own and is safe for concurrent use.
type Verifier struct {
	ts       *pki.TrustStore
	maxBytes int
	maxDepth int
}

// NewVerifier returns a verifier trusting what ts holds.
func NewVerifier(ts *pki.TrustStore, opts ...Option) *Verifier {
	v := &Verifier{ts: ts, maxBytes: DefaultMaxBytes, maxDepth: DefaultMaxDepth}
	for _, o := range opts {
		o(v)
	}
	return v
}

// Verify checks that signed carries a valid signature by participant, made
// with a certificate the trust store accepts for participant at instant at,
// and returns the verified content: the root element re-parsed from the
// canonical bytes that were digested, without the signature. Callers must
// read only this element, never the input bytes.
func (v *Verifier) Verify(participant string, signed []byte, at time.Time) (*etree.Element, error) {
	p, err := v.prepare(signed)
	if err != nil {
		return nil, err
	}
	if !containsCert(v.ts.Certificates(participant, at), p.cert) {
		return nil, fmt.Errorf("verify %s: certificate %s: %w", participant, pki.Fingerprint(p.cert), ErrUntrusted)
	}
	return p.validate(participant, at)
}

// Identify finds which trusted participant signed the document and returns
// it with the verified content. A certificate trusted for more than one
// participant is refused as ambiguous.
func (v *Verifier) Identify(signed []byte, at time.Time) (string, *etree.Element, error) {
	p, err := v.prepare(signed)
	if err != nil {
		return "", nil, err
	}
	var found []string
	for _, participant := range v.ts.Participants() {
		if containsCert(v.ts.Certificates(participant, at), p.cert) {
			found = append(found, participant)
		}
	}
	switch len(found) {
	case 0:
		return "", nil, fmt.Errorf("identify: certificate %s: %w", pki.Fingerprint(p.cert), ErrUntrusted)
	case 1:
	default:
		return "", nil, fmt.Errorf("identify: certificate %s trusted for several participants %v: %w", pki.Fingerprint(p.cert), found, ErrUntrusted)
	}
	el, err := p.validate(found[0], at)
	if err != nil {
		return "", nil, err
	}
	return found[0], el, nil
}

func containsCert(list []*x509.Certificate, c *x509.Certificate) bool {
	for _, x := range list {
		if x.Equal(c) {
			return true
		}
	}
	return false
}

// prepared is a document that passed the profile checks and is ready for
// the cryptographic check.
type prepared struct {
	root *etree.Element
	cert *x509.Certificate // from KeyInfo, not yet trusted
}

func (p *prepared) validate(participant string, at time.Time) (*etree.Element, error) {
	ctx := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{p.cert}})
	// goxmldsig checks certificate validity against its clock: the instant
	// the caller asks about, not the wall clock, so archived messages can
	// be re-verified by auditors.
	ctx.Clock = dsig.NewFakeClockAt(at)
	el, err := ctx.Validate(p.root)
	if err != nil {
		return nil, fmt.Errorf("verify %s: %v: %w", participant, err, ErrInvalid)
	}
	return el, nil
}

func refused(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrRefused)
}

// prepare applies the limits and the profile to the raw bytes. Everything
// here is a policy decision taken before any cryptography.
func (v *Verifier) prepare(signed []byte) (*prepared, error) {
	if len(signed) > v.maxBytes {
		return nil, refused("document of %d bytes exceeds limit of %d", len(signed), v.maxBytes)
	}
	if err := scan(signed, v.maxDepth); err != nil {
		return nil, err
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(signed); err != nil {
		return nil, refused("parse: %v", err)
	}
	root := doc.Root()
	if root == nil {
		return nil, refused("no root element")
	}
	var sig *etree.Element
	switch n := countSignatures(root); n {
	case 0:
		return nil, refused("no ds:Signature")
	case 1:
	default:
		return nil, refused("%d ds:Signature elements, want exactly one", n)
	}
	for _, c := range root.ChildElements() {
		if isDS(c, dsig.SignatureTag) {
			sig = c
		}
	}
	if sig == nil {
		return nil, refused("ds:Signature is not a child of the root element")
	}
	cert, err := checkSignatureShape(sig)
	if err != nil {
		return nil, err
	}
	return &prepared{root: root, cert: cert}, nil
}

// scan walks the token stream once with hard limits before any tree is
// built: no DOCTYPE (hence no entity declarations), no processing
// instruction besides the XML declaration, bounded depth.
func scan(data []byte, maxDepth int) error {
	dec := xml.NewDecoder(bytes.NewReader(data))
	depth, first := 0, true
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			if depth != 0 {
				return refused("unexpected end of document")
			}
			return nil
		}
		if err != nil {
			return refused("parse: %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth > maxDepth {
				return refused("element nesting deeper than %d", maxDepth)
			}
		case xml.EndElement:
			depth--
		case xml.Directive:
			return refused("DOCTYPE or other directive not allowed")
		case xml.ProcInst:
			if !first || t.Target != "xml" {
				return refused("processing instruction %q not allowed", t.Target)
			}
		}
		first = false
	}
}

func isDS(el *etree.Element, tag string) bool {
	return el.Tag == tag && el.NamespaceURI() == dsig.Namespace
}

// children returns el's child elements after checking they are exactly the
// given ds: tags in that order and that no text other than whitespace sits
// between them.
func children(el *etree.Element, tags ...string) ([]*etree.Element, error) {
	for _, tok := range el.Child {
		if cd, ok := tok.(*etree.CharData); ok && strings.TrimSpace(cd.Data) != "" {
			return nil, refused("unexpected text in ds:%s", el.Tag)
		}
	}
	kids := el.ChildElements()
	if len(kids) != len(tags) {
		return nil, refused("ds:%s has %d child elements, want %v", el.Tag, len(kids), tags)
	}
	for i, k := range kids {
		if !isDS(k, tags[i]) {
			return nil, refused("ds:%s child %d is %s, want ds:%s", el.Tag, i, k.FullTag(), tags[i])
		}
	}
	return kids, nil
}

func algorithm(el *etree.Element) string { return el.SelectAttrValue(dsig.AlgorithmAttr, "") }

// checkSignatureShape pins the signature to the profile in the package
// comment and returns the (untrusted) certificate from KeyInfo. For ECDSA
// it rewrites SignatureValue from r||s to DER for goxmldsig; SignatureValue
// is outside SignedInfo and removed by the enveloped transform, so this
// changes nothing that is signed.
func checkSignatureShape(sig *etree.Element) (*x509.Certificate, error) {
	parts, err := children(sig, dsig.SignedInfoTag, dsig.SignatureValueTag, dsig.KeyInfoTag)
	if err != nil {
		return nil, err
	}
	signedInfo, sigValue, keyInfo := parts[0], parts[1], parts[2]

	si, err := children(signedInfo, dsig.CanonicalizationMethodTag, dsig.SignatureMethodTag, dsig.ReferenceTag)
	if err != nil {
		return nil, err
	}
	if a := algorithm(si[0]); a != AlgExcC14N {
		return nil, refused("canonicalization method %q not allowed", a)
	}
	if len(si[0].ChildElements()) != 0 {
		return nil, refused("canonicalization parameters not allowed")
	}
	method := algorithm(si[1])
	if method != AlgRSASHA256 && method != AlgECDSASHA256 {
		return nil, refused("signature method %q not allowed", method)
	}
	ref := si[2]
	if uri := ref.SelectAttr(dsig.URIAttr); uri == nil || uri.Value != "" {
		return nil, refused(`reference must have URI="" (whole document)`)
	}
	rp, err := children(ref, dsig.TransformsTag, dsig.DigestMethodTag, dsig.DigestValueTag)
	if err != nil {
		return nil, err
	}
	tr, err := children(rp[0], dsig.TransformTag, dsig.TransformTag)
	if err != nil {
		return nil, err
	}
	if algorithm(tr[0]) != AlgEnveloped || algorithm(tr[1]) != AlgExcC14N {
		return nil, refused("transforms must be enveloped-signature then exc-c14n, got %q, %q", algorithm(tr[0]), algorithm(tr[1]))
	}
	for _, t := range tr {
		for _, c := range t.ChildElements() {
			// An InclusiveNamespaces prefix list is a legitimate exc-c14n
			// parameter (xmlsec1 templates may carry one); nothing else is.
			if t != tr[1] || c.Tag != "InclusiveNamespaces" || c.NamespaceURI() != AlgExcC14N {
				return nil, refused("unexpected transform parameter %s", c.FullTag())
			}
		}
	}
	if a := algorithm(rp[1]); a != AlgSHA256 {
		return nil, refused("digest method %q not allowed", a)
	}

	ki, err := children(keyInfo, dsig.X509DataTag)
	if err != nil {
		return nil, err
	}
	xd, err := children(ki[0], dsig.X509CertificateTag)
	if err != nil {
		return nil, err
	}
	der, err := base64.StdEncoding.DecodeString(stripSpace(xd[0].Text()))
	if err != nil {
		return nil, refused("X509Certificate is not base64: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, refused("X509Certificate: %v", err)
	}

	if method == AlgECDSASHA256 {
		raw, err := base64.StdEncoding.DecodeString(stripSpace(sigValue.Text()))
		if err != nil {
			return nil, refused("SignatureValue is not base64: %v", err)
		}
		d, err := ecdsaRawToDER(raw)
		if err != nil {
			return nil, refused("%v", err)
		}
		sigValue.SetText(base64.StdEncoding.EncodeToString(d))
	}
	return cert, nil
}

func stripSpace(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		}
		return r
	}, s)
}
