package simulator

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
)

func parseXML(t *testing.T, xml string) *etree.Element {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromString(xml); err != nil {
		t.Fatal(err)
	}
	return doc.Root()
}

// verdict runs the shipped rules of an agency on root.
func verdict(t *testing.T, code string, root *etree.Element, now time.Time) Verdict {
	t.Helper()
	f, err := LoadRules(rulesDir, code)
	if err != nil {
		t.Fatal(err)
	}
	rules, err := f.Compile()
	if err != nil {
		t.Fatal(err)
	}
	return Evaluate(rules, root, now)
}

type goodsLine struct{ hs, kg string }

func manifest(totalKg string, lines ...goodsLine) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<RoadManifestSubmit xmlns="urn:gatehub:customs:road-manifest:1"><Declaration>
<TotalGrossMassMeasure unitCode="KGM">%s</TotalGrossMassMeasure>`, totalKg)
	for i, l := range lines {
		fmt.Fprintf(&b, `<Consignment><SequenceNumeric>%d</SequenceNumeric><GoodsItem>
<Commodity><Classification><ID>%s</ID></Classification></Commodity>
<GoodsMeasure><GrossMassMeasure unitCode="KGM">%s</GrossMassMeasure></GoodsMeasure></GoodsItem></Consignment>`, i+1, l.hs, l.kg)
	}
	b.WriteString(`</Declaration></RoadManifestSubmit>`)
	return b.String()
}

func crew(people ...string) string {
	return `<CrossingNoticeSubmit xmlns="urn:gatehub:borderguard:crossing-notice:1"><Crossing><Crew>` +
		strings.Join(people, "") + `</Crew></Crossing></CrossingNoticeSubmit>`
}

func person(name, pass string) string {
	return "<Person><FullName>" + name + "</FullName>" + pass + "</Person>"
}

func pass(number, expiry string) string {
	return "<BorderPass><Number>" + number + "</Number><ExpiryDate>" + expiry + "</ExpiryDate></BorderPass>"
}

func vehicle(inspection, permit string) string {
	return fmt.Sprintf(`<VehicleCrossingSubmit xmlns="urn:gatehub:vehicleregistry:vehicle-crossing:1">
  <Crossing><Vehicle>
    <InspectionCertificate><Number>KD-1</Number>%s</InspectionCertificate>
    <CrossBorderPermit><Number>GP-2</Number>%s</CrossBorderPermit>
  </Vehicle></Crossing></VehicleCrossingSubmit>`, inspection, permit)
}

func exp(d string) string { return "<ExpiryDate>" + d + "</ExpiryDate>" }

func gxbt(vehicle string) string {
	return `<GXBT101Message xmlns="urn:chinaport.gov.cn:gxbt:1" guid="m1" version="1.0"><BorderTransport><Vehicle>` +
		vehicle + `</Vehicle></BorderTransport></GXBT101Message>`
}

func notice(lines ...goodsLine) string {
	var b strings.Builder
	b.WriteString(`<PhytosanitaryNoticeSubmit xmlns="urn:gatehub:plantquarantine:phytosanitary-notice:1"><Notice><Consignment>`)
	for i, l := range lines {
		fmt.Fprintf(&b, `<Commodity><SequenceNumeric>%d</SequenceNumeric><HSCode>%s</HSCode><Description>goods</Description><GrossMassKg>%s</GrossMassKg></Commodity>`, i+1, l.hs, l.kg)
	}
	b.WriteString(`</Consignment></Notice></PhytosanitaryNoticeSubmit>`)
	return b.String()
}

// The shipped simulator rule files, case by case: the same cases the Go
// rules they replace were tested with.
func TestShippedRules(t *testing.T) {
	bgNow := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	vrNow := time.Date(2026, 11, 24, 20, 0, 0, 0, time.UTC) // the 25th in Viet Nam
	tests := []struct {
		agency, name, xml string
		now               time.Time
		wantCode          string
		wantText          string
	}{
		{"customs", "fruit within total", manifest("12000", goodsLine{"081190", "8000"}, goodsLine{"0810909000", "3999.5"}), time.Time{}, "", ""},
		{"customs", "exactly at total", manifest("12000", goodsLine{"081190", "12000"}), time.Time{}, "", ""},
		{"customs", "goods heavier than total", manifest("12000", goodsLine{"081190", "8000"}, goodsLine{"081090", "4100"}), time.Time{}, "CUS-WEIGHT-MISMATCH", "12100.000"},
		{"customs", "arms", manifest("12000", goodsLine{"081190", "10"}, goodsLine{"930190", "10"}), time.Time{}, "CUS-HS-PROHIBITED", "consignment 2"},
		{"customs", "pistols", manifest("12000", goodsLine{"9302000000", "10"}), time.Time{}, "CUS-HS-PROHIBITED", "revolvers"},
		{"customs", "opium beats coca prefix 1302", manifest("12000", goodsLine{"130211", "1"}), time.Time{}, "CUS-HS-PROHIBITED", "opium"},
		{"customs", "other vegetable saps are fine", manifest("12000", goodsLine{"130219", "1"}), time.Time{}, "", ""},
		{"customs", "reserved chapter 77", manifest("12000", goodsLine{"770000", "1"}), time.Time{}, "CUS-HS-INVALID", "reserved"},
		{"customs", "too short", manifest("12000", goodsLine{"0811", "1"}), time.Time{}, "CUS-HS-INVALID", "6 to 10"},
		{"customs", "prohibited wins over weight", manifest("1", goodsLine{"930100", "50"}), time.Time{}, "CUS-HS-PROHIBITED", ""},
		{"customs", "unreadable mass", manifest("12000", goodsLine{"081190", "heavy"}), time.Time{}, "CUS-WEIGHT-MISMATCH", "not a mass"},

		{"borderguard", "driver with valid pass", crew(person("Nguyen Van A", pass("BP-1", "2027-03-01"))), bgNow, "", ""},
		{"borderguard", "pass expiring today", crew(person("Nguyen Van A", pass("BP-1", "2026-11-25"))), bgNow, "", ""},
		{"borderguard", "driver pass expired", crew(person("Nguyen Van A", pass("BP-1", "2026-11-24"))), bgNow, "BG-PASS-EXPIRED", "BP-1 of Nguyen Van A expired on 2026-11-24 (today is 2026-11-25)"},
		{"borderguard", "co-driver pass expired", crew(person("Nguyen Van A", pass("BP-1", "2027-03-01")), person("Tran Van B", pass("BP-2", "2025-01-01"))), bgNow, "BG-PASS-EXPIRED", "Tran Van B"},
		{"borderguard", "no pass element", crew(person("Nguyen Van A", "")), bgNow, "BG-PASS-MISSING", "Nguyen Van A has no border pass"},
		{"borderguard", "unnamed crew member", crew(person("", "")), bgNow, "BG-PASS-MISSING", "crew member 1 has no border pass"},
		{"borderguard", "empty pass number", crew(person("Nguyen Van A", pass("", "2027-01-01"))), bgNow, "BG-PASS-MISSING", ""},
		{"borderguard", "no crew", crew(), bgNow, "BG-PASS-MISSING", "nobody"},

		{"vehicleregistry", "both valid", vehicle(exp("2027-01-01"), exp("2026-12-31")), vrNow, "", ""},
		{"vehicleregistry", "expiring today is still valid", vehicle(exp("2026-11-25"), exp("2026-11-25+07:00")), vrNow, "", ""},
		{"vehicleregistry", "inspection expired yesterday (VN date)", vehicle(exp("2026-11-24"), exp("2027-01-01")), vrNow, "VR-INSPECTION-EXPIRED", "KD-1 expired on 2026-11-24"},
		{"vehicleregistry", "permit expired", vehicle(exp("2027-01-01"), exp("2025-06-30")), vrNow, "VR-PERMIT-EXPIRED", ""},
		{"vehicleregistry", "both expired: inspection reported first", vehicle(exp("2020-01-01"), exp("2020-01-01")), vrNow, "VR-INSPECTION-EXPIRED", ""},
		{"vehicleregistry", "unreadable date counts as expired", vehicle(exp("soon"), exp("2027-01-01")), vrNow, "VR-INSPECTION-EXPIRED", "no readable expiry date"},
		{"vehicleregistry", "missing permit date", vehicle(exp("2027-01-01"), ""), vrNow, "VR-PERMIT-EXPIRED", ""},

		{"guangxi", "CN plate present", gxbt("<VehicleNo>桂A12345</VehicleNo><Vin>LFV3A23C0J3012345</Vin>"), time.Time{}, "", ""},
		{"guangxi", "only VN plate", gxbt("<ForeignVehicleNo>12C-12345</ForeignVehicleNo>"), time.Time{}, "GX-CN-PLATE-MISSING", "Chinese"},
		{"guangxi", "blank CN plate", gxbt("<VehicleNo>  </VehicleNo>"), time.Time{}, "GX-CN-PLATE-MISSING", ""},

		{"plantquarantine", "fresh fruit", notice(goodsLine{"0810600000", "15600.25"}, goodsLine{"08045020", "8649.75"}), time.Time{}, "", ""},
		{"plantquarantine", "live plants with soil", notice(goodsLine{"0810600000", "1"}, goodsLine{"0602909000", "10"}), time.Time{}, "PQ-PEST-RISK", "commodity 2 (goods), HS 0602909000"},
	}
	for _, tt := range tests {
		t.Run(tt.agency+"/"+tt.name, func(t *testing.T) {
			v := verdict(t, tt.agency, parseXML(t, tt.xml), tt.now)
			if v.Code != tt.wantCode || !strings.Contains(v.Text, tt.wantText) || (!v.OK && v.Text == "") {
				t.Fatalf("got %q %q, want %q containing %q", v.Code, v.Text, tt.wantCode, tt.wantText)
			}
		})
	}
}

func TestGuangxiEnvelope(t *testing.T) {
	f, err := LoadRules(rulesDir, "guangxi")
	if err != nil {
		t.Fatal(err)
	}
	env, err := f.EnvelopeReader()(parseXML(t, `<GXBT102Message xmlns="urn:chinaport.gov.cn:gxbt:1" guid="msg-2" version="1.0"><Head>
