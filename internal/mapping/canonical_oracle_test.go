package mapping

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/beevik/etree"
)

// canonicalOracle is Canonical as it was before it wrote from the tree
// directly, kept verbatim (only renamed) because running hubs compare
// fingerprints stored by it with fingerprints computed now: the two must
// agree byte for byte on every document.
func canonicalOracle(doc *etree.Document) ([]byte, error) {
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
	cleanOracle(root)

	out := etree.NewDocument()
	out.WriteSettings = etree.WriteSettings{CanonicalEndTags: true, CanonicalText: true, CanonicalAttrVal: true}
	out.SetRoot(root)
	var buf bytes.Buffer
	if _, err := out.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("canonical: %w", err)
	}
	return buf.Bytes(), nil
}

func cleanOracle(e *etree.Element) {
	var keep []etree.Token
	for _, t := range e.Child {
		switch x := t.(type) {
		case *etree.Element:
			cleanOracle(x)
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
