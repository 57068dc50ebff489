package sign

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

// Namespaces with fixed bindings that a message may not (re)declare.
const (
	nsXML   = "http://www.w3.org/XML/1998/namespace"
	nsXMLNS = "http://www.w3.org/2000/xmlns/"
	nsXSI   = "http://www.w3.org/2001/XMLSchema-instance"
)

// canonicalWriter writes an etree element tree directly in Exclusive XML
// Canonicalization 1.0 form without comments and with an empty
// InclusiveNamespaces PrefixList: the form our Reference digests. Bytes
// written this way are their own canonical form, so the digest of the
// message is the SHA-256 of the bytes themselves and no receiver, whatever
// it parses with, can canonicalise them into something else.
//
// It only takes trees whose canonical form it knows with certainty. On
// anything else it stops and reports why (reason); the caller then falls
// back to the faithful serialisation and to goxmldsig's canonicaliser over
// the re-read tree, as the signer always did. Refused, among others:
//
//   - comments, processing instructions and directives inside the root
//     (c14n would drop or keep them; the receiver's tree would differ from
//     ours in what it shows besides the signed content);
//   - names other than ASCII NCNames (XML name tables differ between
//     parsers across editions; agency formats use ASCII names);
//   - undeclared prefixes, declarations of the reserved xml/xmlns
//     prefixes or namespaces, duplicate attributes or declarations;
//   - namespace URIs that are not absolute RFC 3986 URIs in plain ASCII
//     (libxml2, hence xmlsec1, refuses to canonicalise relative ones) or
//     that contain '&' (libxml2 writes it unescaped, goxmldsig escapes it);
//   - text or attribute values that are not valid UTF-8 or contain
//     characters XML 1.0 does not allow;
//   - two namespace-qualified attributes on one element whose order by
//     local name is not their order by (namespace URI, local name):
//     goxmldsig, which our Verifier and some agencies use, sorts them by
//     local name, unlike the specification and xmlsec1, so no single byte
//     form is canonical for both;
//   - content that looks like a QName (prefix:local, as in xsi:type) whose
//     prefix would no longer be bound where it is used: exclusive c14n
//     drops declarations that are not visibly utilised, which would change
//     the meaning of such a value in the bytes we send.
//
// Exclusive c14n (W3C, 2002) in short, as implemented here: no XML
// declaration and nothing outside the root; start and end tag for every
// element; namespace declarations first (default, then by prefix), then
// attributes sorted by namespace URI and local name (unqualified first);
// a namespace declaration is rendered on an element only where the element
// or one of its attributes visibly utilises the prefix and the nearest
// output ancestor does not already render the same binding (xmlns="" only
// where a non-empty default is in effect in the output); text escapes
// & < > and CR, attribute values & < " TAB LF CR.
type canonicalWriter struct {
	buf []byte
	// in holds the namespace bindings declared in the input tree, out the
	// declarations rendered in the output, innermost last. Elements push
	// and pop; lookups scan backwards, which for message trees (a handful
	// of declarations) is cheaper than maps.
	in, out []binding
	attrs   []attrRef // scratch stack for the attributes being sorted
	sigs    int       // ds:Signature elements seen
	reason  string    // why the tree is not canonical-capable, once refused
}

type binding struct{ prefix, uri string }

type attrRef struct {
	a   *etree.Attr
	uri string
}

// writeCanonical returns the canonical form of root, the number of
// ds:Signature elements under (and including) it and, when the tree is not
// canonical-capable, a non-empty reason instead of bytes.
func writeCanonical(root *etree.Element) (out []byte, sigs int, reason string) {
	// Agency messages are 0.4 to 4 KB; start big enough for most.
	w := canonicalWriter{buf: make([]byte, 0, 2048)}
	if !w.element(root) {
		return nil, 0, w.reason
	}
	return w.buf, w.sigs, ""
}

func (w *canonicalWriter) fail(format string, args ...any) bool {
	w.reason = fmt.Sprintf(format, args...)
	return false
}

