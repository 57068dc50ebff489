package conformance

import (
	"github.com/gatehub/gatehub/internal/message"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/gate"
	"github.com/gatehub/gatehub/internal/mapping"
)

// sentTo reports whether the sample's gate sends it to agency under its
// policy (an empty truck is not declared to customs).
func sentTo(t *testing.T, decl []byte, agency string) bool {
	t.Helper()
	var d struct{ Gate, Direction, CargoKind string }
	if err := jsonUnmarshal(decl, &d); err != nil {
		t.Fatal(err)
	}
	set, err := gate.LoadDir("../deploy/gates", shippedAgencies(t))
	if err != nil {
		t.Fatal(err)
	}
	g, ok := set.Gate(d.Gate)
	if !ok {
		t.Fatalf("no gate %s", d.Gate)
	}
	return slices.Contains(g.RequiredAgencies(d.Direction, d.CargoKind), agency)
}

// TestShippedGatesHaveCodes: every shipped gate has its UN/LOCODE and
// customs office in the code lists, and its Chinese counterpart's port
// code is a customs office of the list, so a new gate file cannot ship
// without them.
func TestShippedGatesHaveCodes(t *testing.T) {
	reg, err := mapping.Load(mappingsDir)
	if err != nil {
		t.Fatal(err)
	}
	codes := reg.Codes()
	set, err := gate.LoadDir("../deploy/gates", shippedAgencies(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range set.Codes() {
		g, _ := set.Gate(code)
		for _, list := range []string{"gate-locode", "gate-customs-office"} {
			if !codes.Has(list, code) {
				t.Errorf("gate %s: no entry in code list %s", code, list)
			}
		}
		if port := g.Context()["counterpartPortCode"]; !codes.Has("customs-office", port.(string)) {
			t.Errorf("gate %s: counterpart port code %v is not in code list customs-office", code, port)
		}
	}
}

// TestBuiltMessagesUseTheCodes reads the code-carrying elements of the
// messages built from the samples back and checks each against its list:
// a second look, from the XML side, at what the mapping transforms write.
func TestBuiltMessagesUseTheCodes(t *testing.T) {
	reg, err := mapping.Load(mappingsDir)
	if err != nil {
		t.Fatal(err)
	}
	codes := reg.Codes()
	checks := []struct {
		agency, path, list string
		attr               string
	}{
		{"customs", "//AdditionalDocument/TypeCode", "document-type", ""},
		{"customs", "//TransportContractDocument/TypeCode", "document-type", ""},
		{"customs", "//GoodsItem/CustomsValueAmount", "currency", "currencyID"},
		{"customs", "//Origin/CountryCode", "country", ""},
		{"customs", "//Packaging/TypeCode", "package-kind", ""},
		{"customs", "//TransportEquipment/CharacteristicCode", "container-type", ""},
		{"customs", "//GoodsLocation/UNLocode", "locode", ""},
		{"customs", "//GoodsLocation/CustomsOfficeCode", "customs-office", ""},
		{"customs", "//BorderTransportMeans/RegistrationNationalityCode", "country", ""},
		{"borderguard", "//Vehicle/RegistrationCountryCode", "country", ""},
		{"borderguard", "//DrivingLicence/IssuingCountryCode", "country", ""},
	}
	cnValues := map[string]bool{}
	for _, list := range []string{"country-cn", "currency-cn"} {
		l, _ := codes.Lookup(list)
		for _, c := range l.Codes() {
			cnValues[list+"/"+c] = true
		}
	}
	files := []string{"export.json", "import.json", "transit.json"}
	seen := map[string]int{}
	for _, f := range files {
		decl, gateCtx := readDeclaration(t, f)
		for _, agency := range []string{"customs", "borderguard", "guangxi"} {
			if !sentTo(t, decl, agency) {
				continue
			}
			doc, _, err := reg.Build(agency, message.Submit, jsonRaw(decl), mapping.Envelope{MessageID: "M-1", Sender: "hub", Receiver: agency, DeclarationID: "D-1", Version: 1, CreatedAt: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}, gateCtx)
			if err != nil {
				t.Fatal(err)
			}
			if agency == "guangxi" {
				for _, p := range []struct{ path, list string }{{"//CountryCode", "country-cn"}, {"//OriginCountry", "country-cn"}, {"//VehicleCountry", "country-cn"}, {"//Currency", "currency-cn"}} {
					for _, el := range doc.FindElements(p.path) {
						seen[agency+p.path]++
						if !cnValues[p.list+"/"+el.Text()] {
							t.Errorf("%s %s: %s %q is not a code of %s", f, agency, p.path, el.Text(), p.list)
						}
					}
				}
				continue
			}
			for _, c := range checks {
				if c.agency != agency {
					continue
				}
				for _, el := range doc.FindElements(c.path) {
					seen[c.agency+c.path]++
					v := el.Text()
					if c.attr != "" {
						v = el.SelectAttrValue(c.attr, "")
					}
					if !codes.Has(c.list, strings.TrimSpace(v)) {
						t.Errorf("%s %s: %s %q is not in code list %s", f, agency, c.path, v, c.list)
					}
				}
			}
		}
	}
	for _, c := range checks {
		if seen[c.agency+c.path] == 0 {
			t.Errorf("no sample exercises %s %s", c.agency, c.path)
		}
	}
}
