package pki

import (
	"testing"
	"time"
)

// TestSM2Identity: an SM2 identity is generated, saved, loaded and trusted
// like the others, its certificate signed SM2-with-SM3.
func TestSM2Identity(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	id, err := Generate("guangxi", SM2, now, now.AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if !IsSM2(id.Cert) {
		t.Fatalf("certificate key is %T, want SM2", id.Cert.PublicKey)
	}
	dir := t.TempDir()
	if err := id.Save(dir); err != nil {
		t.Fatal(err)
	}
	back, err := LoadIdentity(dir, "guangxi")
	if err != nil {
		t.Fatal(err)
	}
	if !back.Cert.Equal(id.Cert) || !publicKeysEqual(back.Key.Public(), id.Key.Public()) {
		t.Fatal("loaded identity differs")
	}
	ts := NewTrustStore()
	ts.Add("guangxi", id.Cert, time.Time{}, time.Time{})
	tdir := t.TempDir()
	if err := ts.Save(tdir); err != nil {
		t.Fatal(err)
	}
	ts2, err := LoadTrustStore(tdir)
	if err != nil {
		t.Fatal(err)
	}
	if got := ts2.Certificates("guangxi", now.Add(time.Hour)); len(got) != 1 || !got[0].Equal(id.Cert) {
		t.Fatalf("trust store round trip: %v", got)
	}
}
