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

// WithProfile makes participant's signatures acceptable only under the
// given profiles (the default profile applies to every participant not
// named). An agency has one; the hub signs under each agency's, so an
// auditor who reads all of the hub's messages names several. A message
// signed under a profile not given is refused before any cryptography.
func WithProfile(participant string, profiles ...Profile) Option {
	return func(v *Verifier) {
		switch len(profiles) {
		case 0:
		case 1:
			v.profiles[participant] = profiles[0]
		default:
			names := make([]string, len(profiles))
			for i, p := range profiles {
				names[i] = p.Name
			}
			v.profiles[participant] = Profile{Name: strings.Join(names, "|"), C14N: AlgExcC14N, union: profiles}
		}
	}
}

// withoutFastPath sends every document down the general path (goxmldsig):
// the differential tests compare the two.
func withoutFastPath() Option { return func(v *Verifier) { v.noFast = true } }

// Verifier checks signed documents against a trust store. It keeps no state
// of its own and is safe for concurrent use.
type Verifier struct {
	ts       *pki.TrustStore
	maxBytes int
	maxDepth int
	profiles map[string]Profile
	noFast   bool
}

// NewVerifier returns a verifier trusting what ts holds.
func NewVerifier(ts *pki.TrustStore, opts ...Option) *Verifier {
	v := &Verifier{ts: ts, maxBytes: DefaultMaxBytes, maxDepth: DefaultMaxDepth, profiles: map[string]Profile{}}
	for _, o := range opts {
		o(v)
	}
	return v
}

// ProfileOf is the signature profile participant's signatures must follow.
func (v *Verifier) ProfileOf(participant string) Profile {
	if p, ok := v.profiles[participant]; ok {
		return p
	}
	return DefaultProfile
}

// Verify checks that signed carries a valid signature by participant, made
// under participant's profile with a certificate the trust store accepts
// for participant at instant at, and returns the verified content: the
// root element without the signature, read from the bytes whose canonical
// form was digested. Callers must read only this element, never the input
// bytes.
func (v *Verifier) Verify(participant string, signed []byte, at time.Time) (*etree.Element, error) {
	p, err := v.prepare(signed, v.ProfileOf(participant))
	if err != nil {
		return nil, err
	}
	cert := p.trusted(v.ts.Certificates(participant, at))
	if cert == nil {
		return nil, p.untrusted("verify " + participant)
	}
	return v.validate(p, cert, participant, at)
}

// Identify finds which trusted participant signed the document and returns
// it with the verified content. A certificate trusted for more than one
// participant is refused as ambiguous. The signature must follow the
// profile of the participant found.
func (v *Verifier) Identify(signed []byte, at time.Time) (string, *etree.Element, error) {
	// The profile is known only once the signer is: read the signature
	// with the profile its SignatureMethod names, then require it to be
	// the signer's.
	p, err := v.prepare(signed, anyProfile)
	if err != nil {
		return "", nil, err
	}
	var found []string
	var cert *x509.Certificate
	for _, participant := range v.ts.Participants() {
		if c := p.trusted(v.ts.Certificates(participant, at)); c != nil {
			found, cert = append(found, participant), c
		}
	}
	switch len(found) {
	case 0:
		return "", nil, p.untrusted("identify")
	case 1:
	default:
		return "", nil, fmt.Errorf("identify: certificate %s trusted for several participants %v: %w", pki.Fingerprint(cert), found, ErrUntrusted)
	}
	want := v.ProfileOf(found[0])
	if _, err := checkSignatureShape(p.sig, want); err != nil {
		return "", nil, fmt.Errorf("identify %s: %w", found[0], err)
	}
	p.profile = want
	el, err := v.validate(p, cert, found[0], at)
	if err != nil {
		return "", nil, err
	}
	return found[0], el, nil
}

// prepared is a document that passed the profile checks and is ready for
// the cryptographic check.
type prepared struct {
	raw     []byte
	root    *etree.Element
	sig     *etree.Element // the root's ds:Signature child
	parts   sigParts
	profile Profile
	fast    bool // read by fastParse: the fast path may verify it
}