func (w *canonicalWriter) lookupIn(prefix string) (string, bool) {
	for i := len(w.in) - 1; i >= 0; i-- {
		if w.in[i].prefix == prefix {
			return w.in[i].uri, true
		}
	}
	switch prefix {
	case "":
		return "", true // no default namespace declared: no namespace
	case "xml":
		return nsXML, true
	}
	return "", false
}

// lookupOut is the binding in effect in the output; "" when none, which
// for the default namespace means the same as xmlns="".
func (w *canonicalWriter) lookupOut(prefix string) string {
	for i := len(w.out) - 1; i >= 0; i-- {
		if w.out[i].prefix == prefix {
			return w.out[i].uri
		}
	}
	return ""
}

// render records that prefix is visibly utilised with uri on the current
// element, whose own rendered declarations start at w.out[mark].
func (w *canonicalWriter) render(mark int, prefix, uri string) {
	if prefix == "xml" {
		return // bound by definition, never declared in canonical form
	}
	for _, b := range w.out[mark:] {
		if b.prefix == prefix {
			return // already rendered here (same scope, same binding)
		}
	}
	if w.lookupOut(prefix) == uri {
		return
	}
	w.out = append(w.out, binding{prefix, uri})
}

func (w *canonicalWriter) element(e *etree.Element) bool {
	if !isASCIINCName(e.Tag) || (e.Space != "" && !isASCIINCName(e.Space)) {
		return w.fail("element name %q is not an ASCII NCName", e.FullTag())
	}
	if e.Space == "xml" || e.Space == "xmlns" {
		return w.fail("element %s uses a reserved prefix", e.FullTag())
	}
	inMark, outMark, attrMark := len(w.in), len(w.out), len(w.attrs)

	// The declarations on e are in scope for e itself and its attributes.
	if !w.declare(e) {
		return false
	}

	uri, ok := w.lookupIn(e.Space)
	if !ok {
		return w.fail("undeclared prefix %q on %s", e.Space, e.FullTag())
	}
	w.render(outMark, e.Space, uri)
	if e.Tag == dsig.SignatureTag && uri == dsig.Namespace {
		w.sigs++
	}

	xsiType := false
	for i := range e.Attr {
		a := &e.Attr[i]
		if a.Space == "xmlns" || (a.Space == "" && a.Key == "xmlns") {
			continue
		}
		if !isASCIINCName(a.Key) || (a.Space != "" && !isASCIINCName(a.Space)) {
			return w.fail("attribute name %q on %s is not an ASCII NCName", a.FullKey(), e.FullTag())
		}
		var auri string
		if a.Space != "" {
			if auri, ok = w.lookupIn(a.Space); !ok {
				return w.fail("undeclared prefix %q on attribute %s of %s", a.Space, a.FullKey(), e.FullTag())
			}
			w.render(outMark, a.Space, auri)
		}
		if auri == nsXSI && a.Key == "type" {
			xsiType = true
		}
		w.attrs = append(w.attrs, attrRef{a, auri})
	}

	attrs := w.attrs[attrMark:]
	sortAttrs(attrs)
	for i := 1; i < len(attrs); i++ {
		p, q := attrs[i-1], attrs[i]
		if p.uri == q.uri && p.a.Key == q.a.Key {
			return w.fail("duplicate attribute {%s}%s on %s", q.uri, q.a.Key, e.FullTag())
		}
		if p.uri != "" && p.a.Key >= q.a.Key {
			return w.fail("qualified attributes %s and %s on %s: specification and goxmldsig order them differently", p.a.FullKey(), q.a.FullKey(), e.FullTag())
		}
	}
	decls := w.out[outMark:]
	sortBindings(decls)

	// Now that e's output scope is known, check that no QName-like value
	// loses its binding.
	if xsiType {
		if in, _ := w.lookupIn(""); in != w.lookupOut("") {
			return w.fail("xsi:type on %s where the default namespace would not be in effect", e.FullTag())
		}
	}
	for _, r := range attrs {
		if !w.qnamesBound(r.a.Value) {
			return w.fail("attribute %s of %s holds a QName whose prefix would be unbound", r.a.FullKey(), e.FullTag())
		}
	}

	w.buf = append(w.buf, '<')
	w.buf = appendQName(w.buf, e.Space, e.Tag)
	for _, d := range decls {
		w.buf = append(w.buf, " xmlns"...)
		if d.prefix != "" {
			w.buf = append(w.buf, ':')
			w.buf = append(w.buf, d.prefix...)
		}
		w.buf = append(w.buf, `="`...)
		w.buf = append(w.buf, d.uri...) // isAbsoluteURI admits nothing to escape
		w.buf = append(w.buf, '"')
	}
	for _, r := range attrs {
		w.buf = append(w.buf, ' ')
		w.buf = appendQName(w.buf, r.a.Space, r.a.Key)
		w.buf = append(w.buf, `="`...)
		if !validXMLChars(r.a.Value) {
			return w.fail("attribute %s of %s: invalid UTF-8 or a character XML does not allow", r.a.FullKey(), e.FullTag())
		}
		w.buf = appendEscaped(w.buf, r.a.Value, true)
		w.buf = append(w.buf, '"')
	}
	w.buf = append(w.buf, '>')

	for i, tok := range e.Child {
		switch t := tok.(type) {
		case *etree.Element:
			if !w.element(t) {
				return false
			}
		case *etree.CharData:
			// A CDATA section is character data like any other: c14n
			// writes its content escaped, and so does a parser read it.
			if !validXMLChars(t.Data) {
				return w.fail("text in %s: invalid UTF-8 or a character XML does not allow", e.FullTag())
			}
			if _, prevText := prevToken(e.Child, i).(*etree.CharData); !prevText && !w.qnamesBound(textRun(e.Child[i:])) {
				return w.fail("text of %s holds a QName whose prefix would be unbound", e.FullTag())
			}
			w.buf = appendEscaped(w.buf, t.Data, false)
		case *etree.Comment:
			return w.fail("comment in %s", e.FullTag())
		case *etree.ProcInst:
			return w.fail("processing instruction in %s", e.FullTag())
		case *etree.Directive:
			return w.fail("directive in %s", e.FullTag())
		default:
			return w.fail("unexpected %T in %s", tok, e.FullTag())
		}
	}

	w.buf = append(w.buf, "</"...)
	w.buf = appendQName(w.buf, e.Space, e.Tag)
	w.buf = append(w.buf, '>')

	w.in, w.out, w.attrs = w.in[:inMark], w.out[:outMark], w.attrs[:attrMark]
	return true
}

