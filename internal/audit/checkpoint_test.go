package audit

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/store"
)

func checkpoint(t testing.TB, st *memStore, c *Checkpointer, now time.Time) *store.AuditCheckpoint {
	t.Helper()
	var cp *store.AuditCheckpoint
	err := st.WithTx(context.Background(), func(tx store.Tx) error {
		var err error
		cp, err = c.Checkpoint(context.Background(), tx, now)
		return err
	})
	if err != nil {
		t.Fatalf("Checkpoint: %v", err)
	}
	return cp
}

func TestCheckpoint(t *testing.T) {
	keys := []struct {
		name string
		key  crypto.Signer
	}{
		{"rsa", newRSAKey(t)},
		{"ecdsa", newECKey(t)},
	}
	other := newECKey(t)
	for _, k := range keys {
		t.Run(k.name, func(t *testing.T) {
			st := &memStore{}
			c := NewCheckpointer(k.key, "hub-2026")
			if cp := checkpoint(t, st, c, t0); cp != nil {
				t.Fatalf("checkpoint of an empty log: %+v", cp)
			}
			appendN(t, st, 3, t0)
			cp := checkpoint(t, st, c, t0.Add(time.Minute))
			if cp == nil || cp.Seq != 3 || !bytes.Equal(cp.Hash, st.entries[2].Hash) || cp.KeyID != "hub-2026" {
				t.Fatalf("checkpoint = %+v", cp)
			}
			if !cp.CreatedAt.Equal(truncTime(t0.Add(time.Minute))) {
				t.Fatalf("CreatedAt = %v", cp.CreatedAt)
			}
			if err := VerifyCheckpoint(*cp, k.key.Public()); err != nil {
				t.Fatalf("VerifyCheckpoint: %v", err)
			}
			if again := checkpoint(t, st, c, t0.Add(2*time.Minute)); again != nil {
				t.Fatalf("second checkpoint of an unchanged head: %+v", again)
			}
			appendN(t, st, 1, t0)
			if next := checkpoint(t, st, c, t0.Add(3*time.Minute)); next == nil || next.Seq != 4 {
				t.Fatalf("checkpoint after append = %+v", next)
			}
			if len(st.cps) != 2 {
				t.Fatalf("%d checkpoints stored, want 2", len(st.cps))
			}

			tampers := []struct {
				name   string
				mutate func(cp *store.AuditCheckpoint)
				pub    crypto.PublicKey
			}{
				{"seq", func(cp *store.AuditCheckpoint) { cp.Seq++ }, nil},
				{"hash", func(cp *store.AuditCheckpoint) { cp.Hash = st.entries[1].Hash }, nil},
				{"key id", func(cp *store.AuditCheckpoint) { cp.KeyID = "hub-2025" }, nil},
				{"created at", func(cp *store.AuditCheckpoint) { cp.CreatedAt = cp.CreatedAt.Add(time.Microsecond) }, nil},
				{"signature", func(cp *store.AuditCheckpoint) { cp.Signature = bytes.Clone(cp.Signature); cp.Signature[5] ^= 1 }, nil},
				{"no signature", func(cp *store.AuditCheckpoint) { cp.Signature = nil }, nil},
				{"other key", func(*store.AuditCheckpoint) {}, other.Public()},
				{"unsupported key", func(*store.AuditCheckpoint) {}, ed25519.PublicKey(make([]byte, ed25519.PublicKeySize))},
			}
			for _, tt := range tampers {
				t.Run(tt.name, func(t *testing.T) {
					bad := *cp
					tt.mutate(&bad)
					pub := tt.pub
					if pub == nil {
						pub = k.key.Public()
					}
					if err := VerifyCheckpoint(bad, pub); err == nil {
						t.Fatal("tampered checkpoint verified")
					}
				})
			}
		})
	}
}

func TestCheckpointRefusesRewrittenHead(t *testing.T) {
	st := &memStore{}
	c := NewCheckpointer(newECKey(t), "hub")
	appendN(t, st, 3, t0)
	checkpoint(t, st, c, t0)
	last := &st.entries[2]
	last.Payload = []byte("rewritten")
	last.Hash = EntryHash(last.PrevHash, last)
	err := st.WithTx(context.Background(), func(tx store.Tx) error {
		_, err := c.Checkpoint(context.Background(), tx, t0.Add(time.Hour))
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "differs from checkpointed") {
		t.Fatalf("err = %v", err)
	}
}

func TestCheckpointUnsupportedKey(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	st := &memStore{}
	appendN(t, st, 1, t0)
	err = st.WithTx(context.Background(), func(tx store.Tx) error {
		_, err := NewCheckpointer(priv, "hub").Checkpoint(context.Background(), tx, t0)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "unsupported key type") {
		t.Fatalf("err = %v", err)
	}
	if len(st.cps) != 0 {
		t.Fatal("checkpoint stored despite the error")
	}
}
