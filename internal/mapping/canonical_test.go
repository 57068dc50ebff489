package mapping

import (
	"bytes"
	"encoding/json"
	"github.com/gatehub/gatehub/internal/message"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/beevik/etree"
)

// checkCanonicalMatchesOracle fails t unless Canonical and canonicalOracle
// give the same bytes, or the same error, for doc, and Canonical leaves doc
// as it found it.
func checkCanonicalMatchesOracle(t *testing.T, doc *etree.Document) {
	t.Helper()
	var before []byte
	if doc != nil {
		before = serialiseAll(t, doc)
	}
	got, gotErr := Canonical(doc)
	if doc != nil {
		if after := serialiseAll(t, doc); !bytes.Equal(before, after) {
			t.Fatalf("Canonical changed the document:\nbefore %q\nafter  %q", before, after)
		}
	}
	want, wantErr := canonicalOracle(doc)
	if (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
		t.Fatalf("error %v, oracle %v", gotErr, wantErr)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("differs from the oracle:\ngot  %q\nwant %q", got, want)
	}
}

// serialiseAll writes doc so that any change Canonical might make shows:
// comments, attribute order, indices and parents included.
func serialiseAll(t testing.TB, doc *etree.Document) []byte {
	t.Helper()
	b, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	var walk func(e *etree.Element)
	walk = func(e *etree.Element) {
		for i, c := range e.Child {
			b = append(b, byte(c.Index()-i), 0)
			if c.Parent() != e {
				b = append(b, 'P')
			}
			if ce, ok := c.(*etree.Element); ok {
				walk(ce)
			}
		}
	}
	walk(&doc.Element)
	return b
}

func declFile(tb testing.TB, name string) map[string]any {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("../../conformance-tests/declarations", name))
	if err != nil {
		tb.Fatal(err)
	}
	var d map[string]any
	if err := json.Unmarshal(b, &d); err != nil {
		tb.Fatal(err)
	}
	return d
}

func canonEnv(kind message.Kind) Envelope {
	e := Envelope{MessageID: "M-2", Kind: kind, Sender: "hub", Receiver: "agency", DeclarationID: "D-1", Version: 2,
		CreatedAt: time.Date(2025, 11, 26, 1, 15, 0, 0, time.UTC), Reason: "Trip called off"}
	if kind != message.Submit {
		e.PreviousMessageID = "M-1"
	}
	return e
}

type namedDoc struct {
	name string
	doc  *etree.Document
}

// builtMessages is every message the mappings build from the sample
// declarations, in a fixed order.
func builtMessages(tb testing.TB) []namedDoc {
	tb.Helper()
	r, err := Load(mappingsDir)
	if err != nil {
		tb.Fatal(err)
	}
	files, err := filepath.Glob("../../conformance-tests/declarations/*.json")
	if err != nil || len(files) == 0 {
		tb.Fatalf("no sample declarations: %v", err)
	}
	var docs []namedDoc
	for _, f := range files {
		for _, agency := range r.Agencies() {
			if !sentTo(tb, declFile(tb, filepath.Base(f)), agency) {
				continue
			}
			for _, kind := range []message.Kind{message.Submit, message.Amend, message.Cancel} {
				doc, _, err := r.Build(agency, kind, declFile(tb, filepath.Base(f)), canonEnv(kind), testGate)
				if err != nil {
					tb.Fatalf("%s %s %s: %v", filepath.Base(f), agency, kind, err)
				}
				docs = append(docs, namedDoc{filepath.Base(f) + "/" + agency + "/" + string(kind), doc})
			}
		}
	}
	for _, agency := range r.Agencies() {
		a := AckFields{AckID: "A-2", RefMessageID: "M-2", Status: "NACK", ReasonCode: "E102", ReasonText: "许可证已过期 & <hết hạn>",
			IssuedAt: time.Date(2025, 11, 26, 2, 0, 0, 0, time.UTC)}
		doc, _, err := r.BuildAck(agency, a, Envelope{Sender: agency, Receiver: "hub"})
		if err != nil {
			tb.Fatalf("%s ack: %v", agency, err)
		}
		docs = append(docs, namedDoc{"ack/" + agency, doc})
	}
	return docs
}

