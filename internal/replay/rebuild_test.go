package replay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/app/apptest"
	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/gate"
	"github.com/gatehub/gatehub/internal/hub"
	"github.com/gatehub/gatehub/internal/mapping"
	"github.com/gatehub/gatehub/internal/pki"
	"github.com/gatehub/gatehub/internal/replay"
	"github.com/gatehub/gatehub/internal/sign"
	"github.com/gatehub/gatehub/internal/store"
)

// signedLog logs one customs submit the way hub.insertMessages does: the
// declaration, the build record, and the message mapped and signed with
// the real mapping files and signer.
func signedLog(t *testing.T, reg *mapping.Registry, signer *sign.Signer) []store.AuditEntry {
	t.Helper()
	decl, err := os.ReadFile(filepath.Join(repoRoot, "conformance-tests/declarations/huu-nghi-export.json"))
	if err != nil {
		t.Fatal(err)
	}
	gates, err := gate.LoadDir(filepath.Join(repoRoot, "deploy/gates"), apptest.Agencies(t, repoRoot))
	if err != nil {
		t.Fatal(err)
	}
	g, ok := gates.Gate("HUUNGHI")
	if !ok {
		t.Fatal("no HUUNGHI gate")
	}
	at := time.Date(2026, 11, 25, 1, 0, 0, 123000, time.UTC)
	env := mapping.Envelope{MessageID: "M-1", Kind: "submit", Sender: hub.Participant, Receiver: "customs",
		DeclarationID: "D-1", Version: 1, CreatedAt: at}
	doc, info, err := reg.Build("customs", "submit", json.RawMessage(decl), env, g.Context())
	if err != nil {
		t.Fatal(err)
	}
	signed, err := signer.Sign(doc)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := json.Marshal(audit.MessageBuilt{
		Agency: "customs", Kind: "submit", DeclarationVersion: 1, Sender: hub.Participant, Receiver: "customs",
		CreatedAt: at, MappingVersion: info.MappingVersion, SchemaFile: info.SchemaFile, SchemaVersion: info.SchemaVersion,
		Gate: g.Context(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return []store.AuditEntry{
		{Seq: 1, Time: at, Kind: audit.KindDeclarationAccepted, DeclarationID: "D-1", Payload: decl},
		{Seq: 2, Time: at, Kind: audit.KindMessageBuilt, DeclarationID: "D-1", MessageID: "M-1", Agency: "customs", Payload: rec},
		{Seq: 3, Time: at, Kind: audit.KindMessageOutbound, DeclarationID: "D-1", MessageID: "M-1", Agency: "customs", Payload: signed},
	}
}

func identity(t *testing.T, alg pki.Algorithm) (*sign.Signer, func(string, []byte, time.Time) error) {
	t.Helper()
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	id, err := pki.Generate(hub.Participant, alg, from, from.AddDate(2, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	s, err := sign.NewSigner(id)
	if err != nil {
		t.Fatal(err)
	}
	ts := pki.NewTrustStore()
	ts.Add(hub.Participant, id.Cert, time.Time{}, time.Time{})
	v := sign.NewVerifier(ts)
	return s, func(p string, xml []byte, at time.Time) error { _, err := v.Verify(p, xml, at); return err }
}

func TestRebuild(t *testing.T) {
	reg, err := mapping.Load(filepath.Join(repoRoot, "mappings"))
	if err != nil {
		t.Fatal(err)
	}
	signer, verify := identity(t, pki.ECDSAP256)
	_, otherVerify := identity(t, pki.ECDSAP256)
	edit := func(e []store.AuditEntry, seq int, f func(map[string]any)) {
		var m map[string]any
		if err := json.Unmarshal(e[seq-1].Payload, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		e[seq-1].Payload, _ = json.Marshal(m)
	}
	tests := []struct {
		name    string
		tamper  func(e []store.AuditEntry)
		verify  func(string, []byte, time.Time) error
		outcome string
		detail  string
	}{
		{name: "rebuilds byte for byte", outcome: replay.RebuildOK},
		{
			name: "declaration changed after signing",
			tamper: func(e []store.AuditEntry) {
				e[0].Payload = bytes.Replace(e[0].Payload, []byte("12C-12345"), []byte("12C-99999"), 1)
			},
			outcome: replay.RebuildMismatch, detail: `logged "<ID>12C-12345</ID>", rebuilt "<ID>12C-99999</ID>"`,
		},
		{
			name: "envelope record changed",
			tamper: func(e []store.AuditEntry) {
				edit(e, 2, func(m map[string]any) { m["createdAt"] = "2026-11-25T02:00:00Z" })
			},
			outcome: replay.RebuildMismatch, detail: "line ",
		},
		{
			name:    "another mapping version",
			tamper:  func(e []store.AuditEntry) { edit(e, 2, func(m map[string]any) { m["mappingVersion"] = "0.9.0" }) },
			outcome: replay.RebuildSkipped, detail: "check out mappings/customs at version 0.9.0",
		},
		{
			name:    "signature by a key the verifier does not trust",
			verify:  otherVerify,
			outcome: replay.RebuildMismatch, detail: "logged signature does not verify",
		},
		{
			name:    "no build record",
			tamper:  func(e []store.AuditEntry) { e[1].Kind = audit.KindConfigApply },
			outcome: replay.RebuildSkipped, detail: "no message.built record",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entries := signedLog(t, reg, signer)
			if tt.tamper != nil {
				tt.tamper(entries)
			}
			v := verify
			if tt.verify != nil {
				v = tt.verify
			}
			rep, err := replay.Rebuild(context.Background(), entries, reg, v)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Messages) != 1 {
				t.Fatalf("%d results, want 1", len(rep.Messages))
			}
			got := rep.Messages[0]
			if got.Outcome != tt.outcome || !strings.Contains(got.Detail, tt.detail) {
				t.Errorf("got %s, want %s with detail containing %q", got, tt.outcome, tt.detail)
			}
		})
	}
}
