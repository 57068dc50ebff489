package sign

import (
	"bytes"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/gatehub/gatehub/internal/pki"
)

// TestPreparedIsTheFormSignWrites: Prepare(doc).Bytes() (what the hub
// validates against the schema and audit replay compares with logged
// messages) is the canonical form when the writer handles the tree, the
// faithful form the signer always wrote otherwise. The signed message is
// those very bytes after the XML declaration with the signature spliced in
// as the root's last child, and Sign(doc) equals SignUnsigned(Prepare(doc)).
func TestPreparedIsTheFormSignWrites(t *testing.T) {
	tests := []struct {
		name, doc string
		canonical bool
	}{
		{"typical", typicalMessage(), true},
		{"escapes", `<a xmlns="urn:d" q='x"y' amp="a&amp;b&lt;c"><b>&amp;&lt;&gt;"'</b></a>`, true},
		{"cdata", `<a><![CDATA[<not>markup & 同意]]></a>`, true},
		{"carriage return", "<a t=\"x&#13;y&#9;z\">line1&#13;\nline2\r\nline3\t</a>", true},
		{"empty root", `<a/>`, true},
		{"outside root, none inside", "<?xml version=\"1.0\"?>\n<!-- c --><?pi x?>\n<a><b/></a>\n<!-- after -->", true},
		// (Our Verifier refuses processing instructions, so none inside.)
		{"comment inside root", "<?xml version=\"1.0\"?>\n<!-- c --><?pi x?>\n<a><!-- in --><b/></a>\n<!-- after -->", false},
		// Relative namespace URIs are outside the canonical writer (and
		// outside what xmlsec1 canonicalises); the fallback splices into
		// an empty-element root tag.
		{"empty root, fallback", `<a xmlns="rel"/>`, false},
	}
	_, s, v := hubPair(t, pki.RSA2048)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := parseDoc(t, tt.doc)
			u, err := Prepare(doc)
			if err != nil {
				t.Fatal(err)
			}
			got := u.Bytes()
			if u.Canonical() != tt.canonical {
				t.Fatalf("canonical = %v (%s), want %v", u.Canonical(), u.reason, tt.canonical)
			}
			if !tt.canonical && !bytes.Equal(got, legacySerialise(doc)) {
				t.Fatalf("fallback Prepare:\n%s\nwant the faithful form\n%s", got, legacySerialise(doc))
			}

			a, err := s.Sign(doc)
			if err != nil {
				t.Fatal(err)
			}
			c, err := s.SignUnsigned(u)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a, c) {
				t.Fatalf("Sign and SignUnsigned differ:\n%s\n%s", a, c)
			}

			// Take the signature out again: what is left is the XML
			// declaration and the prepared bytes, the signature having been
			// the root's last child.
			i := strings.Index(string(a), "<ds:Signature ")
			j := strings.Index(string(a), "</ds:Signature>") + len("</ds:Signature>")
			if i < 0 || j < i {
				t.Fatalf("no ds:Signature in %s", a)
			}
			rootEnd := "</" + doc.Root().FullTag() + ">"
			if string(a[j:]) != rootEnd {
				t.Fatalf("signature is followed by %q, want the root's end tag %q", a[j:], rootEnd)
			}
			want := xmlDecl + string(got)
			if strings.HasSuffix(string(got), "/>") {
				want = xmlDecl + strings.TrimSuffix(string(got), "/>") + ">" + rootEnd
			}
			if rest := string(a[:i]) + string(a[j:]); rest != want {
				t.Fatalf("signed message without its signature:\n%s\nwant\n%s", rest, want)
			}
			if _, err := v.Verify("hub", a, tNow); err != nil {
				t.Fatalf("our verifier refused: %v\n%s", err, a)
			}
		})
	}
	if _, err := Prepare(etree.NewDocument()); err == nil {
		t.Error("prepared a document without a root")
	}
}

