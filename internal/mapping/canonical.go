package mapping

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/beevik/etree"
)

const xmldsigNS = "http://www.w3.org/2000/09/xmldsig#"

// canonicalRoot replaces the root name, which encodes the message function
// (…Submit vs …Amend, GXBT101 vs GXBT102) and so differs between versions
// whose content is the same.
const canonicalRoot = "Content"

// Canonical serialises the content of a built message for hashing, so
// that "did this agency's content change between declaration versions?" is
// a byte comparison. It leaves out exactly what differs between two
// messages about the same content:
//   - the envelope, i.e. the first child element of the root (every mapping
//     declares it with `envelope:` and Load refuses mappings that put a
//     per-message field — message id, kind, previous id, timestamp,
//     version — anywhere else but there or in a root attribute);
//   - all root attributes other than namespace declarations;
//   - the root element's name (replaced by "Content", same namespace);
//   - a ds:Signature child of the root.
//
// The rest is written with comments, processing instructions and
// whitespace-only text removed, attributes sorted, and canonical escaping.
func Canonical(doc *etree.Document) ([]byte, error) {
	if doc == nil || doc.Root() == nil {
		return nil, errors.New("canonical: document has no root element")
	}
	root := doc.Root().Copy()
	envelopeDone := false
	var kept []*etree.Attr
	for i := range root.Attr {
		a := root.Attr[i]
		if a.Space == "xmlns" || (a.Space == "" && a.Key == "xmlns") {
			kept = append(kept, &a)
		}
	}
	root.Attr = nil
	for _, a := range kept {
		root.CreateAttr(a.FullKey(), a.Value)
	}
	for _, c := range root.ChildElements() {
		switch {
		case c.Tag == "Signature" && c.NamespaceURI() == xmldsigNS:
			root.RemoveChild(c)
		case !envelopeDone:
			root.RemoveChild(c)
			envelopeDone = true
		}
	}
	root.Tag = canonicalRoot
	clean(root)

	out := etree.NewDocument()
	out.WriteSettings = etree.WriteSettings{CanonicalEndTags: true, CanonicalText: true, CanonicalAttrVal: true}
	out.SetRoot(root)
	var buf bytes.Buffer
	if _, err := out.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("canonical: %w", err)
	}
	return buf.Bytes(), nil
}

func clean(e *etree.Element) {
	var keep []etree.Token
	for _, t := range e.Child {
		switch x := t.(type) {
		case *etree.Element:
			clean(x)
			keep = append(keep, x)
		case *etree.CharData:
			if strings.TrimSpace(x.Data) != "" {
				keep = append(keep, x)
			}
		}
	}
	for len(e.Child) > 0 {
		e.RemoveChildAt(0)
	}
	for _, t := range keep {
		e.AddChild(t)
	}
	sort.SliceStable(e.Attr, func(i, j int) bool {
		if e.Attr[i].Space != e.Attr[j].Space {
			return e.Attr[i].Space < e.Attr[j].Space
		}
		return e.Attr[i].Key < e.Attr[j].Key
	})
}
