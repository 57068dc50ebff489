package audit

import (
	"bytes"
	"context"
	"sync"

	"github.com/gatehub/gatehub/internal/store"
)

// memStore is an in-memory store.Store holding only the audit log. The
// other Tx methods are left to the nil embedded interface, so a test that
// reaches them panics rather than passing by accident.
type memStore struct {
	mu      sync.Mutex
	entries []store.AuditEntry
	cps     []store.AuditCheckpoint
}

func (s *memStore) WithTx(ctx context.Context, fn func(store.Tx) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	entries, cps := len(s.entries), len(s.cps)
	if err := fn(&memTx{s: s}); err != nil {
		s.entries, s.cps = s.entries[:entries], s.cps[:cps]
		return err
	}
	return nil
}

func (s *memStore) WithReadTx(ctx context.Context, fn func(store.Tx) error) error {
	return s.WithTx(ctx, fn)
}

func (s *memStore) Ping(context.Context) error { return nil }
func (s *memStore) Close() error               { return nil }

type memTx struct {
	store.Tx
	s *memStore
}

func cloneEntry(e store.AuditEntry) store.AuditEntry {
	e.Payload = bytes.Clone(e.Payload)
	e.PrevHash = bytes.Clone(e.PrevHash)
	e.Hash = bytes.Clone(e.Hash)
	return e
}

func (t *memTx) AuditHead(context.Context) (int64, []byte, error) {
	if len(t.s.entries) == 0 {
		return 0, nil, nil
	}
	last := t.s.entries[len(t.s.entries)-1]
	return last.Seq, bytes.Clone(last.Hash), nil
}

func (t *memTx) AppendAudit(_ context.Context, es ...*store.AuditEntry) error {
	if err := store.CheckAuditRun(es); err != nil {
		return err
	}
	if es[0].Seq != int64(len(t.s.entries))+1 {
		return store.ErrConflict
	}
	for _, e := range es {
		t.s.entries = append(t.s.entries, cloneEntry(*e))
	}
	return nil
}

// ListAudit treats From as inclusive and To as exclusive.
func (t *memTx) ListAudit(_ context.Context, f store.AuditFilter) ([]store.AuditEntry, error) {
	var out []store.AuditEntry
	for _, e := range t.s.entries {
		switch {
		case f.FromSeq != 0 && e.Seq < f.FromSeq,
			f.ToSeq != 0 && e.Seq > f.ToSeq,
			!f.From.IsZero() && e.Time.Before(f.From),
			!f.To.IsZero() && !e.Time.Before(f.To),
			f.Kind != "" && e.Kind != f.Kind,
			f.DeclarationID != "" && e.DeclarationID != f.DeclarationID,
			f.MessageID != "" && e.MessageID != f.MessageID,
			f.Agency != "" && e.Agency != f.Agency,
			f.Plate != "" && e.Plate != f.Plate:
			continue
		}
		out = append(out, cloneEntry(e))
		if f.Limit > 0 && len(out) == f.Limit {
			break
		}
	}
	return out, nil
}

func (t *memTx) InsertCheckpoint(_ context.Context, c *store.AuditCheckpoint) error {
	for _, old := range t.s.cps {
		if old.Seq == c.Seq {
			return store.ErrConflict
		}
	}
	cp := *c
	cp.Hash = bytes.Clone(c.Hash)
	cp.Signature = bytes.Clone(c.Signature)
	t.s.cps = append(t.s.cps, cp)
	return nil
}

// ListCheckpoints treats toSeq 0 as unbounded.
func (t *memTx) ListCheckpoints(_ context.Context, fromSeq, toSeq int64) ([]store.AuditCheckpoint, error) {
	var out []store.AuditCheckpoint
	for _, c := range t.s.cps {
		if c.Seq < fromSeq || (toSeq != 0 && c.Seq > toSeq) {
			continue
		}
		c.Hash = bytes.Clone(c.Hash)
		c.Signature = bytes.Clone(c.Signature)
		out = append(out, c)
	}
	return out, nil
}
