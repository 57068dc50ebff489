package declaration

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/gatehub/gatehub/internal/problem"
)

func TestDecodeSamples(t *testing.T) {
	for _, name := range []string{"huu-nghi-export.json", "tan-thanh-import.json"} {
		t.Run(name, func(t *testing.T) {
			d, err := Decode(bytes.NewReader(readTestdata(t, name)), testOptions())
			if err != nil {
				t.Fatalf("valid sample rejected: %v", err)
			}
			if len(d.Consignments) != 2 || len(d.Drivers) != 1 {
				t.Errorf("decoded %d consignments, %d drivers", len(d.Consignments), len(d.Drivers))
			}
		})
	}
}

func TestDecodeSampleValues(t *testing.T) {
	d, err := Decode(bytes.NewReader(readTestdata(t, "huu-nghi-export.json")), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct{ got, want any }{
		{d.Gate, "HUUNGHI"},
		{d.Lane, "EXP-1"},
		{d.Vehicle.PlateCN, "桂A12345"},
		{d.Drivers[0].Name, "Nguyễn Văn Hùng"},
		{d.Consignments[0].DescriptionCN, "技术分级天然橡胶 SVR 10"},
		{d.Consignments[1].Value, 1385000000.0},
		{d.Consignments[0].Containers[0].Number, "CSQU3054383"},
		{d.Plates(), []string{"12C-12345", "桂A12345"}},
	}
	for i, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("check %d: got %v, want %v", i, c.got, c.want)
		}
	}
}

// decodeProblem decodes body and requires a problem with status.
func decodeProblem(t *testing.T, body string, opt Options, status int) *problem.Problem {
	t.Helper()
	d, err := Decode(strings.NewReader(body), opt)
	if err == nil {
		t.Fatalf("accepted: %+v", d)
	}
	var p *problem.Problem
	if !errors.As(err, &p) {
		t.Fatalf("not a problem: %v", err)
	}
	if p.Status != status {
		t.Fatalf("status %d (%s), want %d", p.Status, p.Detail, status)
	}
	return p
}

func pointers(errs []problem.FieldError) []string {
	out := make([]string, len(errs))
	for i, e := range errs {
		out[i] = e.Pointer + " " + e.Code
	}
	return out
}

func TestDecodeReportsEveryError(t *testing.T) {
	body := mutate(t, map[string]any{
		"/trader/taxCode":                          "12345",
		"/direction":                               "exit",
		"/gate":                                    "LAOCAI",
		"/plannedCrossing":                         "tomorrow",
		"/vehicle/plateVN":                         "ABC",
		"/vehicle/plateCN":                         "港A12345",
		"/vehicle/vin":                             "SHORT",
		"/vehicle/tareWeightKg":                    -1,
		"/drivers/0/nationality":                   "Vietnam",
		"/drivers/0/idNumber":                      del{},
		"/consignments/0/hsCode":                   "ABC",
		"/consignments/0/packages":                 0,
		"/consignments/1/currency":                 "RMB",
		"/consignments/1/containers/0/number":      "MSKU1234560",
		"/consignments/1/value":                    -5,
		"/consignee/name":                          "",
		"/vehicle/inspectionCertificate/expiresOn": "soon",
	})
	p := decodeProblem(t, string(body), testOptions(), 400)
	want := []string{
		"/trader/taxCode format",
		"/direction unknown",
		"/gate unknown",
		"/plannedCrossing format",
		"/vehicle/plateVN format",
		"/vehicle/plateCN format",
		"/vehicle/vin format",
		"/vehicle/tareWeightKg range",
		"/vehicle/inspectionCertificate/expiresOn format",
		"/drivers/0/nationality unknown",
		"/drivers/0/idNumber required",
		"/consignments/0/hsCode replaced",
		"/consignments/0/packages range",
		"/consignments/1/value range",
		"/consignments/1/currency unknown",
		"/consignments/1/containers/0/number check_digit",
		"/consignee/name required",
	}
	if got := pointers(p.Errors); !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if p.Type != problem.TypeValidation {
		t.Errorf("type %s", p.Type)
	}
}