// TestSignUnsignedRefuses: the guard rails around a prepared message.
func TestSignUnsignedRefuses(t *testing.T) {
	s := newSigner(t, newIdentity(t, "hub", pki.ECDSAP256, t0, tExpiry))
	signed, err := s.Sign(parseDoc(t, agencyMessage))
	if err != nil {
		t.Fatal(err)
	}
	alreadySigned, err := Prepare(parseDoc(t, string(signed)))
	if err != nil {
		t.Fatal(err)
	}
	// A signature under another prefix, inside the content, and a fallback
	// tree (the comment) are found as well.
	nested, err := Prepare(parseDoc(t, `<a><!-- c --><b><x:Signature xmlns:x="http://www.w3.org/2000/09/xmldsig#"/></b></a>`))
	if err != nil {
		t.Fatal(err)
	}
	modified, err := Prepare(parseDoc(t, agencyMessage))
	if err != nil {
		t.Fatal(err)
	}
	modified.Bytes()[strings.Index(string(modified.Bytes()), "同意")] ^= 1
	tests := []struct {
		name string
		u    *Unsigned
		want string
	}{
		{"nil", nil, "not made by sign.Prepare"},
		{"zero value", &Unsigned{}, "not made by sign.Prepare"},
		{"already signed", alreadySigned, "already contains a ds:Signature"},
		{"signature nested in the content", nested, "already contains a ds:Signature"},
		{"bytes modified after Prepare", modified, "modified after Prepare"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := s.SignUnsigned(tt.u)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("SignUnsigned = %.60q, %v; want an error saying %q", out, err, tt.want)
			}
		})
	}
	if _, err := (&Unsigned{}).WithSignature(etree.NewElement("ds:Signature")); err == nil {
		t.Error("WithSignature accepted a zero Unsigned")
	}
	for _, doc := range []*etree.Document{nil, etree.NewDocument(), parseDoc(t, "<!-- only a comment -->")} {
		if _, err := Prepare(doc); err == nil {
			t.Error("prepared a document without a root element")
		}
	}
}

// TestWithSignatureReproducesSigned: audit replay rebuilds a logged message
// from its unsigned form and the logged ds:Signature read back with etree;
// that must give the signed bytes exactly, on both paths and for both key
// types.
func TestWithSignatureReproducesSigned(t *testing.T) {
	docs := []string{agencyMessage, `<a/>`, `<a><!-- c --><b/></a>`, `<a xmlns="rel"/>`}
	for _, alg := range []pki.Algorithm{pki.RSA2048, pki.ECDSAP256} {
		s := newSigner(t, newIdentity(t, "hub", alg, t0, tExpiry))
		for _, d := range docs {
			u, err := Prepare(parseDoc(t, d))
			if err != nil {
				t.Fatal(err)
			}
			signed, err := s.SignUnsigned(u)
			if err != nil {
				t.Fatal(err)
			}
			var sig *etree.Element
			for _, c := range parseDoc(t, string(signed)).Root().ChildElements() {
				if c.Tag == "Signature" {
					sig = c
				}
			}
			got, err := u.WithSignature(sig)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, signed) {
				t.Errorf("%s %.30q: WithSignature\n%s\nwant\n%s", alg, d, got, signed)
			}
		}
	}
}

// TestSignatureAsGoxmldsigBuiltIt: for RSA (deterministic) the new path
// writes the very ds:Signature the old one did, goxmldsig's: same
// SignedInfo (so the same signature value), same digest where the old
// digest input is the canonical form, same layout.
func TestSignatureAsGoxmldsigBuiltIt(t *testing.T) {
	s := newSigner(t, newIdentity(t, "hub", pki.RSA2048, t0, tExpiry))
	sigOf := func(b []byte) string {
		i := strings.Index(string(b), "<ds:Signature ")
		j := strings.Index(string(b), "</ds:Signature>")
		if i < 0 || j < 0 {
			t.Fatalf("no ds:Signature in %s", b)
		}
		return string(b[i:j])
	}
	for _, c := range canonicalCases() {
		if c.reason != "" || c.goxmldsigDiffers || c.build != nil {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			doc := c.document(t)
			got, err := s.Sign(doc)
			if err != nil {
				t.Fatal(err)
			}
			old, err := legacySignSerialised(s, legacySerialise(doc))
			if err != nil {
				t.Fatal(err)
			}
			if sigOf(got) != sigOf(old) {
				t.Fatalf("signature\n%s\nold\n%s", sigOf(got), sigOf(old))
			}
		})
	}
}

// TestPrepareDoesNotModifyInput: Prepare and the canonical writer only
// read the tree, on both paths.
func TestPrepareDoesNotModifyInput(t *testing.T) {
	for _, d := range []string{agencyMessage, `<p:a xmlns:p="urn:p" xmlns:u="urn:u" b="1" a="2"><!-- c --><p:b/></p:a>`} {
		doc := parseDoc(t, d)
		before, _ := doc.WriteToString()
		if _, err := Prepare(doc); err != nil {
			t.Fatal(err)
		}
		if after, _ := doc.WriteToString(); after != before {
			t.Fatalf("Prepare modified its input:\n%s\nwas\n%s", after, before)
		}
	}
}
