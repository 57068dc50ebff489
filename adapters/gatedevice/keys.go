package gatedevice

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Key file names used by LoadOrCreateKey.
const (
	PrivateKeyFile = "lane-decision-ed25519.key.pem"
	PublicKeyFile  = "lane-decision-ed25519.pub.pem"
)

// KeyID derives a key id from a public key: "ed25519-" and the first 16 hex
// digits of the SHA-256 of its PKIX (SubjectPublicKeyInfo) DER encoding.
// Deriving rather than choosing ids means a device can recompute the id of
// a key it was given and catch a mislabelled key file.
func KeyID(pub ed25519.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		// Only a wrong-length key gets here; give it an id that matches nothing.
		return "invalid"
	}
	sum := sha256.Sum256(der)
	return "ed25519-" + hex.EncodeToString(sum[:8])
}

// MarshalPublicKeyPEM encodes pub as a PEM "PUBLIC KEY" block (PKIX), the
// form `openssl pkey -pubout` writes and most device stacks read.
func MarshalPublicKeyPEM(pub ed25519.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// ParsePublicKeyPEM reads a PEM "PUBLIC KEY" block holding an Ed25519 key.
func ParsePublicKeyPEM(data []byte) (ed25519.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, errors.New("parse public key: no PEM PUBLIC KEY block")
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse public key: %w", err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("parse public key: %T is not an Ed25519 key", k)
	}
	return pub, nil
}

// MarshalPrivateKeyPEM encodes key as a PEM "PRIVATE KEY" block (PKCS #8).
func MarshalPrivateKeyPEM(key ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshal private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParsePrivateKeyPEM reads a PEM "PRIVATE KEY" block holding an Ed25519 key.
func ParsePrivateKeyPEM(data []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("parse private key: no PEM PRIVATE KEY block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("parse private key: %T is not an Ed25519 key", k)
	}
	return key, nil
}

// LoadOrCreateKey returns the lane-decision signing key kept in dir,
// creating it (and the public key file to hand to device vendors) on first
// use. It is meant for development and single-host setups; production keys
// come from the hub's key management.
func LoadOrCreateKey(dir string) (ed25519.PrivateKey, string, error) {
	path := filepath.Join(dir, PrivateKeyFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createKey(dir)
	}
	if err != nil {
		return nil, "", fmt.Errorf("load lane decision key: %w", err)
	}
	key, err := ParsePrivateKeyPEM(data)
	if err != nil {
		return nil, "", fmt.Errorf("load lane decision key %s: %w", path, err)
	}
	return key, KeyID(key.Public().(ed25519.PublicKey)), nil
}

func createKey(dir string) (ed25519.PrivateKey, string, error) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, "", fmt.Errorf("create lane decision key: %w", err)
	}
	pemKey, err := MarshalPrivateKeyPEM(key)
	if err != nil {
		return nil, "", fmt.Errorf("create lane decision key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", fmt.Errorf("create lane decision key: %w", err)
	}
	// Write to a temporary file and hard-link it into place: the link
	// fails if the key already exists, so when two processes start at once
	// one creates the key and the other loads it, and nobody ever reads a
	// half-written key file.
	tmp, err := os.CreateTemp(dir, ".lane-decision-*.tmp")
	if err != nil {
		return nil, "", fmt.Errorf("create lane decision key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(pemKey); err != nil {
		tmp.Close()
		return nil, "", fmt.Errorf("create lane decision key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, "", fmt.Errorf("create lane decision key: %w", err)
	}
	if err := os.Link(tmp.Name(), filepath.Join(dir, PrivateKeyFile)); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return LoadOrCreateKey(dir)
		}
		return nil, "", fmt.Errorf("create lane decision key: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, PublicKeyFile), MarshalPublicKeyPEM(pub), 0o644); err != nil {
		return nil, "", fmt.Errorf("create lane decision key: public key: %w", err)
	}
	return key, KeyID(pub), nil
}
