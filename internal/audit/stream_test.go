package audit

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/store/sqlite"
)

// appendSized appends n entries in rotating kinds, each payload about size
// bytes, in transactions of 100 entries, one second apart.
func appendSized(t testing.TB, st store.Store, n, size int, start time.Time) {
	t.Helper()
	ctx := context.Background()
	pad := strings.Repeat("x", size)
	for i := 0; i < n; {
		var es []*store.AuditEntry
		for ; i < n && len(es) < 100; i++ {
			e := &store.AuditEntry{Time: start.Add(time.Duration(i) * time.Second), DeclarationID: fmt.Sprintf("D-%d", i/4), MessageID: fmt.Sprintf("M-%d", i)}
			switch i % 4 {
			case 0:
				e.Kind, e.Payload = KindDeclarationAccepted, []byte(`{"pad":"`+pad+`"}`)
			case 1:
				e.Kind, e.Agency, e.Payload = KindMessageOutbound, "customs", []byte(`<Submit signer="hub">`+pad+`</Submit>`)
			case 2:
				e.Kind, e.Agency, e.Payload = KindAckInbound, "customs", []byte(`<Ack signer="customs">`+pad+`</Ack>`)
			default:
				e.Kind, e.Payload = KindDecision, []byte(`{"status":"CLEARED"}`)
			}
			es = append(es, e)
		}
		if err := st.WithTx(ctx, func(tx store.Tx) error { return AppendAll(ctx, tx, es) }); err != nil {
			t.Fatal(err)
		}
	}
}

func exportChain(t *testing.T, st store.Store, f *fixture, opts ExportOptions) (string, []ExportedArchive) {
	t.Helper()
	dir := t.TempDir()
	if opts.Certs == nil {
		opts.Certs = f.certs
	}
	if opts.Now.IsZero() {
		opts.Now = t0.Add(24 * time.Hour)
	}
	out, err := ExportChain(context.Background(), st, dir, opts)
	if err != nil {
		t.Fatalf("ExportChain: %v", err)
	}
	return dir, out
}

