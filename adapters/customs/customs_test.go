package customs

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
)

type line struct {
	hs string
	kg string
}

func manifest(t *testing.T, totalKg string, lines ...line) *etree.Element {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, `<RoadManifestSubmit xmlns="urn:gatehub:customs:road-manifest:1"><Declaration>
<TotalGrossMassMeasure unitCode="KGM">%s</TotalGrossMassMeasure>`, totalKg)
	for i, l := range lines {
		fmt.Fprintf(&b, `<Consignment><SequenceNumeric>%d</SequenceNumeric><GoodsItem>
<Commodity><Classification><ID>%s</ID></Classification></Commodity>
<GoodsMeasure><GrossMassMeasure unitCode="KGM">%s</GrossMassMeasure></GoodsMeasure></GoodsItem></Consignment>`, i+1, l.hs, l.kg)
	}
	b.WriteString(`</Declaration></RoadManifestSubmit>`)
	doc := etree.NewDocument()
	if err := doc.ReadFromString(b.String()); err != nil {
		t.Fatal(err)
	}
	return doc.Root()
}

func TestRules(t *testing.T) {
	tests := []struct {
		name     string
		total    string
		lines    []line
		wantCode string
		wantText string
	}{
		{"fruit within total", "12000", []line{{"081190", "8000"}, {"0810909000", "3999.5"}}, "", ""},
		{"exactly at total", "12000", []line{{"081190", "12000"}}, "", ""},
		{"goods heavier than total", "12000", []line{{"081190", "8000"}, {"081090", "4100"}}, CodeWeightMismatch, "12100.000"},
		{"arms", "12000", []line{{"081190", "10"}, {"930190", "10"}}, CodeHSProhibited, "consignment 2"},
		{"pistols", "12000", []line{{"9302000000", "10"}}, CodeHSProhibited, "revolvers"},
		{"opium beats coca prefix 1302", "12000", []line{{"130211", "1"}}, CodeHSProhibited, "opium"},
		{"other vegetable saps are fine", "12000", []line{{"130219", "1"}}, "", ""},
		{"reserved chapter 77", "12000", []line{{"770000", "1"}}, CodeHSInvalid, "reserved"},
		{"too short", "12000", []line{{"0811", "1"}}, CodeHSInvalid, "6 to 10"},
		{"prohibited wins over weight", "1", []line{{"930100", "50"}}, CodeHSProhibited, ""},
		{"unreadable mass", "12000", []line{{"081190", "heavy"}}, CodeWeightMismatch, "not a mass"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := manifest(t, tt.total, tt.lines...)
			code, text := "", ""
			for _, r := range Rules() {
				if ok, c, x := r.Check(root, time.Time{}); !ok {
					code, text = c, x
					break
				}
			}
			if code != tt.wantCode || !strings.Contains(text, tt.wantText) {
				t.Fatalf("got %q %q, want %q containing %q", code, text, tt.wantCode, tt.wantText)
			}
		})
	}
}

func TestScreeningListParses(t *testing.T) {
	s, err := parseScreening(screeningFile)
	if err != nil || len(s) == 0 {
		t.Fatalf("embedded list: %v (%d entries)", err, len(s))
	}
	if _, err := parseScreening([]byte("93x PROHIBITED arms")); err == nil {
		t.Fatal("bad prefix accepted")
	}
	if _, err := parseScreening([]byte("9301 BANNED arms")); err == nil {
		t.Fatal("bad verdict accepted")
	}
}
