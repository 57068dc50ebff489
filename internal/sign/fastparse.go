package sign

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/beevik/etree"
)

// fastParse reads a signed document into an etree tree in one pass when
// the document stays inside a strict subset of XML 1.0 whose tree it knows
// with certainty, and reports false otherwise. It refuses nothing itself:
// anything outside the subset goes to the general path (scan, etree,
// goxmldsig), which keeps the refusals and the error messages it always
// had. So the fast path can only ever accept less than the general path,
// never more.
//
// The subset:
//
//   - an optional XML declaration with version 1.0, encoding UTF-8 (any
//     case) and standalone yes|no, no byte order mark;
//   - before and after the root element only whitespace and comments;
//   - inside the root: elements, attributes, character data and the
//     predefined entity and character references; no comment, CDATA
//     section, processing instruction or directive;
//   - names are ASCII NCNames with at most one prefix;
//   - no carriage return anywhere inside the root and no literal tab or
//     line feed in attribute values: the parser would have to normalise
//     them (line ends, attribute value normalisation) and etree, on which
//     goxmldsig works, does not do the latter as the specification says;
//   - only characters XML allows, in valid UTF-8;
//   - no attribute written twice, no "]]>" in text, element nesting no
//     deeper than maxDepth.
//
// The result is the tree etree builds from the same bytes: the same
// elements, attributes (in document order), text and parent links.
func fastParse(data []byte, maxDepth int) (*etree.Document, bool) {
	p := fastParser{d: data, maxDepth: maxDepth}
	doc := etree.NewDocument()
	if !p.prolog() {
		return nil, false
	}
	if p.i >= len(p.d) || p.d[p.i] != '<' {
		return nil, false
	}
	if !p.element(&doc.Element, 1) {
		return nil, false
	}
	if !p.misc() || p.i != len(p.d) {
		return nil, false
	}
	return doc, true
}

type fastParser struct {
	d        []byte
	i        int
	maxDepth int
	scratch  []byte
}

func (p *fastParser) hasPrefix(s string) bool {
	return len(p.d)-p.i >= len(s) && string(p.d[p.i:p.i+len(s)]) == s
}

// skipSpace skips XML whitespace; carriage returns only where allowCR.
func (p *fastParser) skipSpace(allowCR bool) bool {
	start := p.i
	for p.i < len(p.d) {
		switch p.d[p.i] {
		case ' ', '\t', '\n':
		case '\r':
			if !allowCR {
				return p.i > start
			}
		default:
			return p.i > start
		}
		p.i++
	}
	return p.i > start
}

// misc skips whitespace and comments outside the root element.
func (p *fastParser) misc() bool {
	for {
		p.skipSpace(true)
		if !p.hasPrefix("<!--") {
			return true
		}
		end := bytes.Index(p.d[p.i+4:], []byte("--"))
		if end < 0 || !p.hasPrefixAt(p.i+4+end, "-->") {
			return false // unterminated, or "--" inside a comment
		}
		p.i += 4 + end + 3
	}
}

func (p *fastParser) hasPrefixAt(i int, s string) bool {
	return len(p.d)-i >= len(s) && string(p.d[i:i+len(s)]) == s
}

// prolog reads the optional XML declaration and what may follow it.
func (p *fastParser) prolog() bool {
	if p.hasPrefix("<?xml") && len(p.d) > 5 && isSpaceByte(p.d[5]) {
		end := bytes.Index(p.d, []byte("?>"))
		if end < 0 || !validXMLDecl(string(p.d[5:end])) {
			return false
		}
		p.i = end + 2
	}
	return p.misc()
}

func isSpaceByte(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// validXMLDecl checks the pseudo-attributes of the XML declaration:
// version="1.0" [encoding="UTF-8"] [standalone="yes|no"], in that order.
func validXMLDecl(s string) bool {
	names := []string{"version", "encoding", "standalone"}
	seen := 0
	for {
		s = strings.TrimLeft(s, " \t\r\n")
		if s == "" {
			return seen > 0
		}
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return false
		}
		name := strings.TrimRight(s[:eq], " \t\r\n")
		s = strings.TrimLeft(s[eq+1:], " \t\r\n")
		if s == "" || (s[0] != '"' && s[0] != '\'') {
			return false
		}
		q := s[0]
		end := strings.IndexByte(s[1:], q)
		if end < 0 {
			return false
		}
		val := s[1 : 1+end]
		s = s[2+end:]
		if s != "" && !isSpaceByte(s[0]) {
			return false
		}
		i := seen
		for i < len(names) && names[i] != name {
			if i == 0 {
				return false // version comes first
			}
			i++
		}
		if i == len(names) {
			return false
		}
		switch name {
		case "version":
			if val != "1.0" {
				return false
			}
		case "encoding":
			if !strings.EqualFold(val, "UTF-8") {
				return false
			}
		case "standalone":
			if val != "yes" && val != "no" {
				return false
			}
		}
		seen = i + 1
	}
}

// name reads prefix:local or local, both ASCII NCNames.
func (p *fastParser) name() (string, bool) {
	start := p.i
	colon := -1
	for p.i < len(p.d) {
		c := p.d[p.i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		case c >= '0' && c <= '9', c == '-', c == '.':
			if p.i == start || p.i == colon+1 {
				return "", false
			}
		case c == ':':
			if colon >= 0 || p.i == start {
				return "", false
			}
			colon = p.i
		default:
			if p.i == start || p.i == colon+1 {
				return "", false
			}
			return string(p.d[start:p.i]), true
		}
		p.i++
	}
	return "", false
}

