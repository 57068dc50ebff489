package pki

import (
	"os"
	"path/filepath"
	"testing"
)

// kubeVolume lays out dir the way the kubelet writes a Secret or ConfigMap
// volume whose items have nested paths (hub/<fp>.crt.pem): the files live
// in a timestamped "..2026_…" directory, "..data" links to it, and every
// top-level entry is a symlink through "..data".
func kubeVolume(t *testing.T, saved string) string {
	t.Helper()
	vol := t.TempDir()
	stamp := "..2026_11_25_12_00_00.123456789"
	if err := os.CopyFS(filepath.Join(vol, stamp), os.DirFS(saved)); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(stamp, filepath.Join(vol, "..data")); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(saved)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.Symlink(filepath.Join("..data", e.Name()), filepath.Join(vol, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	return vol
}

func TestLoadTrustStoreFromKubernetesVolume(t *testing.T) {
	hub := mustGenerate(t, "hub", ECDSAP256, jan, next)
	customs := mustGenerate(t, "customs", ECDSAP256, jan, next)
	retired := mustGenerate(t, "customs", ECDSAP256, jan, next)
	ts := NewTrustStore()
	ts.Add("hub", hub.Cert, jan, next)
	ts.Add("customs", customs.Cert, jan, next)
	ts.Add("customs", retired.Cert, jan, jun)
	saved := t.TempDir()
	if err := ts.Save(saved); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		dir  func(t *testing.T) string
	}{
		{"plain directory", func(*testing.T) string { return saved }},
		{"kubernetes volume", func(t *testing.T) string { return kubeVolume(t, saved) }},
		{"symlinked participant directories only", func(t *testing.T) string {
			dir := t.TempDir()
			for _, p := range []string{"hub", "customs"} {
				if err := os.Symlink(filepath.Join(saved, p), filepath.Join(dir, p)); err != nil {
					t.Fatal(err)
				}
			}
			// A symlinked file at the top level is not a participant.
			if err := os.WriteFile(filepath.Join(saved, "README"), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(filepath.Join(saved, "README"), filepath.Join(dir, "README")); err != nil {
				t.Fatal(err)
			}
			return dir
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := LoadTrustStore(tc.dir(t))
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			if ps := got.Participants(); len(ps) != 2 || ps[0] != "customs" || ps[1] != "hub" {
				t.Fatalf("participants %v, want [customs hub]", ps)
			}
			if n := len(got.All("customs")); n != 2 {
				t.Fatalf("customs has %d certificates, want 2", n)
			}
			// Windows come through the symlinks too.
			if c := got.Certificates("customs", dec); len(c) != 1 || !c[0].Equal(customs.Cert) {
				t.Fatalf("customs in December: %d certificates, want only the current one", len(c))
			}
		})
	}
}

func TestLoadTrustStoreDanglingParticipantLink(t *testing.T) {
	dir := t.TempDir()
	if err := os.Symlink(filepath.Join(dir, "gone"), filepath.Join(dir, "customs")); err != nil {
		t.Fatal(err)
	}
	// A participant that cannot be read must fail loudly, not vanish.
	if _, err := LoadTrustStore(dir); err == nil {
		t.Fatal("a dangling participant link loaded silently")
	}
}
