package audit

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gatehub/gatehub/internal/store"
)

// CheckpointEncoding names the canonical checkpoint encoding that is signed.
const CheckpointEncoding = "gatehub-audit-checkpoint/v1"

// minRSABits refuses keys too weak to vouch for the log for years.
const minRSABits = 2048

// Checkpointer signs the chain head with the hub key, so that rewriting the
// log (even with every hash recomputed) needs the hub key, not only write
// access to the database.
type Checkpointer struct {
	key   crypto.Signer
	keyID string
	rand  io.Reader
}

// NewCheckpointer returns a Checkpointer signing with key (RSA or ECDSA);
// keyID is recorded in each checkpoint to tell auditors which hub key
// signed it across rotations.
func NewCheckpointer(key crypto.Signer, keyID string) *Checkpointer {
	return &Checkpointer{key: key, keyID: keyID, rand: rand.Reader}
}

// Checkpoint signs the current chain head and stores the checkpoint in tx.
// It returns nil, nil when the log is empty or the head already has a
// checkpoint, so it can run on a timer without filling the table.
func (c *Checkpointer) Checkpoint(ctx context.Context, tx store.Tx, now time.Time) (*store.AuditCheckpoint, error) {
	seq, head, err := tx.AuditHead(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit checkpoint: read head: %w", err)
	}
	if err := checkHead(seq, head); err != nil {
		return nil, fmt.Errorf("audit checkpoint: %w", err)
	}
	if seq == 0 {
		return nil, nil
	}
	existing, err := tx.ListCheckpoints(ctx, seq, seq)
	if err != nil {
		return nil, fmt.Errorf("audit checkpoint seq %d: list: %w", seq, err)
	}
	for _, old := range existing {
		if old.Seq != seq {
			continue
		}
		if !bytes.Equal(old.Hash, head) {
			// The head at this seq was signed with another hash: the chain
			// has been rewritten since. Signing again would launder it.
			return nil, fmt.Errorf("audit checkpoint seq %d: head hash %s differs from checkpointed %s", seq, short(head), short(old.Hash))
		}
		return nil, nil
	}
	if now.IsZero() {
		return nil, fmt.Errorf("audit checkpoint seq %d: zero time", seq)
	}
	cp := store.AuditCheckpoint{Seq: seq, Hash: head, KeyID: c.keyID, CreatedAt: truncTime(now)}
	sig, err := c.sign(CheckpointBytes(cp))
	if err != nil {
		return nil, fmt.Errorf("audit checkpoint seq %d: %w", seq, err)
	}
	cp.Signature = sig
	if err := tx.InsertCheckpoint(ctx, &cp); err != nil {
		return nil, fmt.Errorf("audit checkpoint seq %d: insert: %w", seq, err)
	}
	return &cp, nil
}

func (c *Checkpointer) sign(msg []byte) ([]byte, error) {
	if c.key == nil {
		return nil, errors.New("no signing key")
	}
	digest := sha256.Sum256(msg)
	switch pub := c.key.Public().(type) {
	case *rsa.PublicKey:
		if pub.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("rsa key of %d bits, want at least %d", pub.N.BitLen(), minRSABits)
		}
		// crypto.SHA256 as SignerOpts selects PKCS#1 v1.5 for an RSA signer.
	case *ecdsa.PublicKey:
	default:
		return nil, fmt.Errorf("unsupported key type %T", pub)
	}
	sig, err := c.key.Sign(c.rand, digest[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return sig, nil
}

// CheckpointBytes returns the canonical bytes of cp that the hub signs
// (layout in the package documentation). Signature is not part of them.
func CheckpointBytes(cp store.AuditCheckpoint) []byte {
	b := make([]byte, 0, 4+len(CheckpointEncoding)+8+4+len(cp.Hash)+4+len(cp.KeyID)+8)
	b = appendString(b, CheckpointEncoding)
	b = binary.BigEndian.AppendUint64(b, uint64(cp.Seq))
	b = binary.BigEndian.AppendUint32(b, uint32(len(cp.Hash)))
	b = append(b, cp.Hash...)
	b = appendString(b, cp.KeyID)
	return binary.BigEndian.AppendUint64(b, uint64(cp.CreatedAt.UnixMicro()))
}

// VerifyCheckpoint checks cp's signature with the hub public key pub (RSA:
// PKCS#1 v1.5 SHA-256; ECDSA: SHA-256, ASN.1 signature).
func VerifyCheckpoint(cp store.AuditCheckpoint, pub crypto.PublicKey) error {
	digest := sha256.Sum256(CheckpointBytes(cp))
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return fmt.Errorf("checkpoint seq %d: rsa key of %d bits, want at least %d", cp.Seq, k.N.BitLen(), minRSABits)
		}
		if err := rsa.VerifyPKCS1v15(k, crypto.SHA256, digest[:], cp.Signature); err != nil {
			return fmt.Errorf("checkpoint seq %d: bad signature: %w", cp.Seq, err)
		}
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, digest[:], cp.Signature) {
			return fmt.Errorf("checkpoint seq %d: bad signature", cp.Seq)
		}
	default:
		return fmt.Errorf("checkpoint seq %d: unsupported key type %T", cp.Seq, pub)
	}
	return nil
}
