package gatedevice

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPublicKeyPEMRoundTrip(t *testing.T) {
	_, pub, kid := testKey("A")
	got, err := ParsePublicKeyPEM(MarshalPublicKeyPEM(pub))
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Equal(got) || KeyID(got) != kid || !strings.HasPrefix(kid, "ed25519-") || len(kid) != 24 {
		t.Fatalf("round trip changed the key: %s vs %s", KeyID(got), kid)
	}
}

func TestParsePEMRefuses(t *testing.T) {
	key, _, _ := testKey("A")
	priv, err := MarshalPrivateKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data string
		want string
	}{
		{"empty", "", "no PEM PUBLIC KEY block"},
		{"private key given as public", string(priv), "no PEM PUBLIC KEY block"},
		{"garbage body", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "parse public key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParsePublicKeyPEM([]byte(tt.data)); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := ParsePrivateKeyPEM(MarshalPublicKeyPEM(key.Public().(ed25519.PublicKey))); err == nil {
		t.Fatal("public key accepted as private key")
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	k1, id1, err := LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	k2, id2, err := LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Equal(k2) || id1 != id2 {
		t.Fatal("second load returned a different key")
	}
	st, err := os.Stat(filepath.Join(dir, PrivateKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		t.Errorf("private key file mode %v is readable by others", st.Mode().Perm())
	}
	pubPEM, err := os.ReadFile(filepath.Join(dir, PublicKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ParsePublicKeyPEM(pubPEM)
	if err != nil || KeyID(pub) != id1 {
		t.Fatalf("public key file does not match: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("leftover files in key dir: %v", entries)
	}
}
