package sign

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"time"

	"github.com/beevik/etree"
	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/sm3"
)

// validateFast verifies a document read by fastParse without goxmldsig:
// the content minus the signature and the SignedInfo are each
// canonicalised once, by the canonical writer the signer uses, straight
// from the parsed tree; no copy of the tree, no second parse. It reports
// certain=false, having changed nothing, where the writer cannot be sure
// of the canonical form (see canonicalWriter) or the Reference carries an
// InclusiveNamespaces prefix list: the general path decides those.
//
// What is returned is the parsed root with the signature removed. Its
// canonical form is, byte for byte, what was digested, and the canonical
// writer admits only trees whose canonical form carries everything a
// reader can see in them (no comments, no prefixes whose binding would
// change), so reading it is reading the signed content.
func (p *prepared) validateFast(cert *x509.Certificate, at time.Time) (el *etree.Element, certain bool, err error) {
	if p.parts.prefixList {
		return nil, false, nil
	}
	idx := p.sig.Index()
	p.root.RemoveChildAt(idx)
	content, sigs, reason := writeCanonical(p.root)
	if reason != "" || sigs != 0 {
		p.root.InsertChildAt(idx, p.sig)
		return nil, false, nil
	}
	w := canonicalWriter{buf: make([]byte, 0, 1024)}
	if !w.declare(p.root) || !w.declare(p.sig) || !w.element(p.parts.signedInfo) {
		p.root.InsertChildAt(idx, p.sig)
		return nil, false, nil
	}
	signedInfo := w.buf

	// From here on the verdict is certain.
	if at.Before(cert.NotBefore) || at.After(cert.NotAfter) {
		return nil, true, fmt.Errorf("certificate is not valid at %s: %w", at.UTC().Format(time.RFC3339), ErrInvalid)
	}
	var h hash.Hash
	switch p.parts.method {
	case AlgSM2SM3:
		h = sm3.New()
	default:
		h = sha256.New()
	}
	h.Write(content)
	want, err := base64.StdEncoding.DecodeString(p.parts.digest)
	if err != nil || !bytes.Equal(h.Sum(nil), want) {
		return nil, true, fmt.Errorf("reference digest does not match the content: %w", ErrInvalid)
	}
	if err := checkSignatureValue(cert, p.parts.method, signedInfo, p.parts.value); err != nil {
		return nil, true, err
	}
	return p.root, true, nil
}

// checkSignatureValue checks value, the decoded SignatureValue, over the
// canonical SignedInfo with cert's public key.
func checkSignatureValue(cert *x509.Certificate, method string, signedInfo, value []byte) error {
	switch method {
	case AlgRSASHA256:
		pub, ok := cert.PublicKey.(*rsa.PublicKey)
		if !ok {
			return fmt.Errorf("rsa-sha256 signature with a %T key: %w", cert.PublicKey, ErrInvalid)
		}
		sum := sha256.Sum256(signedInfo)
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], value); err != nil {
			return fmt.Errorf("signature value: %v: %w", err, ErrInvalid)
		}
	case AlgECDSASHA256:
		pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
		if !ok || pub.Curve != elliptic.P256() {
			return fmt.Errorf("ecdsa-sha256 signature with a key that is not P-256: %w", ErrInvalid)
		}
		sum := sha256.Sum256(signedInfo)
		r, s := new(big.Int).SetBytes(value[:p256FieldBytes]), new(big.Int).SetBytes(value[p256FieldBytes:])
		if !ecdsa.Verify(pub, sum[:], r, s) {
			return fmt.Errorf("signature value does not match: %w", ErrInvalid)
		}
	case AlgSM2SM3:
		pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
		if !ok || pub.Curve != sm2.P256() {
			return fmt.Errorf("sm2-sm3 signature with a key that is not SM2: %w", ErrInvalid)
		}
		der, err := rawToDER(value)
		if err != nil {
			return fmt.Errorf("%v: %w", err, ErrInvalid)
		}
		if !sm2.VerifyASN1WithSM2(pub, SM2ID, signedInfo, der) {
			return fmt.Errorf("signature value does not match: %w", ErrInvalid)
		}
	default:
		return fmt.Errorf("signature method %q: %w", method, ErrRefused)
	}
	return nil
}

// rawToDER converts an r||s value of two 32-byte halves to ASN.1 DER.
func rawToDER(raw []byte) ([]byte, error) {
	if len(raw) != 2*p256FieldBytes {
		return nil, errors.New("signature value is not r||s of 32-byte halves")
	}
	return ecdsaRawToDER(raw)
}