<MessageType>GXBT102</MessageType><SenderID>hub</SenderID><ReceiverID>guangxi</ReceiverID><SendTime>20261125100000</SendTime>
<DeclRef>decl-1</DeclRef><DeclVersion>2</DeclVersion><OrigGuid>msg-1</OrigGuid></Head></GXBT102Message>`))
	if err != nil {
		t.Fatal(err)
	}
	if env.MessageID != "msg-2" || env.Sender != "hub" || env.Receiver != "guangxi" || env.DeclarationID != "decl-1" ||
		env.Version != 2 || env.PreviousMessageID != "msg-1" {
		t.Fatalf("envelope = %+v", env)
	}
}

func TestRuleFileErrors(t *testing.T) {
	cases := []struct {
		name string
		f    RuleFile
		want string
	}{
		{"no name", RuleFile{Rules: []RuleSpec{{Checks: []CheckSpec{{Required: "X", Failure: Failure{Code: "C"}}}}}}, "a rule needs a name"},
		{"two kinds", RuleFile{Rules: []RuleSpec{{Name: "r", Checks: []CheckSpec{{Required: "X", Date: "Y", Failure: Failure{Code: "C"}}}}}}, "exactly one of"},
		{"no code", RuleFile{Rules: []RuleSpec{{Name: "r", Checks: []CheckSpec{{Required: "X"}}}}}, "needs a code"},
		{"bad regexp", RuleFile{Rules: []RuleSpec{{Name: "r", Checks: []CheckSpec{{Pattern: &struct {
			Path   string `yaml:"path"`
			Regexp string `yaml:"regexp"`
		}{"X", "("}, Failure: Failure{Code: "C"}}}}}}, "pattern"},
		{"none without each", RuleFile{Rules: []RuleSpec{{Name: "r", None: &Failure{Code: "C"}}}}, "none needs each"},
	}
	for _, tc := range cases {
		if _, err := tc.f.Compile(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestShippedRedChannel: which agency holds trucks in the demo, where and
// why is the rule files' data; only customs ships one.
func TestShippedRedChannel(t *testing.T) {
	for _, tc := range []struct {
		code string
		want *RedChannelSpec
	}{
		{"customs", &RedChannelSpec{Checkpoint: "B1", Code: "CUS-RED-CHANNEL", Text: "physical inspection / kiểm tra thực tế", HoldAfter: 2 * time.Second}},
		{"borderguard", nil},
		{"vehicleregistry", nil},
		{"guangxi", nil},
		{"plantquarantine", nil},
	} {
		f, err := LoadRules(rulesDir, tc.code)
		if err != nil {
			t.Fatal(err)
		}
		if (f.RedChannel == nil) != (tc.want == nil) || (tc.want != nil && *f.RedChannel != *tc.want) {
			t.Errorf("%s: redChannel %+v, want %+v", tc.code, f.RedChannel, tc.want)
		}
	}
}
