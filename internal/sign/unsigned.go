package sign

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/beevik/etree"
	"github.com/emmansun/gmsm/sm3"
	dsig "github.com/russellhaering/goxmldsig"
)

// Unsigned is a message serialised for signing: the bytes that are
// validated, signed and sent, and the digest its signature's Reference will
// carry. Only Prepare makes one; it is immutable and safe for concurrent
// use.
type Unsigned struct {
	raw       []byte
	digest    [sha256.Size]byte // DigestValue: SHA-256 of the exc-c14n form of raw's tree
	c14n      []byte            // that exc-c14n form: raw itself when canonical, for other digests
	sum       [sha256.Size]byte // SHA-256 of raw, to notice raw changed after Prepare
	canonical bool
	reason    string // why not canonical, for diagnostics and tests
	sigs      int    // ds:Signature elements already in the tree
	// The signature goes in front of raw[cut:], the root's end tag. A root
	// written as an empty-element tag (fallback form only) has cut at its
	// "/>", which the splice turns into ">"+signature+"</name>".
	cut       int
	selfClose bool
	rootName  string
	prepared  bool
}

// Bytes is the unsigned message: the root element only, no XML declaration.
// It is what the schema validates and, with the signature spliced in before
// the root's end tag, what is signed, sent and stored. It must not be
// modified (SignUnsigned refuses if it was).
func (u *Unsigned) Bytes() []byte {
	// Capacity capped so that appending to the result copies instead of
	// writing into spare capacity of the buffer the message lives in.
	return u.raw[:len(u.raw):len(u.raw)]
}

// Canonical reports whether Bytes is already the exclusive canonical form
// of the message (the fast path) rather than the faithful serialisation
// with a digest computed over its re-read tree (the fallback).
func (u *Unsigned) Canonical() bool { return u.canonical }

// Prepare serialises the root element of doc for signing; doc is not
// modified and nodes outside the root element are dropped.
//
// For trees the canonical writer handles (every message the mappings
// produce) the bytes are written directly in exclusive C14N form. Then the
// digest is simply SHA-256 of the bytes: a receiver that parses them and
// canonicalises the result gets the very same bytes back, so what is
// digested is exactly what is sent, with no re-read, tree copy or second
// canonicalisation. Any other tree (comments or processing instructions
// inside the root, non-ASCII names, relative namespace URIs, …; see
// canonicalWriter) is written as before with etree's faithful settings and
// digested the way the signer always did: re-read, exclusive C14N by
// goxmldsig. Both forms sign the tree a receiver parses.
func Prepare(doc *etree.Document) (*Unsigned, error) {
	if doc == nil || doc.Root() == nil {
		return nil, errors.New("sign: document has no root element")
	}
	return prepare(doc.Root())
}

func prepare(root *etree.Element) (*Unsigned, error) {
	raw, canon, sigs, reason := serialise(root)
	u := &Unsigned{raw: raw, canonical: canon, reason: reason, sigs: sigs, rootName: root.FullTag(), prepared: true}
	u.sum = sha256.Sum256(raw)
	if canon {
		u.digest, u.c14n = u.sum, raw
		u.cut = len(raw) - len(u.rootName) - len("</>")
		return u, nil
	}

	// Fallback: digest the tree a receiver's parser makes of raw (line
	// ends, merged text nodes, escaping), as the signer always did.
	norm := etree.NewDocument()
	if err := norm.ReadFromBytes(raw); err != nil {
		return nil, fmt.Errorf("sign: re-read: %w", err)
	}
	nroot := norm.Root()
	if nroot == nil {
		return nil, errors.New("sign: document has no root element")
	}
	u.sigs = countSignatures(nroot)
	// The re-read tree is ours alone, so goxmldsig may canonicalise it in
	// place.
	c14n, err := dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("").Canonicalize(nroot)
	if err != nil {
		return nil, fmt.Errorf("sign: canonicalise: %w", err)
	}
	u.digest, u.c14n = sha256.Sum256(c14n), c14n
	end := "</" + u.rootName + ">"
	switch {
	case len(root.Child) > 0 && bytes.HasSuffix(raw, []byte(end)):
		u.cut = len(raw) - len(end)
	case len(root.Child) == 0 && bytes.HasSuffix(raw, []byte("/>")):
		u.cut, u.selfClose = len(raw)-len("/>"), true
	default:
		return nil, fmt.Errorf("sign: cannot find the end of root element %s", u.rootName)
	}
	return u, nil
}

// serialise writes root in canonical form when the canonical writer can,
// and otherwise faithfully, explaining why in reason. sigs counts the
// ds:Signature elements the canonical writer saw (the fallback counts on
// the re-read tree).
func serialise(root *etree.Element) (raw []byte, canonical bool, sigs int, reason string) {
	raw, sigs, reason = writeCanonical(root)
	if reason == "" {
		return raw, true, sigs, ""
	}
	var buf bytes.Buffer
	// What a document holding only this root writes (etree writes an
	// element the same way whatever its parent), without copying the tree.
	root.WriteTo(&buf, &faithfulSettings)
	return buf.Bytes(), false, 0, reason
}

