package gateconfig_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/gate"
	"github.com/gatehub/gatehub/internal/hubtest"
	"github.com/gatehub/gatehub/internal/store"
)

// chima is the shipped CHIMA gate file with its name changed to name.
func chima(t *testing.T, name string) []byte {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(hubtest.Root(t), "deploy/gates/chima.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Replace(src, []byte("name: Chi Ma"), []byte("name: "+name), 1)
}

// TestApplyAcrossInstances: a gate applied on one instance is stored,
// logged and announced; another instance on the same store installs it at
// its next sync, once, and an invalid file changes nothing anywhere.
func TestApplyAcrossInstances(t *testing.T) {
	cases := []struct {
		name      string
		yaml      func(t *testing.T) []byte
		wantApply bool
	}{
		{name: "valid", yaml: func(t *testing.T) []byte { return chima(t, "Chi Ma 2") }, wantApply: true},
		{name: "invalid", yaml: func(t *testing.T) []byte {
			return bytes.Replace(chima(t, "X"), []byte("direction: export"), []byte("direction: sideways"), 1)
		}},
	}
	for _, st := range hubtest.Stores {
		for _, tc := range cases {
			t.Run(st.Name+"/"+tc.name, func(t *testing.T) {
				s := st.Open(t)
				a, b := hubtest.New(t, s), hubtest.New(t, s)
				ctx := t.Context()
				src := tc.yaml(t)
				g, err := gate.Parse("chima.yaml", src, a.GateConfig.Agencies.Current())
				if err == nil {
					err = a.GateConfig.ApplyGate(ctx, hubtest.Operator, g, src)
				}
				if (err == nil) != tc.wantApply {
					t.Fatalf("apply: %v", err)
				}
				if err := b.GateConfig.SyncGates(ctx); err != nil {
					t.Fatalf("sync: %v", err)
				}
				want := "Chi Ma"
				if tc.wantApply {
					want = "Chi Ma 2"
				}
				for name, h := range map[string]*hubtest.Hub{"applying": a, "other": b} {
					g, ok := h.Gates.Current().Gate("CHIMA")
					if !ok || g.Name != want {
						t.Errorf("%s instance runs CHIMA %q, want %q", name, g.Name, want)
					}
				}
				es, err := a.Views.AuditFind(ctx, store.AuditFilter{Kind: audit.KindConfigApply})
				if err != nil || (len(es) == 1) != tc.wantApply {
					t.Errorf("%d config.apply entries (%v)", len(es), err)
				}
			})
		}
	}
}
