package libcrypto

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
)

// TestSameSignatureAsCryptoRSA: PKCS#1 v1.5 is deterministic, so for
// every key and digest libcrypto's signature is byte for byte Go's, and
// verifies with crypto/rsa.
func TestSameSignatureAsCryptoRSA(t *testing.T) {
	for _, bits := range []int{2048, 3072} {
		key, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			t.Fatal(err)
		}
		s, err := NewRSASigner(key)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 20 {
			digest := sha256.Sum256(fmt.Appendf(nil, "message %d of %d bits", i, bits))
			got, err := s.Sign(nil, digest[:], crypto.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			want, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:])
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%d bits, digest %d: libcrypto and crypto/rsa signatures differ", bits, i)
			}
			if err := rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, digest[:], got); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestRefuses(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewRSASigner(key)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte("x"))
	if _, err := s.Sign(nil, d[:], crypto.SHA512); err == nil {
		t.Error("SHA-512 accepted")
	}
	if _, err := s.Sign(nil, d[:], &rsa.PSSOptions{Hash: crypto.SHA256}); err == nil {
		t.Error("PSS accepted")
	}
	if _, err := s.Sign(nil, d[:20], crypto.SHA256); err == nil {
		t.Error("a short digest accepted")
	}
}

func TestConcurrent(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewRSASigner(key)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 10 {
				d := sha256.Sum256(fmt.Appendf(nil, "%d/%d", g, i))
				sig, err := s.Sign(nil, d[:], crypto.SHA256)
				if err == nil {
					err = rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, d[:], sig)
				}
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkSign(b *testing.B) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	s, err := NewRSASigner(key)
	if err != nil {
		b.Fatal(err)
	}
	d := sha256.Sum256([]byte("a typical agency message"))
	b.Run("libcrypto", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Sign(nil, d[:], crypto.SHA256); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("crypto-rsa", func(b *testing.B) {
		for b.Loop() {
			if _, err := key.Sign(rand.Reader, d[:], crypto.SHA256); err != nil {
				b.Fatal(err)
			}
		}
	})
}
