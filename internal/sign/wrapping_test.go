package sign

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/gatehub/gatehub/internal/pki"
)

// errAny marks a variant that must be refused without caring which check
// catches it first.
var errAny = errors.New("any error")

// wrapFixture is a message signed by guangxi with the pieces the wrapping
// variants are assembled from.
type wrapFixture struct {
	signed    string // full signed document
	decl      string // XML declaration
	open      string // root start tag
	content   string // root content before the signature
	sig       string // the ds:Signature element
	close     string // root end tag
	guangxi   *pki.Identity
	customs   *pki.Identity
	attacker  *pki.Identity // not in the trust store, calls itself guangxi
	withIDDoc string        // signed document whose root and a child carry ID attributes
}

type wrapCase struct {
	name        string
	participant string // default guangxi
	doc         string
	wantErr     error // nil: accepted and the content equals the signed content
}

func newWrapFixture(t testing.TB) *wrapFixture {
	t.Helper()
	f := &wrapFixture{
		guangxi:  newIdentity(t, "guangxi", pki.RSA2048, t0, tExpiry),
		customs:  newIdentity(t, "customs", pki.RSA2048, t0, tExpiry),
		attacker: newIdentity(t, "guangxi", pki.RSA2048, t0, tExpiry),
	}
	s := newSigner(t, f.guangxi)
	signed, err := s.Sign(parseDoc(t, agencyMessage))
	if err != nil {
		t.Fatal(err)
	}
	f.signed = string(signed)
	i := strings.Index(f.signed, "?>") + 2
	f.decl = f.signed[:i]
	j := strings.Index(f.signed[i:], ">") + i + 1
	f.open = f.signed[i:j]
	k := strings.Index(f.signed, "<ds:Signature")
	l := strings.Index(f.signed, "</ds:Signature>") + len("</ds:Signature>")
	f.content, f.sig, f.close = f.signed[j:k], f.signed[k:l], f.signed[l:]

	withID, err := s.Sign(parseDoc(t, `<m:Ack xmlns:m="urn:gatehub:test" ID="m1"><m:Status ID="s1">ACCEPT</m:Status></m:Ack>`))
	if err != nil {
		t.Fatal(err)
	}
	f.withIDDoc = string(withID)
	return f
}

func (f *wrapFixture) trustStore() *pki.TrustStore {
	ts := pki.NewTrustStore()
	ts.Add("guangxi", f.guangxi.Cert, t0, tExpiry)
	ts.Add("customs", f.customs.Cert, t0, tExpiry)
	return ts
}

// replaceOnce fails the test unless old occurs in s.
func replaceOnce(t testing.TB, s, old, new string) string {
	t.Helper()
	if !strings.Contains(s, old) {
		t.Fatalf("variant target %q not found", old)
	}
	return strings.Replace(s, old, new, 1)
}

func b64(der []byte) string { return base64Std(der) }