// declare pushes the namespace declarations written on e onto the input
// scope, refusing those whose canonical form is not certain.
func (w *canonicalWriter) declare(e *etree.Element) bool {
	inMark := len(w.in)
	for i := range e.Attr {
		a := &e.Attr[i]
		var prefix string
		switch {
		case a.Space == "xmlns":
			prefix = a.Key
			if !isASCIINCName(prefix) || prefix == "xml" || prefix == "xmlns" {
				return w.fail("declaration of prefix %q on %s", prefix, e.FullTag())
			}
			// xmlns:p="" undeclares a prefix only in XML 1.1.
			if !isAbsoluteURI(a.Value) {
				return w.fail("namespace URI %q on %s is not an absolute ASCII URI", a.Value, e.FullTag())
			}
		case a.Space == "" && a.Key == "xmlns":
			if a.Value != "" && !isAbsoluteURI(a.Value) {
				return w.fail("namespace URI %q on %s is not an absolute ASCII URI", a.Value, e.FullTag())
			}
		default:
			continue
		}
		if a.Value == nsXML || a.Value == nsXMLNS {
			return w.fail("reserved namespace declared on %s", e.FullTag())
		}
		for _, b := range w.in[inMark:] {
			if b.prefix == prefix {
				return w.fail("prefix %q declared twice on %s", prefix, e.FullTag())
			}
		}
		w.in = append(w.in, binding{prefix, a.Value})
	}
	return true
}

