package replay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"sort"
	"time"

	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/store"
)

// Source yields log entries in seq order and io.EOF after the last one;
// *audit.ArchiveReader is one.
type Source interface {
	Next() (*store.AuditEntry, error)
}

// SliceSource serves entries from memory, in seq order.
func SliceSource(entries []store.AuditEntry) Source {
	sorted := make([]store.AuditEntry, len(entries))
	copy(sorted, entries)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Seq < sorted[j].Seq })
	return &sliceSource{entries: sorted}
}

type sliceSource struct {
	entries []store.AuditEntry
	i       int
}

func (s *sliceSource) Next() (*store.AuditEntry, error) {
	if s.i >= len(s.entries) {
		return nil, io.EOF
	}
	s.i++
	return &s.entries[s.i-1], nil
}

// Position is where a replay into a store stands: the last entry applied
// and the message.built records still waiting for their message (logged
// at the end of one archive, their message at the start of the next). A
// replay of the next archive of a chain resumes from it, into the same
// store.
type Position struct {
	Entries  int64                         `json:"entries"` // applied so far, over every run
	Seq      int64                         `json:"seq"`
	Hash     audit.HexBytes                `json:"hash"`
	Built    map[string]audit.MessageBuilt `json:"built"`
	Rebuilds *RebuildReport                `json:"-"`
}

// RestoreOptions configure RestoreStream.
type RestoreOptions struct {
	// Batch is how many entries one store transaction applies (default
	// 500): memory holds one batch at most.
	Batch int
	// Total is the number of entries expected, for progress.
	Total    int64
	Progress func(audit.Progress)
	// Rebuild, if set, also rebuilds every message.outbound as it is
	// replayed, reading its declaration back from the store; the report
	// lists only the messages that are not ok.
	Rebuild *RebuildOptions
	// From resumes a replay: the store holds the state up to From.Seq,
	// and the source must continue from there (seq and hash).
	From *Position
}

// RestoreStream replays src into st, batch by batch, and returns where it
// stopped. st holds the replay's state (it is read back to check every
// entry against what came before), so memory does not grow with the log.
// Without opts.From, st must be empty and src start at seq 1.
func RestoreStream(ctx context.Context, st store.Store, src Source, acks AckReader, opts RestoreOptions) (*Position, error) {
	if opts.Batch <= 0 {
		opts.Batch = 500
	}
	pos := &Position{Built: map[string]audit.MessageBuilt{}}
	if opts.From != nil {
		pos.Entries, pos.Seq, pos.Hash = opts.From.Entries, opts.From.Seq, opts.From.Hash
		pos.Built = maps.Clone(opts.From.Built)
		if pos.Built == nil {
			pos.Built = map[string]audit.MessageBuilt{}
		}
	}
	var rb *rebuilder
	if opts.Rebuild != nil {
		rb = newRebuilder(*opts.Rebuild, false)
	}
	start := time.Now()
	last := time.Now()
	var done int64
	batch := make([]*store.AuditEntry, 0, opts.Batch)
	for eof := false; !eof; {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		batch = batch[:0]
		for len(batch) < opts.Batch {
			e, err := src.Next()
			if errors.Is(err, io.EOF) {
				eof = true
				break
			}
			if err != nil {
				return nil, err
			}
			want := pos.Seq + 1
			if n := len(batch); n > 0 {
				want = batch[n-1].Seq + 1
			}
			prev := []byte(pos.Hash)
			if n := len(batch); n > 0 {
				prev = batch[n-1].Hash
			}
			if e.Seq != want {
				if pos.Seq == 0 && len(batch) == 0 {
					return nil, fmt.Errorf("replay starts at seq %d: a replay needs the log from seq 1, or a saved replay position to continue from", e.Seq)
				}
				return nil, fmt.Errorf("replay: entry %d follows %d", e.Seq, want-1)
			}
			if want > 1 && !bytes.Equal(e.PrevHash, prev) {
				return nil, fmt.Errorf("replay: entry %d does not continue from the hash %x the replay stopped at", e.Seq, prev)
			}
			batch = append(batch, e)
		}
		if len(batch) == 0 {
			break
		}
		var rbSaved RebuildReport
		var neededSaved map[string]bool
		if rb != nil {
			rbSaved, neededSaved = rb.rep, maps.Clone(rb.needed)
		}
		built := pos.Built
		err := st.WithTx(ctx, func(tx store.Tx) error {
			// A retried transaction starts again from the batch's start.
			r := &replayer{acks: acks, b: &txBackend{tx: tx}, built: maps.Clone(built)}
			if rb != nil {
				rb.rep, rb.needed = rbSaved, maps.Clone(neededSaved)
				r.onOutbound = func(ctx context.Context, e *store.AuditEntry, b audit.MessageBuilt) error {
					decl, err := r.b.declarationBody(ctx, e.DeclarationID, b.DeclarationVersion)
					if err != nil && !errors.Is(err, store.ErrNotFound) {
						return err
					}
					rb.message(e, &b, decl)
					return nil
				}
			}
			for _, e := range batch {
				if err := r.apply(ctx, e); err != nil {
					return err
				}
			}
			pos.Built = r.built
			return nil
		})
		if err != nil {
			return nil, err
		}
		lastE := batch[len(batch)-1]
		pos.Seq, pos.Hash = lastE.Seq, audit.HexBytes(bytes.Clone(lastE.Hash))
		pos.Entries += int64(len(batch))
		done += int64(len(batch))
		if opts.Progress != nil && time.Since(last) >= time.Second {
			last = time.Now()
			opts.Progress(audit.Progress{Entries: done, Total: opts.Total, Elapsed: time.Since(start)})
		}
	}
	if opts.Progress != nil {
		opts.Progress(audit.Progress{Entries: done, Total: opts.Total, Elapsed: time.Since(start)})
	}
	if rb != nil {
		pos.Rebuilds = rb.report()
	}
	return pos, nil
}

// Restore replays entries into st, which should be empty: every declaration
// version, message (with its logged signed bytes), ACK and decision the log
// records is written through store transactions, so the replayed state is
// queryable like a live hub's. It returns the state read back from st with
// FromStore, and fails if that differs from the replay in memory
// (FromEntries), which would mean the store dropped or altered something.
func Restore(ctx context.Context, st store.Store, entries []store.AuditEntry, acks AckReader) (*State, error) {
	want, err := FromEntries(entries, acks)
	if err != nil {
		return nil, err
	}
	if _, err := RestoreStream(ctx, st, SliceSource(entries), acks, RestoreOptions{}); err != nil {
		return nil, fmt.Errorf("restore into store: %w", err)
	}
	back, err := FromStore(ctx, st)
	if err != nil {
		return nil, err
	}
	if diffs := Diff(want, back); len(diffs) > 0 {
		return nil, fmt.Errorf("restore into store: read back differs from the replay, first: %s", diffs[0])
	}
	return back, nil
}
