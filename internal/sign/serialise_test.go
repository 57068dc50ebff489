package sign

import (
	"bytes"
	"testing"

	"github.com/beevik/etree"

	"github.com/gatehub/gatehub/internal/pki"
)

// TestSerialiseIsTheFormSignWrites: Serialise gives the bytes the signer
// used to write from a copy of the root in a fresh document (what audit
// replay and already logged messages rely on), Sign(doc) equals
// SignSerialised(Serialise(doc)), and the signed message is the unsigned
// form with the signature appended, after the XML declaration.
func TestSerialiseIsTheFormSignWrites(t *testing.T) {
	docs := map[string]string{
		"typical":         typicalMessage(),
		"escapes":         `<a xmlns="urn:d" q='x"y' amp="a&amp;b&lt;c"><b>&amp;&lt;&gt;"'</b></a>`,
		"cdata":           `<a><![CDATA[<not>markup & 同意]]></a>`,
		"carriage return": "<a t=\"x&#13;y&#9;z\">line1&#13;\nline2\r\nline3\t</a>",
		"outside root":    "<?xml version=\"1.0\"?>\n<!-- c --><?pi x?>\n<a><!-- in --><?pi y?><b/></a>\n<!-- after -->",
		"empty root":      `<a/>`,
	}
	s := newSigner(t, newIdentity(t, "hub", pki.RSA2048, t0, tExpiry))
	for name, d := range docs {
		t.Run(name, func(t *testing.T) {
			doc := parseDoc(t, d)
			old := etree.NewDocument()
			faithful(old)
			old.SetRoot(doc.Root().Copy())
			want, err := old.WriteToBytes()
			if err != nil {
				t.Fatal(err)
			}
			got, err := Serialise(doc)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("Serialise:\n%s\nwant\n%s", got, want)
			}
			a, err := s.Sign(doc)
			if err != nil {
				t.Fatal(err)
			}
			b, err := s.SignSerialised(got)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a, b) {
				t.Fatalf("Sign and SignSerialised differ:\n%s\n%s", a, b)
			}
		})
	}
	if _, err := Serialise(etree.NewDocument()); err == nil {
		t.Error("serialised a document without a root")
	}
	if _, err := s.SignSerialised([]byte("<!-- no root -->")); err == nil {
		t.Error("signed bytes without a root element")
	}
}
