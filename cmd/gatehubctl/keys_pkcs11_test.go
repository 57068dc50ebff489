package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/pki"
	"github.com/gatehub/gatehub/internal/pki/softhsmtest"
	"github.com/gatehub/gatehub/internal/sign"
)

// TestKeysInPKCS11Token: keys gen and rotate with --pkcs11 make and
// replace the hub's key inside a token (SoftHSM2), never as a file, with
// the same trust windows as file keys.
func TestKeysInPKCS11Token(t *testing.T) {
	uri := softhsmtest.New(t, "gatehub-ctl", "hub")
	dir := t.TempDir()
	keys, trust := filepath.Join(dir, "keys"), filepath.Join(dir, "trust")

	out := run(t, "keys", "gen", "--participant", "hub", "--pkcs11", uri, "--dir", keys, "--trust", trust)
	if !strings.Contains(out, "key generated in pkcs11:") || strings.Contains(out, "pin-value="+softhsmtest.PIN) {
		t.Fatalf("keys gen said: %s", out)
	}
	if _, err := os.Stat(filepath.Join(keys, "hub.key.pem")); !os.IsNotExist(err) {
		t.Fatalf("a key file was written: %v", err)
	}
	old, closeOld, err := pki.LoadPKCS11Identity(uri, "hub")
	if err != nil {
		t.Fatal(err)
	}
	signedBefore := signDoc(t, old, "sent before the rotation")
	closeOld()

	out = run(t, "keys", "rotate", "--participant", "hub", "--pkcs11", uri, "--new-object", "hub-2027", "--dir", keys, "--trust", trust)
	if !regexp.MustCompile(`new key: pkcs11:token=gatehub-ctl;object=hub-2027\?`).MatchString(out) {
		t.Fatalf("keys rotate said: %s", out)
	}
	cur, closeCur, err := pki.LoadPKCS11Identity(softhsmtest.URI("gatehub-ctl", "hub-2027"), "hub")
	if err != nil {
		t.Fatal(err)
	}
	defer closeCur()
	if cur.Cert.Equal(old.Cert) {
		t.Fatal("rotation kept the old key")
	}
	ts, err := pki.LoadTrustStore(trust)
	if err != nil {
		t.Fatal(err)
	}
	_, rotatedAt, ok := ts.Window("hub", old.Cert)
	if !ok || rotatedAt.After(time.Now()) {
		t.Fatalf("old certificate window ends %v (ok %v)", rotatedAt, ok)
	}
	v := sign.NewVerifier(ts)
	if _, err := v.Verify("hub", signedBefore, rotatedAt.Add(-time.Second)); err != nil {
		t.Fatalf("message signed before the rotation: %v", err)
	}
	if _, err := v.Verify("hub", signedBefore, rotatedAt.Add(time.Hour)); err == nil {
		t.Fatal("the old token key is still trusted after the rotation")
	}
	if _, err := v.Verify("hub", signDoc(t, cur, "new"), time.Now().Add(time.Minute)); err != nil {
		t.Fatalf("the new token key: %v", err)
	}
	// A label already taken is refused, not overwritten.
	if err := dispatchErr("keys", "gen", "--participant", "hub", "--pkcs11", uri, "--dir", keys); err == nil || !strings.Contains(err.Error(), "already holds") {
		t.Fatalf("second gen under the same label: %v", err)
	}
}

func dispatchErr(args ...string) error {
	return dispatch(context.Background(), args, &bytes.Buffer{})
}
