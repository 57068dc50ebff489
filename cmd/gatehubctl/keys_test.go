package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/gatehub/gatehub/internal/pki"
	"github.com/gatehub/gatehub/internal/sign"
)

func run(t *testing.T, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	if err := dispatch(context.Background(), args, &out); err != nil {
		t.Fatalf("gatehubctl %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

func signDoc(t *testing.T, id *pki.Identity, text string) []byte {
	t.Helper()
	s, err := sign.NewSigner(id)
	if err != nil {
		t.Fatal(err)
	}
	doc := etree.NewDocument()
	doc.CreateElement("Message").CreateElement("Body").SetText(text)
	signed, err := s.Sign(doc)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

func TestKeysGenImportRotate(t *testing.T) {
	dir := t.TempDir()
	keys, trust, agencyKeys := filepath.Join(dir, "keys"), filepath.Join(dir, "trust"), filepath.Join(dir, "customs-keys")

	run(t, "keys", "gen", "-participant", "hub", "-dir", keys, "-trust", trust)
	if err := dispatch(context.Background(), []string{"keys", "gen", "-participant", "hub", "-dir", keys}, &bytes.Buffer{}); err == nil ||
		!strings.Contains(err.Error(), "keys rotate") {
		t.Fatalf("a second keys gen for hub: %v, want a pointer to keys rotate", err)
	}
	// An agency generates its own key and hands over only the certificate.
	run(t, "keys", "gen", "-participant", "customs", "-alg", "ecdsa-p256", "-dir", agencyKeys)
	run(t, "keys", "import", "-participant", "customs", "-cert", filepath.Join(agencyKeys, "customs.crt.pem"), "-trust", trust)
	customs, err := pki.LoadIdentity(agencyKeys, "customs")
	if err != nil {
		t.Fatal(err)
	}

	old, err := pki.LoadIdentity(keys, "hub")
	if err != nil {
		t.Fatal(err)
	}
	signedBefore := signDoc(t, old, "sent before the rotation")

	out := run(t, "keys", "rotate", "-participant", "hub", "-dir", keys, "-trust", trust)
	if !strings.Contains(out, "rotated") {
		t.Fatalf("rotate said: %s", out)
	}
	cur, err := pki.LoadIdentity(keys, "hub")
	if err != nil {
		t.Fatal(err)
	}
	if cur.Cert.Equal(old.Cert) {
		t.Fatal("rotate kept the old certificate as the current one")
	}
	if _, err := pki.LoadIdentity(filepath.Join(keys, "retired", pki.Fingerprint(old.Cert)[:16]), "hub"); err != nil {
		t.Fatalf("the retired key is not kept: %v", err)
	}

	ts, err := pki.LoadTrustStore(trust)
	if err != nil {
		t.Fatal(err)
	}
	_, rotatedAt, ok := ts.Window("hub", old.Cert)
	if !ok || rotatedAt.After(time.Now()) || rotatedAt.Before(old.Cert.NotBefore) {
		t.Fatalf("old certificate window ends %v (ok %v), want the rotation time", rotatedAt, ok)
	}
	signedAfter := signDoc(t, old, "signed with the old key after the rotation")
	signedNew := signDoc(t, cur, "signed with the new key")
	v := sign.NewVerifier(ts)

	tests := []struct {
		name        string
		participant string
		signed      []byte
		at          time.Time
		ok          bool
	}{
		{"old key, signed before the rotation", "hub", signedBefore, rotatedAt.Add(-time.Second), true},
		{"old key, at the rotation instant", "hub", signedBefore, rotatedAt, true},
		{"old key, claimed after the rotation", "hub", signedAfter, rotatedAt.Add(time.Second), false},
		{"old key, an hour later", "hub", signedAfter, rotatedAt.Add(time.Hour), false},
		{"new key after the rotation", "hub", signedNew, rotatedAt.Add(time.Second), true},
		{"imported agency certificate", "customs", signDoc(t, customs, "ack"), time.Now(), true},
		{"agency key is not the hub", "hub", signDoc(t, customs, "ack"), time.Now(), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(tc.participant, tc.signed, tc.at)
			if (err == nil) != tc.ok {
				t.Fatalf("verify: %v, want ok=%v", err, tc.ok)
			}
		})
	}

	// A second rotation keeps both retired certificates with their windows.
	run(t, "keys", "rotate", "-participant", "hub", "-dir", keys, "-trust", trust)
	ts, err = pki.LoadTrustStore(trust)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(ts.All("hub")); n != 3 {
		t.Fatalf("%d hub certificates after two rotations, want 3", n)
	}
	if _, err := sign.NewVerifier(ts).Verify("hub", signedBefore, rotatedAt.Add(-time.Second)); err != nil {
		t.Fatalf("second rotation broke messages signed before the first: %v", err)
	}
	if _, err := os.Stat(filepath.Join(trust, "customs")); err != nil {
		t.Fatalf("rotation lost the agency's certificate: %v", err)
	}
}
