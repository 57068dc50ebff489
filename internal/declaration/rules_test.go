package declaration

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehub/gatehub/internal/problem"
)

// del marks a path to delete in a mutation.
type del struct{}

// mutate returns the Hữu Nghị sample with values set (or deleted) at
// JSON pointers, so each case states only what it breaks.
func mutate(t *testing.T, changes map[string]any) []byte {
	t.Helper()
	var doc any
	if err := json.Unmarshal(readTestdata(t, "huu-nghi-export.json"), &doc); err != nil {
		t.Fatal(err)
	}
	for ptr, val := range changes {
		setPointer(t, doc, ptr, val)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func setPointer(t *testing.T, doc any, ptr string, val any) {
	t.Helper()
	toks := strings.Split(ptr[1:], "/")
	cur := doc
	for i, tok := range toks {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		last := i == len(toks)-1
		switch c := cur.(type) {
		case map[string]any:
			if !last {
				cur = c[tok]
				continue
			}
			if _, ok := val.(del); ok {
				delete(c, tok)
			} else {
				c[tok] = val
			}
		case []any:
			n, err := strconv.Atoi(tok)
			if err != nil || n >= len(c) {
				t.Fatalf("bad pointer %s", ptr)
			}
			if !last {
				cur = c[n]
				continue
			}
			c[n] = val
		default:
			t.Fatalf("pointer %s runs through a scalar", ptr)
		}
	}
}

func decodeErrors(t *testing.T, body []byte) []problem.FieldError {
	t.Helper()
	_, err := Decode(bytes.NewReader(body), testOptions())
	if err == nil {
		return nil
	}
	var p *problem.Problem
	if !errors.As(err, &p) {
		t.Fatalf("not a problem: %v", err)
	}
	if p.Status != 400 || p.Type != problem.TypeValidation {
		t.Fatalf("got %d %s (%s), want 400 validation", p.Status, p.Type, p.Detail)
	}
	return p.Errors
}

func TestRules(t *testing.T) {
	driver := map[string]any{"name": "Trần Văn Nam", "nationality": "VN", "idNumber": "020085099999",
		"borderPass": map[string]any{"number": "GTXC-1", "expiresOn": "2027-01-10"}}
	consignment := map[string]any{"hsCodeVN": "08013200", "hsCodeCN": "0801320000", "description": "Hạt điều", "packages": 1,
		"packageKind": "CT", "grossWeightKg": 1, "value": 1, "currency": "USD"}

	tests := []struct {
		name    string
		changes map[string]any
		ptr     string // "" means the declaration must be accepted
		code    string
	}{
		// trader and parties
		{"trader name missing", map[string]any{"/trader/name": del{}}, "/trader/name", "required"},
		{"trader name blank after trim", map[string]any{"/trader/name": "   "}, "/trader/name", "required"},
		{"trader country missing", map[string]any{"/trader/country": ""}, "/trader/country", "required"},
		{"trader country not alpha-2", map[string]any{"/trader/country": "VNM"}, "/trader/country", "format"},
		{"trader country unknown", map[string]any{"/trader/country": "XX"}, "/trader/country", "unknown"},
		{"trader country lower case", map[string]any{"/trader/country": "vn"}, "", ""},
		{"trader tax code missing", map[string]any{"/trader/taxCode": del{}}, "/trader/taxCode", "required"},
		{"VN tax code short", map[string]any{"/trader/taxCode": "010123456"}, "/trader/taxCode", "format"},
		{"VN tax code bad branch", map[string]any{"/trader/taxCode": "0101234567-01"}, "/trader/taxCode", "format"},
		{"VN tax code with branch", map[string]any{"/trader/taxCode": "0101234567-001"}, "", ""},
		{"CN credit code", map[string]any{"/trader/country": "CN", "/trader/taxCode": "91451481MA5NXY123K"}, "", ""},
		{"CN credit code lower case", map[string]any{"/trader/country": "CN", "/trader/taxCode": "91451481ma5nxy123k"}, "", ""},
		{"CN credit code with O", map[string]any{"/trader/country": "CN", "/trader/taxCode": "91451481MA5NXY123O"}, "/trader/taxCode", "format"},
		{"CN credit code 17 chars", map[string]any{"/trader/country": "CN", "/trader/taxCode": "91451481MA5NXY123"}, "/trader/taxCode", "format"},
		{"other country any tax code", map[string]any{"/trader/country": "LA", "/trader/taxCode": "LA-123"}, "", ""},
		{"consignee bad CN tax code", map[string]any{"/consignee/taxCode": "123"}, "/consignee/taxCode", "format"},
		{"CN credit code check character", map[string]any{"/consignee/taxCode": "91451481MA5NXY1234"}, "/consignee/taxCode", "check_digit"},
		{"trader country not ISO", map[string]any{"/trader/country": "XK"}, "/trader/country", "unknown"},
		{"carrier distinct from trader", map[string]any{"/carrier": map[string]any{"name": "Vận tải Lạng Sơn", "taxCode": "4900654321", "country": "VN"}}, "", ""},
		{"carrier tax code missing", map[string]any{"/carrier": map[string]any{"name": "Vận tải Lạng Sơn", "country": "VN"}}, "/carrier/taxCode", "required"},
		{"driver licence", map[string]any{"/drivers/0/licence": map[string]any{"number": "FC-790123456789", "country": "VN", "category": "FC", "expiresOn": "2030-01-01"}}, "", ""},
		{"driver licence without expiry", map[string]any{"/drivers/0/licence": map[string]any{"number": "FC-790123456789", "country": "VN"}}, "/drivers/0/licence/expiresOn", "required"},
		{"consignor tax code optional", map[string]any{"/consignor/taxCode": del{}}, "", ""},
		{"consignor name missing", map[string]any{"/consignor/name": del{}}, "/consignor/name", "required"},
		{"consignee country missing", map[string]any{"/consignee/country": del{}}, "/consignee/country", "required"},

		// customs declaration numbers
		{"customs numbers optional", map[string]any{"/customsDeclarationNumbers": del{}}, "", ""},
		{"customs number 11 digits", map[string]any{"/customsDeclarationNumbers/0": "30512345678"}, "/customsDeclarationNumbers/0", "format"},
		{"customs number duplicate", map[string]any{"/customsDeclarationNumbers/1": "305123456789"}, "/customsDeclarationNumbers/1", "duplicate"},
		{"customs numbers too many", map[string]any{"/customsDeclarationNumbers": numbered(21)}, "/customsDeclarationNumbers", "too_many"},
		{"customs numbers 20", map[string]any{"/customsDeclarationNumbers": numbered(20)}, "", ""},

		// enumerations
		{"direction unknown", map[string]any{"/direction": "exit"}, "/direction", "unknown"},
		{"direction missing", map[string]any{"/direction": del{}}, "/direction", "required"},
		{"direction upper case", map[string]any{"/direction": "EXPORT"}, "", ""},
		{"direction transit", map[string]any{"/direction": "transit"}, "", ""},
		{"cargo kind unknown", map[string]any{"/cargoKind": "bulk"}, "/cargoKind", "unknown"},
		{"cargo kind perishable", map[string]any{"/cargoKind": "perishable"}, "", ""},

		// gate and lane
		{"gate missing", map[string]any{"/gate": del{}}, "/gate", "required"},
		{"gate unknown", map[string]any{"/gate": "LAOCAI"}, "/gate", "unknown"},
		{"gate lower case", map[string]any{"/gate": "huunghi"}, "", ""},
		{"lane unknown", map[string]any{"/lane": "IMP-9"}, "/lane", "unknown"},
		{"lane of another gate", map[string]any{"/gate": "TANTHANH", "/lane": "EXP-2"}, "/lane", "unknown"},
		{"lane optional", map[string]any{"/lane": del{}}, "", ""},
		{"lane null", map[string]any{"/lane": nil}, "", ""},

		// planned crossing, Now = 2026-11-25T09:00+07:00
		{"crossing missing", map[string]any{"/plannedCrossing": del{}}, "/plannedCrossing", "required"},
		{"crossing not RFC 3339", map[string]any{"/plannedCrossing": "2026-12-01 08:00"}, "/plannedCrossing", "format"},
		{"crossing without zone", map[string]any{"/plannedCrossing": "2026-12-01T08:00:00"}, "/plannedCrossing", "format"},
		{"crossing 31 days ago", map[string]any{"/plannedCrossing": "2026-10-25T08:59:00+07:00"}, "/plannedCrossing", "range"},
		{"crossing 30 days ago", map[string]any{"/plannedCrossing": "2026-10-26T09:00:00+07:00"}, "", ""},
		{"crossing 90 days ahead", map[string]any{"/plannedCrossing": "2027-02-23T09:00:00+07:00"}, "", ""},
		{"crossing 91 days ahead", map[string]any{"/plannedCrossing": "2027-02-24T09:00:00+07:00"}, "/plannedCrossing", "range"},
		{"crossing in UTC", map[string]any{"/plannedCrossing": "2026-12-01T01:00:00Z"}, "", ""},

		// plates
		{"no plate", map[string]any{"/vehicle/plateVN": del{}, "/vehicle/plateCN": ""}, "/vehicle/plateVN", "required"},
		{"VN plate only", map[string]any{"/vehicle/plateCN": del{}}, "", ""},
		{"CN plate only", map[string]any{"/vehicle/plateVN": del{}}, "", ""},
		{"VN plate garbage", map[string]any{"/vehicle/plateVN": "ABC-123"}, "/vehicle/plateVN", "format"},
		{"VN plate 3 digits", map[string]any{"/vehicle/plateVN": "12C-123"}, "/vehicle/plateVN", "format"},
		{"VN plate spaced with dot", map[string]any{"/vehicle/plateVN": "12c 123.45"}, "", ""},
		{"VN plate two letters", map[string]any{"/vehicle/plateVN": "29LD-01234"}, "", ""},
		{"VN plate series digit", map[string]any{"/vehicle/plateVN": "51F1-12345"}, "", ""},
		{"CN plate 4 characters", map[string]any{"/vehicle/plateCN": "粤Z1234"}, "/vehicle/plateCN", "format"},
		{"CN plate Hong Kong", map[string]any{"/vehicle/plateCN": "港A12345"}, "/vehicle/plateCN", "format"},
		{"CN plate letter O", map[string]any{"/vehicle/plateCN": "桂A1234O"}, "/vehicle/plateCN", "format"},
		{"CN plate new energy", map[string]any{"/vehicle/plateCN": "桂AD12345"}, "", ""},
		{"CN plate with middle dot", map[string]any{"/vehicle/plateCN": "桂a·12345"}, "", ""},
		{"trailer garbage", map[string]any{"/vehicle/trailerPlate": "XYZ"}, "/vehicle/trailerPlate", "format"},
		{"trailer CN", map[string]any{"/vehicle/trailerPlate": "桂A1234挂"}, "", ""},
		{"trailer CN tractor format", map[string]any{"/vehicle/trailerPlate": "桂A12345"}, "", ""},
		{"trailer optional", map[string]any{"/vehicle/trailerPlate": del{}}, "", ""},

		// VIN and weights
		{"VIN missing", map[string]any{"/vehicle/vin": del{}}, "/vehicle/vin", "required"},
		{"VIN 16 chars", map[string]any{"/vehicle/vin": "LZZ5BLSJ8KW12345"}, "/vehicle/vin", "format"},
		{"VIN with I", map[string]any{"/vehicle/vin": "LZZ5BLSJ8KW12345I"}, "/vehicle/vin", "format"},
		{"VIN lower case", map[string]any{"/vehicle/vin": "lzz5blsj8kw123456"}, "", ""},
		{"tare zero", map[string]any{"/vehicle/tareWeightKg": 0}, "/vehicle/tareWeightKg", "range"},
		{"gross missing", map[string]any{"/vehicle/grossWeightKg": del{}}, "/vehicle/grossWeightKg", "range"},
		{"gross below tare", map[string]any{"/vehicle/grossWeightKg": 14000}, "/vehicle/grossWeightKg", "range"},
		{"gross above 60 t", map[string]any{"/vehicle/grossWeightKg": 60001}, "/vehicle/grossWeightKg", "range"},
		{"gross 60 t", map[string]any{"/vehicle/grossWeightKg": 60000}, "", ""},

		// vehicle documents; past expiry is the agencies' call
		{"inspection number missing", map[string]any{"/vehicle/inspectionCertificate/number": del{}}, "/vehicle/inspectionCertificate/number", "required"},
		{"inspection expiry format", map[string]any{"/vehicle/inspectionCertificate/expiresOn": "31/05/2027"}, "/vehicle/inspectionCertificate/expiresOn", "format"},
		{"permit expiry missing", map[string]any{"/vehicle/crossBorderPermit/expiresOn": del{}}, "/vehicle/crossBorderPermit/expiresOn", "required"},
		{"permit expiry impossible date", map[string]any{"/vehicle/crossBorderPermit/expiresOn": "2027-02-30"}, "/vehicle/crossBorderPermit/expiresOn", "format"},
		{"permit expired", map[string]any{"/vehicle/crossBorderPermit/expiresOn": "2020-01-01"}, "", ""},

		// drivers
		{"no drivers", map[string]any{"/drivers": []any{}}, "/drivers", "required"},
		{"four drivers", map[string]any{"/drivers": []any{driver, driver, driver, driver}}, "/drivers", "too_many"},
		{"three drivers", map[string]any{"/drivers": []any{driver, driver, driver}}, "", ""},
		{"driver name missing", map[string]any{"/drivers/0/name": del{}}, "/drivers/0/name", "required"},
		{"driver nationality unknown", map[string]any{"/drivers/0/nationality": "ZZ"}, "/drivers/0/nationality", "unknown"},
		{"driver without id or passport", map[string]any{"/drivers/0/idNumber": del{}}, "/drivers/0/idNumber", "required"},
		{"driver passport only", map[string]any{"/drivers/0/idNumber": del{}, "/drivers/0/passport": "C1234567"}, "", ""},
		{"border pass number missing", map[string]any{"/drivers/0/borderPass/number": ""}, "/drivers/0/borderPass/number", "required"},
		{"border pass expiry format", map[string]any{"/drivers/0/borderPass/expiresOn": "2027-1-10"}, "/drivers/0/borderPass/expiresOn", "format"},

		// consignments
		{"no consignments", map[string]any{"/consignments": []any{}}, "/consignments", "required"},
		{"empty truck with cargo", map[string]any{"/cargoKind": "empty"}, "/consignments", "not_allowed"},
		{"empty truck", map[string]any{"/cargoKind": "empty", "/consignments": del{}}, "", ""},
		{"201 consignments", map[string]any{"/consignments": repeatAny(consignment, 201)}, "/consignments", "too_many"},
		{"200 consignments", map[string]any{"/consignments": repeatAny(consignment, 200)}, "", ""},
		{"hs code VN short", map[string]any{"/consignments/0/hsCodeVN": "4001"}, "/consignments/0/hsCodeVN", "format"},
		{"hs code VN 10 digits", map[string]any{"/consignments/0/hsCodeVN": "4001222000"}, "/consignments/0/hsCodeVN", "format"},
		{"hs code CN 8 digits", map[string]any{"/consignments/0/hsCodeCN": "40012220"}, "/consignments/0/hsCodeCN", "format"},
		{"hs code with dots", map[string]any{"/consignments/0/hsCodeVN": "4001.22.20"}, "", ""},
		{"hs code VN missing", map[string]any{"/consignments/1/hsCodeVN": del{}}, "/consignments/1/hsCodeVN", "required"},
		{"hs codes of different headings", map[string]any{"/consignments/0/hsCodeCN": "4002220000"}, "/consignments/0/hsCodeCN", "mismatch"},
		{"legacy 8-digit hsCode is the VN code", map[string]any{"/consignments/0/hsCodeVN": del{}, "/consignments/0/hsCode": "4001.22.20"}, "", ""},
		{"legacy 10-digit hsCode is the CN code", map[string]any{"/consignments/0/hsCodeCN": del{}, "/consignments/0/hsCode": "4001220000"}, "", ""},
		{"legacy 10-digit hsCode alone", map[string]any{"/consignments/0/hsCodeVN": del{}, "/consignments/0/hsCodeCN": del{}, "/consignments/0/hsCode": "4001220000"}, "/consignments/0/hsCodeVN", "required"},
		{"legacy 6-digit hsCode", map[string]any{"/consignments/0/hsCodeVN": del{}, "/consignments/0/hsCode": "400122"}, "/consignments/0/hsCode", "replaced"},
		{"description missing", map[string]any{"/consignments/1/description": del{}}, "/consignments/1/description", "required"},
		{"packages zero", map[string]any{"/consignments/0/packages": 0}, "/consignments/0/packages", "range"},
		{"package kind 3 chars", map[string]any{"/consignments/0/packageKind": "CTN"}, "/consignments/0/packageKind", "format"},
		{"package kind missing", map[string]any{"/consignments/0/packageKind": del{}}, "/consignments/0/packageKind", "required"},
		{"consignment weight zero", map[string]any{"/consignments/0/grossWeightKg": 0}, "/consignments/0/grossWeightKg", "range"},
		{"value negative", map[string]any{"/consignments/0/value": -1}, "/consignments/0/value", "range"},
		{"value zero (samples)", map[string]any{"/consignments/0/value": 0}, "", ""},
		{"currency unknown", map[string]any{"/consignments/0/currency": "XYZ"}, "/consignments/0/currency", "unknown"},
		{"currency withdrawn", map[string]any{"/consignments/0/currency": "HRK"}, "/consignments/0/currency", "unknown"},
		{"currency of a far country", map[string]any{"/consignments/0/currency": "BRL"}, "", ""},
		{"package kind not in Rec 21 subset", map[string]any{"/consignments/0/packageKind": "QQ"}, "/consignments/0/packageKind", "unknown"},
		{"net above gross", map[string]any{"/consignments/0/netWeightKg": 20000}, "/consignments/0/netWeightKg", "range"},
		{"net in single-item form", map[string]any{"/consignments/0/netWeightKg": 11800}, "", ""},
		{"origin unknown", map[string]any{"/consignments/0/originCountry": "XK"}, "/consignments/0/originCountry", "unknown"},
		{"quantity without unit", map[string]any{"/consignments/0/quantity": 5}, "/consignments/0/quantityUnit", "required"},
		{"quantity unit not Rec 20", map[string]any{"/consignments/0/quantity": 5, "/consignments/0/quantityUnit": "KGX"}, "/consignments/0/quantityUnit", "unknown"},
		{"quantity in kg", map[string]any{"/consignments/0/quantity": 12000, "/consignments/0/quantityUnit": "kgm"}, "", ""},
		{"transport document type unknown", map[string]any{"/consignments/0/transportDocument": map[string]any{"type": "830", "number": "CMR-1"}}, "/consignments/0/transportDocument/type", "unknown"},
		{"transport document number missing", map[string]any{"/consignments/0/transportDocument": map[string]any{"type": "730"}}, "/consignments/0/transportDocument/number", "required"},
		{"consignment's own consignee", map[string]any{"/consignments/0/consignee": map[string]any{"name": "Other Co.", "country": "CN", "taxCode": "91450100MA5KCEBN0J"}}, "", ""},
		{"consignment's consignee with bad USCC", map[string]any{"/consignments/0/consignee": map[string]any{"name": "Other Co.", "country": "CN", "taxCode": "91450100MA5KCEBN0K"}}, "/consignments/0/consignee/taxCode", "check_digit"},
		{"goods items and single-item fields", map[string]any{"/consignments/0/goodsItems": []any{consignment}}, "/consignments/0/goodsItems", "not_allowed"},
		{"container size type", map[string]any{"/consignments/0/containers/0/sizeType": "45g1"}, "", ""},
		{"container size type unknown", map[string]any{"/consignments/0/containers/0/sizeType": "99X9"}, "/consignments/0/containers/0/sizeType", "unknown"},
		{"reefer without temperature", map[string]any{"/consignments/0/containers/0/sizeType": "45R1"}, "/consignments/0/containers/0/setTemperatureC", "required"},
		{"reefer at 0 °C", map[string]any{"/consignments/0/containers/0/sizeType": "45R1", "/consignments/0/containers/0/setTemperatureC": 0}, "", ""},
		{"reefer too cold", map[string]any{"/consignments/0/containers/0/sizeType": "45R1", "/consignments/0/containers/0/setTemperatureC": -60}, "/consignments/0/containers/0/setTemperatureC", "range"},
		{"temperature on a dry box", map[string]any{"/consignments/0/containers/0/sizeType": "45G1", "/consignments/0/containers/0/setTemperatureC": 4}, "/consignments/0/containers/0/setTemperatureC", "not_allowed"},
		{"seal twice", map[string]any{"/consignments/0/containers/0/seals": []any{"VN2026118812"}}, "/consignments/0/containers/0/seals/0", "duplicate"},
		{"further seals", map[string]any{"/consignments/0/containers/0/seals": []any{"CUS-1", "CUS-2"}}, "", ""},

		{"currency missing", map[string]any{"/consignments/0/currency": del{}}, "/consignments/0/currency", "required"},
		{"currency lower case", map[string]any{"/consignments/0/currency": "cny"}, "", ""},
		{"overweight cargo", map[string]any{"/consignments/0/grossWeightKg": 12800}, "/consignments", "range"},
		{"cargo within 2%", map[string]any{"/consignments/0/grossWeightKg": 12700}, "", ""},
		{"container check digit", map[string]any{"/consignments/0/containers/0/number": "CSQU3054384"}, "/consignments/0/containers/0/number", "check_digit"},
		{"container category A", map[string]any{"/consignments/0/containers/0/number": "CSQA3054383"}, "/consignments/0/containers/0/number", "format"},
		{"container number missing", map[string]any{"/consignments/0/containers/0/number": ""}, "/consignments/0/containers/0/number", "required"},
		{"container as printed", map[string]any{"/consignments/0/containers/0/number": "csqu 305438-3"}, "", ""},
		{"container twice", map[string]any{"/consignments/0/containers": []any{
			map[string]any{"number": "CSQU3054383"}, map[string]any{"number": "CSQU3054383"}}}, "/consignments/0/containers/1/number", "duplicate"},

		{"11 containers", map[string]any{"/consignments/0/containers": containers(11)}, "/consignments/0/containers", "too_many"},
		{"10 containers", map[string]any{"/consignments/0/containers": containers(10)}, "", ""},
		{"broken elements beyond 200 not examined", map[string]any{"/consignments": append(repeatAny(consignment, 200), map[string]any{})},
			"/consignments", "too_many"},

		// strings shared rules
		{"name too long", map[string]any{"/trader/name": strings.Repeat("ạ", 257)}, "/trader/name", "too_long"},
		{"name 256", map[string]any{"/trader/name": strings.Repeat("ạ", 256)}, "", ""},
		{"description too long", map[string]any{"/consignments/0/description": strings.Repeat("x", 513)}, "/consignments/0/description", "too_long"},
		{"number too long", map[string]any{"/vehicle/inspectionCertificate/number": strings.Repeat("9", 65)}, "/vehicle/inspectionCertificate/number", "too_long"},
		{"control character", map[string]any{"/consignments/0/descriptionCN": "橡胶\u0007"}, "/consignments/0/descriptionCN", "invalid_characters"},
		{"newline inside", map[string]any{"/trader/address": "Số 12\nLạng Sơn"}, "/trader/address", "invalid_characters"},
		{"bidi override", map[string]any{"/drivers/0/name": "Nguyễn\u202eVăn"}, "/drivers/0/name", "invalid_characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := decodeErrors(t, mutate(t, tt.changes))
			if tt.ptr == "" {
				if len(errs) != 0 {
					t.Fatalf("want accepted, got %+v", errs)
				}
				return
			}
			if len(errs) != 1 || errs[0].Pointer != tt.ptr || errs[0].Code != tt.code {
				t.Fatalf("want exactly %s %s, got %+v", tt.ptr, tt.code, errs)
			}
			if errs[0].Detail == "" {
				t.Error("empty detail")
			}
		})
	}
}

func numbered(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = strconv.Itoa(305000000000 + i)
	}
	return out
}