func (f *wrapFixture) cases(t testing.TB) []wrapCase {
	t.Helper()
	evilContent := replaceOnce(t, f.content, "同意通关", "拒绝入境")
	evilRoot := f.open + evilContent + f.close
	origRoot := f.open + f.content + f.close
	sigNoKeyInfo := f.sig[:strings.Index(f.sig, "<ds:KeyInfo>")] + "</ds:Signature>"
	certB64 := func(id *pki.Identity) string { return b64(id.Cert.Raw) }
	withCert := func(id *pki.Identity) string {
		return replaceOnce(t, f.signed, certB64(f.guangxi), certB64(id))
	}
	attackerSigned, err := newSigner(t, f.attacker).Sign(parseDoc(t, f.decl+evilRoot))
	if err != nil {
		t.Fatal(err)
	}
	secondSig := strings.Replace(f.sig, "ds:", "dx:", -1)
	secondSig = strings.Replace(secondSig, `xmlns:ds="`, `xmlns:dx="`, 1)
	sigValue := between(t, f.sig, "<ds:SignatureValue>", "</ds:SignatureValue>")
	deep := strings.Repeat("<gx:N>", 70) + strings.Repeat("</gx:N>", 70)

	return []wrapCase{
		{name: "baseline", doc: f.signed},

		// Moved signed element / evil copy (XSW1-8 style).
		{name: "evil root, original under wrapper", doc: f.decl + f.open + evilContent + "<gx:Wrapper>" + origRoot + "</gx:Wrapper>" + f.sig + f.close, wantErr: ErrInvalid},
		{name: "signed document nested under new root", doc: f.decl + `<env:Envelope xmlns:env="urn:evil">` + f.signed[len(f.decl):] + "</env:Envelope>", wantErr: ErrRefused},
		{name: "evil root, signed original nested inside", doc: f.decl + f.open + evilContent + f.signed[len(f.decl):] + f.close, wantErr: ErrRefused},
		{name: "evil sibling appended after signed content", doc: f.decl + f.open + f.content + "<gx:Body><gx:Decision>拒绝入境</gx:Decision></gx:Body>" + f.sig + f.close, wantErr: ErrInvalid},
		{name: "original moved into ds:Object", doc: f.decl + f.open + evilContent + replaceOnce(t, f.sig, "</ds:Signature>", "<ds:Object>"+origRoot+"</ds:Object></ds:Signature>") + f.close, wantErr: ErrRefused},
		{name: "original moved into KeyInfo", doc: f.decl + f.open + evilContent + replaceOnce(t, f.sig, "</ds:X509Data>", "</ds:X509Data>"+origRoot) + f.close, wantErr: ErrRefused},
		{name: "evil content, original signature", doc: f.decl + evilRoot[:len(evilRoot)-len(f.close)] + f.sig + f.close, wantErr: ErrInvalid},

		// Signature placement and count.
		{name: "signature moved into Body", doc: f.decl + f.open + replaceOnce(t, f.content, "</gx:Body>", f.sig+"</gx:Body>") + f.close, wantErr: ErrRefused},
		{name: "second signature at root", doc: f.decl + f.open + f.content + f.sig + f.sig + f.close, wantErr: ErrRefused},
		{name: "second signature nested in Body", doc: f.decl + f.open + replaceOnce(t, f.content, "</gx:Body>", f.sig+"</gx:Body>") + f.sig + f.close, wantErr: ErrRefused},
		{name: "second signature under another prefix", doc: f.decl + f.open + replaceOnce(t, f.content, "</gx:Head>", secondSig+"</gx:Head>") + f.sig + f.close, wantErr: ErrRefused},
		{name: "only a look-alike signature in another namespace", doc: f.decl + f.open + f.content + strings.Replace(f.sig, "http://www.w3.org/2000/09/xmldsig#\"", "urn:not-dsig\"", 1) + f.close, wantErr: ErrRefused},
		{name: "no signature", doc: f.decl + origRoot, wantErr: ErrRefused},

		// Ids and references.
		{name: "duplicated ID attribute on an evil element", doc: replaceOnce(t, f.withIDDoc, "</m:Status>", `</m:Status><m:Status ID="m1">REJECT</m:Status>`), wantErr: ErrInvalid},
		{name: "duplicated ID with reference pointed at it", doc: replaceOnce(t, replaceOnce(t, f.withIDDoc, "</m:Status>", `</m:Status><m:Status ID="m1">REJECT</m:Status>`), `URI=""`, `URI="#m1"`), wantErr: ErrRefused},
		{name: "reference to a different element", doc: replaceOnce(t, f.withIDDoc, `URI=""`, `URI="#s1"`), wantErr: ErrRefused},
		{name: "reference to bare fragment", doc: replaceOnce(t, f.signed, `URI=""`, `URI="#"`), wantErr: ErrRefused},
		{name: "second reference added", doc: replaceOnce(t, f.signed, "</ds:Reference>", "</ds:Reference><ds:Reference"+between(t, f.sig, "<ds:Reference", "</ds:Reference>")+"</ds:Reference>"), wantErr: ErrRefused},

		// Comments.
		{name: "comment splitting signed text", doc: replaceOnce(t, f.signed, "桂F·12345", "桂F·<!-- evil -->12345")},
		{name: "comment splitting decision text", doc: replaceOnce(t, f.signed, "同意通关", "同意<!---->通关")},
		{name: "comment after root", doc: f.signed + "<!-- trailing -->"},
		{name: "comment inside SignedInfo", doc: replaceOnce(t, f.signed, "<ds:SignedInfo>", "<ds:SignedInfo><!-- c -->")},

		// Whitespace.
		{name: "whitespace inside start tags", doc: replaceOnce(t, f.signed, "<gx:Plate>", "<gx:Plate  \n >")},
		{name: "line breaks in SignatureValue", doc: replaceOnce(t, f.signed, sigValue, sigValue[:40]+"\n"+sigValue[40:])},
		{name: "trailing newline after root", doc: f.signed + "\n"},
		{name: "whitespace added to signed text", doc: replaceOnce(t, f.signed, "桂F·12345", "桂F·12345 "), wantErr: ErrInvalid},
		{name: "whitespace added to DigestValue", doc: replaceOnce(t, f.signed, "<ds:DigestValue>", "<ds:DigestValue> "), wantErr: ErrInvalid},
		{name: "CR LF line ends in content", doc: strings.ReplaceAll(f.signed, "\n", "\r\n")},

		// Algorithm downgrade and substitution (the xmlsec1 suite covers
		// genuinely valid signatures with these algorithms).
		{name: "rsa-sha1 signature method", doc: replaceOnce(t, f.signed, AlgRSASHA256, "http://www.w3.org/2000/09/xmldsig#rsa-sha1"), wantErr: ErrRefused},
		{name: "sha1 digest", doc: replaceOnce(t, f.signed, AlgSHA256, "http://www.w3.org/2000/09/xmldsig#sha1"), wantErr: ErrRefused},
		{name: "hmac signature method", doc: replaceOnce(t, f.signed, AlgRSASHA256, "http://www.w3.org/2000/09/xmldsig#hmac-sha1"), wantErr: ErrRefused},
		{name: "c14n with comments", doc: strings.ReplaceAll(f.signed, AlgExcC14N+`"`, AlgExcC14N+`WithComments"`), wantErr: ErrRefused},
		{name: "enveloped transform dropped", doc: replaceOnce(t, f.signed, `<ds:Transform Algorithm="`+AlgEnveloped+`"/>`, ""), wantErr: ErrRefused},
		{name: "xpath transform added", doc: replaceOnce(t, f.signed, "</ds:Transforms>", `<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116"/></ds:Transforms>`), wantErr: ErrRefused},

		// Keys.
		{name: "KeyInfo cert swapped for untrusted", doc: withCert(f.attacker), wantErr: ErrUntrusted},
		{name: "KeyInfo cert swapped for another participant's", participant: "customs", doc: withCert(f.customs), wantErr: ErrInvalid},
		{name: "evil content re-signed by attacker key", doc: string(attackerSigned), wantErr: ErrUntrusted},
		{name: "KeyInfo removed", doc: f.decl + f.open + f.content + sigNoKeyInfo + f.close, wantErr: ErrRefused},
		{name: "second certificate in X509Data", doc: replaceOnce(t, f.signed, "</ds:X509Data>", "<ds:X509Certificate>"+certB64(f.attacker)+"</ds:X509Certificate></ds:X509Data>"), wantErr: ErrRefused},
		{name: "garbage certificate", doc: replaceOnce(t, f.signed, certB64(f.guangxi), "AAAA"), wantErr: ErrRefused},
		{name: "signature value truncated", doc: replaceOnce(t, f.signed, sigValue, sigValue[:len(sigValue)-8]), wantErr: errAny},

		// Parser-level attacks.
		{name: "DOCTYPE with internal entity", doc: replaceOnce(t, f.signed, "?>", `?><!DOCTYPE gx:GuangxiAckMessage [<!ENTITY e "拒绝">]>`), wantErr: ErrRefused},
		{name: "undeclared entity reference", doc: replaceOnce(t, f.signed, "同意通关", "&e;"), wantErr: ErrRefused},
		{name: "processing instruction", doc: replaceOnce(t, f.signed, "<gx:Head>", "<?evil x?><gx:Head>"), wantErr: ErrRefused},
		{name: "too deep", doc: replaceOnce(t, f.signed, "</gx:Body>", deep+"</gx:Body>"), wantErr: ErrRefused},
		{name: "oversized", doc: f.signed + strings.Repeat(" ", DefaultMaxBytes), wantErr: ErrRefused},
		{name: "not XML", doc: "\x00\x01garbage", wantErr: ErrRefused},
		{name: "empty", doc: "", wantErr: ErrRefused},
		{name: "declared encoding not UTF-8", doc: replaceOnce(t, f.signed, `encoding="UTF-8"`, `encoding="GB2312"`), wantErr: ErrRefused},

		// Root-level tampering.
		{name: "attribute added to root", doc: replaceOnce(t, f.signed, `version="1.0">`, `version="1.0" evil="1">`), wantErr: ErrInvalid},
		{name: "namespace URI changed", doc: replaceOnce(t, f.signed, "urn:gatehub:guangxi:ack:1", "urn:gatehub:guangxi:ack:2"), wantErr: ErrInvalid},
	}
}

