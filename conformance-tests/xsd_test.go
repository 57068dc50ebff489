// Package conformance cross-checks the agency schemas, the runtime
// validator and the mapping engine against xmllint, an independent libxml2
// front end: both validators must agree on every vector, and every message
// the engine builds must pass both.
package conformance

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/gatehub/gatehub/internal/agencies"
	"github.com/gatehub/gatehub/internal/gate"
	"github.com/gatehub/gatehub/internal/mapping"
	"github.com/gatehub/gatehub/internal/message"
	"github.com/gatehub/gatehub/internal/schema"
	"github.com/gatehub/gatehub/internal/testenv"
)

const (
	schemasDir  = "../schemas"
	mappingsDir = "../mappings"
	vectorsDir  = "vectors"
)

// gateContext is what the mappings read under "gate.", taken from the
// shipped gate files so that the vectors and production agree.
func gateContext(t *testing.T, code string) map[string]any {
	t.Helper()
	known, err := agencies.LoadDir("../deploy/agencies")
	if err != nil {
		t.Fatalf("load agencies: %v", err)
	}
	set, err := gate.LoadDir("../deploy/gates", known)
	if err != nil {
		t.Fatalf("load gates: %v", err)
	}
	g, ok := set.Gate(code)
	if !ok {
		t.Fatalf("no gate %s in deploy/gates", code)
	}
	return g.Context()
}

// xmllintPath returns the oracle, failing under CI and skipping elsewhere
// when it is not installed.
func xmllintPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("xmllint")
	if err != nil {
		if testenv.CI() {
			t.Fatalf("xmllint is required in CI: %v", err)
		}
		t.Skipf("xmllint not installed (apt-get install libxml2-utils); skipping oracle cross-check")
	}
	return p
}

// xmllint validates with the CLI, offline, and returns nil when valid.
func xmllint(t *testing.T, bin, schemaFile string, doc []byte) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--noout", "--nonet", "--schema", filepath.Join(schemasDir, schemaFile), "-")
	cmd.Stdin = bytes.NewReader(doc)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err == nil {
		return nil
	}
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() > 0 && ee.ExitCode() != 5 {
		// 3 = invalid, 1 = malformed; 5 would mean the schema itself did not compile.
		return fmt.Errorf("xmllint: %s", strings.TrimSpace(out.String()))
	}
	t.Fatalf("xmllint could not run: %v: %s", err, out.String())
	return nil
}

func loadValidator(t *testing.T) *schema.Validator {
	t.Helper()
	v, err := schema.Load(schemasDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

// schemaOf maps an agency vector directory to the schema it is checked against.
func schemaOf(t *testing.T, reg *mapping.Registry, agency string) string {
	t.Helper()
	info, ok := reg.Info(agency, message.Submit)
	if !ok {
		t.Fatalf("no submit mapping for %s", agency)
	}
	return info.SchemaFile
}

func TestVectorsAgree(t *testing.T) {
	bin := xmllintPath(t)
	v := loadValidator(t)
	reg, err := mapping.Load(mappingsDir)
	if err != nil {
		t.Fatal(err)
	}
	known, err := agencies.LoadDir("../deploy/agencies")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := reg.Agencies(), known.Strings(); !slices.Equal(got, want) {
		t.Fatalf("mappings for %v, want every agency file's: %v", got, want)
	}
	for _, agency := range known.Strings() {
		schemaFile := schemaOf(t, reg, agency)
		for _, want := range []string{"valid", "invalid"} {
			files, _ := filepath.Glob(filepath.Join(vectorsDir, agency, want, "*.xml"))
			if len(files) == 0 {
				t.Errorf("%s: no %s vectors", agency, want)
			}
			sort.Strings(files)
			for _, f := range files {
				t.Run(agency+"/"+want+"/"+filepath.Base(f), func(t *testing.T) {
					doc, err := os.ReadFile(f)
					if err != nil {
						t.Fatal(err)
					}
					judgeVector(t, bin, v, schemaFile, want, doc)
				})
			}
		}
	}
}

// judgeVector has both validators judge doc, a vector of class want
// (valid, invalid), against schemaFile: they must agree, and with want.
func judgeVector(t *testing.T, bin string, v *schema.Validator, schemaFile, want string, doc []byte) {
	t.Helper()
	rt := v.Validate(schemaFile, doc)
	or := xmllint(t, bin, schemaFile, doc)
	if (rt == nil) != (or == nil) {
		t.Fatalf("validators disagree: runtime=%v xmllint=%v", rt, or)
	}
	if want == "valid" && rt != nil {
		t.Fatalf("valid vector refused: %v", rt)
	}
	if want == "invalid" && rt == nil {
		t.Fatalf("invalid vector accepted by both validators")
	}
}

func readDeclaration(t *testing.T, name string) ([]byte, map[string]any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("declarations", name))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Gate string `json:"gate"`
	}
	if err := jsonUnmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	return b, gateContext(t, d.Gate)
}