// trusted returns the certificate among list whose DER is the one in
// KeyInfo, or nil.
func (p *prepared) trusted(list []*x509.Certificate) *x509.Certificate {
	for _, c := range list {
		if bytes.Equal(c.Raw, p.parts.certDER) {
			return c
		}
	}
	return nil
}

// untrusted is the error for a KeyInfo certificate no candidate matched:
// refused when it is not a certificate at all, untrusted otherwise.
func (p *prepared) untrusted(what string) error {
	cert, err := pki.ParseCertificate(p.parts.certDER) // SM2 certificates too
	if err != nil {
		return refused("X509Certificate: %v", err)
	}
	return fmt.Errorf("%s: certificate %s: %w", what, pki.Fingerprint(cert), ErrUntrusted)
}

// validate checks the signature made with cert (already trusted for
// participant at at) and returns the signed content. The fast path takes
// what it can be certain of; the rest goes to goxmldsig on a tree read
// the general way, as it always did.
func (v *Verifier) validate(p *prepared, cert *x509.Certificate, participant string, at time.Time) (*etree.Element, error) {
	if !v.noFast && p.fast {
		el, certain, err := p.validateFast(cert, at)
		if certain {
			if err != nil {
				return nil, fmt.Errorf("verify %s: %w", participant, err)
			}
			return el, nil
		}
		// Not certain: start again from the bytes on the general path.
		if p, err = v.prepareGeneral(p.raw, p.profile); err != nil {
			return nil, err
		}
	}
	return p.validateGeneral(cert, participant, at)
}

func (p *prepared) validateGeneral(cert *x509.Certificate, participant string, at time.Time) (*etree.Element, error) {
	if p.parts.method == AlgECDSASHA256 {
		// goxmldsig checks ECDSA values in DER; SignatureValue is outside
		// SignedInfo and removed by the enveloped transform, so this
		// changes nothing that is signed.
		d, err := ecdsaRawToDER(p.parts.value)
		if err != nil {
			return nil, refused("%v", err)
		}
		p.parts.sigValue.SetText(base64.StdEncoding.EncodeToString(d))
	}
	if p.parts.method == AlgSM2SM3 {
		// goxmldsig knows neither SM2 nor SM3; the fast path is the only
		// one, and a tree it was not certain of is refused.
		return nil, refused("verify %s: SM2 signature over content outside the canonical subset", participant)
	}
	ctx := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{cert}})
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
// here is a policy decision taken before any cryptography. A document the
// fast parser takes is read once; any other is read the general way, with
// the general way's refusals.
func (v *Verifier) prepare(signed []byte, profile Profile) (*prepared, error) {
	if len(signed) > v.maxBytes {
		return nil, refused("document of %d bytes exceeds limit of %d", len(signed), v.maxBytes)
	}
	if !v.noFast {
		if doc, ok := fastParse(signed, v.maxDepth); ok {
			p, err := v.checkTree(signed, doc, profile)
			if p != nil {
				p.fast = true
			}
			return p, err
		}
	}
	return v.prepareGeneral(signed, profile)
}