func between(t testing.TB, s, from, to string) string {
	t.Helper()
	i := strings.Index(s, from)
	j := strings.Index(s[i+len(from):], to)
	if i < 0 || j < 0 {
		t.Fatalf("between %q and %q: not found", from, to)
	}
	return s[i+len(from) : i+len(from)+j]
}

// canonical serialises an element for comparison.
func canonical(t testing.TB, el *etree.Element) string {
	t.Helper()
	doc := etree.NewDocument()
	doc.SetRoot(el.Copy())
	s, err := doc.WriteToString()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSignatureWrapping(t *testing.T) {
	f := newWrapFixture(t)
	v := NewVerifier(f.trustStore())
	base, err := v.Verify("guangxi", []byte(f.signed), tNow)
	if err != nil {
		t.Fatalf("baseline: %v", err)
	}
	want := canonical(t, base)
	withIDBase, err := v.Verify("guangxi", []byte(f.withIDDoc), tNow)
	if err != nil {
		t.Fatalf("baseline with ID: %v", err)
	}
	for _, tc := range f.cases(t) {
		t.Run(tc.name, func(t *testing.T) {
			participant := tc.participant
			if participant == "" {
				participant = "guangxi"
			}
			el, err := v.Verify(participant, []byte(tc.doc), tNow)
			t.Logf("err: %v", err)
			switch {
			case tc.wantErr == nil:
				if err != nil {
					t.Fatalf("harmless variant refused: %v", err)
				}
				if got := canonical(t, el); got != want && got != canonical(t, withIDBase) {
					t.Fatalf("returned content differs from the signed content:\n got %s\nwant %s", got, want)
				}
			case err == nil:
				t.Fatalf("variant accepted, returned %s", canonical(t, el))
			case tc.wantErr != errAny && !errors.Is(err, tc.wantErr):
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

// TestCommentDoesNotTruncateText pins the SAML comment-truncation class:
// the verified content must carry the whole signed text, not the part
// before an inserted comment.
func TestCommentDoesNotTruncateText(t *testing.T) {
	f := newWrapFixture(t)
	v := NewVerifier(f.trustStore())
	doc := replaceOnce(t, f.signed, "桂F·12345", "桂F·<!-- evil -->12345")
	el, err := v.Verify("guangxi", []byte(doc), tNow)
	if err != nil {
		t.Fatal(err)
	}
	if got := el.FindElement("./Body/Plate").Text(); got != "桂F·12345" {
		t.Fatalf("plate text = %q, want the whole signed text", got)
	}
	if bytes.Contains([]byte(canonical(t, el)), []byte("evil")) {
		t.Fatal("comment leaked into the verified content")
	}
}