func serialize(t *testing.T, doc *etree.Document) []byte {
	t.Helper()
	b, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBuiltMessagesValidate(t *testing.T) {
	bin := xmllintPath(t)
	v := loadValidator(t)
	reg, err := mapping.Load(mappingsDir)
	if err != nil {
		t.Fatal(err)
	}
	created := time.Date(2025, 11, 26, 1, 15, 0, 0, time.UTC)
	files, _ := filepath.Glob("declarations/*.json")
	if len(files) < 6 {
		t.Fatalf("want every sample declaration, got %v", files)
	}
	for _, f := range files {
		declFile := filepath.Base(f)
		decl, gate := readDeclaration(t, declFile)
		for _, agency := range reg.Agencies() {
			if !sentTo(t, decl, agency) {
				continue
			}
			for _, kind := range []message.Kind{message.Submit, message.Amend, message.Cancel} {
				t.Run(declFile+"/"+agency+"/"+string(kind), func(t *testing.T) {
					env := mapping.Envelope{
						MessageID: "MSG-" + agency + "-" + string(kind), Kind: kind, Sender: "hub", Receiver: agency,
						DeclarationID: "DCL-20251126-0001", Version: 1, CreatedAt: created,
					}
					if kind != message.Submit {
						env.Version = 2
						env.PreviousMessageID = "MSG-" + agency + "-submit"
					}
					doc, info, err := reg.Build(agency, kind, jsonRaw(decl), env, gate)
					if err != nil {
						t.Fatal(err)
					}
					checkBoth(t, bin, v, info.SchemaFile, serialize(t, doc))
				})
			}
			for _, a := range []mapping.AckFields{
				{AckID: "ACK-" + agency + "-1", RefMessageID: "MSG-" + agency + "-submit", Status: "ACK", IssuedAt: created.Add(time.Minute)},
				{AckID: "ACK-" + agency + "-2", RefMessageID: "MSG-" + agency + "-amend", Status: "NACK", ReasonCode: "E102", ReasonText: "Giấy phép liên vận đã hết hạn / 许可证已过期", IssuedAt: created.Add(2 * time.Minute)},
			} {
				t.Run(declFile+"/"+agency+"/ack-"+a.Status, func(t *testing.T) {
					env := mapping.Envelope{Sender: agency, Receiver: "hub", DeclarationID: "DCL-20251126-0001", Version: 1}
					doc, info, err := reg.BuildAck(agency, a, env)
					if err != nil {
						t.Fatal(err)
					}
					checkBoth(t, bin, v, info.SchemaFile, serialize(t, doc))
					got, err := reg.ParseAck(agency, doc.Root())
					if err != nil {
						t.Fatal(err)
					}
					if got != a {
						t.Fatalf("ParseAck round trip: got %+v, want %+v", got, a)
					}
				})
			}
		}
	}
}

func checkBoth(t *testing.T, bin string, v *schema.Validator, schemaFile string, doc []byte) {
	t.Helper()
	if err := v.Validate(schemaFile, doc); err != nil {
		t.Errorf("runtime validator: %v\n%s", err, doc)
	}
	if err := xmllint(t, bin, schemaFile, doc); err != nil {
		t.Errorf("xmllint: %v\n%s", err, doc)
	}
}

// shippedAgencies is the agency set the shipped gate files are checked against.
func shippedAgencies(t testing.TB) *agencies.Set {
	t.Helper()
	set, err := agencies.LoadDir("../deploy/agencies")
	if err != nil {
		t.Fatalf("load agencies: %v", err)
	}
	return set
}