// SignUnsigned signs a prepared message and returns it with the XML
// declaration and the enveloped ds:Signature as the last child of the root
// element. The signature is built from the prepared digest and spliced into
// the prepared bytes in front of the root's end tag: the message itself is
// neither re-parsed nor re-written, so the signed message is byte for byte
// the validated one plus the signature.
func (s *Signer) SignUnsigned(u *Unsigned) ([]byte, error) {
	if u == nil || !u.prepared {
		return nil, errors.New("sign: message was not made by sign.Prepare")
	}
	if u.sigs > 0 {
		return nil, errors.New("sign: document already contains a ds:Signature")
	}
	// Prepared bytes changed after their digest was taken would go out
	// under a signature that does not cover them.
	if sha256.Sum256(u.raw) != u.sum {
		return nil, errors.New("sign: prepared message was modified after Prepare")
	}
	var digest string
	var value []byte
	var err error
	if s.method == AlgSM2SM3 {
		d := sm3.Sum(u.c14n)
		digest = base64.StdEncoding.EncodeToString(d[:])
		// SM2 hashes the message itself (with Z_A), see sm2Signer.
		value, err = s.key.Sign(rand.Reader, s.canonicalSignedInfo(digest), nil)
	} else {
		digest = base64.StdEncoding.EncodeToString(u.digest[:])
		si := sha256.Sum256(s.canonicalSignedInfo(digest))
		value, err = s.key.Sign(rand.Reader, si[:], crypto.SHA256)
	}
	if err != nil {
		return nil, fmt.Errorf("sign as %s: %w", s.id.Participant, err)
	}
	// The fixed parts of a ds:Signature are under 1 KiB.
	out := u.appendHead(make([]byte, 0, len(xmlDecl)+len(u.raw)+len(u.rootName)+len(s.certB64)+2*len(value)+1024))
	out = s.appendSignature(out, digest, base64.StdEncoding.EncodeToString(value))
	return u.appendTail(out), nil
}

// WithSignature returns the signed form SignUnsigned writes, with sig (a
// ds:Signature element, written as etree writes it) in place of a freshly
// computed signature. It signs and checks nothing: audit replay uses it to
// rebuild a logged message around the logged signature and then verifies
// the result.
func (u *Unsigned) WithSignature(sig *etree.Element) ([]byte, error) {
	if u == nil || !u.prepared {
		return nil, errors.New("sign: message was not made by sign.Prepare")
	}
	if sig == nil {
		return nil, errors.New("sign: no signature element")
	}
	buf := bytes.NewBuffer(u.appendHead(nil))
	sig.WriteTo(buf, &faithfulSettings)
	return u.appendTail(buf.Bytes()), nil
}

// appendHead and appendTail surround the signature: XML declaration and
// message up to the root's end tag, then the end tag.
func (u *Unsigned) appendHead(b []byte) []byte {
	b = append(b, xmlDecl...)
	b = append(b, u.raw[:u.cut]...)
	if u.selfClose {
		b = append(b, '>')
	}
	return b
}

func (u *Unsigned) appendTail(b []byte) []byte {
	if u.selfClose {
		b = append(b, "</"...)
		b = append(b, u.rootName...)
		return append(b, '>')
	}
	return append(b, u.raw[u.cut:]...)
}

// xmlDecl precedes every signed message, as it always has.
const xmlDecl = `<?xml ` + xmlDeclInstruct + `?>`

// canonicalSignedInfo is the exclusive C14N form of the SignedInfo that
// appendSignature writes. SignedInfo has a fixed shape, all of it in the
// ds namespace and without text that needs escaping, so its canonical form
// is written directly: exc-c14n renders xmlns:ds on SignedInfo (which
// visibly utilises it) whatever the enclosing document declares, and the
// algorithm URIs and base64 contain nothing to escape.
func (s *Signer) canonicalSignedInfo(digest string) []byte {
	b := make([]byte, 0, 768)
	b = append(b, `<ds:SignedInfo xmlns:ds="`+dsig.Namespace+`">`...)
	b = append(b, `<ds:CanonicalizationMethod Algorithm="`+AlgExcC14N+`"></ds:CanonicalizationMethod>`...)
	b = append(b, `<ds:SignatureMethod Algorithm="`...)
	b = append(b, s.method...)
	b = append(b, `"></ds:SignatureMethod>`...)
	b = append(b, `<ds:Reference URI=""><ds:Transforms>`+
		`<ds:Transform Algorithm="`+AlgEnveloped+`"></ds:Transform>`+
		`<ds:Transform Algorithm="`+AlgExcC14N+`"></ds:Transform>`+
		`</ds:Transforms><ds:DigestMethod Algorithm="`...)
	b = append(b, s.digest...)
	b = append(b, `"></ds:DigestMethod><ds:DigestValue>`...)
	b = append(b, digest...)
	return append(b, `</ds:DigestValue></ds:Reference></ds:SignedInfo>`...)
}

// appendSignature writes the ds:Signature element byte for byte as etree
// wrote the element goxmldsig built (empty elements as empty-element tags),
// so signed messages look as they always did and audit replay, which
// writes the logged signature back with etree, reproduces them.
func (s *Signer) appendSignature(b []byte, digest, value string) []byte {
	b = append(b, `<ds:Signature xmlns:ds="`+dsig.Namespace+`"><ds:SignedInfo>`+
		`<ds:CanonicalizationMethod Algorithm="`+AlgExcC14N+`"/>`+
		`<ds:SignatureMethod Algorithm="`...)
	b = append(b, s.method...)
	b = append(b, `"/><ds:Reference URI=""><ds:Transforms>`+
		`<ds:Transform Algorithm="`+AlgEnveloped+`"/>`+
		`<ds:Transform Algorithm="`+AlgExcC14N+`"/>`+
		`</ds:Transforms><ds:DigestMethod Algorithm="`...)
	b = append(b, s.digest...)
	b = append(b, `"/><ds:DigestValue>`...)
	b = append(b, digest...)
	b = append(b, `</ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue>`...)
	b = append(b, value...)
	b = append(b, `</ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate>`...)
	b = append(b, s.certB64...)
	return append(b, `</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>`...)
}