func repeatAny(v any, n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// containers returns n distinct container numbers with valid check digits.
func containers(n int) []any {
	out := make([]any, n)
	for i := range out {
		base := "TGHU" + strconv.Itoa(100000+i)
		d, _ := iso6346CheckDigit(base)
		out[i] = map[string]any{"number": base + string(d)}
	}
	return out
}

// TestChineseTextFields: the fields the Guangxi format carries as
// ChineseTextType must hold an ideograph and fit its 255 characters, or the
// declaration would be accepted and its Guangxi message then fail the XSD
// (found by FuzzSubmitNever500: a consignee nameCN of "0" answered 500).
func TestChineseTextFields(t *testing.T) {
	for _, tc := range []struct{ ptr, val, code string }{
		{"/consignee/nameCN", "0", "not_chinese"},
		{"/consignee/nameCN", "Pingxiang Hongfa", "not_chinese"},
		{"/consignments/0/descriptionCN", "durian", "not_chinese"},
		{"/consignee/nameCN", strings.Repeat("凭", 256), "too_long"},
	} {
		errs := decodeErrors(t, mutate(t, map[string]any{tc.ptr: tc.val}))
		if len(errs) != 1 || errs[0].Pointer != tc.ptr || errs[0].Code != tc.code {
			t.Errorf("%s=%.20q: got %+v, want one %s", tc.ptr, tc.val, errs, tc.code)
		}
	}
	if errs := decodeErrors(t, mutate(t, map[string]any{"/consignee/nameCN": "Hongfa 宏发"})); len(errs) != 0 {
		t.Errorf("mixed text with an ideograph refused: %+v", errs)
	}
}