func TestDecodeUnknownFields(t *testing.T) {
	body := mutate(t, map[string]any{
		"/extra":      1,
		"/Gate":       "HUUNGHI", // case-insensitive match in encoding/json
		"/trader/nme": "x",
		"/vehicle/inspectionCertificate/issuedBy": "Cục Đăng kiểm",
		"/consignments/1/containers/0/sealed":     true,
		"/drivers/0/borderPass/a~0b~1c":           map[string]any{"deep": []any{1, 2}},
	})
	p := decodeProblem(t, string(body), testOptions(), 400)
	want := []string{
		"/trader/nme unknown_field",
		"/vehicle/inspectionCertificate/issuedBy unknown_field",
		"/drivers/0/borderPass/a~0b~1c unknown_field",
		"/consignments/1/containers/0/sealed unknown_field",
		"/Gate unknown_field",
		"/extra unknown_field",
	}
	if got := pointers(p.Errors); !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestDecodeTypeErrors(t *testing.T) {
	body := mutate(t, map[string]any{
		"/vehicle/grossWeightKg":       "38000",
		"/consignments/0/packages":     1.5,
		"/gate":                        7,
		"/drivers":                     map[string]any{"name": "x"},
		"/customsDeclarationNumbers/0": 305123456789,
		"/consignor":                   []any{},
		"/consignments/1/value":        true,
	})
	p := decodeProblem(t, string(body), testOptions(), 400)
	want := []string{
		"/customsDeclarationNumbers/0 type",
		"/gate type",
		"/vehicle/grossWeightKg type",
		"/drivers type",
		"/consignments/0/packages type",
		"/consignments/1/value type",
		"/consignor type",
	}
	// A mistyped field is not reported a second time as required or out
	// of range: its value could not be read at all.
	if got := pointers(p.Errors); !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestDecodeStructural(t *testing.T) {
	valid := string(readTestdata(t, "huu-nghi-export.json"))
	tests := []struct {
		name   string
		body   string
		status int
		typ    string
		detail string // substring of the problem detail
		errs   []string
	}{
		{"empty", "", 400, problem.TypeMalformedBody, "empty", nil},
		{"whitespace", " \n\t ", 400, problem.TypeMalformedBody, "empty", nil},
		{"syntax error offset", `{"gate": }`, 400, problem.TypeMalformedBody, "byte offset 9", nil},
		{"truncated", `{"gate": "HUUNGHI"`, 400, problem.TypeMalformedBody, "unexpected end", nil},
		{"trailing garbage", valid + " x", 400, problem.TypeMalformedBody, "after the JSON object", nil},
		{"second object", valid + valid, 400, problem.TypeMalformedBody, "after the JSON object", nil},
		{"trailing whitespace", valid + "\n\n", 0, "", "", nil},
		{"root array", `[]`, 400, problem.TypeValidation, "", []string{" type"}},
		{"root null", `null`, 400, problem.TypeValidation, "", []string{" type"}},
		{"root string", `"declaration"`, 400, problem.TypeValidation, "", []string{" type"}},
		{"duplicate key", strings.Replace(valid, `"gate": "HUUNGHI",`, `"gate": "HUUNGHI", "gate": "CHIMA",`, 1),
			400, problem.TypeValidation, "", []string{"/gate duplicate"}},
		{"invalid UTF-8", strings.Replace(valid, "Hùng", "H\xffng", 1),
			400, problem.TypeValidation, "", []string{"/drivers/0/name invalid_characters"}},
		{"number too big", strings.Replace(valid, `"value": 19800`, `"value": 1e400`, 1),
			400, problem.TypeValidation, "", []string{"/consignments/0/value range"}},
		{"integer too big", strings.Replace(valid, `"packages": 360`, `"packages": 99999999999999999999`, 1),
			400, problem.TypeValidation, "", []string{"/consignments/0/packages range"}},
		{"escaped unicode", strings.Replace(valid, `"Nguyễn Văn Hùng"`, `"Nguy\u1ec5n V\u0103n H\u00f9ng"`, 1), 0, "", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(strings.NewReader(tt.body), testOptions())
			if tt.status == 0 {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			p := decodeProblem(t, tt.body, testOptions(), tt.status)
			if p.Type != tt.typ || !strings.Contains(p.Detail, tt.detail) {
				t.Errorf("got %s %q, want %s containing %q", p.Type, p.Detail, tt.typ, tt.detail)
			}
			if got := pointers(p.Errors); tt.errs != nil && !reflect.DeepEqual(got, tt.errs) {
				t.Errorf("errors %q, want %q", got, tt.errs)
			}
		})
	}
}

func TestDecodeTooLarge(t *testing.T) {
	valid := readTestdata(t, "huu-nghi-export.json")

	opt := testOptions()
	opt.MaxBytes = int64(len(valid))
	if _, err := Decode(bytes.NewReader(valid), opt); err != nil {
		t.Fatalf("body of exactly MaxBytes rejected: %v", err)
	}
	opt.MaxBytes--
	p := decodeProblem(t, string(valid), opt, http.StatusRequestEntityTooLarge)
	if p.Type != problem.TypeTooLarge {
		t.Errorf("type %s", p.Type)
	}

	// Default limit: 256 KiB of padding inside a valid document.
	big := bytes.Replace(valid, []byte(`"address": "`), []byte(`"address": "`+strings.Repeat(" ", DefaultMaxBytes)), 1)
	decodeProblem(t, string(big), testOptions(), http.StatusRequestEntityTooLarge)

	// The HTTP layer's own limit is honoured too.
	req := httptest.NewRequest(http.MethodPost, "/v1/declarations", bytes.NewReader(valid))
	body := http.MaxBytesReader(httptest.NewRecorder(), req.Body, 100)
	_, err := Decode(body, testOptions())
	var pr *problem.Problem
	if !errors.As(err, &pr) || pr.Status != http.StatusRequestEntityTooLarge {
		t.Errorf("MaxBytesReader: got %v, want 413", err)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, io.ErrClosedPipe }

func TestDecodeReadErrorIsNotAProblem(t *testing.T) {
	_, err := Decode(failingReader{}, testOptions())
	var p *problem.Problem
	if err == nil || errors.As(err, &p) || !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("got %v, want the wrapped read error", err)
	}
}

func TestDecodeCapsErrorList(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{`)
	for i := range 150 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"x` + strings.Repeat("y", i) + `": 1`)
	}
	b.WriteString(`}`)
	p := decodeProblem(t, b.String(), testOptions(), 400)
	if len(p.Errors) != maxErrors {
		t.Errorf("%d errors listed, want %d", len(p.Errors), maxErrors)
	}
	if !strings.Contains(p.Detail, "first 100") {
		t.Errorf("detail %q does not say the list is cut", p.Detail)
	}
}

func TestDecodeNilGatesSkipsLookups(t *testing.T) {
	body := mutate(t, map[string]any{"/gate": "LAOCAI", "/lane": "X"})
	if _, err := Decode(bytes.NewReader(body), Options{Now: testNow}); err != nil {
		t.Errorf("nil Gates should skip gate checks: %v", err)
	}
}
