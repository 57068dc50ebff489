package declaration

import (
	"bytes"
	"encoding/json"
	"github.com/gatehub/gatehub/internal/codelist"
	"reflect"
	"testing"
)

func TestNormalizePlate(t *testing.T) {
	tests := []struct{ in, want string }{
		{"12C-12345", "12C-12345"},
		{"12c 12345", "12C-12345"},
		{"12C12345", "12C-12345"},
		{"12C-123.45", "12C-12345"},
		{" 12c 123.45 ", "12C-12345"},
		{"12-C 123.45", "12C-12345"},
		{"29LD-01234", "29LD-01234"},
		{"29ld01234", "29LD-01234"},
		{"51F1-12345", "51F1-12345"},
		{"51F112345", "51F1-12345"},
		{"51F1 123.45", "51F1-12345"},
		{"12C1-2345", "12C1-2345"}, // explicit split kept
		{"12C-1234", "12C-1234"},
		{"12C1234", "12C-1234"},
		{"桂A12345", "桂A12345"},
		{"桂a·12345", "桂A12345"},
		{"桂A 12345", "桂A12345"},
		{"桂A-D12345", "桂AD12345"},
		{"桂A1234挂", "桂A1234挂"},
		{"", ""},
		{"   ", ""},
		{"abc-123", "ABC-123"}, // not a plate: trimmed and upper-cased only
		{"12C-1234567", "12C-1234567"},
	}
	for _, tt := range tests {
		if got := NormalizePlate(tt.in); got != tt.want {
			t.Errorf("NormalizePlate(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := NormalizePlate(tt.want); got != tt.want {
			t.Errorf("not idempotent: NormalizePlate(%q) = %q", tt.want, got)
		}
	}
}

func FuzzNormalizePlate(f *testing.F) {
	for _, s := range []string{"12c 123.45", "51F112345", "桂a·12345", "12C1-2345", "29-LD 012.34", "ǅ 1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		once := NormalizePlate(s)
		if twice := NormalizePlate(once); twice != once {
			t.Errorf("NormalizePlate(%q) = %q, then %q", s, once, twice)
		}
	})
}

func TestNormalizeIsIdempotent(t *testing.T) {
	for _, name := range []string{"huu-nghi-export.json", "tan-thanh-import.json"} {
		var d Declaration
		if err := json.Unmarshal(readTestdata(t, name), &d); err != nil {
			t.Fatal(err)
		}
		d.Normalize()
		again := d
		again.Consignments = append([]Consignment(nil), d.Consignments...)
		again.Normalize()
		if !reflect.DeepEqual(d, again) {
			t.Errorf("%s: second Normalize changed the declaration", name)
		}
	}
}

func TestNormalizeCanonicalises(t *testing.T) {
	d := Declaration{
		Direction: " Export ", CargoKind: "GENERAL", Gate: "huunghi ", Lane: "exp-1",
		Trader:                    Party{Name: "  Công ty A ", Country: "vn", TaxCode: " 0101234567 "},
		CustomsDeclarationNumbers: []string{},
		Vehicle:                   Vehicle{PlateVN: "12c 123.45", PlateCN: "桂a 12345", VIN: "lzz5blsj8kw123456"},
		Drivers:                   []Driver{{Nationality: "vn", Passport: "c1234567"}},
		Consignments: []Consignment{{GoodsItem: GoodsItem{HSCode: "4001.22 20", PackageKind: "ct", Currency: "usd"},
			GoodsItems: []GoodsItem{{HSCode: "0801 32 00 00", OriginCountry: "vn", QuantityUnit: "kgm"}},
			Containers: []Container{{Number: "csqu 305438-3", SizeType: "45r1"}}}},
	}
	d.Normalize()
	want := Declaration{
		Direction: "export", CargoKind: "general", Gate: "HUUNGHI", Lane: "EXP-1",
		Trader:  Party{Name: "Công ty A", Country: "VN", TaxCode: "0101234567"},
		Vehicle: Vehicle{PlateVN: "12C-12345", PlateCN: "桂A12345", VIN: "LZZ5BLSJ8KW123456"},
		Drivers: []Driver{{Nationality: "VN", Passport: "C1234567"}},
		Consignments: []Consignment{{GoodsItem: GoodsItem{HSCodeVN: "40012220", PackageKind: "CT", Currency: "USD"},
			GoodsItems: []GoodsItem{{HSCodeCN: "0801320000", OriginCountry: "VN", QuantityUnit: "KGM"}},
			Containers: []Container{{Number: "CSQU3054383", SizeType: "45R1"}}}},
	}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("got  %+v\nwant %+v", d, want)
	}
}

func TestPlates(t *testing.T) {
	tests := []struct {
		v    Vehicle
		want []string
	}{
		{Vehicle{PlateVN: "12C-12345", PlateCN: "桂A12345", TrailerPlate: "12R-01234"}, []string{"12C-12345", "桂A12345"}},
		{Vehicle{PlateCN: "桂A12345"}, []string{"桂A12345"}},
		{Vehicle{}, nil},
	}
	for _, tt := range tests {
		d := Declaration{Vehicle: tt.v}
		if got := d.Plates(); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Plates() = %v, want %v", got, tt.want)
		}
	}
}

func TestISO6346CheckDigit(t *testing.T) {
	for _, n := range []string{"CSQU3054383", "MSKU1234565", "TGHU7654320", "OOLU1887129"} {
		if d, ok := iso6346CheckDigit(n); !ok || d != n[10] {
			t.Errorf("%s: computed %c", n, d)
		}
	}
	if _, ok := iso6346CheckDigit("CSQU30543"); ok {
		t.Error("short number accepted")
	}
}

func TestReferenceLists(t *testing.T) {
	lists, err := codelist.Shipped()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct {
		list string
		n    int
	}{{"country", 249}, {"country-cn", 249}, {"currency", 156}} {
		l, _ := lists.Lookup(want.list)
		if got := len(l.Keys()); got != want.n {
			t.Errorf("%s: %d codes, want %d", want.list, got, want.n)
		}
	}
	if n := len([]rune(cnProvinces)); n != 31 {
		t.Errorf("%d province abbreviations, want 31", n)
	}
}

// FuzzDecode: Decode never panics, and an accepted declaration survives a
// JSON round trip unchanged — what the store and the mappings rely on.
func FuzzDecode(f *testing.F) {
	for _, name := range []string{"huu-nghi-export.json", "tan-thanh-import.json"} {
		f.Add(readTestdata(f, name))
	}
	f.Add([]byte(`{"gate":"HUUNGHI","gate":1,"x":{"y":[1,{}]}}`))
	f.Add([]byte(`{"vehicle":{"grossWeightKg":"1"}} trailing`))
	f.Add([]byte(`[null, {"a": 1e999}]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := Decode(bytes.NewReader(body), testOptions())
		if err != nil {
			return
		}
		again, err := json.Marshal(d)
		if err != nil {
			t.Fatalf("accepted declaration does not encode: %v", err)
		}
		// Marshal escapes <, > and & as \u003c etc., so the re-encoded body
		// may outgrow a limit the original just met.
		opt := testOptions()
		opt.MaxBytes = 8 * DefaultMaxBytes
		d2, err := Decode(bytes.NewReader(again), opt)
		if err != nil {
			t.Fatalf("re-encoded declaration rejected: %v\n%s", err, again)
		}
		if !reflect.DeepEqual(d, d2) {
			t.Fatalf("round trip changed the declaration:\n%+v\n%+v", d, d2)
		}
	})
}