func verifyDir(t *testing.T, dir string) *ChainReport {
	t.Helper()
	paths, err := ArchivePaths([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := VerifyChainFiles(context.Background(), paths, ChainOptions{
		XML: func(map[string][]*x509.Certificate) XMLVerifier { return signerXML }, Workers: 2,
	})
	if err != nil {
		t.Fatalf("VerifyChainFiles: %v", err)
	}
	return rep
}

func TestExportChainRotatesAndLinks(t *testing.T) {
	f := newFixture(t)
	appendSized(t, f.st, 400, 300, t0.Add(4*time.Hour))
	checkpoint(t, f.st, NewCheckpointer(f.hubKey, "hub-2026"), t0.Add(6*time.Hour))
	const maxBytes = 40 << 10
	dir, out := exportChain(t, f.st, f, ExportOptions{MaxBytes: maxBytes, BatchSize: 37})
	if len(out) < 3 {
		t.Fatalf("%d archives, want a rotation every %d bytes", len(out), maxBytes)
	}
	var entries int
	for i, a := range out {
		m := a.Manifest
		entries += m.Entries
		if filepath.Base(a.Path) != ArchiveName(m.FromSeq, m.ToSeq) {
			t.Fatalf("archive %d named %s", i, a.Path)
		}
		if i == 0 && len(m.PrevArchiveSHA256) != 0 {
			t.Fatal("first archive links to a file")
		}
		if i > 0 {
			if err := VerifyContinuity(out[i-1].Manifest, m); err != nil {
				t.Fatalf("archive %d: %v", i, err)
			}
			if !bytes.Equal(m.PrevArchiveSHA256, out[i-1].SHA256) {
				t.Fatalf("archive %d links to %x, previous file is %x", i, m.PrevArchiveSHA256, out[i-1].SHA256)
			}
		}
		ar, err := OpenArchiveFile(a.Path)
		if err != nil {
			t.Fatal(err)
		}
		ar.Close()
		if a.Bytes <= 0 {
			t.Fatalf("archive %d: %d bytes", i, a.Bytes)
		}
	}
	if entries != len(f.st.entries) {
		t.Fatalf("chain holds %d entries, log %d", entries, len(f.st.entries))
	}
	rep := verifyDir(t, dir)
	if !rep.OK() || rep.Entries != len(f.st.entries) || len(rep.Archives) != len(out) {
		t.Fatalf("chain report: %+v", rep)
	}

	t.Run("file replaced", func(t *testing.T) {
		// The same entries, exported again at another time: the entry
		// links still hold, the file link names the original bytes.
		m := out[1].Manifest
		var buf bytes.Buffer
		if _, err := Export(context.Background(), f.st, store.AuditFilter{FromSeq: m.FromSeq, ToSeq: m.ToSeq}, f.certs, t0.Add(48*time.Hour), &buf); err != nil {
			t.Fatal(err)
		}
		d := copyDir(t, dir)
		if err := os.WriteFile(filepath.Join(d, filepath.Base(out[1].Path)), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		rep := verifyDir(t, d)
		if rep.OK() || !strings.Contains(rep.Problems[0].Reason, "file replaced") || rep.Problems[0].Path != filepath.Join(d, filepath.Base(out[2].Path)) {
			t.Fatalf("problems %+v", rep.Problems)
		}
	})
	t.Run("file removed", func(t *testing.T) {
		d := copyDir(t, dir)
		if err := os.Remove(filepath.Join(d, filepath.Base(out[1].Path))); err != nil {
			t.Fatal(err)
		}
		rep := verifyDir(t, d)
		if rep.OK() || !strings.Contains(rep.Problems[0].Reason, "gap between archives") {
			t.Fatalf("problems %+v", rep.Problems)
		}
	})
	t.Run("continues from a given file", func(t *testing.T) {
		_, more := exportChain(t, f.st, f, ExportOptions{Filter: store.AuditFilter{FromSeq: out[1].Manifest.FromSeq}, PrevArchiveSHA256: out[0].SHA256, MaxBytes: maxBytes})
		if !bytes.Equal(more[0].Manifest.PrevArchiveSHA256, out[0].SHA256) {
			t.Fatal("first archive of a continued chain does not link to the given file")
		}
	})
}

func TestExportChainRotatesBySpan(t *testing.T) {
	f := newFixture(t) // 12 entries over about two hours
	_, out := exportChain(t, f.st, f, ExportOptions{MaxSpan: 30 * time.Minute})
	if len(out) != 2 {
		t.Fatalf("%d archives, want 2 (the fixture's entries come in two bursts two hours apart)", len(out))
	}
	for _, a := range out {
		if span := a.Manifest.ToTime.Sub(a.Manifest.FromTime); span > 30*time.Minute {
			t.Fatalf("archive %s spans %s", a.Path, span)
		}
	}
}

func copyDir(t *testing.T, dir string) string {
	t.Helper()
	d := t.TempDir()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		b, err := os.ReadFile(filepath.Join(dir, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, de.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// peakHeap samples the live heap (as of the last collection, so garbage
// not yet collected does not count) from a callback the measured code
// calls, and keeps the peak above the live heap before it started.
type peakHeap struct {
	mu         sync.Mutex // verify samples from its workers
	base, peak uint64
	calls      int
	sample1    []metrics.Sample
}

func (p *peakHeap) live() uint64 {
	if p.sample1 == nil {
		p.sample1 = []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	}
	metrics.Read(p.sample1)
	return p.sample1[0].Value.Uint64()
}

func (p *peakHeap) start() {
	runtime.GC()
	p.base, p.peak = p.live(), 0
}

func (p *peakHeap) sample() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if p.calls%20 != 0 {
		return
	}
	if l := p.live(); l > p.base && l-p.base > p.peak {
		p.peak = l - p.base
	}
}

// TestStreamingMemoryDoesNotGrowWithTheLog exports and verifies logs of
// 2,000 and 20,000 entries of about 1 KiB and compares the peak heap each
// needs above what the store itself holds: ten times the log may not need
// more than 1.5 times the memory (plus 2 MiB of slack for the allocator).
func TestStreamingMemoryDoesNotGrowWithTheLog(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 20,000-entry log")
	}
	// Collect often, so the live heap is sampled often.
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	type result struct{ export, verify uint64 }
	measure := func(n int) result {
		// The log is in an SQLite file, as a hub's is, so the heap measured
		// is the export's, not the source's.
		st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "log.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		f := newFixture(t)
		appendSized(t, st, n, 1024, t0)
		var exp, ver peakHeap
		exp.start()
		dir, _ := exportChain(t, st, f, ExportOptions{
			BlobRefs: func(*store.AuditEntry) []string { exp.sample(); return nil },
		})
		paths, err := ArchivePaths([]string{dir})
		if err != nil {
			t.Fatal(err)
		}
		ver.start()
		rep, err := VerifyChainFiles(context.Background(), paths, ChainOptions{
			XML: func(map[string][]*x509.Certificate) XMLVerifier {
				return func(p string, xml []byte, at time.Time) error { ver.sample(); return signerXML(p, xml, at) }
			},
			Workers: 2,
		})
		if err != nil || rep.Entries != n || rep.SignaturesChecked != n/2 {
			t.Fatalf("verify %d entries: %v %+v", n, err, rep)
		}
		return result{exp.peak, ver.peak}
	}
	largeN := 20000
	if raceEnabled {
		largeN = 10000 // the race detector makes appending ten times slower
	}
	small, large := measure(2000), measure(largeN)
	t.Logf("peak heap above baseline: export %d KiB → %d KiB, verify %d KiB → %d KiB (2,000 → %d entries)",
		small.export>>10, large.export>>10, small.verify>>10, large.verify>>10, largeN)
	const slack = 2 << 20
	if large.export > small.export*3/2+slack {
		t.Errorf("export: %d bytes for %d entries, %d for 2,000", large.export, largeN, small.export)
	}
	if large.verify > small.verify*3/2+slack {
		t.Errorf("verify: %d bytes for %d entries, %d for 2,000", large.verify, largeN, small.verify)
	}
}

// writerCounter is the embedded store with its writer counted: the export
// must read only through read sessions, beside the writer.
type writerCounter struct {
	*sqlite.Store
	writes atomic.Int32
}

func (w *writerCounter) WithTx(ctx context.Context, fn func(store.Tx) error) error {
	w.writes.Add(1)
	return w.Store.WithTx(ctx, fn)
}

// TestExportBesideWriter exports a log while another goroutine keeps
// appending to it: the export never takes the writer, the appends all
// commit, and the chain written verifies up to where it ended.
func TestExportBesideWriter(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "log.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	f := newFixture(t)
	appendSized(t, st, 2000, 512, t0)
	wc := &writerCounter{Store: st}
	done := make(chan error, 1)
	go func() {
		for i := 0; i < 50; i++ {
			e := &store.AuditEntry{Time: t0.Add(time.Hour), Kind: KindDecision, Payload: []byte(`{}`)}
			if err := st.WithTx(ctx, func(tx store.Tx) error { return Append(ctx, tx, e) }); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	dir, out := exportChain(t, wc, f, ExportOptions{BatchSize: 50, MaxBytes: 256 << 10})
	if err := <-done; err != nil {
		t.Fatalf("append beside the export: %v", err)
	}
	if n := wc.writes.Load(); n != 0 {
		t.Fatalf("export took the writer %d times", n)
	}
	rep := verifyDir(t, dir)
	if !rep.OK() || rep.Entries < 2000 || len(out) < 2 {
		t.Fatalf("%d archives, report %+v", len(out), rep)
	}
}

// TestExportChainEndsArchivesAtCheckpoints: with a checkpoint every 25
// entries, every archive but the last ends at a checkpointed entry (its
// successor starts from a signed state) and none exceeds the size limit;
// the chain verifies with every archive anchored at its end.
func TestExportChainEndsArchivesAtCheckpoints(t *testing.T) {
	f := newFixture(t)
	cp := NewCheckpointer(f.hubKey, "hub-2026")
	at := t0.Add(4 * time.Hour)
	for range 16 {
		appendSized(t, f.st, 25, 300, at)
		at = at.Add(25 * time.Second)
		checkpoint(t, f.st, cp, at)
	}
	appendSized(t, f.st, 10, 300, at) // a tail after the last checkpoint
	checkpointed := map[int64]bool{}
	for _, c := range f.st.cps {
		checkpointed[c.Seq] = true
	}
	// 25 entries are ~20 KiB: the last quarter of each archive holds a
	// checkpoint.
	const maxBytes = 120 << 10
	dir, out := exportChain(t, f.st, f, ExportOptions{MaxBytes: maxBytes, BatchSize: 37})
	if len(out) < 3 {
		t.Fatalf("%d archives, want a rotation every ~%d bytes", len(out), maxBytes)
	}
	for i, a := range out {
		m := a.Manifest
		if i < len(out)-1 && !checkpointed[m.ToSeq] {
			t.Errorf("archive %d ends at seq %d, not at a checkpoint", i, m.ToSeq)
		}
	}
	rep := verifyDir(t, dir)
	if !rep.OK() || rep.Entries != len(f.st.entries) {
		t.Fatalf("chain report: %+v", rep)
	}
	for i, a := range rep.Archives[:len(rep.Archives)-1] {
		if a.Report.Anchored != a.Manifest.ToSeq {
			t.Errorf("archive %d anchored at %d, ends at %d", i, a.Report.Anchored, a.Manifest.ToSeq)
		}
	}
}