func parse(t testing.TB, s string, rs etree.ReadSettings) *etree.Document {
	t.Helper()
	doc := etree.NewDocument()
	doc.ReadSettings = rs
	if err := doc.ReadFromString(s); err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return doc
}

func TestCanonicalMatchesOracleOnBuiltMessages(t *testing.T) {
	for _, m := range builtMessages(t) {
		doc := m.doc
		t.Run(m.name, func(t *testing.T) {
			checkCanonicalMatchesOracle(t, doc)

			// As the hub receives or stores it: read back from bytes.
			b := bytesOf(t, doc)
			checkCanonicalMatchesOracle(t, parse(t, string(b), etree.ReadSettings{}))
			checkCanonicalMatchesOracle(t, parse(t, string(b), etree.ReadSettings{PreserveCData: true}))

			// Signed through the etree API, and the way goxmldsig's
			// SignEnveloped does it: appended to Child by hand, with the
			// index a fresh element has.
			signed := doc.Copy()
			sig := signed.Root().CreateElement("ds:Signature")
			sig.CreateAttr("xmlns:ds", xmldsigNS)
			sig.CreateElement("ds:SignatureValue").SetText("c2lnbmF0dXJl")
			checkCanonicalMatchesOracle(t, signed)
			appended := doc.Copy()
			root := appended.Root()
			sig = &etree.Element{Space: "ds", Tag: "Signature"}
			sig.CreateAttr("xmlns:ds", xmldsigNS)
			root.Child = append(root.Child, sig)
			checkCanonicalMatchesOracle(t, appended)
		})
	}
}

