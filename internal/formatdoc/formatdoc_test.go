package formatdoc

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/beevik/etree"

	"github.com/gatehub/gatehub/internal/agencies"
	"github.com/gatehub/gatehub/internal/mapping"
)

const root = "../.."

func load(t *testing.T) (*mapping.Registry, []Schema) {
	t.Helper()
	reg, err := mapping.Load(filepath.Join(root, "mappings"))
	if err != nil {
		t.Fatal(err)
	}
	schemas, err := Schemas(filepath.Join(root, "schemas"), reg.Codes())
	if err != nil {
		t.Fatal(err)
	}
	return reg, schemas
}

// TestCommittedFilesAreGenerated fails when a schema's enumerations or a
// docs/formats page differ from what the mappings and code lists generate:
// run `go generate ./mappings`.
func TestCommittedFilesAreGenerated(t *testing.T) {
	reg, schemas := load(t)
	for _, s := range schemas {
		got, err := os.ReadFile(filepath.Join(root, "schemas", s.File))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, s.Content) {
			t.Errorf("schemas/%s is out of date: run go generate ./mappings", s.File)
		}
	}
	pages, err := Pages(reg, schemas, shippedAgencies(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) != len(reg.Agencies()) {
		t.Fatalf("%d pages for %d agencies", len(pages), len(reg.Agencies()))
	}
	for name, want := range pages {
		got, err := os.ReadFile(filepath.Join(root, "docs", "formats", name))
		if err != nil {
			t.Fatalf("docs/formats/%s: %v (run go generate ./mappings)", name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("docs/formats/%s is out of date: run go generate ./mappings", name)
		}
	}
}

// TestEnumerationsAgreeWithLists reads each generated simple type back
// from the committed schema as XML (not as the text the generator writes)
// and compares its enumeration with the list, in both directions.
func TestEnumerationsAgreeWithLists(t *testing.T) {
	reg, schemas := load(t)
	total := 0
	for _, s := range schemas {
		doc := etree.NewDocument()
		if err := doc.ReadFromFile(filepath.Join(root, "schemas", s.File)); err != nil {
			t.Fatal(err)
		}
		for _, r := range s.Regions {
			st := doc.FindElement("//simpleType[@name='" + r.Type + "']")
			if st == nil {
				t.Errorf("%s: no simpleType %s", s.File, r.Type)
				continue
			}
			var got []string
			for _, e := range st.FindElements("restriction/enumeration") {
				got = append(got, e.SelectAttrValue("value", ""))
			}
			l, _ := reg.Codes().Lookup(r.List)
			want := l.Codes()
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("%s %s: enumeration %v, code list %s has %v", s.File, r.Type, got, r.List, want)
			}
			total++
		}
	}
	// The lists the brief names are all generated somewhere.
	for _, list := range []string{"country", "country-cn", "currency", "currency-cn", "package-kind", "unit", "container-type", "transport-document", "declaration-document-customs", "locode", "gate-customs-office"} {
		found := false
		for _, s := range schemas {
			for _, r := range s.Regions {
				found = found || r.List == list
			}
		}
		if !found {
			t.Errorf("code list %s generates no schema enumeration", list)
		}
	}
	if total < 15 {
		t.Errorf("only %d generated enumerations", total)
	}
}

func TestPagesNameFieldsAndLists(t *testing.T) {
	reg, schemas := load(t)
	pages, err := Pages(reg, schemas, shippedAgencies(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct{ page, text string }{
		{"customs.md", "| `RoadManifestSubmit/Declaration/Consignment/GoodsItem/Commodity/Classification/ID` | `consignments[].goodsItems[].hsCodeVN` |"},
		{"customs.md", "[declaration-document-customs](#code-list-declaration-document-customs)"},
		{"guangxi.md", "`consignments[].goodsItems[].hsCodeCN`"},
		{"guangxi.md", "### country-cn"},
		{"borderguard.md", "`carrier.taxCode else trader.taxCode`"},
	} {
		if !bytes.Contains(pages[want.page], []byte(want.text)) {
			t.Errorf("%s lacks %q", want.page, want.text)
		}
	}
}

func shippedAgencies(t *testing.T) *agencies.Set {
	t.Helper()
	set, err := agencies.LoadDir("../../deploy/agencies")
	if err != nil {
		t.Fatal(err)
	}
	return set
}
