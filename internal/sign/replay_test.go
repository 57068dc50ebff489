package sign_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/gatehub/gatehub/internal/pki"
	"github.com/gatehub/gatehub/internal/replay"
	"github.com/gatehub/gatehub/internal/sign"
)

// TestReplaySignedForms: audit replay rebuilds a logged message from the
// mapped document and the logged ds:Signature. replay.SignedForm must give
// what the signer writes now and replay.LegacySignedForm what it wrote
// before it wrote canonical form, byte for byte, including for trees where
// the two forms differ.
func TestReplaySignedForms(t *testing.T) {
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	id, err := pki.Generate("hub", pki.ECDSAP256, from, from.AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	s, err := sign.NewSigner(id)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, doc string
		differ    bool // the two forms differ outside the signature
	}{
		{"canonical already", `<m xmlns="urn:m"><a>1</a><b t="x">同意 &amp; Đồng ý</b></m>`, false},
		{"canonical differs", `<p:m xmlns:p="urn:p" xmlns:q="urn:q" z="1" a="2"><q:e/><p:f></p:f></p:m>`, true},
		{"fallback", `<m><!-- c --><a/></m>`, false},
		{"fallback, empty root tag", `<m xmlns="rel"/>`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := etree.NewDocument()
			if err := doc.ReadFromString(tt.doc); err != nil {
				t.Fatal(err)
			}
			now, err := s.Sign(doc)
			if err != nil {
				t.Fatal(err)
			}
			was, err := sign.LegacySignSerialised(s, sign.LegacySerialise(doc))
			if err != nil {
				t.Fatal(err)
			}
			if differ := !bytes.Equal(withoutSignature(now), withoutSignature(was)); differ != tt.differ {
				t.Fatalf("forms differ: %v, want %v\n%s\n%s", differ, tt.differ, now, was)
			}
			for _, c := range []struct {
				form   string
				signed []byte
				build  func(*etree.Document, *etree.Element) ([]byte, error)
			}{
				{"SignedForm", now, replay.SignedForm},
				{"LegacySignedForm", was, replay.LegacySignedForm},
			} {
				got, err := c.build(doc, signatureOf(t, c.signed))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, c.signed) {
					t.Errorf("%s:\n%s\nsigned\n%s", c.form, got, c.signed)
				}
			}
		})
	}
}

func signatureOf(t *testing.T, signed []byte) *etree.Element {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(signed); err != nil {
		t.Fatal(err)
	}
	for _, c := range doc.Root().ChildElements() {
		if c.Tag == "Signature" {
			return c
		}
	}
	t.Fatalf("no signature in %s", signed)
	return nil
}

func withoutSignature(signed []byte) []byte {
	i := bytes.Index(signed, []byte("<ds:Signature "))
	j := bytes.Index(signed, []byte("</ds:Signature>")) + len("</ds:Signature>")
	return append(append([]byte(nil), signed[:i]...), signed[j:]...)
}
