package pki

import (
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"
)

var (
	jan  = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	jun  = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	dec  = time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)
	next = time.Date(2027, 12, 31, 0, 0, 0, 0, time.UTC)
)

func mustGenerate(t *testing.T, p string, alg Algorithm, from, until time.Time) *Identity {
	t.Helper()
	id, err := Generate(p, alg, from, until)
	if err != nil {
		t.Fatalf("generate %s: %v", p, err)
	}
	return id
}

func TestGenerateSaveLoad(t *testing.T) {
	for _, alg := range []Algorithm{RSA2048, ECDSAP256} {
		t.Run(string(alg), func(t *testing.T) {
			dir := t.TempDir()
			id := mustGenerate(t, "province-langson", alg, jan, dec)
			if id.Cert.Subject.CommonName != "province-langson" {
				t.Errorf("CN = %q", id.Cert.Subject.CommonName)
			}
			if !id.Cert.NotBefore.Equal(jan) || !id.Cert.NotAfter.Equal(dec) {
				t.Errorf("validity = %s..%s", id.Cert.NotBefore, id.Cert.NotAfter)
			}
			if err := id.Save(dir); err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(filepath.Join(dir, "province-langson.key.pem"))
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o600 {
				t.Errorf("key mode = %v, want 0600", st.Mode().Perm())
			}
			got, err := LoadIdentity(dir, "province-langson")
			if err != nil {
				t.Fatal(err)
			}
			if !got.Cert.Equal(id.Cert) || Fingerprint(got.Cert) != Fingerprint(id.Cert) {
				t.Error("loaded certificate differs")
			}
			if !publicKeysEqual(got.Key.Public(), id.Key.Public()) {
				t.Error("loaded key differs")
			}
		})
	}
}

func TestGenerateRefuses(t *testing.T) {
	tests := []struct {
		name, participant string
		alg               Algorithm
		from, until       time.Time
	}{
		{"path traversal", "../etc", RSA2048, jan, dec},
		{"empty", "", RSA2048, jan, dec},
		{"upper case", "Customs", RSA2048, jan, dec},
		{"unknown algorithm", "hub", "dsa-1024", jan, dec},
		{"inverted window", "hub", ECDSAP256, dec, jan},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Generate(tt.participant, tt.alg, tt.from, tt.until); err == nil {
				t.Error("expected an error")
			}
		})
	}
}