func (v *Verifier) prepareGeneral(signed []byte, profile Profile) (*prepared, error) {
	if err := scan(signed, v.maxDepth); err != nil {
		return nil, err
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(signed); err != nil {
		return nil, refused("parse: %v", err)
	}
	return v.checkTree(signed, doc, profile)
}

// checkTree finds the one signature and pins it to the profile.
func (v *Verifier) checkTree(signed []byte, doc *etree.Document, profile Profile) (*prepared, error) {
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
	parts, err := checkSignatureShape(sig, profile)
	if err != nil {
		return nil, err
	}
	return &prepared{raw: signed, root: root, sig: sig, parts: parts, profile: profile}, nil
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

// sigParts are the pieces of a signature that passed the profile.
type sigParts struct {
	signedInfo *etree.Element
	sigValue   *etree.Element
	method     string
	value      []byte // SignatureValue, decoded (r||s for ECDSA and SM2)
	digest     string // DigestValue text as written
	certDER    []byte // KeyInfo certificate, not yet trusted or parsed
	prefixList bool   // the exc-c14n transform carries InclusiveNamespaces
}

// checkSignatureShape pins the signature to profile (see the package
// comment) and returns its parts. Nothing is trusted yet.
func checkSignatureShape(sig *etree.Element, profile Profile) (sigParts, error) {
	var none sigParts
	parts, err := children(sig, dsig.SignedInfoTag, dsig.SignatureValueTag, dsig.KeyInfoTag)
	if err != nil {
		return none, err
	}
	signedInfo, sigValue, keyInfo := parts[0], parts[1], parts[2]

	si, err := children(signedInfo, dsig.CanonicalizationMethodTag, dsig.SignatureMethodTag, dsig.ReferenceTag)
	if err != nil {
		return none, err
	}
	if a := algorithm(si[0]); a != profile.C14N {
		return none, refused("canonicalization method %q not allowed", a)
	}
	if len(si[0].ChildElements()) != 0 {
		return none, refused("canonicalization parameters not allowed")
	}
	method := algorithm(si[1])
	if !profile.allowsSignature(method) {
		return none, refused("signature method %q not allowed%s", method, profile.hint(method))
	}
	ref := si[2]
	if uri := ref.SelectAttr(dsig.URIAttr); uri == nil || uri.Value != "" {
		return none, refused(`reference must have URI="" (whole document)`)
	}
	rp, err := children(ref, dsig.TransformsTag, dsig.DigestMethodTag, dsig.DigestValueTag)
	if err != nil {
		return none, err
	}
	tr, err := children(rp[0], dsig.TransformTag, dsig.TransformTag)
	if err != nil {
		return none, err
	}
	if algorithm(tr[0]) != AlgEnveloped || algorithm(tr[1]) != profile.C14N {
		return none, refused("transforms must be enveloped-signature then exc-c14n, got %q, %q", algorithm(tr[0]), algorithm(tr[1]))
	}
	prefixList := false
	for _, t := range tr {
		for _, c := range t.ChildElements() {
			// An InclusiveNamespaces prefix list is a legitimate exc-c14n
			// parameter (xmlsec1 templates may carry one); nothing else is.
			if t != tr[1] || c.Tag != "InclusiveNamespaces" || c.NamespaceURI() != AlgExcC14N {
				return none, refused("unexpected transform parameter %s", c.FullTag())
			}
			prefixList = true
		}
	}
	digestMethod := algorithm(rp[1])
	if !profile.allowsDigest(digestMethod) {
		return none, refused("digest method %q not allowed", digestMethod)
	}
	if !profile.allowsPair(method, digestMethod) {
		return none, refused("digest method %q with signature method %q not allowed", digestMethod, method)
	}

	ki, err := children(keyInfo, dsig.X509DataTag)
	if err != nil {
		return none, err
	}
	xd, err := children(ki[0], dsig.X509CertificateTag)
	if err != nil {
		return none, err
	}
	der, err := base64.StdEncoding.DecodeString(stripSpace(xd[0].Text()))
	if err != nil {
		return none, refused("X509Certificate is not base64: %v", err)
	}
	if len(der) == 0 {
		return none, refused("X509Certificate is empty")
	}

	out := sigParts{signedInfo: signedInfo, sigValue: sigValue, method: method, digest: rp[2].Text(),
		certDER: der, prefixList: prefixList}
	switch method {
	case AlgECDSASHA256, AlgSM2SM3:
		raw, err := base64.StdEncoding.DecodeString(stripSpace(sigValue.Text()))
		if err != nil {
			return none, refused("SignatureValue is not base64: %v", err)
		}
		if len(raw) != 2*p256FieldBytes {
			return none, refused("%s signature value is %d bytes, want %d (r||s)", method, len(raw), 2*p256FieldBytes)
		}
		out.value = raw
	default:
		// As goxmldsig reads it: line breaks are ignored, other white
		// space is not.
		raw, err := base64.StdEncoding.DecodeString(sigValue.Text())
		if err != nil {
			return none, fmt.Errorf("SignatureValue is not base64: %v: %w", err, ErrInvalid)
		}
		out.value = raw
	}
	return out, nil
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
