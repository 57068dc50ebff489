package audit

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/gatehub/gatehub/internal/store"
)

// DefaultMaxArchiveBytes is where ExportChain rotates when no size is
// configured: the uncompressed entries.jsonl of one archive. It keeps one
// archive a file an auditor can copy and hash, far below what any reader
// refuses (MaxArchiveBytes).
const DefaultMaxArchiveBytes = 256 << 20

// MaxArchiveBytes is the largest entries.jsonl ExportChain writes; the
// streaming reader itself has no total limit (it holds one entry at a time).
const MaxArchiveBytes = 64 << 30

// Progress is how far a long export, verification or replay has come.
type Progress struct {
	Entries int64 // entries done
	Total   int64 // entries expected, 0 when unknown
	Bytes   int64 // bytes read or written so far
	Elapsed time.Duration
}

// Rate is entries per second so far.
func (p Progress) Rate() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Entries) / p.Elapsed.Seconds()
}

// ETA is the time left at the rate so far; 0 when unknown.
func (p Progress) ETA() time.Duration {
	r := p.Rate()
	if p.Total <= 0 || r <= 0 || p.Entries >= p.Total {
		return 0
	}
	return time.Duration(float64(p.Total-p.Entries) / r * float64(time.Second))
}

func (p Progress) String() string {
	s := fmt.Sprintf("%d entries", p.Entries)
	if p.Total > 0 {
		s = fmt.Sprintf("%d/%d entries (%.0f %%)", p.Entries, p.Total, 100*float64(p.Entries)/float64(p.Total))
	}
	s += fmt.Sprintf(", %.0f entries/s", p.Rate())
	if eta := p.ETA(); eta > 0 {
		s += ", ETA " + eta.Round(time.Second).String()
	}
	return s
}

// progressEvery is how often Progress callbacks fire at most.
const progressEvery = time.Second

type ticker struct {
	fn    func(Progress)
	start time.Time
	last  time.Time
}

func newTicker(fn func(Progress)) *ticker {
	now := time.Now()
	return &ticker{fn: fn, start: now, last: now}
}

func (t *ticker) tick(p Progress, force bool) {
	if t == nil || t.fn == nil {
		return
	}
	now := time.Now()
	if !force && now.Sub(t.last) < progressEvery {
		return
	}
	t.last = now
	p.Elapsed = now.Sub(t.start)
	t.fn(p)
}

// ExportOptions configure ExportChain.
type ExportOptions struct {
	// Filter selects by FromSeq and ToSeq, or by From and To times, which
	// are widened to the contiguous seq range from the first to the last
	// matching entry (entry times need not be monotonic across instances).
	Filter store.AuditFilter
	Certs  map[string][]*x509.Certificate
	Now    time.Time
	// BatchSize is how many entries one read transaction lists (default
	// 1000): each batch is its own short read, so a running hub's writer
	// never waits for the export.
	BatchSize int
	// MaxBytes rotates to a new archive before its entries.jsonl would grow
	// past this many bytes (default DefaultMaxArchiveBytes).
	MaxBytes int64
	// MaxSpan rotates to a new archive before its entries would span more
	// than this much time; 0 means no time limit.
	MaxSpan time.Duration
	// PrevArchiveSHA256 is the SHA-256 of the archive file the first
	// archive continues, if the caller has it.
	PrevArchiveSHA256 []byte
	// BlobRefs names the content-addressed blobs (SHA-256 hex) an entry
	// refers to; Blob fetches them. Both nil: no blobs.
	BlobRefs func(e *store.AuditEntry) []string
	Blob     func(ctx context.Context, sha256Hex string) ([]byte, error)
	Progress func(Progress)
	// TempDir is where entries are spooled before an archive is written
	// (default: the output directory, or os.TempDir for Export).
	TempDir string
}

// ExportedArchive is one archive file ExportChain wrote.
type ExportedArchive struct {
	Path     string
	Manifest Manifest
	SHA256   HexBytes // of the whole file
	Bytes    int64    // file size
}

// ArchiveName is the file name ExportChain gives the archive of from..to:
// zero-padded, so names sort in chain order.
func ArchiveName(from, to int64) string {
	return fmt.Sprintf("audit-%012d-%012d.tar.gz", from, to)
}

