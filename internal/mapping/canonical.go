package mapping

import (
	"errors"
	"slices"
	"strings"
	"unicode/utf8"

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
//   - any ds:Signature child of the root.
//
// The rest is written with comments, processing instructions, directives
// and whitespace-only text removed, attributes sorted, and canonical
// escaping.
//
// Fingerprints are stored and compared with ones computed later, so these
// bytes must never change: they are what etree writes, with
// WriteSettings{CanonicalEndTags, CanonicalText, CanonicalAttrVal}, for a
// copy of the root trimmed as above. Canonical writes them straight from
// doc, without copying or changing it, because that copy, made for every
// message, was a large share of the accept path's allocations.
func Canonical(doc *etree.Document) ([]byte, error) {
	if doc == nil || doc.Root() == nil {
		return nil, errors.New("canonical: document has no root element")
	}
	root := doc.Root()
	// A typical message's fingerprint fits; append grows it for the rest.
	w := &canonWriter{buf: make([]byte, 0, 4<<10)}

	w.buf = appendName(append(w.buf, '<'), root.Space, canonicalRoot)
	w.rootAttrs(root.Attr)
	w.buf = append(w.buf, '>')
	envelopeDone := false
	for _, t := range root.Child {
		if c, ok := t.(*etree.Element); ok {
			if isSignature(c, root) {
				continue
			}
			if !envelopeDone {
				envelopeDone = true
				continue
			}
		}
		w.token(t)
	}
	w.buf = appendName(append(w.buf, '<', '/'), root.Space, canonicalRoot)
	w.buf = append(w.buf, '>')
	return w.buf, nil
}

// isSignature reports whether c, a child element of root, is a ds:Signature.
// Its prefix is resolved on c and then on root's namespace declarations, and
// no further: the fingerprint was defined on a detached copy of the root, so
// declarations above it never counted.
func isSignature(c, root *etree.Element) bool {
	if c.Tag != "Signature" {
		return false
	}
	space, key := "xmlns", c.Space
	if c.Space == "" {
		space, key = "", "xmlns"
	}
	for _, a := range c.Attr {
		if a.Space == space && a.Key == key {
			return a.Value == xmldsigNS
		}
	}
	// The copy re-created root's declarations with CreateAttr, which keeps
	// the last of duplicates.
	uri := ""
	for _, a := range root.Attr {
		if a.Space == space && a.Key == key {
			uri = a.Value
		}
	}
	return uri == xmldsigNS
}

// canonWriter appends the fingerprint of one message.
type canonWriter struct {
	buf   []byte
	attrs []*etree.Attr // sort scratch, reused by one element at a time
}

func (w *canonWriter) token(t etree.Token) {
	switch x := t.(type) {
	case *etree.Element:
		w.element(x)
	case *etree.CharData:
		// strings.TrimSpace, not the whitespace flag: it also drops text of
		// Unicode spaces only, as the fingerprint always has.
		if strings.TrimSpace(x.Data) == "" {
			return
		}
		if x.IsCData() {
			w.buf = append(w.buf, "<![CDATA["...)
			w.buf = appendCData(w.buf, x.Data)
			w.buf = append(w.buf, "]]>"...)
		} else {
			w.buf = appendEscaped(w.buf, x.Data, false)
		}
	}
}

func (w *canonWriter) element(e *etree.Element) {
	w.buf = appendName(append(w.buf, '<'), e.Space, e.Tag)
	w.elementAttrs(e.Attr)
	w.buf = append(w.buf, '>')
	for _, t := range e.Child {
		w.token(t)
	}
	w.buf = appendName(append(w.buf, '<', '/'), e.Space, e.Tag)
	w.buf = append(w.buf, '>')
}

func compareAttrs(a, b *etree.Attr) int {
	if c := strings.Compare(a.Space, b.Space); c != 0 {
		return c
	}
	return strings.Compare(a.Key, b.Key)
}

func (w *canonWriter) elementAttrs(attrs []etree.Attr) {
	sorted := true
	for i := 1; i < len(attrs) && sorted; i++ {
		sorted = compareAttrs(&attrs[i-1], &attrs[i]) <= 0
	}
	if sorted {
		for i := range attrs {
			w.attr(&attrs[i], attrs[i].Value)
		}
		return
	}
	s := w.attrs[:0]
	for i := range attrs {
		s = append(s, &attrs[i])
	}
	// Stable, like the sort.SliceStable that defined the order: attributes
	// with the same name keep their relative order.
	slices.SortStableFunc(s, compareAttrs)
	for _, a := range s {
		w.attr(a, a.Value)
	}
	w.attrs = s[:0]
}

// rootAttrs writes root's namespace declarations as the copy held them:
// re-created with CreateAttr, so a duplicated name appears once, where it
// first did, with the value it last had; then sorted.
func (w *canonWriter) rootAttrs(attrs []etree.Attr) {
	s := w.attrs[:0]
next:
	for i := range attrs {
		a := &attrs[i]
		if a.Space != "xmlns" && (a.Space != "" || a.Key != "xmlns") {
			continue
		}
		for _, k := range s {
			if k.Space == a.Space && k.Key == a.Key {
				continue next
			}
		}
		s = append(s, a)
	}
	slices.SortStableFunc(s, compareAttrs)
	for _, a := range s {
		value := a.Value
		for i := range attrs {
			if attrs[i].Space == a.Space && attrs[i].Key == a.Key {
				value = attrs[i].Value
			}
		}
		w.attr(a, value)
	}
	w.attrs = s[:0]
}

func (w *canonWriter) attr(a *etree.Attr, value string) {
	w.buf = appendName(append(w.buf, ' '), a.Space, a.Key)
	w.buf = append(w.buf, '=', '"')
	w.buf = appendEscaped(w.buf, value, true)
	w.buf = append(w.buf, '"')
}

func appendName(b []byte, space, local string) []byte {
	if space != "" {
		b = append(append(b, space...), ':')
	}
	return append(b, local...)
}

// appendEscaped escapes s as etree's escapeString does in its canonical
// text (attr false) and canonical attribute value (attr true) modes,
// including writing U+FFFD for characters XML cannot carry and for bytes
// that are not UTF-8.
func appendEscaped(b []byte, s string, attr bool) []byte {
	last := 0
	for i := 0; i < len(s); {
		c := s[i]
		width := 1
		var esc string
		if c < utf8.RuneSelf {
			switch {
			case c == '&':
				esc = "&amp;"
			case c == '<':
				esc = "&lt;"
			case c == '>' && !attr:
				esc = "&gt;"
			case c == '"' && attr:
				esc = "&quot;"
			case c == '\t' && attr:
				esc = "&#x9;"
			case c == '\n' && attr:
				esc = "&#xA;"
			case c == '\r':
				esc = "&#xD;"
			case c < 0x20 && c != '\t' && c != '\n':
				esc = "\uFFFD"
			default:
				i++
				continue
			}
		} else {
			var r rune
			r, width = utf8.DecodeRuneInString(s[i:])
			if (r != utf8.RuneError || width != 1) && inXMLCharRange(r) {
				i += width
				continue
			}
			esc = "\uFFFD"
		}
		b = append(b, s[last:i]...)
		b = append(b, esc...)
		i += width
		last = i
	}
	return append(b, s[last:]...)
}

// inXMLCharRange is XML's Char production above U+007F, as etree checks it.
func inXMLCharRange(r rune) bool {
	return r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

// appendCData writes a CDATA section's content as etree does: "]]>" cannot
// be escaped, so the section is closed after "]]" and a new one opened.
func appendCData(b []byte, s string) []byte {
	for {
		i := strings.Index(s, "]]>")
		if i < 0 {
			return append(b, s...)
		}
		b = append(b, s[:i+2]...)
		b = append(b, "]]><![CDATA["...)
		s = s[i+2:]
	}
}