// element reads one element (p at its '<') as a child of parent.
func (p *fastParser) element(parent *etree.Element, depth int) bool {
	if depth > p.maxDepth {
		return false
	}
	p.i++ // '<'
	tag, ok := p.name()
	if !ok {
		return false
	}
	e := parent.CreateElement(tag)
	var raw []string // attribute names as written, to refuse duplicates
	for {
		sp := p.skipSpace(false)
		if p.i >= len(p.d) {
			return false
		}
		switch p.d[p.i] {
		case '>':
			p.i++
			return p.content(e, tag, depth)
		case '/':
			if !p.hasPrefix("/>") {
				return false
			}
			p.i += 2
			return true
		}
		if !sp {
			return false
		}
		key, ok := p.name()
		if !ok {
			return false
		}
		for _, r := range raw {
			if r == key {
				return false
			}
		}
		raw = append(raw, key)
		p.skipSpace(false)
		if p.i >= len(p.d) || p.d[p.i] != '=' {
			return false
		}
		p.i++
		p.skipSpace(false)
		if p.i >= len(p.d) || (p.d[p.i] != '"' && p.d[p.i] != '\'') {
			return false
		}
		q := p.d[p.i]
		p.i++
		start := p.i
		for p.i < len(p.d) && p.d[p.i] != q {
			switch p.d[p.i] {
			case '<', '\t', '\n', '\r':
				return false
			}
			p.i++
		}
		if p.i >= len(p.d) {
			return false
		}
		val, ok := p.unescape(p.d[start:p.i])
		if !ok {
			return false
		}
		p.i++ // closing quote
		e.CreateAttr(key, val)
	}
}

// content reads e's children up to and including its end tag.
func (p *fastParser) content(e *etree.Element, tag string, depth int) bool {
	for {
		start := p.i
		for p.i < len(p.d) && p.d[p.i] != '<' {
			if p.d[p.i] == '\r' {
				return false
			}
			p.i++
		}
		if p.i > start {
			text := p.d[start:p.i]
			if bytes.Contains(text, []byte("]]>")) {
				return false
			}
			s, ok := p.unescape(text)
			if !ok {
				return false
			}
			e.CreateText(s)
		}
		if p.i >= len(p.d) {
			return false
		}
		if p.i+1 >= len(p.d) {
			return false
		}
		switch p.d[p.i+1] {
		case '/':
			p.i += 2
			end, ok := p.name()
			if !ok || end != tag {
				return false
			}
			p.skipSpace(false)
			if p.i >= len(p.d) || p.d[p.i] != '>' {
				return false
			}
			p.i++
			return true
		case '!', '?':
			return false // comment, CDATA, PI, directive: the general path
		}
		if !p.element(e, depth+1) {
			return false
		}
	}
}

// unescape resolves the predefined entities and character references of
// b; any other reference leaves the subset.
func (p *fastParser) unescape(b []byte) (string, bool) {
	amp := -1
	for i, c := range b {
		if c == '&' {
			amp = i
			break
		}
	}
	if amp < 0 {
		// Every character must be one XML allows, everywhere, as the
		// general path's parser requires (the canonical writer checks
		// only what it writes; SignatureValue and KeyInfo it does not).
		s := string(b)
		return s, validXMLChars(s)
	}
	out := append(p.scratch[:0], b[:amp]...)
	for i := amp; i < len(b); {
		c := b[i]
		if c != '&' {
			out = append(out, c)
			i++
			continue
		}
		semi := -1
		for j := i + 1; j < len(b) && j < i+12; j++ {
			if b[j] == ';' {
				semi = j
				break
			}
		}
		if semi < 0 {
			return "", false
		}
		ref := string(b[i+1 : semi])
		switch ref {
		case "amp":
			out = append(out, '&')
		case "lt":
			out = append(out, '<')
		case "gt":
			out = append(out, '>')
		case "quot":
			out = append(out, '"')
		case "apos":
			out = append(out, '\'')
		default:
			if len(ref) < 2 || ref[0] != '#' {
				return "", false
			}
			var n uint64
			var err error
			if ref[1] == 'x' {
				if len(ref) < 3 || !allHex(ref[2:]) {
					return "", false
				}
				n, err = strconv.ParseUint(ref[2:], 16, 32)
			} else {
				if !allDigits(ref[1:]) {
					return "", false
				}
				n, err = strconv.ParseUint(ref[1:], 10, 32)
			}
			r := rune(n)
			if err != nil || !isXMLChar(r) {
				return "", false
			}
			out = utf8.AppendRune(out, r)
		}
		i = semi + 1
	}
	p.scratch = out
	s := string(out)
	return s, validXMLChars(s)
}

func allHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return false
		}
	}
	return true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// isXMLChar is XML 1.0's Char production for one character.
func isXMLChar(r rune) bool {
	switch {
	case r == '\t', r == '\n', r == '\r':
		return true
	case r >= 0x20 && r <= 0xD7FF, r >= 0xE000 && r <= 0xFFFD, r >= 0x10000 && r <= 0x10FFFF:
		return true
	}
	return false
}