// canonicalCases are hand-written documents for the parts of the fingerprint
// the built messages do not exercise. They also seed the fuzz target.
var canonicalCases = []struct {
	name string
	xml  string
	rs   etree.ReadSettings
}{
	{name: "unsorted attributes", xml: `<R xmlns="urn:r"><H id="1"/><B z="1" b="2" p:a="3" xmlns:p="urn:p" a="4" A="5" p:A="6" xmlns="urn:r"><C y="" x=""/></B></R>`},
	{name: "root attributes other than namespaces dropped", xml: `<R version="1.0" xmlns:z="urn:z" guid="M-1" xmlns="urn:r" xmlns:a="urn:a"><H/><B/></R>`},
	{name: "duplicate namespace declarations on the root", xml: `<R xmlns:b="urn:1" xmlns="urn:r" xmlns:b="urn:2" x="1" x="2"><H/><B q="1" q="2" a="0"/></R>`, rs: etree.ReadSettings{PreserveDuplicateAttrs: true}},
	{name: "duplicate attributes merged by the parser", xml: `<R xmlns:b="urn:1" xmlns:b="urn:2"><H/><B q="1" q="2" a="0"/></R>`},
	{name: "prefixed root", xml: `<m:Msg xmlns:m="urn:m" m:v="1"><m:Head/><m:Body m:k="v" k="w">t</m:Body></m:Msg>`},
	{name: "namespace declarations on inner elements", xml: `<R xmlns="urn:r"><H/><B xmlns="urn:b" xmlns:q="urn:q"><q:C xmlns:q="urn:q2" q:x="1"/></B></R>`},
	{name: "comments, PIs, directives, whitespace", xml: "<?xml version=\"1.0\"?>\n<!DOCTYPE R>\n<!-- lead -->\n<R>\n  <!-- c -->\n  <H>\n    <X/>\n  </H>\n  <?pi data?>\n  <B>\n\t<C>  text  </C>\r\n  <!DOCTYPE x>\n  <D> </D>\n </B>\n</R>\n<!-- trail -->"},
	{name: "CDATA read as text", xml: `<R><H/><B><![CDATA[a < b & c > d]]><C><![CDATA[   ]]></C><D>x<![CDATA[y]]>z</D></B></R>`},
	{name: "CDATA preserved", xml: `<R><H/><B><![CDATA[a < b & c > d "q" 'a']]><C><![CDATA[   ]]></C><D>x<![CDATA[y]]>z</D><E><![CDATA[]]></E></B></R>`, rs: etree.ReadSettings{PreserveCData: true}},
	{name: "escaping", xml: "<R><H/><B a=\"&amp; &lt; &gt; &quot; ' &#9; &#10; &#13;\" b='\"'>&amp; &lt; &gt; \" &apos; \t \n &#13; end</B></R>"},
	{name: "Vietnamese and Chinese", xml: `<R><H/><B tên="Nguyễn Văn An" 名="阮文安">Công ty TNHH Xuất nhập khẩu Nông sản Lạng Sơn 凭祥市宏发水果贸易有限公司 桂A12345 🚚</B></R>`},
	{name: "Unicode spaces only", xml: "<R><H/><B><C>\u00a0</C><D>\u2003\u0085</D><E>\u00a0x\u00a0</E><F>\u200b</F></B></R>"},
	{name: "literal U+FFFD", xml: "<R><H/><B a=\"\ufffd\">\ufffd</B></R>"},
	{name: "no envelope", xml: `<R xmlns="urn:r">only text</R>`},
	{name: "empty root", xml: `<R/>`},
	{name: "root with only an envelope", xml: `<R><H><X/></H></R>`},
	{name: "empty elements", xml: `<R><H/><B><C/><D></D><E a="1"/><F>  </F></B></R>`},
	{name: "text around the envelope", xml: `<R>before<H/>between<B/>after</R>`},
	{name: "signature first", xml: `<R xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:Signature><ds:SignedInfo/></ds:Signature><H/><B/></R>`},
	{name: "signature last", xml: `<R><H/><B/><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"/></R>`},
	{name: "signature in the middle, default namespace", xml: `<R><H/><Signature xmlns="http://www.w3.org/2000/09/xmldsig#"/><B/></R>`},
	{name: "signatures only", xml: `<R xmlns="http://www.w3.org/2000/09/xmldsig#"><Signature/><Signature/></R>`},
	{name: "two signatures and two candidates", xml: `<R xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:Signature/><H/><ds:Signature/><B/><C/></R>`},
	{name: "signature in another namespace", xml: `<R xmlns:ds="urn:not-dsig"><H/><ds:Signature/><B/></R>`},
	{name: "signature in another namespace as envelope", xml: `<R><Signature xmlns="urn:x"/><H/><B/></R>`},
	{name: "signature without a namespace", xml: `<R><H/><Signature/><B/></R>`},
	{name: "signature prefix redeclared", xml: `<R xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><H/><ds:Signature xmlns:ds="urn:other"/><B/></R>`},
	{name: "signature prefix declared twice on the root", xml: `<R xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:ds="urn:other"><H/><ds:Signature/><B/></R>`, rs: etree.ReadSettings{PreserveDuplicateAttrs: true}},
	{name: "signature prefix declared twice on the root, last wins", xml: `<R xmlns:ds="urn:other" xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><H/><ds:Signature/><B/></R>`, rs: etree.ReadSettings{PreserveDuplicateAttrs: true}},
	{name: "inner signature kept", xml: `<R><H/><B><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"/></B></R>`},
	{name: "root named Signature", xml: `<Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><H/><B/></Signature>`},
}

func TestCanonicalMatchesOracleOnHandWrittenDocuments(t *testing.T) {
	for _, c := range canonicalCases {
		t.Run(c.name, func(t *testing.T) {
			checkCanonicalMatchesOracle(t, parse(t, c.xml, c.rs))
		})
	}
}

