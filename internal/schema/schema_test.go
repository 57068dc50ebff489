package schema

import (
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
)

const (
	schemasDir = "../../schemas"
	customs    = "customs/road-manifest-1.0.xsd"
	validDoc   = "../../conformance-tests/vectors/customs/valid/submit.xml"
)

func load(t *testing.T) *Validator {
	t.Helper()
	v, err := Load(schemasDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

func TestLoadCompilesMessageSchemasOnly(t *testing.T) {
	v := load(t)
	got := strings.Join(v.Schemas(), ",")
	want := "agency-message/crossing-confirmed-1.0.xsd,agency-message/forward-1.0.xsd,agency-message/hold-1.0.xsd," +
		"agency-message/release-1.0.xsd,agency-message/revoke-1.0.xsd," +
		"borderguard/crossing-notice-1.0.xsd,customs/road-manifest-1.0.xsd,guangxi/gxbt-1.0.xsd,plantquarantine/phytosanitary-notice-1.0.xsd,vehicleregistry/vehicle-crossing-1.0.xsd"
	if got != want {
		t.Fatalf("schemas = %s", got)
	}
	// A second validator in the same process must work (libxml2 init is once per process).
	v2, err := Load(schemasDir)
	if err != nil {
		t.Fatal(err)
	}
	v2.Close()
}

func TestValidateReportsLines(t *testing.T) {
	v := load(t)
	good, err := os.ReadFile(validDoc)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, doc, want string
		line            int
	}{
		{"valid", string(good), "", 0},
		{"bad hs code", strings.Replace(string(good), "<ID>08106000<", "<ID>08106<", 1), "pattern", 65},
		{"malformed", "<RoadManifestSubmit", "not well-formed", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := v.Validate(customs, []byte(tc.doc))
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var se *Error
			if !errors.As(err, &se) {
				t.Fatalf("got %v, want *Error", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%q lacks %q", err, tc.want)
			}
			if tc.line > 0 && se.Problems[0].Line != tc.line {
				t.Fatalf("no line number in %v", err)
			}
		})
	}
	if err := v.Validate("nope.xsd", good); err == nil {
		t.Fatal("unknown schema accepted")
	}
}

func TestConcurrentValidateAndClose(t *testing.T) {
	v, err := Load(schemasDir)
	if err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(validDoc)
	bad := []byte(strings.Replace(string(good), "KGM", "TNE", 1))
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				if i%2 == 0 {
					if err := v.Validate(customs, good); err != nil {
						errs <- err
						return
					}
				} else if err := v.Validate(customs, bad); err == nil {
					errs <- errors.New("invalid document accepted")
					return
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	v.Close()
	v.Close() // idempotent
	if err := v.Validate(customs, good); err == nil {
		t.Fatal("Validate after Close succeeded")
	}
}
