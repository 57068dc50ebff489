package sign

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

// The sign path as it was before messages were written canonically and
// signatures spliced in: faithful serialisation, re-read, tree copy,
// goxmldsig's ConstructSignature, signed tree written again. Kept in the
// tests as the reference the new path is compared with: same digest where
// the canonical form is the old digest input, same signature element, same
// signed bytes for every real agency message.

func legacySerialise(doc *etree.Document) []byte {
	var buf bytes.Buffer
	doc.Root().WriteTo(&buf, &faithfulSettings)
	return buf.Bytes()
}

func legacySignSerialised(s *Signer, raw []byte) ([]byte, error) {
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
		return nil, err
	}
	ctx.Hash = crypto.SHA256
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	ctx.IdAttribute = ""
	if err := ctx.SetSignatureMethod(s.method); err != nil {
		return nil, err
	}
	sig, err := ctx.ConstructSignature(root.Copy(), true)
	if err != nil {
		return nil, err
	}
	root.AddChild(sig)
	out := etree.NewDocument()
	faithful(out)
	out.CreateProcInst("xml", xmlDeclInstruct)
	out.SetRoot(root)
	var buf bytes.Buffer
	if _, err := out.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// goxmldsigC14N is what the old path digested for raw: goxmldsig's
// exclusive C14N of the tree etree reads from raw.
func goxmldsigC14N(raw []byte) ([]byte, error) {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		return nil, err
	}
	if doc.Root() == nil {
		return nil, errors.New("no root element")
	}
	return dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("").Canonicalize(doc.Root())
}
