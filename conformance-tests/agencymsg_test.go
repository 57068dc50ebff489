package conformance

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/gatehub/gatehub/internal/directive"
)

// agencyMessageSchema names the schema of an agency-message vector by its
// file name's prefix (hold-, release-, revoke-, crossing-confirmed-,
// forward-).
func agencyMessageSchema(t *testing.T, name string) string {
	t.Helper()
	if strings.HasPrefix(name, "forward") {
		return directive.ForwardSchemaFile
	}
	for _, k := range directive.Kinds {
		f, _ := directive.FormatOf(k)
		if strings.HasPrefix(name, f.Function) {
			return f.SchemaFile
		}
	}
	t.Fatalf("vector %s names no agency message kind", name)
	return ""
}

// TestAgencyMessageVectorsAgree: the agencies' own messages (HOLD,
// RELEASE, REVOKE, CROSSING-CONFIRMED) and the hub's forward, valid and
// invalid, judged alike by the runtime validator and xmllint; every valid
// agency message reads with directive.Parse.
func TestAgencyMessageVectorsAgree(t *testing.T) {
	bin := xmllintPath(t)
	v := loadValidator(t)
	for _, want := range []string{"valid", "invalid"} {
		files, _ := filepath.Glob(filepath.Join(vectorsDir, "agency-message", want, "*.xml"))
		if len(files) < 5 {
			t.Errorf("agency-message: only %d %s vectors", len(files), want)
		}
		sort.Strings(files)
		for _, f := range files {
			name := filepath.Base(f)
			t.Run(want+"/"+name, func(t *testing.T) {
				doc, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				schemaFile := agencyMessageSchema(t, name)
				judgeVector(t, bin, v, schemaFile, want, doc)
				if want == "valid" && !strings.HasPrefix(name, "forward") {
					d := etree.NewDocument()
					if err := d.ReadFromBytes(doc); err != nil {
						t.Fatal(err)
					}
					if _, err := directive.Parse(d.Root()); err != nil {
						t.Fatalf("valid vector unreadable: %v", err)
					}
				}
			})
		}
	}
}

// TestBuiltAgencyMessagesValidate: what directive.Build writes (the
// simulators' messages) and directive.BuildForward (the hub's forwards)
// passes both validators.
func TestBuiltAgencyMessagesValidate(t *testing.T) {
	bin := xmllintPath(t)
	v := loadValidator(t)
	at := time.Date(2025, 11, 26, 2, 10, 0, 0, time.UTC)
	base := directive.Message{ID: "MSG-1", Sender: "customs", DeclarationID: "DCL-20251126-0001", Version: 1, CreatedAt: at}
	msgs := []directive.Message{}
	for _, edit := range []func(*directive.Message){
		func(m *directive.Message) {
			m.Kind, m.Checkpoint, m.ReasonCode, m.ReasonText = directive.Hold, "B1", "CUS-RED", "kiểm tra thực tế"
		},
		func(m *directive.Message) { m.Kind, m.HoldMessageID = directive.Release, "MSG-0" },
		func(m *directive.Message) {
			m.Kind, m.Subject, m.ReasonCode = directive.Revoke, "PERMIT", "VR-PERMIT-REVOKED"
		},
		func(m *directive.Message) {
			m.Kind, m.PortCode, m.PassedAt, m.Plate = directive.CrossingConfirmed, "7201", at.Add(time.Hour), "桂A12345"
		},
	} {
		m := base
		edit(&m)
		msgs = append(msgs, m)
	}
	for _, m := range msgs {
		t.Run(string(m.Kind), func(t *testing.T) {
			doc, err := directive.Build(m)
			if err != nil {
				t.Fatal(err)
			}
			f, _ := directive.FormatOf(m.Kind)
			checkBoth(t, bin, v, f.SchemaFile, serialize(t, doc))
			fwd := directive.BuildForward(directive.Forward{MessageID: "FWD-1", Receiver: "borderguard", DeclarationID: m.DeclarationID,
				Version: 1, CreatedAt: at, Original: m, OriginalRaw: serialize(t, doc), ReceivedAt: at})
			checkBoth(t, bin, v, directive.ForwardSchemaFile, serialize(t, fwd))
		})
	}
}
