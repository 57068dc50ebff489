package declaration

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestSampleDeclarations decodes every sample of conformance-tests/
// declarations (the README's walk-through uses them), both the goodsItems
// form and the single-item form of earlier declarations.
func TestSampleDeclarations(t *testing.T) {
	files, _ := filepath.Glob("../../conformance-tests/declarations/*.json")
	if len(files) < 6 {
		t.Fatalf("want the export, import, transit, empty-truck and the two single-item samples, got %v", files)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			d, err := Decode(bytes.NewReader(b), testOptions())
			if err != nil {
				t.Fatalf("sample refused: %v", err)
			}
			// What the hub stores decodes to the same declaration.
			again, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			d2, err := Decode(bytes.NewReader(again), testOptions())
			if err != nil {
				t.Fatalf("stored form refused: %v\n%s", err, again)
			}
			if !reflect.DeepEqual(d, d2) {
				t.Fatalf("round trip changed the declaration:\n%+v\n%+v", d, d2)
			}
		})
	}
}

func TestSamplesCoverTheModel(t *testing.T) {
	read := func(name string) *Declaration {
		b, err := os.ReadFile(filepath.Join("../../conformance-tests/declarations", name))
		if err != nil {
			t.Fatal(err)
		}
		d, err := Decode(bytes.NewReader(b), testOptions())
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	exp := read("export.json")
	if exp.Carrier.TaxCode == exp.Trader.TaxCode || len(exp.Consignments) != 2 || len(exp.Consignments[0].Items()) != 2 {
		t.Errorf("export: want a separate carrier and 2 consignments, the first with 2 items")
	}
	if exp.Consignments[0].Consignee.TaxCode == exp.Consignments[1].Consignee.TaxCode {
		t.Errorf("export: the consignments should have different consignees (a consolidated load)")
	}
	imp := read("import.json")
	if imp.Vehicle.PlateVN != "" || PlateCountry(imp.Vehicle.PlateCN) != "CN" {
		t.Errorf("import: want a truck with only a Chinese plate")
	}
	if tr := read("transit.json"); tr.Direction != "transit" || tr.Consignments[0].GoodsItems[0].OriginCountry != "TH" {
		t.Errorf("transit sample is not a transit of third-country goods")
	}
	if e := read("empty-truck.json"); e.CargoKind != "empty" || len(e.Consignments) != 0 {
		t.Errorf("empty-truck sample carries goods")
	}
	// The single-item form: each consignment is its one goods item.
	old := read("huu-nghi-export.json")
	if items := old.Consignments[0].Items(); len(items) != 1 || items[0].HSCodeVN != "08106000" {
		t.Errorf("single-item form: Items() = %+v", items)
	}
}

// TestCodeErrorsNameTheList: a code missing from a list is reported with
// the list, which problem+json carries as "list".
func TestCodeErrorsNameTheList(t *testing.T) {
	tests := []struct{ ptr, val, list string }{
		{"/consignments/0/currency", "HRK", "currency"},
		{"/consignments/0/packageKind", "QQ", "package-kind"},
		{"/consignee/country", "XK", "country"},
		{"/drivers/0/nationality", "XK", "country"},
		{"/consignments/0/containers/0/sizeType", "45X1", "container-type"},
	}
	for _, tc := range tests {
		errs := decodeErrors(t, mutate(t, map[string]any{tc.ptr: tc.val}))
		if len(errs) != 1 || errs[0].Pointer != tc.ptr || errs[0].List != tc.list {
			t.Errorf("%s=%s: got %+v, want one error naming list %s", tc.ptr, tc.val, errs, tc.list)
		}
		b, _ := json.Marshal(errs[0])
		if !bytes.Contains(b, []byte(`"list":"`+tc.list+`"`)) {
			t.Errorf("encoded error %s does not name the list", b)
		}
	}
}