// qnamesBound reports whether every whitespace-separated token of s of the
// form prefix:local whose prefix is bound in the input scope is bound to
// the same URI in the output scope. Values that merely contain colons
// (times, URNs, prose) pass: their first part is not a bound prefix or
// they are not QNames.
func (w *canonicalWriter) qnamesBound(s string) bool {
	for strings.IndexByte(s, ':') >= 0 {
		s = strings.TrimLeft(s, " \t\n\r")
		end := strings.IndexAny(s, " \t\n\r")
		if end < 0 {
			end = len(s)
		}
		tok := s[:end]
		s = s[end:]
		prefix, local, ok := strings.Cut(tok, ":")
		if !ok || prefix == "xml" || !isASCIINCName(prefix) || !isASCIINCName(local) {
			continue
		}
		in, bound := w.lookupIn(prefix)
		if bound && w.lookupOut(prefix) != in {
			return false
		}
	}
	return true
}

func prevToken(toks []etree.Token, i int) etree.Token {
	if i == 0 {
		return nil
	}
	return toks[i-1]
}

// textRun is the text of the character data tokens at the start of toks,
// which a parser reads as one text node (text next to a CDATA section).
func textRun(toks []etree.Token) string {
	first := toks[0].(*etree.CharData).Data
	if len(toks) == 1 {
		return first
	}
	if _, ok := toks[1].(*etree.CharData); !ok {
		return first
	}
	var b strings.Builder
	for _, tok := range toks {
		cd, ok := tok.(*etree.CharData)
		if !ok {
			break
		}
		b.WriteString(cd.Data)
	}
	return b.String()
}

// sortAttrs orders attributes as c14n does: by namespace URI (unqualified
// attributes have none and come first), then by local name.
func sortAttrs(a []attrRef) {
	slices.SortFunc(a, func(x, y attrRef) int {
		if c := strings.Compare(x.uri, y.uri); c != 0 {
			return c
		}
		return strings.Compare(x.a.Key, y.a.Key)
	})
}

// sortBindings orders namespace declarations by prefix; the default
// namespace has the empty prefix and so comes first.
func sortBindings(b []binding) {
	slices.SortFunc(b, func(x, y binding) int { return strings.Compare(x.prefix, y.prefix) })
}

func appendQName(buf []byte, prefix, local string) []byte {
	if prefix != "" {
		buf = append(buf, prefix...)
		buf = append(buf, ':')
	}
	return append(buf, local...)
}

// appendEscaped escapes text (attr false) or an attribute value (attr
// true) the way c14n does. s must have passed validXMLChars.
func appendEscaped(buf []byte, s string, attr bool) []byte {
	last := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			if attr {
				continue
			}
			esc = "&gt;"
		case '"':
			if !attr {
				continue
			}
			esc = "&quot;"
		case '\t':
			if !attr {
				continue
			}
			esc = "&#x9;"
		case '\n':
			if !attr {
				continue
			}
			esc = "&#xA;"
		case '\r':
			esc = "&#xD;"
		default:
			continue
		}
		buf = append(buf, s[last:i]...)
		buf = append(buf, esc...)
		last = i + 1
	}
	return append(buf, s[last:]...)
}

// validXMLChars reports whether s is valid UTF-8 made only of characters
// XML 1.0 allows (Char production): TAB, LF, CR, U+0020–U+D7FF,
// U+E000–U+FFFD, U+10000–U+10FFFF.
func validXMLChars(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return false
		}
		if r == 0xFFFE || r == 0xFFFF {
			return false
		}
		i += size
	}
	return true
}

// isASCIINCName reports whether s is a non-colonised XML name made of
// ASCII characters only: [A-Za-z_][A-Za-z0-9._-]*.
func isASCIINCName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		case i > 0 && (c >= '0' && c <= '9' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// isAbsoluteURI reports whether s is an absolute URI (scheme ":" ...) made
// only of the ASCII characters RFC 3986 allows outside IP literals, except
// '&', with well-formed percent escapes. This is stricter than libxml2's
// URI parser, which xmlsec1 runs on every namespace it canonicalises, and
// leaves nothing that canonical forms could escape differently.
func isAbsoluteURI(s string) bool {
	colon := strings.IndexByte(s, ':')
	if colon < 1 {
		return false
	}
	for i := 0; i < colon; i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	for i := colon + 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		// No '&': libxml2 writes namespace URIs into canonical form
		// unescaped, goxmldsig escapes them like attribute values.
		case strings.IndexByte("-._~:/?#@!$'()*+,;=", c) >= 0:
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			i += 2
		default:
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
