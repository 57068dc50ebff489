package console

import (
	"encoding/json"
	"net/url"
	"os"
	"reflect"
	"testing"

	"github.com/gatehub/gatehub/internal/problem"
)

// The form round trip: a declaration loaded into the form and built back
// is the same JSON (the sample has two containers in no consignment, so
// every field has an input or goes through Extra).
func TestFormRoundTripKeepsTheDeclaration(t *testing.T) {
	raw, err := os.ReadFile("../../conformance-tests/declarations/huu-nghi-export.json")
	if err != nil {
		t.Fatal(err)
	}
	f := newDeclForm(nil)
	f.Drivers, f.Consignments = 0, 0
	if err := fillFromJSON(f, raw); err != nil {
		t.Fatal(err)
	}
	// Through the browser: values as posted form fields.
	form := url.Values{"_drivers": {"1"}, "_consignments": {"2"}, "_extra": {f.ExtraJSON()}}
	for k, v := range f.Values {
		form.Set(k, v)
	}
	g := newDeclForm(nil)
	readForm(g, form)
	out, err := g.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var want, got any
	_ = json.Unmarshal(raw, &want)
	_ = json.Unmarshal(out, &got)
	if !reflect.DeepEqual(want, got) {
		a, _ := json.MarshalIndent(want, "", " ")
		b, _ := json.MarshalIndent(got, "", " ")
		t.Fatalf("round trip changed the declaration:\nwant %s\ngot  %s", a, b)
	}
}

func TestFormTypesAndEmptyFields(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values map[string]string
		want   string
	}{
		{"empty fields are left out", map[string]string{"/vehicle/vin": "", "/gate": "HUUNGHI"}, `{"consignments":[{}],"drivers":[{}],"gate":"HUUNGHI"}`},
		{"numbers are numbers", map[string]string{"/vehicle/grossWeightKg": "38500.5"}, `{"consignments":[{}],"drivers":[{}],"vehicle":{"grossWeightKg":38500.5}}`},
		{"not a number stays text for the API to name", map[string]string{"/vehicle/grossWeightKg": "heavy"}, `{"consignments":[{}],"drivers":[{}],"vehicle":{"grossWeightKg":"heavy"}}`},
		{"local time is the gate's", map[string]string{"/plannedCrossing": "2026-12-01T08:30"}, `{"consignments":[{}],"drivers":[{}],"plannedCrossing":"2026-12-01T08:30:00+07:00"}`},
		{"lists split on commas", map[string]string{"/customsDeclarationNumbers": "1, 2;3"}, `{"consignments":[{}],"customsDeclarationNumbers":["1","2","3"],"drivers":[{}]}`},
		{"rows by index", map[string]string{"/drivers/0/name": "A", "/consignments/0/containers/0/number": "C1"}, `{"consignments":[{"containers":[{"number":"C1"}]}],"drivers":[{"name":"A"}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newDeclForm(nil)
			for k, v := range tc.values {
				f.Values[k] = v
			}
			out, err := f.JSON()
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tc.want {
				t.Fatalf("got %s\nwant %s", out, tc.want)
			}
		})
	}
}

func TestRemoveRowRenumbers(t *testing.T) {
	f := newDeclForm(nil)
	f.Drivers = 3
	f.Values = map[string]string{"/drivers/0/name": "A", "/drivers/1/name": "B", "/drivers/2/name": "C", "/gate": "G"}
	f.removeRow("/drivers", 1, &f.Drivers)
	want := map[string]string{"/drivers/0/name": "A", "/drivers/1/name": "C", "/gate": "G"}
	if f.Drivers != 2 || !reflect.DeepEqual(f.Values, want) {
		t.Fatalf("rows %d values %v", f.Drivers, f.Values)
	}
}

// Errors land on the input of their pointer, or the nearest enclosing one;
// the rest above the form.
func TestPlaceErrors(t *testing.T) {
	f := newDeclForm(nil)
	f.placeErrors([]problem.FieldError{
		{Pointer: "/vehicle/plateVN", Detail: "a"},
		{Pointer: "/customsDeclarationNumbers/1", Detail: "b"},
		{Pointer: "/drivers/0/name", Detail: "c"},
		{Pointer: "/drivers/5/name", Detail: "row not in the form"},
		{Pointer: "/colour", Detail: "unknown"},
		{Pointer: "", Detail: "whole body"},
	})
	if got := f.Errors["/vehicle/plateVN"]; len(got) != 1 {
		t.Errorf("plate: %v", got)
	}
	if got := f.Errors["/customsDeclarationNumbers"]; len(got) != 1 {
		t.Errorf("list: %v", got)
	}
	if got := f.Errors["/drivers/0/name"]; len(got) != 1 {
		t.Errorf("driver: %v", got)
	}
	if len(f.Orphans) != 3 {
		t.Errorf("orphans: %v", f.Orphans)
	}
	if f.ErrorCount() != 6 {
		t.Errorf("count %d", f.ErrorCount())
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/declarations": "/declarations", "//evil.example": "", "https://evil.example": "", "/\\evil": "", "": "",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}