func TestLoadIdentityMismatch(t *testing.T) {
	dir := t.TempDir()
	a := mustGenerate(t, "hub", ECDSAP256, jan, dec)
	b := mustGenerate(t, "hub", ECDSAP256, jan, dec)
	if err := a.Save(dir); err != nil {
		t.Fatal(err)
	}
	// Certificate of another key under the same name must not load.
	if err := os.WriteFile(filepath.Join(dir, "hub.crt.pem"), CertPEM(b.Cert), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadIdentity(dir, "hub"); err == nil {
		t.Error("mismatched key and certificate loaded")
	}
}

func TestLoadOrCreate(t *testing.T) {
	dir := t.TempDir()
	id, created, err := LoadOrCreate(dir, "hub", ECDSAP256, jun)
	if err != nil || !created {
		t.Fatalf("first call: created=%v err=%v", created, err)
	}
	if id.Cert.NotBefore.After(jun) || !id.Cert.NotAfter.After(jun) {
		t.Errorf("certificate not valid at creation time: %s..%s", id.Cert.NotBefore, id.Cert.NotAfter)
	}
	again, created, err := LoadOrCreate(dir, "hub", ECDSAP256, jun)
	if err != nil || created {
		t.Fatalf("second call: created=%v err=%v", created, err)
	}
	if !again.Cert.Equal(id.Cert) {
		t.Error("second call minted a new identity")
	}
	if err := os.Remove(filepath.Join(dir, "hub.crt.pem")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreate(dir, "hub", ECDSAP256, jun); err == nil {
		t.Error("lone key file was overwritten instead of refused")
	}
}

func TestTrustStoreWindows(t *testing.T) {
	old := mustGenerate(t, "customs", ECDSAP256, jan, dec)
	cur := mustGenerate(t, "customs", ECDSAP256, jun, next)
	ts := NewTrustStore()
	// Rotation: the old key stops being accepted at the handover.
	handover := jun.Add(24 * time.Hour)
	ts.Add("customs", old.Cert, time.Time{}, handover)
	ts.Add("customs", cur.Cert, time.Time{}, time.Time{})
	// A window wider than the certificate is clamped to it.
	hub := mustGenerate(t, "hub", RSA2048, jun, dec)
	ts.Add("hub", hub.Cert, jan, next)

	tests := []struct {
		participant string
		at          time.Time
		want        []*Identity
	}{
		{"customs", jan.Add(-time.Second), nil},
		{"customs", jan, []*Identity{old}},
		{"customs", jun, []*Identity{old, cur}},
		{"customs", handover, []*Identity{old, cur}},
		{"customs", handover.Add(time.Second), []*Identity{cur}},
		{"customs", next.Add(time.Second), nil},
		{"hub", jan, nil},
		{"hub", jun, []*Identity{hub}},
		{"borderguard", jun, nil},
	}
	for _, tt := range tests {
		t.Run(tt.participant+"@"+tt.at.Format(time.RFC3339), func(t *testing.T) {
			got := ts.Certificates(tt.participant, tt.at)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d certificates, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if !got[i].Equal(tt.want[i].Cert) {
					t.Errorf("certificate %d differs", i)
				}
			}
		})
	}
	if got := ts.Participants(); !reflect.DeepEqual(got, []string{"customs", "hub"}) {
		t.Errorf("participants = %v", got)
	}
	if got := len(ts.All("customs")); got != 2 {
		t.Errorf("All(customs) = %d certificates", got)
	}
	// Re-adding replaces the window rather than duplicating.
	ts.Add("customs", old.Cert, time.Time{}, time.Time{})
	if got := len(ts.All("customs")); got != 2 {
		t.Errorf("after re-add: %d certificates", got)
	}
	if got := len(ts.Certificates("customs", dec)); got != 2 {
		t.Errorf("re-added window not widened back to the certificate's: %d", got)
	}
}

func TestTrustStoreSaveLoad(t *testing.T) {
	old := mustGenerate(t, "customs", ECDSAP256, jan, dec)
	cur := mustGenerate(t, "customs", RSA2048, jun, next)
	gx := mustGenerate(t, "guangxi", ECDSAP256, jan, next)
	ts := NewTrustStore()
	ts.Add("customs", old.Cert, time.Time{}, jun)
	ts.Add("customs", cur.Cert, time.Time{}, time.Time{})
	ts.Add("guangxi", gx.Cert, jun, time.Time{})
	dir := t.TempDir()
	if err := ts.Save(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "customs", Fingerprint(cur.Cert)+".window.json")); !os.IsNotExist(err) {
		t.Errorf("window file written for an unnarrowed certificate: %v", err)
	}
	got, err := LoadTrustStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"customs", "guangxi"} {
		for _, c := range ts.All(p) {
			f1, u1, _ := ts.Window(p, c)
			f2, u2, ok := got.Window(p, c)
			if !ok || !f1.Equal(f2) || !u1.Equal(u2) {
				t.Errorf("%s %s: window %s..%s, loaded %s..%s (ok=%v)", p, Fingerprint(c)[:8], f1, u1, f2, u2, ok)
			}
		}
	}
	if !reflect.DeepEqual(got.Participants(), ts.Participants()) {
		t.Errorf("participants = %v", got.Participants())
	}
}

func TestLoadTrustStoreRefusesBadInput(t *testing.T) {
	id := mustGenerate(t, "hub", ECDSAP256, jan, dec)
	tests := []struct {
		name  string
		files map[string][]byte
	}{
		{"bad participant dir", map[string][]byte{"Bad Name/x.crt.pem": CertPEM(id.Cert)}},
		{"garbage certificate", map[string][]byte{"hub/x.crt.pem": []byte("not a pem")}},
		{"two certificates in one file", map[string][]byte{"hub/x.crt.pem": append(CertPEM(id.Cert), CertPEM(id.Cert)...)}},
		{"bad window", map[string][]byte{"hub/x.crt.pem": CertPEM(id.Cert), "hub/x.window.json": []byte("{")}},
		{"inverted window", map[string][]byte{"hub/x.crt.pem": CertPEM(id.Cert), "hub/x.window.json": []byte(`{"from":"2026-06-01T00:00:00Z","until":"2026-01-01T00:00:00Z"}`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, data := range tt.files {
				p := filepath.Join(dir, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := LoadTrustStore(dir); err == nil {
				t.Error("expected an error")
			}
		})
	}
}

func TestTrustStoreConcurrentReads(t *testing.T) {
	ts := NewTrustStore()
	ids := []*Identity{mustGenerate(t, "hub", ECDSAP256, jan, dec), mustGenerate(t, "customs", ECDSAP256, jan, dec)}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 100 {
				if i == 0 {
					id := ids[j%2]
					ts.Add(id.Participant, id.Cert, time.Time{}, time.Time{})
				}
				_ = ts.Certificates("hub", jun)
				_ = ts.Participants()
				_ = ts.All("customs")
			}
		}()
	}
	wg.Wait()
}