// ExportChain writes the entries opts.Filter selects into dir as a chain of
// archives, rotated at opts.MaxBytes and opts.MaxSpan, each continuing the
// previous one by entry hash (prev_hash) and by file hash
// (prev_archive_sha256). Memory stays bounded by one batch and one entry:
// entries are spooled to a file and each archive is assembled from it. Each
// archive appears in dir only once complete (written under a temporary
// name, synced, renamed). Export copies what the store holds without
// judging it: a damaged log is exported as it is, for verify to report.
func ExportChain(ctx context.Context, st store.Store, dir string, opts ExportOptions) ([]ExportedArchive, error) {
	if opts.TempDir == "" {
		opts.TempDir = dir
	}
	var out []ExportedArchive
	prevSum := opts.PrevArchiveSHA256
	err := export(ctx, st, opts, func(p *pending) error {
		name := ArchiveName(p.manifest.FromSeq, p.manifest.ToSeq)
		final := filepath.Join(dir, name)
		f, err := os.CreateTemp(dir, "."+name+".partial-*")
		if err != nil {
			return err
		}
		defer os.Remove(f.Name())
		defer f.Close()
		p.manifest.PrevArchiveSHA256 = HexBytes(bytes.Clone(prevSum))
		h := sha256.New()
		cw := &countWriter{w: io.MultiWriter(f, h)}
		bw := bufio.NewWriterSize(cw, 1<<20)
		if err := p.writeTo(ctx, bw); err != nil {
			return err
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		if _, err := os.Stat(final); err == nil {
			return fmt.Errorf("%s exists already; refusing to overwrite an archive", final)
		}
		if err := os.Rename(f.Name(), final); err != nil {
			return err
		}
		prevSum = h.Sum(nil)
		out = append(out, ExportedArchive{Path: final, Manifest: p.manifest, SHA256: prevSum, Bytes: cw.n})
		return nil
	})
	if err != nil {
		return out, err
	}
	return out, nil
}

// Export writes the entries selected by f, the checkpoints among them and
// certs to w as one archive (no rotation) and returns its manifest. See
// ExportChain for f and for how the store is read.
func Export(ctx context.Context, st store.Store, f store.AuditFilter, certs map[string][]*x509.Certificate, now time.Time, w io.Writer) (*Manifest, error) {
	return ExportTo(ctx, st, w, ExportOptions{Filter: f, Certs: certs, Now: now})
}

// ExportTo writes one archive of what opts select to w; rotation options
// are ignored, and a range of more than MaxArchiveBytes is refused.
func ExportTo(ctx context.Context, st store.Store, w io.Writer, opts ExportOptions) (*Manifest, error) {
	var m *Manifest
	opts.MaxBytes, opts.MaxSpan = MaxArchiveBytes, 0
	err := export(ctx, st, opts, func(p *pending) error {
		if m != nil {
			return fmt.Errorf("the range holds more than %d bytes of entries: export it as a chain", int64(MaxArchiveBytes))
		}
		p.manifest.PrevArchiveSHA256 = HexBytes(bytes.Clone(opts.PrevArchiveSHA256))
		if err := p.writeTo(ctx, w); err != nil {
			return err
		}
		mm := p.manifest
		m = &mm
		return nil
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// readTx reads beside the embedded store's writer (store.Store.WithReadTx).
func readTx(ctx context.Context, st store.Store, fn func(store.Tx) error) error {
	return st.WithReadTx(ctx, fn)
}

// pending is one archive being assembled: its entries spooled to a file.
type pending struct {
	opts        *ExportOptions
	st          store.Store
	spool       *os.File
	bw          *bufio.Writer
	cw          *countWriter
	manifest    Manifest
	checkpoints []store.AuditCheckpoint
	blobRefs    map[string]bool
}

func export(ctx context.Context, st store.Store, opts ExportOptions, emit func(*pending) error) error {
	f := opts.Filter
	if f.Kind != "" || f.DeclarationID != "" || f.MessageID != "" || f.Agency != "" || f.Plate != "" {
		return errors.New("audit export: only seq and time bounds are allowed, an archive holds a contiguous range")
	}
	if f.FromSeq < 0 || f.ToSeq < 0 || (f.ToSeq != 0 && f.ToSeq < f.FromSeq) {
		return fmt.Errorf("audit export: bad seq range %d..%d", f.FromSeq, f.ToSeq)
	}
	for p, cs := range opts.Certs {
		if err := checkParticipant(p); err != nil {
			return fmt.Errorf("audit export: %w", err)
		}
		for _, c := range cs {
			if c == nil {
				return fmt.Errorf("audit export: nil certificate for %q", p)
			}
		}
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = exportPageSize
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxArchiveBytes
	}
	if opts.MaxBytes > MaxArchiveBytes {
		return fmt.Errorf("audit export: archives of more than %d bytes are not written", int64(MaxArchiveBytes))
	}
	from, to, err := seqRange(ctx, st, f, opts.BatchSize)
	if err != nil {
		return fmt.Errorf("audit export: %w", err)
	}
	if from == 0 {
		return ErrEmptyRange
	}
	tk := newTicker(opts.Progress)
	var total Progress
	if to > 0 {
		total.Total = to - from + 1
	}
	var cur *pending
	defer func() {
		if cur != nil {
			cur.discard()
		}
	}()
	finish := func() error {
		if cur == nil {
			return nil
		}
		p := cur
		cur = nil
		defer p.discard()
		if err := p.close(ctx); err != nil {
			return err
		}
		if err := emit(p); err != nil {
			return fmt.Errorf("audit export %d..%d: %w", p.manifest.FromSeq, p.manifest.ToSeq, err)
		}
		return nil
	}
	next := from
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var page []store.AuditEntry
		pf := store.AuditFilter{FromSeq: next, ToSeq: to, Limit: opts.BatchSize}
		if err := readTx(ctx, st, func(tx store.Tx) error {
			var err error
			page, err = tx.ListAudit(ctx, pf)
			return err
		}); err != nil {
			return fmt.Errorf("audit export: list from seq %d: %w", next, err)
		}
		for i := range page {
			e := &page[i]
			if e.Seq < next {
				// A store ignoring FromSeq would make this loop forever.
				return fmt.Errorf("audit export: list from seq %d returned seq %d", next, e.Seq)
			}
			line, err := entryLine(e)
			if err != nil {
				return fmt.Errorf("audit export: %w", err)
			}
			if cur != nil && cur.rotateBefore(e, int64(len(line))) {
				if err := finish(); err != nil {
					return err
				}
			}
			if cur == nil {
				if cur, err = newPending(st, &opts); err != nil {
					return fmt.Errorf("audit export: spool: %w", err)
				}
			}
			if err := cur.add(e, line); err != nil {
				return fmt.Errorf("audit export: spool: %w", err)
			}
			next = e.Seq + 1
			total.Entries++
			total.Bytes += int64(len(line))
		}
		tk.tick(total, false)
		if len(page) < opts.BatchSize || (to > 0 && next > to) {
			break
		}
	}
	if cur == nil {
		return ErrEmptyRange
	}
	if err := finish(); err != nil {
		return err
	}
	tk.tick(total, true)
	return nil
}

// seqRange turns f into a seq range: from (0 when nothing matches) and to
// (0: up to the head as the export reaches it). A time range is found by
// paging through the matching entries once, keeping only seqs.
func seqRange(ctx context.Context, st store.Store, f store.AuditFilter, batch int) (from, to int64, err error) {
	if f.From.IsZero() && f.To.IsZero() {
		from = f.FromSeq
		if from == 0 {
			from = 1
		}
		// Find the first entry actually present (the log may be pruned).
		var page []store.AuditEntry
		err = readTx(ctx, st, func(tx store.Tx) error {
			var err error
			page, err = tx.ListAudit(ctx, store.AuditFilter{FromSeq: from, ToSeq: f.ToSeq, Limit: 1})
			return err
		})
		if err != nil || len(page) == 0 {
			return 0, 0, err
		}
		return page[0].Seq, f.ToSeq, nil
	}
	pf := store.AuditFilter{FromSeq: f.FromSeq, ToSeq: f.ToSeq, From: f.From, To: f.To, Limit: batch}
	for {
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		var page []store.AuditEntry
		if err := readTx(ctx, st, func(tx store.Tx) error {
			var err error
			page, err = tx.ListAudit(ctx, pf)
			return err
		}); err != nil {
			return 0, 0, fmt.Errorf("list from seq %d: %w", pf.FromSeq, err)
		}
		for _, e := range page {
			if from == 0 || e.Seq < from {
				from = e.Seq
			}
			if e.Seq > to {
				to = e.Seq
			}
		}
		if len(page) < batch {
			return from, to, nil
		}
		last := page[len(page)-1].Seq
		if last < pf.FromSeq {
			return 0, 0, fmt.Errorf("list from seq %d returned seq %d", pf.FromSeq, last)
		}
		pf.FromSeq = last + 1
	}
}

func entryLine(e *store.AuditEntry) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(entryJSON{
		Seq: e.Seq, Time: truncTime(e.Time), Kind: e.Kind, Actor: e.Actor,
		DeclarationID: e.DeclarationID, MessageID: e.MessageID, Agency: e.Agency, Plate: e.Plate,
		Payload: e.Payload, PrevHash: e.PrevHash, Hash: e.Hash,
	}); err != nil {
		return nil, fmt.Errorf("encode entry %d: %w", e.Seq, err)
	}
	if buf.Len() > defaultLimits.line {
		return nil, fmt.Errorf("entry %d encodes to %d bytes, more than a reader accepts (%d)", e.Seq, buf.Len(), defaultLimits.line)
	}
	return buf.Bytes(), nil
}

func newPending(st store.Store, opts *ExportOptions) (*pending, error) {
	f, err := os.CreateTemp(opts.TempDir, ".gatehub-export-*.jsonl")
	if err != nil {
		return nil, err
	}
	// The spool is only ever read back by this process.
	_ = os.Remove(f.Name())
	p := &pending{opts: opts, st: st, spool: f, blobRefs: map[string]bool{}}
	p.cw = &countWriter{w: f}
	p.bw = bufio.NewWriterSize(p.cw, 1<<20)
	return p, nil
}

func (p *pending) rotateBefore(e *store.AuditEntry, n int64) bool {
	if p.manifest.Entries == 0 {
		return false
	}
	if p.cw.n+int64(p.bw.Buffered())+n > p.opts.MaxBytes {
		return true
	}
	if span := p.opts.MaxSpan; span > 0 {
		t := truncTime(e.Time)
		lo, hi := p.manifest.FromTime, p.manifest.ToTime
		if t.Before(lo) {
			lo = t
		}
		if t.After(hi) {
			hi = t
		}
		return hi.Sub(lo) > span
	}
	return false
}

func (p *pending) add(e *store.AuditEntry, line []byte) error {
	m := &p.manifest
	t := truncTime(e.Time)
	if m.Entries == 0 {
		m.FromSeq = e.Seq
		m.PrevHash = HexBytes(bytes.Clone(e.PrevHash))
		if len(m.PrevHash) == 0 {
			m.PrevHash = nil
		}
		m.FromTime, m.ToTime = t, t
	}
	if t.Before(m.FromTime) {
		m.FromTime = t
	}
	if t.After(m.ToTime) {
		m.ToTime = t
	}
	m.Entries++
	m.ToSeq = e.Seq
	m.HeadHash = HexBytes(bytes.Clone(e.Hash))
	if p.opts.BlobRefs != nil {
		for _, ref := range p.opts.BlobRefs(e) {
			p.blobRefs[ref] = true
		}
	}
	_, err := p.bw.Write(line)
	return err
}

// close ends the spool and completes the manifest with the checkpoints.
func (p *pending) close(ctx context.Context) error {
	if err := p.bw.Flush(); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	m := &p.manifest
	var cps []store.AuditCheckpoint
	if err := readTx(ctx, p.st, func(tx store.Tx) error {
		var err error
		cps, err = tx.ListCheckpoints(ctx, m.FromSeq, m.ToSeq)
		return err
	}); err != nil {
		return fmt.Errorf("list checkpoints %d..%d: %w", m.FromSeq, m.ToSeq, err)
	}
	kept := cps[:0]
	for _, cp := range cps {
		if cp.Seq >= m.FromSeq && cp.Seq <= m.ToSeq {
			kept = append(kept, cp)
		}
	}
	sort.Slice(kept, func(i, j int) bool { return kept[i].Seq < kept[j].Seq })
	p.checkpoints = kept
	m.Format, m.Version = ArchiveFormat, ArchiveVersion
	m.EntryEncoding, m.CheckpointEncoding = EntryEncoding, CheckpointEncoding
	m.CreatedAt = truncTime(p.opts.Now)
	m.Checkpoints = len(kept)
	m.HubKeyID = ""
	if len(kept) > 0 {
		m.HubKeyID = kept[len(kept)-1].KeyID
	}
	m.Blobs = len(p.blobRefs)
	return nil
}

func (p *pending) discard() {
	if p.spool != nil {
		p.spool.Close()
		p.spool = nil
	}
}

// writeTo writes the archive: every small member, then entries.jsonl
// copied from the spool.
func (p *pending) writeTo(ctx context.Context, w io.Writer) error {
	blobs := map[string][]byte{}
	for ref := range p.blobRefs {
		if p.opts.Blob == nil {
			return fmt.Errorf("blob %s referred to, but no blob source", ref)
		}
		b, err := p.opts.Blob(ctx, ref)
		if err != nil {
			return fmt.Errorf("blob %s: %w", ref, err)
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != ref {
			return fmt.Errorf("blob %s: content hashes to %x", ref, sum)
		}
		blobs[ref] = b
	}
	if _, err := p.spool.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	parts := archiveParts{
		manifest: p.manifest, checkpoints: p.checkpoints, certs: p.opts.Certs, blobs: blobs,
		entries: bufio.NewReaderSize(p.spool, 1<<20), entriesSize: p.cw.n,
	}
	return writeParts(w, parts)
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// archiveParts is what a version 2 archive is written from.
type archiveParts struct {
	manifest    Manifest
	checkpoints []store.AuditCheckpoint
	certs       map[string][]*x509.Certificate
	blobs       map[string][]byte
	entries     io.Reader
	entriesSize int64
}

// writeParts writes a version 2 archive as tar.gz: manifest.json,
// checkpoints.json, certs/, blobs/, and last entries.jsonl, so a reader has
// everything it checks entries against before the first entry. Member
// headers carry only the manifest's creation time, so the same content
// always gives the same bytes.
func writeParts(w io.Writer, a archiveParts) error {
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	mtime := a.manifest.CreatedAt
	header := func(name string, size int64) error {
		hdr := &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: size, ModTime: mtime, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
		return nil
	}
	put := func(name string, data []byte) error {
		if err := header(name, int64(len(data))); err != nil {
			return err
		}
		if _, err := tw.Write(data); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
		return nil
	}
	a.manifest.Blobs = len(a.blobs)
	manifest, err := json.MarshalIndent(a.manifest, "", "  ")
	if err != nil {
		return fmt.Errorf("encode manifest: %w", err)
	}
	if err := put(manifestName, append(manifest, '\n')); err != nil {
		return err
	}
	cps := make([]checkpointJSON, 0, len(a.checkpoints))
	for _, c := range a.checkpoints {
		cps = append(cps, checkpointJSON{Seq: c.Seq, Hash: c.Hash, Signature: c.Signature, KeyID: c.KeyID, CreatedAt: truncTime(c.CreatedAt)})
	}
	cpJSON, err := json.MarshalIndent(cps, "", "  ")
	if err != nil {
		return fmt.Errorf("encode checkpoints: %w", err)
	}
	if err := put(checkpointsName, append(cpJSON, '\n')); err != nil {
		return err
	}
	participants := make([]string, 0, len(a.certs))
	for p := range a.certs {
		participants = append(participants, p)
	}
	sort.Strings(participants)
	for _, p := range participants {
		seen := map[string]bool{}
		for _, c := range a.certs[p] {
			fp := fingerprint(c.Raw)
			if seen[fp] {
				continue
			}
			seen[fp] = true
			data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
			if err := put(certsDir+p+"/"+fp+".pem", data); err != nil {
				return err
			}
		}
	}
	refs := make([]string, 0, len(a.blobs))
	for ref := range a.blobs {
		refs = append(refs, ref)
	}
	sort.Strings(refs)
	for _, ref := range refs {
		if err := put(blobsDir+ref, a.blobs[ref]); err != nil {
			return err
		}
	}
	if err := header(entriesName, a.entriesSize); err != nil {
		return err
	}
	if n, err := io.Copy(tw, a.entries); err != nil {
		return fmt.Errorf("write %s: %w", entriesName, err)
	} else if n != a.entriesSize {
		return fmt.Errorf("write %s: %d bytes, want %d", entriesName, n, a.entriesSize)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("close tar: %w", err)
	}
	if err := gz.Close(); err != nil {
		return fmt.Errorf("close gzip: %w", err)
	}
	return nil
}

// writeArchive writes an in-memory archive in the current format.
func writeArchive(w io.Writer, a *Archive) error {
	var lines bytes.Buffer
	for i := range a.Entries {
		line, err := entryLine(&a.Entries[i])
		if err != nil {
			return err
		}
		lines.Write(line)
	}
	return writeParts(w, archiveParts{
		manifest: a.Manifest, checkpoints: a.Checkpoints, certs: a.Certs, blobs: a.Blobs,
		entries: &lines, entriesSize: int64(lines.Len()),
	})
}
