package mapping

import (
	"bytes"
	"encoding/json"
	"errors"
	"github.com/gatehub/gatehub/internal/message"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/beevik/etree"

	"github.com/gatehub/gatehub/internal/agencies"
	"github.com/gatehub/gatehub/internal/codelist"
	"github.com/gatehub/gatehub/internal/gate"
)

const mappingsDir = "../../mappings"

var testGate = map[string]any{"code": "HUUNGHI", "name": "Hữu Nghị", "province": "Lạng Sơn", "counterpartName": "Youyiguan", "counterpartNameCN": "友谊关", "counterpartPortCode": "7216"}

func loadRegistry(t *testing.T) *Registry {
	t.Helper()
	r, err := Load(mappingsDir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func sampleDecl(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile("../../conformance-tests/declarations/huu-nghi-export.json")
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func env(kind message.Kind) Envelope {
	e := Envelope{MessageID: "M-1", Kind: kind, Sender: "hub", Receiver: "customs", DeclarationID: "D-1", Version: 1,
		CreatedAt: time.Date(2025, 11, 26, 1, 15, 0, 0, time.UTC)}
	if kind != message.Submit {
		e.PreviousMessageID = "M-0"
	}
	return e
}

func bytesOf(t *testing.T, d *etree.Document) []byte {
	t.Helper()
	b, err := d.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const testCodeList = "list: dir\nsource: test\nversion: \"1\"\ncodes:\n  export: EX\n"

func TestTransforms(t *testing.T) {
	codes, err := codelist.Load(fstest.MapFS{"codes/dir.yaml": {Data: []byte(testCodeList)}}, "codes")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		spec, in, want string
		wantErr        bool
	}{
		{"upper", "lzz5blsj8kd123456", "LZZ5BLSJ8KD123456", false},
		{"lower", "ABC", "abc", false},
		{"trim", "  x ", "x", false},
		{"date", "2026-05-31", "2026-05-31", false},
		{"date:20060102", "2026-05-31", "20260531", false},
		{"date:20060102", "2025-11-26T23:30:00+07:00", "20251126", false},
		{"date", "31/05/2026", "", true},
		{"datetime", "2025-11-26T08:30:00+07:00", "2025-11-26T01:30:00Z", false},
		{"datetime", "2025-11-26T01:30:00.987654321Z", "2025-11-26T01:30:00Z", false},
		{"datetime", "yesterday", "", true},
		{"datetime_cn", "2025-11-26T01:30:00Z", "20251126093000", false},
		{"kg_to_tonnes", "38500", "38.500", false},
		{"kg_to_tonnes", "14250.5", "14.251", false},
		{"kg_to_tonnes", "heavy", "", true},
		{"decimal2", "48750.5", "48750.50", false},
		{"decimal2", "0.125", "0.13", false},
		{"decimal3", "15600.25", "15600.250", false},
		{"int", "1200", "1200", false},
		{"int", "12.5", "", true},
		{"code:dir", "export", "EX", false},
		{"code:dir", "import", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.spec+"/"+tc.in, func(t *testing.T) {
			tr, err := parseTransform(tc.spec, codes)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tr.forward(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
	for _, bad := range []string{"rot13", "code:nosuchlist", "upper:x", "date:"} {
		if _, err := parseTransform(bad, codes); err == nil {
			t.Errorf("parseTransform(%q) accepted", bad)
		}
	}
}

// writeTree lays out a mappings directory for load-error tests.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const header = `agency: x
kind: submit
mappingVersion: "1"
schema: x/x-1.0.xsd
schemaVersion: "1.0"
root: R
namespace: urn:x
envelope: Header
rules:
  - {path: Header/MessageID, source: message.id}
`

func TestLoadErrorsPointAtFileLine(t *testing.T) {
	codes := testCodeList
	tests := []struct {
		name, body, want string
	}{
		{"unknown transform", header + "  - {path: A, source: declaration.gate, transform: rot13}\n", "submit.yaml:11: unknown transform"},
		{"unknown code list", header + "  - {path: A, source: declaration.gate, transform: code:nope}\n", "submit.yaml:11: transform \"code:nope\": unknown code list"},
		{"malformed xml path", header + "  - {path: A//B, source: declaration.gate}\n", "submit.yaml:11: path \"A//B\""},
		{"attribute not last", header + "  - {path: A/@b/C, source: declaration.gate}\n", "submit.yaml:11: path \"A/@b/C\": attribute must be the last segment"},
		{"malformed source", header + "  - {path: A, source: declaration..gate}\n", "submit.yaml:11: malformed source path"},
		{"unknown declaration field", header + "  - {path: A, source: declaration.vehicle.plate}\n", "submit.yaml:11: source \"declaration.vehicle.plate\": Vehicle has no field \"plate\""},
		{"unknown message field", header + "  - {path: A, source: message.idd}\n", "submit.yaml:11: source \"message.idd\""},
		{"item outside each", header + "  - {path: A, source: item.hsCode}\n", "submit.yaml:11: source \"item.hsCode\": item is only valid inside each"},
		{"each not a list", header + "  - path: A\n    each: declaration.vehicle\n    rules:\n      - {path: B, const: x}\n", "submit.yaml:12: each \"declaration.vehicle\" is not a list"},
		{"nested item field", header + "  - path: A\n    each: declaration.consignments\n    rules:\n      - {path: B, source: item.hs}\n", "submit.yaml:14: source \"item.hs\": Consignment has no field \"hs\""},
		{"unknown key", header + "  - {path: A, sauce: declaration.gate}\n", "submit.yaml:11: unknown key \"sauce\""},
		{"two value kinds", header + "  - {path: A, source: declaration.gate, const: x}\n", "submit.yaml:11: rule \"A\": use only one of"},
		{"volatile outside envelope", header + "  - {path: Body/When, source: message.createdAt}\n", "submit.yaml:11: message.createdAt changes with every message"},
		{"missing key", strings.Replace(header, "root: R\n", "", 1), "submit.yaml:1: missing required key \"root\""},
		{"bad yaml", header + "  - {path: A, source: [\n", "submit.yaml"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeTree(t, map[string]string{"codes/dir.yaml": codes, "x/submit.yaml": tc.body})
			_, err := Load(dir)
			if err == nil {
				t.Fatal("Load accepted a broken mapping")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
	t.Run("override without match", func(t *testing.T) {
		dir := writeTree(t, map[string]string{
			"x/submit.yaml": header,
			"x/amend.yaml":  "extends: submit.yaml\nkind: amend\noverride:\n  - {path: Header/Nope, const: x}\n",
		})
		_, err := Load(dir)
		if err == nil || !strings.Contains(err.Error(), "amend.yaml:4: override \"Header/Nope\"") {
			t.Fatalf("got %v", err)
		}
	})
}

func TestBuildMissingRequiredNamesFileAndRule(t *testing.T) {
	r := loadRegistry(t)
	d := sampleDecl(t)
	d["vehicle"].(map[string]any)["vin"] = ""
	_, _, err := r.Build("customs", message.Submit, d, env(message.Submit), testGate)
	if err == nil {
		t.Fatal("built without a VIN")
	}
	for _, want := range []string{"customs/submit.yaml:", "VehicleIdentificationNumber", "declaration.vehicle.vin", "empty"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if _, _, err := r.Build("customs", message.Amend, sampleDecl(t), Envelope{MessageID: "M"}, testGate); err == nil {
		t.Error("amend without previous message id accepted")
	}
}

func TestBuildDeterministic(t *testing.T) {
	r := loadRegistry(t)
	for _, agency := range r.Agencies() {
		for _, kind := range []message.Kind{message.Submit, message.Amend, message.Cancel} {
			var first []byte
			for i := 0; i < 5; i++ {
				// A fresh decode each time: map iteration order must not leak into the output.
				doc, _, err := r.Build(agency, kind, sampleDecl(t), env(kind), testGate)
				if err != nil {
					t.Fatalf("%s %s: %v", agency, kind, err)
				}
				b := bytesOf(t, doc)
				if !bytes.HasPrefix(b, []byte(`<?xml version="1.0" encoding="UTF-8"?>`)) {
					t.Fatalf("%s %s: no XML declaration", agency, kind)
				}
				if first == nil {
					first = b
				} else if !bytes.Equal(first, b) {
					t.Fatalf("%s %s: output differs between runs", agency, kind)
				}
			}
		}
	}
}

func TestRepeatingGroups(t *testing.T) {
	r := loadRegistry(t)
	doc, _, err := r.Build("customs", message.Submit, sampleDecl(t), env(message.Submit), testGate)
	if err != nil {
		t.Fatal(err)
	}
	cons := doc.FindElements("/RoadManifestSubmit/Declaration/Consignment")
	if len(cons) != 2 {
		t.Fatalf("got %d consignments, want 2", len(cons))
	}
	wantHS := []string{"08106000", "08045020"}
	wantCont := []string{"MSKU1234565", "TGHU7654320"}
	for i, c := range cons {
		if got := c.FindElement("SequenceNumeric").Text(); got != []string{"1", "2"}[i] {
			t.Errorf("consignment %d sequence %q", i, got)
		}
		if got := c.FindElement("GoodsItem/Commodity/Classification/ID").Text(); got != wantHS[i] {
			t.Errorf("consignment %d HS %q", i, got)
		}
		eq := c.FindElements("TransportEquipment")
		if len(eq) != 1 || eq[0].FindElement("ID").Text() != wantCont[i] || eq[0].FindElement("SequenceNumeric").Text() != "1" {
			t.Errorf("consignment %d containers wrong", i)
		}
	}
	if n := len(doc.FindElements("//AdditionalDocument")); n != 2 {
		t.Errorf("got %d AdditionalDocument, want 2", n)
	}

	// Border guard: a driver with only an ID card gets one TravelDocument;
	// the optional passport group disappears with its constant TypeCode.
	d := sampleDecl(t)
	d["drivers"].([]any)[0].(map[string]any)["passport"] = ""
	doc, _, err = r.Build("borderguard", message.Submit, d, env(message.Submit), testGate)
	if err != nil {
		t.Fatal(err)
	}
	td := doc.FindElements("//Person/TravelDocument")
	if len(td) != 1 || td[0].FindElement("TypeCode").Text() != "IDCARD" {
		t.Fatalf("travel documents: %d", len(td))
	}

	// Optional nested each: no containers, no TransportEquipment, no error.
	d = sampleDecl(t)
	for _, c := range d["consignments"].([]any) {
		delete(c.(map[string]any), "containers")
	}
	doc, _, err = r.Build("customs", message.Submit, d, env(message.Submit), testGate)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(doc.FindElements("//TransportEquipment")); n != 0 {
		t.Fatalf("got %d TransportEquipment", n)
	}
	// Required each: no consignments is an error the trader can fix,
	// pointing at the field.
	d["consignments"] = []any{}
	_, _, err = r.Build("customs", message.Submit, d, env(message.Submit), testGate)
	var ve *ValueError
	if !errors.As(err, &ve) || !ve.Missing || ve.Pointer != "/consignments" {
		t.Fatalf("got %v, want a missing-value error at /consignments", err)
	}
	delete(d, "consignments")
	if _, _, err = r.Build("customs", message.Submit, d, env(message.Submit), testGate); !errors.As(err, &ve) || ve.Pointer != "/consignments" {
		t.Fatalf("absent consignments: got %v", err)
	}
}

func TestCancelIsMinimal(t *testing.T) {
	r := loadRegistry(t)
	e := env(message.Cancel)
	e.Reason = "Trip called off"
	doc, _, err := r.Build("customs", message.Cancel, sampleDecl(t), e, testGate)
	if err != nil {
		t.Fatal(err)
	}
	if doc.FindElement("//Declaration") != nil || doc.FindElement("//Cancellation/Reason").Text() != "Trip called off" {
		t.Fatalf("unexpected cancel:\n%s", bytesOf(t, doc))
	}
	if doc.FindElement("//Header/PreviousMessageID").Text() != "M-0" {
		t.Fatal("cancel lacks the previous message id")
	}
}

func TestParseAckRoundTrip(t *testing.T) {
	r := loadRegistry(t)
	issued := time.Date(2025, 11, 26, 2, 0, 0, 0, time.UTC)
	acks := []AckFields{
		{AckID: "A-1", RefMessageID: "M-1", Status: "ACK", IssuedAt: issued},
		{AckID: "A-2", RefMessageID: "M-2", Status: "NACK", ReasonCode: "E102", ReasonText: "许可证已过期", IssuedAt: issued},
	}
	for _, agency := range r.Agencies() {
		for _, a := range acks {
			doc, info, err := r.BuildAck(agency, a, Envelope{Sender: agency, Receiver: "hub"})
			if err != nil {
				t.Fatalf("%s: %v", agency, err)
			}
			if info.Kind != message.Ack || info.Root != doc.Root().Tag {
				t.Fatalf("%s: info %+v", agency, info)
			}
			// Re-parse from bytes, as the hub receives it.
			in := etree.NewDocument()
			if err := in.ReadFromBytes(bytesOf(t, doc)); err != nil {
				t.Fatal(err)
			}
			got, err := r.ParseAck(agency, in.Root())
			if err != nil {
				t.Fatalf("%s: %v", agency, err)
			}
			if got != a {
				t.Fatalf("%s: got %+v want %+v", agency, got, a)
			}
		}
	}
	// Wrong root and wrong namespace are refused.
	doc, _, _ := r.BuildAck("customs", acks[0], Envelope{Sender: "customs", Receiver: "hub"})
	if _, err := r.ParseAck("borderguard", doc.Root()); err == nil {
		t.Error("borderguard accepted a customs ack")
	}
	doc.Root().RemoveAttr("xmlns")
	doc.Root().CreateAttr("xmlns", "urn:evil")
	if _, err := r.ParseAck("customs", doc.Root()); err == nil {
		t.Error("wrong namespace accepted")
	}
	// A duplicated status element is refused rather than read either way.
	doc, _, _ = r.BuildAck("customs", acks[0], Envelope{Sender: "customs", Receiver: "hub"})
	resp := doc.FindElement("//Response")
	dup := resp.CreateElement("Status")
	dup.SetText("NACK")
	if _, err := r.ParseAck("customs", doc.Root()); err == nil || !strings.Contains(err.Error(), "more than once") {
		t.Errorf("duplicate Status: %v", err)
	}
	if _, _, err := r.BuildAck("customs", AckFields{AckID: "A", RefMessageID: "M", Status: "NACK", IssuedAt: issued}, Envelope{}); err == nil {
		t.Error("NACK without reason code accepted")
	}
}

func TestCanonical(t *testing.T) {
	r := loadRegistry(t)
	for _, agency := range r.Agencies() {
		t.Run(agency, func(t *testing.T) {
			sub, _, err := r.Build(agency, message.Submit, sampleDecl(t), env(message.Submit), testGate)
			if err != nil {
				t.Fatal(err)
			}
			// Same content as an amendment: new id, kind, version, time, previous id.
			e := env(message.Amend)
			e.MessageID, e.Version, e.CreatedAt = "M-9", 2, e.CreatedAt.Add(time.Hour)
			am, _, err := r.Build(agency, message.Amend, sampleDecl(t), e, testGate)
			if err != nil {
				t.Fatal(err)
			}
			c1, err := Canonical(sub)
			if err != nil {
				t.Fatal(err)
			}
			c2, _ := Canonical(am)
			if !bytes.Equal(c1, c2) {
				t.Fatalf("envelope-only change altered canonical form:\n%s\n%s", c1, c2)
			}
			// A signature does not change the content either.
			sig := am.Root().CreateElement("ds:Signature")
			sig.CreateAttr("xmlns:ds", xmldsigNS)
			if c3, _ := Canonical(am); !bytes.Equal(c1, c3) {
				t.Fatal("signature altered canonical form")
			}
			// A body change is seen.
			d := sampleDecl(t)
			d["consignments"].([]any)[1].(map[string]any)["grossWeightKg"] = 8650
			changed, _, err := r.Build(agency, message.Amend, d, e, testGate)
			if err != nil {
				t.Fatal(err)
			}
			d2 := sampleDecl(t)
			d2["vehicle"].(map[string]any)["vin"] = "LZZ5BLSJ8KD654321"
			changedVIN, _, _ := r.Build(agency, message.Amend, d2, e, testGate)
			c4, _ := Canonical(changed)
			c5, _ := Canonical(changedVIN)
			// Which fields the agency carries, from its mapping file.
			submit, err := os.ReadFile(filepath.Join(mappingsDir, agency, "submit.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			carries := func(source string) bool { return bytes.Contains(submit, []byte(source)) }
			if carries("item.grossWeightKg") {
				if bytes.Equal(c1, c4) {
					t.Fatal("consignment weight change not seen")
				}
			} else if !bytes.Equal(c1, c4) {
				t.Fatal("change outside this agency's content altered its hash")
			}
			if carries("declaration.vehicle.vin") == bytes.Equal(c1, c5) {
				t.Fatalf("VIN change seen = %v, want %v (the agency carries the VIN)", !bytes.Equal(c1, c5), carries("declaration.vehicle.vin"))
			}
		})
	}
}

// TestGenericContextAsJSON: the shortcut for flat string maps gives what the
// JSON round trip gives, and anything else still takes the round trip.
func TestGenericContextAsJSON(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   map[string]any
	}{
		{"nil", nil},
		{"empty", map[string]any{}},
		{"strings", map[string]any{"code": "HUUNGHI", "counterpartNameCN": "友谊关", "empty": ""}},
		{"number", map[string]any{"code": "HUUNGHI", "lanes": 4}},
		{"nested", map[string]any{"code": "HUUNGHI", "counterpart": map[string]string{"name": "Youyiguan"}}},
		{"nil value", map[string]any{"code": nil}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := genericContext(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			want, err := toGeneric(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("genericContext = %#v, JSON round trip = %#v", got, want)
			}
		})
	}
}

// sentTo reports whether the shipped gate of decl sends it to agency (an
// empty truck, for one, is not declared to customs).
func sentTo(tb testing.TB, decl map[string]any, agency string) bool {
	tb.Helper()
	known, err := agencies.LoadDir("../../deploy/agencies")
	if err != nil {
		tb.Fatal(err)
	}
	set, err := gate.LoadDir("../../deploy/gates", known)
	if err != nil {
		tb.Fatal(err)
	}
	g, ok := set.Gate(decl["gate"].(string))
	if !ok {
		tb.Fatalf("no gate %v", decl["gate"])
	}
	return slices.Contains(g.RequiredAgencies(decl["direction"].(string), decl["cargoKind"].(string)), agency)
}