// TestCanonicalMatchesOracleOnBuiltTrees covers trees no parser produces:
// characters XML cannot carry, names with colons in them, CDATA holding
// and "]]>".
func TestCanonicalMatchesOracleOnBuiltTrees(t *testing.T) {
	tests := []struct {
		name  string
		build func(root *etree.Element)
	}{
		{"control characters and bad UTF-8", func(root *etree.Element) {
			root.CreateElement("H")
			b := root.CreateElement("B")
			odd := "a\x00b\x01c\x7fd\xffe\xc3f\xed\xa0\x80g\uffffh\ufffei\U0010FFFFj\r\n\tk"
			b.CreateAttr("v", odd)
			b.CreateText(odd)
			b.CreateElement("C").CreateText("\x00")
		}},
		{"CDATA holding ]]>", func(root *etree.Element) {
			root.CreateElement("H")
			b := root.CreateElement("B")
			b.CreateCData("a]]>b]]]]>c]]")
			b.CreateCData(" \t ")
			b.CreateCData("]]>")
		}},
		{"whitespace text made through the API", func(root *etree.Element) {
			root.CreateElement("H")
			b := root.CreateElement("B")
			b.CreateText("x").SetData("  ")
			b.AddChild(etree.NewText(" \n"))
			b.AddChild(etree.NewText("\u00a0"))
			b.CreateElement("C").SetText("\r\n")
		}},
		{"many attributes with repeated names", func(root *etree.Element) {
			root.CreateElement("H")
			b := root.CreateElement("B")
			// Equal names must keep their order; short lists are sorted by
			// insertion, which keeps it whatever the sort, so make it long.
			for i := range 64 {
				b.Attr = append(b.Attr, etree.Attr{Space: []string{"", "p"}[i*7%3%2], Key: string(rune('a' + i*5%4)), Value: strconv.Itoa(i)})
			}
		}},
		{"colons in keys", func(root *etree.Element) {
			root.Attr = append(root.Attr, etree.Attr{Space: "xmlns", Key: "p:q", Value: "urn:pq"}, etree.Attr{Key: "xmlns:r", Value: "urn:r"})
			root.CreateElement("H")
			b := root.CreateElement("B")
			b.Attr = append(b.Attr, etree.Attr{Key: "z:y", Value: "1"}, etree.Attr{Space: "a", Key: "b:c", Value: "2"}, etree.Attr{Key: "a", Value: "3"})
		}},
		{"empty namespace declaration", func(root *etree.Element) {
			root.Attr = append(root.Attr, etree.Attr{Space: "xmlns", Key: "", Value: "urn:e"}, etree.Attr{Key: "xmlns"})
			root.CreateElement("H")
			root.CreateElement("B")
		}},
		{"the same element twice", func(root *etree.Element) {
			h := root.CreateElement("H")
			root.CreateElement("B").CreateText("b")
			root.Child = append(root.Child, h)
		}},
		{"attributes on the document", func(root *etree.Element) {
			d := root.Parent()
			d.CreateAttr("xmlns:ds", xmldsigNS)
			root.CreateElement("H")
			root.CreateElement("ds:Signature")
			root.CreateElement("B")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := etree.NewDocument()
			tt.build(doc.CreateElement("R"))
			checkCanonicalMatchesOracle(t, doc)
		})
	}
}

