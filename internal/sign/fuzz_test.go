package sign

import (
	"bytes"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

// FuzzVerify: whatever the bytes, Verify and Identify return (an error or
// content) and never panic. Seeds are the wrapping suite's variants, so the
// fuzzer starts next to the interesting shapes. The size limit keeps each
// input cheap.
func FuzzVerify(f *testing.F) {
	fx := newWrapFixture(f)
	for _, c := range fx.cases(f) {
		if len(c.doc) <= 64<<10 {
			f.Add([]byte(c.doc))
		}
	}
	v := NewVerifier(fx.trustStore(), WithMaxBytes(64<<10), WithMaxDepth(32))
	f.Fuzz(func(t *testing.T, data []byte) {
		el, err := v.Verify("guangxi", data, tNow)
		if (el == nil) == (err == nil) {
			t.Fatalf("Verify returned element %v with error %v", el != nil, err)
		}
		p, el, err := v.Identify(data, tNow)
		if err == nil && (el == nil || p == "") {
			t.Fatal("Identify succeeded without participant or content")
		}
	})
}

// FuzzCanonicalWriter builds element trees from the fuzzer's bytes (names,
// prefixes, declarations, attributes, text, CDATA, comments, processing
// instructions, drawn from small vocabularies so that namespaces collide
// often) and checks the canonical writer against goxmldsig: either it
// refuses the tree, and Prepare still writes the faithful form, or its
// output is a fixed point of goxmldsig's exclusive C14N and of the writer
// itself after a re-read, and equals goxmldsig's exclusive C14N of the
// faithful form the signer used to send (the old digest input) unless the
// tree holds an xmlns="" or a CR in CDATA (see canonicalCase.goxmldsigDiffers
// and faithfulDiffers).
func FuzzCanonicalWriter(f *testing.F) {
	for _, seed := range [][]byte{
		{},
		{0, 1, 1, 3, 1, 1, 2, 1, 1, 2, 4, 3, 0, 2, 1},
		{3, 0, 0, 0, 2, 0, 0, 5, 2, 2, 4, 0, 6, 1, 3, 3, 1, 1},
		{3, 1, 2, 0, 1, 1, 2, 1, 3, 4, 3, 2, 1, 5, 6, 7, 8},
		[]byte("\x03\x00\x05\x00\x01\x00\x02\x02\x01\x03\x04\x05\x07\x01\x00\x08\x01"),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, exempt := fuzzTree(data)
		got, _, reason := writeCanonical(doc.Root())
		old := legacySerialise(doc)
		if reason != "" {
			// The faithful form, even for trees Prepare then cannot digest
			// (an undeclared prefix).
			if raw, _, _, _ := serialise(doc.Root()); !bytes.Equal(raw, old) {
				t.Fatalf("fallback form %q; want the faithful form %q", raw, old)
			}
			return
		}
		fixed, err := goxmldsigC14N(got)
		if err != nil {
			t.Fatalf("goxmldsig cannot read the canonical output %q: %v", got, err)
		}
		if !bytes.Equal(fixed, got) {
			t.Fatalf("goxmldsig re-canonicalises\n%s\nto\n%s", got, fixed)
		}
		re := etree.NewDocument()
		if err := re.ReadFromBytes(got); err != nil {
			t.Fatal(err)
		}
		again, _, reason := writeCanonical(re.Root())
		if reason != "" || !bytes.Equal(again, got) {
			t.Fatalf("re-read and rewritten: %q (%s), want %q", again, reason, got)
		}
		was, err := goxmldsigC14N(old)
		if err != nil {
			t.Fatalf("goxmldsig cannot read the faithful form %q of a tree the writer took: %v", old, err)
		}
		if !exempt && !bytes.Equal(was, got) {
			t.Fatalf("old digest input\n%s\ncanonical writer\n%s", was, got)
		}
	})
}

// fuzzTree interprets data as a small program building an element tree and
// reports whether the old digest input may differ from the canonical form
// (an xmlns="" declared, a CR in a CDATA section). One input in four draws
// from hostile vocabularies (reserved prefixes and namespaces, bad names,
// relative URIs, invalid characters, comments and processing instructions);
// the others from tame ones, so that most trees are ones the writer takes.
func fuzzTree(data []byte) (*etree.Document, bool) {
	prefixes := []string{"", "", "a", "b", "ds"}
	uris := []string{"urn:a", "urn:b", "http://www.w3.org/2000/09/xmldsig#", "http://www.w3.org/2001/XMLSchema-instance", ""}
	locals := []string{"e", "f", "x", "type", "lang", "Signature"}
	texts := []string{"", "t", "&<>\"'", "\r\n", "\t \n", "火龙果 Hàng hóa", "a:b", "b:x y", "]]>"}
	ops := 14 // without comments and processing instructions
	if len(data) > 0 && data[0]%4 == 0 {
		prefixes = append(prefixes, "xml", "xmlns")
		uris = append(uris, "rel", "urn:x y", "http://www.w3.org/XML/1998/namespace")
		locals = append(locals, "thư", "")
		texts = append(texts, "\x01", "\xff", "\uFFFE")
		ops = 16
	}
	pos := 1
	next := func(n int) int {
		if pos >= len(data) {
			return 0
		}
		pos++
		return int(data[pos-1]) % n
	}
	pick := func(list []string) string { return list[next(len(list))] }
	doc := etree.NewDocument()
	exempt := false
	declare := func(el *etree.Element, prefix, uri string) {
		if prefix == "" {
			el.Attr = append(el.Attr, etree.Attr{Key: "xmlns", Value: uri})
			exempt = exempt || uri == ""
		} else {
			el.Attr = append(el.Attr, etree.Attr{Space: "xmlns", Key: prefix, Value: uri})
		}
	}
	// Elements mostly declare the prefix they use, as generated messages do.
	create := func(parent *etree.Element) *etree.Element {
		el := parent.CreateElement(pick(locals))
		el.Space = pick(prefixes)
		if next(3) != 0 {
			declare(el, el.Space, pick(uris[:4]))
		}
		return el
	}
	cur := create(&doc.Element)
	for steps := 0; pos < len(data) && steps < 200; steps++ {
		switch next(ops) {
		case 0, 1, 2:
			cur = create(cur)
		case 3, 4, 5:
			if p := cur.Parent(); p != nil && p != &doc.Element {
				cur = p
			}
		case 6, 7, 8:
			// Appended as is: CreateAttr would replace a duplicate.
			a := etree.Attr{Space: pick(prefixes), Key: pick(locals), Value: pick(texts)}
			if a.Space != "" && next(2) == 0 {
				declare(cur, a.Space, pick(uris[:4]))
			}
			cur.Attr = append(cur.Attr, a)
		case 9:
			declare(cur, pick(prefixes), pick(uris))
		case 10, 11:
			cur.CreateText(pick(texts))
		case 12:
			text := pick(texts)
			exempt = exempt || strings.Contains(text, "\r")
			cur.CreateCData(text)
		case 13:
			for cur.Parent() != nil && cur.Parent() != &doc.Element {
				cur = cur.Parent()
			}
		case 14:
			cur.CreateComment("c")
		case 15:
			cur.CreateProcInst("pi", "x")
		}
	}
	return doc, exempt
}