func TestCanonicalWithoutRoot(t *testing.T) {
	onlyComment := etree.NewDocument()
	onlyComment.CreateComment("nothing")
	for name, doc := range map[string]*etree.Document{"nil": nil, "empty": etree.NewDocument(), "comment": onlyComment} {
		t.Run(name, func(t *testing.T) {
			checkCanonicalMatchesOracle(t, doc)
			if _, err := Canonical(doc); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func FuzzCanonicalMatchesOracle(f *testing.F) {
	for _, c := range canonicalCases {
		f.Add(readSettingsByte(c.rs), []byte(c.xml))
	}
	for _, m := range builtMessages(f) {
		b, err := m.doc.WriteToBytes()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(byte(0), b)
		f.Add(byte(1), b)
	}
	f.Fuzz(func(t *testing.T, settings byte, data []byte) {
		doc := etree.NewDocument()
		doc.ReadSettings = etree.ReadSettings{
			PreserveCData:          settings&1 != 0,
			PreserveDuplicateAttrs: settings&2 != 0,
			Permissive:             settings&4 != 0,
		}
		if err := doc.ReadFromBytes(data); err != nil {
			t.Skip()
		}
		checkCanonicalMatchesOracle(t, doc)
	})
}

func readSettingsByte(rs etree.ReadSettings) byte {
	var b byte
	if rs.PreserveCData {
		b |= 1
	}
	if rs.PreserveDuplicateAttrs {
		b |= 2
	}
	if rs.Permissive {
		b |= 4
	}
	return b
}

// BenchmarkCanonical compares the fingerprint of real submit messages as
// the oracle (the copy-and-rewrite implementation) and Canonical take it.
func BenchmarkCanonical(b *testing.B) {
	docs := map[string]*etree.Document{}
	for _, m := range builtMessages(b) {
		docs[m.name] = m.doc
	}
	for _, name := range []string{"customs", "guangxi"} {
		doc := docs["huu-nghi-export.json/"+name+"/"+string(message.Submit)]
		for _, impl := range []struct {
			name string
			fn   func(*etree.Document) ([]byte, error)
		}{{"oracle", canonicalOracle}, {"direct", Canonical}} {
			b.Run(name+"/"+impl.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := impl.fn(doc); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestAmendDiffFollowsTheModel: on the goods-items form, an amendment
// changes the canonical content of exactly the agencies whose mapped
// fields changed — what decides which agencies get a replacement.
func TestAmendDiffFollowsTheModel(t *testing.T) {
	r := loadRegistry(t)
	canon := func(d map[string]any, agency string) string {
		t.Helper()
		doc, _, err := r.Build(agency, message.Submit, d, canonEnv(message.Submit), testGate)
		if err != nil {
			t.Fatalf("%s: %v", agency, err)
		}
		c, err := Canonical(doc)
		if err != nil {
			t.Fatal(err)
		}
		return string(c)
	}
	item := func(d map[string]any, c, i int) map[string]any {
		return d["consignments"].([]any)[c].(map[string]any)["goodsItems"].([]any)[i].(map[string]any)
	}
	all := []string{"borderguard", "customs", "guangxi", "vehicleregistry"}
	tests := []struct {
		name string
		edit func(map[string]any)
		want []string
	}{
		{"CN line of the second item", func(d map[string]any) { item(d, 0, 1)["hsCodeCN"] = "0810909010" }, []string{"guangxi"}},
		{"VN line of the second item", func(d map[string]any) { item(d, 0, 1)["hsCodeVN"] = "08109099" }, []string{"customs"}},
		{"net mass", func(d map[string]any) { item(d, 1, 0)["netWeightKg"] = 8000 }, []string{"customs", "guangxi"}},
		{"reefer set point", func(d map[string]any) {
			d["consignments"].([]any)[0].(map[string]any)["containers"].([]any)[0].(map[string]any)["setTemperatureC"] = 12
		}, []string{"customs", "guangxi"}},
		{"a consignment's consignee", func(d map[string]any) {
			d["consignments"].([]any)[1].(map[string]any)["consignee"].(map[string]any)["name"] = "Other Co., Ltd."
		}, []string{"customs", "guangxi"}},
		{"the carrier", func(d map[string]any) { d["carrier"].(map[string]any)["taxCode"] = "4900765433" }, []string{"borderguard", "customs", "vehicleregistry"}},
		{"driving licence", func(d map[string]any) {
			d["drivers"].([]any)[0].(map[string]any)["licence"].(map[string]any)["number"] = "200123456790"
		}, []string{"borderguard", "guangxi"}},
		{"transport document", func(d map[string]any) {
			d["consignments"].([]any)[0].(map[string]any)["transportDocument"].(map[string]any)["number"] = "CMR-DD-2026-004599"
		}, []string{"customs", "guangxi"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, after := declFile(t, "export.json"), declFile(t, "export.json")
			tc.edit(after)
			var got []string
			for _, a := range all {
				if canon(before, a) != canon(after, a) {
					got = append(got, a)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("content changed for %v, want %v", got, tc.want)
			}
		})
	}
}
