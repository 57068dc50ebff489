package audit

import (
	"archive/tar"
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
	"sort"
	"strings"
	"time"

	"github.com/gatehub/gatehub/internal/pki"
	"github.com/gatehub/gatehub/internal/store"
)

// Archive format identification, written to and required in manifest.json.
const (
	ArchiveFormat  = "gatehub-audit-archive"
	ArchiveVersion = 1
)

// Member names inside the archive.
const (
	manifestName    = "manifest.json"
	entriesName     = "entries.jsonl"
	checkpointsName = "checkpoints.json"
	certsDir        = "certs/"
)

// exportPageSize bounds each ListAudit call so no single query returns an
// unbounded result.
const exportPageSize = 1000

// ErrEmptyRange is returned by Export when the filter selects no entries:
// an archive always holds at least one entry, so its manifest can name the
// hashes it starts from and ends with.
var ErrEmptyRange = errors.New("audit export: no entries in range")

// HexBytes is a hash, written as lowercase hex in JSON.
type HexBytes []byte

// MarshalText implements encoding.TextMarshaler.
func (h HexBytes) MarshalText() ([]byte, error) {
	return []byte(hex.EncodeToString(h)), nil
}

// UnmarshalText implements encoding.TextUnmarshaler; the empty string is nil.
func (h *HexBytes) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*h = nil
		return nil
	}
	if len(b) > 2*HashSize {
		return fmt.Errorf("hash of %d hex digits, want at most %d", len(b), 2*HashSize)
	}
	d, err := hex.DecodeString(string(b))
	if err != nil {
		return fmt.Errorf("hash: %w", err)
	}
	*h = d
	return nil
}

// Manifest describes an archive: which part of the log it holds and which
// hashes tie it to its neighbours.
type Manifest struct {
	Format             string    `json:"format"`
	Version            int       `json:"version"`
	EntryEncoding      string    `json:"entry_encoding"`
	CheckpointEncoding string    `json:"checkpoint_encoding"`
	FromSeq            int64     `json:"from_seq"`
	ToSeq              int64     `json:"to_seq"`
	Entries            int       `json:"entries"`
	Checkpoints        int       `json:"checkpoints"`
	FromTime           time.Time `json:"from_time"` // earliest entry Time
	ToTime             time.Time `json:"to_time"`   // latest entry Time
	PrevHash           HexBytes  `json:"prev_hash"` // PrevHash of the first entry; empty when FromSeq is 1
	HeadHash           HexBytes  `json:"head_hash"` // Hash of the last entry
	CreatedAt          time.Time `json:"created_at"`
	HubKeyID           string    `json:"hub_key_id"` // KeyID of the newest checkpoint, "" without one
}

// Archive is the decoded content of an archive file.
type Archive struct {
	Manifest    Manifest
	Entries     []store.AuditEntry
	Checkpoints []store.AuditCheckpoint
	Certs       map[string][]*x509.Certificate // participant → certificates, by fingerprint
}

type entryJSON struct {
	Seq           int64     `json:"seq"`
	Time          time.Time `json:"time"`
	Kind          string    `json:"kind"`
	Actor         string    `json:"actor"`
	DeclarationID string    `json:"declaration_id"`
	MessageID     string    `json:"message_id"`
	Agency        string    `json:"agency"`
	Plate         string    `json:"plate"`
	Payload       []byte    `json:"payload"`
	PrevHash      HexBytes  `json:"prev_hash"`
	Hash          HexBytes  `json:"hash"`
}

type checkpointJSON struct {
	Seq       int64     `json:"seq"`
	Hash      HexBytes  `json:"hash"`
	Signature []byte    `json:"signature"`
	KeyID     string    `json:"key_id"`
	CreatedAt time.Time `json:"created_at"`
}

// Export writes the entries selected by f, the checkpoints among them and
// certs to w as an archive, and returns its manifest. f selects by FromSeq
// and ToSeq, or by From and To times, which are widened to the contiguous
// seq range from the first to the last matching entry (entry times need
// not be monotonic across hub instances). Export copies what the store
// holds without judging it: a damaged log is exported as it is, for
// VerifyArchive to report.
func Export(ctx context.Context, st store.Store, f store.AuditFilter, certs map[string][]*x509.Certificate, now time.Time, w io.Writer) (*Manifest, error) {
	if f.Kind != "" || f.DeclarationID != "" || f.MessageID != "" || f.Agency != "" || f.Plate != "" {
		return nil, errors.New("audit export: only seq and time bounds are allowed, an archive holds a contiguous range")
	}
	if f.FromSeq < 0 || f.ToSeq < 0 || (f.ToSeq != 0 && f.ToSeq < f.FromSeq) {
		return nil, fmt.Errorf("audit export: bad seq range %d..%d", f.FromSeq, f.ToSeq)
	}
	a := &Archive{Certs: map[string][]*x509.Certificate{}}
	for p, cs := range certs {
		if err := checkParticipant(p); err != nil {
			return nil, fmt.Errorf("audit export: %w", err)
		}
		for _, c := range cs {
			if c == nil {
				return nil, fmt.Errorf("audit export: nil certificate for %q", p)
			}
			a.Certs[p] = append(a.Certs[p], c)
		}
	}
	err := st.WithTx(ctx, func(tx store.Tx) error {
		entries, err := selectRange(ctx, tx, f)
		if err != nil {
			return err
		}
		if len(entries) == 0 {
			return ErrEmptyRange
		}
		from, to := entries[0].Seq, entries[len(entries)-1].Seq
		cps, err := tx.ListCheckpoints(ctx, from, to)
		if err != nil {
			return fmt.Errorf("list checkpoints %d..%d: %w", from, to, err)
		}
		a.Entries, a.Checkpoints = entries, nil
		for _, cp := range cps {
			if cp.Seq >= from && cp.Seq <= to {
				a.Checkpoints = append(a.Checkpoints, cp)
			}
		}
		return nil
	})
	if errors.Is(err, ErrEmptyRange) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("audit export: %w", err)
	}
	sort.Slice(a.Checkpoints, func(i, j int) bool { return a.Checkpoints[i].Seq < a.Checkpoints[j].Seq })
	a.Manifest = manifestFor(a.Entries, a.Checkpoints, now)
	if err := writeArchive(w, a); err != nil {
		return nil, fmt.Errorf("audit export %d..%d: %w", a.Manifest.FromSeq, a.Manifest.ToSeq, err)
	}
	m := a.Manifest
	return &m, nil
}

// selectRange lists the entries f selects, as one contiguous seq range.
func selectRange(ctx context.Context, tx store.Tx, f store.AuditFilter) ([]store.AuditEntry, error) {
	bySeq := store.AuditFilter{FromSeq: f.FromSeq, ToSeq: f.ToSeq}
	if f.From.IsZero() && f.To.IsZero() {
		return listAll(ctx, tx, bySeq)
	}
	byTime := bySeq
	byTime.From, byTime.To = f.From, f.To
	matched, err := listAll(ctx, tx, byTime)
	if err != nil || len(matched) == 0 {
		return nil, err
	}
	lo, hi := matched[0].Seq, matched[len(matched)-1].Seq
	if hi-lo+1 == int64(len(matched)) {
		return matched, nil
	}
	return listAll(ctx, tx, store.AuditFilter{FromSeq: lo, ToSeq: hi})
}

// listAll pages through ListAudit by seq.
func listAll(ctx context.Context, tx store.Tx, f store.AuditFilter) ([]store.AuditEntry, error) {
	var out []store.AuditEntry
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		f.Limit = exportPageSize
		page, err := tx.ListAudit(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("list audit from seq %d: %w", f.FromSeq, err)
		}
		out = append(out, page...)
		if len(page) < exportPageSize {
			return out, nil
		}
		last := page[len(page)-1].Seq
		if last < f.FromSeq {
			// A store ignoring FromSeq would make this loop forever.
			return nil, fmt.Errorf("list audit from seq %d returned seq %d", f.FromSeq, last)
		}
		f.FromSeq = last + 1
	}
}

func manifestFor(entries []store.AuditEntry, cps []store.AuditCheckpoint, now time.Time) Manifest {
	first, last := entries[0], entries[len(entries)-1]
	m := Manifest{
		Format:             ArchiveFormat,
		Version:            ArchiveVersion,
		EntryEncoding:      EntryEncoding,
		CheckpointEncoding: CheckpointEncoding,
		FromSeq:            first.Seq,
		ToSeq:              last.Seq,
		Entries:            len(entries),
		Checkpoints:        len(cps),
		PrevHash:           HexBytes(bytes.Clone(first.PrevHash)),
		HeadHash:           HexBytes(bytes.Clone(last.Hash)),
		CreatedAt:          truncTime(now),
	}
	m.FromTime, m.ToTime = timeSpan(entries)
	if len(cps) > 0 {
		m.HubKeyID = cps[len(cps)-1].KeyID
	}
	if len(m.PrevHash) == 0 {
		m.PrevHash = nil
	}
	return m
}

func timeSpan(entries []store.AuditEntry) (lo, hi time.Time) {
	for i, e := range entries {
		t := truncTime(e.Time)
		if i == 0 || t.Before(lo) {
			lo = t
		}
		if i == 0 || t.After(hi) {
			hi = t
		}
	}
	return lo, hi
}

// writeArchive writes a as tar.gz. Member headers carry only the manifest's
// creation time, so the same content always gives the same bytes.
func writeArchive(w io.Writer, a *Archive) error {
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	mtime := a.Manifest.CreatedAt
	put := func(name string, data []byte) error {
		hdr := &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data)), ModTime: mtime, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
		if _, err := tw.Write(data); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
		return nil
	}

	manifest, err := json.MarshalIndent(a.Manifest, "", "  ")
	if err != nil {
		return fmt.Errorf("encode manifest: %w", err)
	}
	if err := put(manifestName, append(manifest, '\n')); err != nil {
		return err
	}

	var lines bytes.Buffer
	enc := json.NewEncoder(&lines)
	enc.SetEscapeHTML(false)
	for _, e := range a.Entries {
		if err := enc.Encode(entryJSON{
			Seq: e.Seq, Time: truncTime(e.Time), Kind: e.Kind, Actor: e.Actor,
			DeclarationID: e.DeclarationID, MessageID: e.MessageID, Agency: e.Agency, Plate: e.Plate,
			Payload: e.Payload, PrevHash: e.PrevHash, Hash: e.Hash,
		}); err != nil {
			return fmt.Errorf("encode entry %d: %w", e.Seq, err)
		}
	}
	if err := put(entriesName, lines.Bytes()); err != nil {
		return err
	}

	cps := make([]checkpointJSON, 0, len(a.Checkpoints))
	for _, c := range a.Checkpoints {
		cps = append(cps, checkpointJSON{Seq: c.Seq, Hash: c.Hash, Signature: c.Signature, KeyID: c.KeyID, CreatedAt: truncTime(c.CreatedAt)})
	}
	cpJSON, err := json.MarshalIndent(cps, "", "  ")
	if err != nil {
		return fmt.Errorf("encode checkpoints: %w", err)
	}
	if err := put(checkpointsName, append(cpJSON, '\n')); err != nil {
		return err
	}

	participants := make([]string, 0, len(a.Certs))
	for p := range a.Certs {
		participants = append(participants, p)
	}
	sort.Strings(participants)
	for _, p := range participants {
		seen := map[string]bool{}
		for _, c := range a.Certs[p] {
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
	if err := tw.Close(); err != nil {
		return fmt.Errorf("close tar: %w", err)
	}
	if err := gz.Close(); err != nil {
		return fmt.Errorf("close gzip: %w", err)
	}
	return nil
}

func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// checkParticipant keeps participant names usable as one path element.
func checkParticipant(p string) error {
	if p == "" || len(p) > 64 {
		return fmt.Errorf("participant name %q: want 1 to 64 characters", p)
	}
	for i, r := range p {
		ok := (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || (i > 0 && (r == '-' || r == '_' || r == '.'))
		if !ok {
			return fmt.Errorf("participant name %q: only a-z, 0-9 and, after the first character, '-', '_' or '.'", p)
		}
	}
	return nil
}

// readLimits bounds what ReadArchive accepts, against archives crafted to
// exhaust memory (gzip bombs, huge declared sizes, endless members).
type readLimits struct {
	total       int64 // uncompressed bytes over all members
	manifest    int64
	checkpoints int64
	cert        int64
	members     int
	line        int // one entries.jsonl line
}

var defaultLimits = readLimits{
	total:       1 << 30,
	manifest:    1 << 20,
	checkpoints: 64 << 20,
	cert:        64 << 10,
	members:     4096,
	line:        96 << 20,
}

// ReadArchive decodes an archive without verifying it (see VerifyArchive
// and Archive.Verify). It refuses unknown members, unknown JSON fields and
// anything beyond its size limits: 1 GiB uncompressed in all, 96 MiB per
// entry line, 4096 members.
func ReadArchive(r io.Reader) (*Archive, error) {
	return readArchive(r, defaultLimits)
}

func readArchive(r io.Reader, lim readLimits) (*Archive, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("read audit archive: gzip: %w", err)
	}
	defer gz.Close()
	// The limit covers tar headers and padding too, so no member can make
	// the reader inflate more than lim.total bytes.
	tr := tar.NewReader(&capReader{r: gz, left: lim.total + 1})
	a := &Archive{Certs: map[string][]*x509.Certificate{}}
	seen := map[string]bool{}
	var total int64
	for n := 0; ; n++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read audit archive: tar: %w", err)
		}
		if n >= lim.members {
			return nil, fmt.Errorf("read audit archive: more than %d members", lim.members)
		}
		name := hdr.Name
		if hdr.Typeflag != tar.TypeReg {
			return nil, fmt.Errorf("read audit archive: %q is not a regular file", name)
		}
		if seen[name] {
			return nil, fmt.Errorf("read audit archive: duplicate member %q", name)
		}
		seen[name] = true
		limit := lim.cert
		switch name {
		case manifestName:
			limit = lim.manifest
		case entriesName:
			limit = lim.total
		case checkpointsName:
			limit = lim.checkpoints
		}
		if hdr.Size > limit || total+hdr.Size > lim.total {
			return nil, fmt.Errorf("read audit archive: %q too large (%d bytes)", name, hdr.Size)
		}
		// Read what is there rather than allocating the declared size.
		data, err := io.ReadAll(io.LimitReader(tr, limit+1))
		if err != nil {
			return nil, fmt.Errorf("read audit archive: %s: %w", name, err)
		}
		total += int64(len(data))
		if int64(len(data)) > limit || total > lim.total {
			return nil, fmt.Errorf("read audit archive: %q too large", name)
		}
		switch {
		case name == manifestName:
			err = decodeStrict(data, &a.Manifest)
		case name == entriesName:
			a.Entries, err = decodeEntries(data, lim.line)
		case name == checkpointsName:
			a.Checkpoints, err = decodeCheckpoints(data)
		case strings.HasPrefix(name, certsDir):
			err = decodeCert(a, name, data)
		default:
			err = errors.New("unknown member")
		}
		if err != nil {
			return nil, fmt.Errorf("read audit archive: %s: %w", name, err)
		}
	}
	for _, name := range []string{manifestName, entriesName, checkpointsName} {
		if !seen[name] {
			return nil, fmt.Errorf("read audit archive: %s missing", name)
		}
	}
	if a.Manifest.Format != ArchiveFormat || a.Manifest.Version != ArchiveVersion {
		return nil, fmt.Errorf("read audit archive: format %q version %d, want %q version %d",
			a.Manifest.Format, a.Manifest.Version, ArchiveFormat, ArchiveVersion)
	}
	if a.Manifest.EntryEncoding != EntryEncoding || a.Manifest.CheckpointEncoding != CheckpointEncoding {
		return nil, fmt.Errorf("read audit archive: encodings %q/%q, want %q/%q",
			a.Manifest.EntryEncoding, a.Manifest.CheckpointEncoding, EntryEncoding, CheckpointEncoding)
	}
	return a, nil
}

var errTooLarge = errors.New("archive too large")

// capReader fails with errTooLarge, rather than a bare EOF, once more than
// its budget is read, so a too-large archive is not reported as truncated.
type capReader struct {
	r    io.Reader
	left int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after JSON value")
	}
	return nil
}

func decodeEntries(data []byte, maxLine int) ([]store.AuditEntry, error) {
	var out []store.AuditEntry
	for line := 1; len(data) > 0; line++ {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			return nil, fmt.Errorf("line %d: not terminated by a newline", line)
		}
		if i > maxLine {
			return nil, fmt.Errorf("line %d: longer than %d bytes", line, maxLine)
		}
		var ej entryJSON
		if err := decodeStrict(data[:i], &ej); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		data = data[i+1:]
		t, err := exactTime(ej.Time)
		if err != nil {
			return nil, fmt.Errorf("line %d (seq %d): time: %w", line, ej.Seq, err)
		}
		out = append(out, store.AuditEntry{
			Seq: ej.Seq, Time: t, Kind: ej.Kind, Actor: ej.Actor,
			DeclarationID: ej.DeclarationID, MessageID: ej.MessageID, Agency: ej.Agency, Plate: ej.Plate,
			Payload: ej.Payload, PrevHash: ej.PrevHash, Hash: ej.Hash,
		})
	}
	return out, nil
}

// exactTime refuses times finer than the hash keeps: two archives differing
// only below a microsecond would otherwise both verify.
func exactTime(t time.Time) (time.Time, error) {
	if t.Nanosecond()%int(time.Microsecond) != 0 {
		return time.Time{}, fmt.Errorf("%s is finer than microseconds", t.Format(time.RFC3339Nano))
	}
	return t.UTC(), nil
}

func decodeCheckpoints(data []byte) ([]store.AuditCheckpoint, error) {
	var cps []checkpointJSON
	if err := decodeStrict(data, &cps); err != nil {
		return nil, err
	}
	out := make([]store.AuditCheckpoint, 0, len(cps))
	for _, c := range cps {
		t, err := exactTime(c.CreatedAt)
		if err != nil {
			return nil, fmt.Errorf("checkpoint seq %d: created_at: %w", c.Seq, err)
		}
		out = append(out, store.AuditCheckpoint{Seq: c.Seq, Hash: c.Hash, Signature: c.Signature, KeyID: c.KeyID, CreatedAt: t})
	}
	return out, nil
}

// decodeCert reads certs/<participant>/<fingerprint>.pem: one certificate,
// named by the SHA-256 of its DER so that a file cannot pose as another.
func decodeCert(a *Archive, name string, data []byte) error {
	parts := strings.Split(strings.TrimPrefix(name, certsDir), "/")
	if len(parts) != 2 || !strings.HasSuffix(parts[1], ".pem") {
		return errors.New("want certs/<participant>/<sha256>.pem")
	}
	participant := parts[0]
	if err := checkParticipant(participant); err != nil {
		return err
	}
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" || len(bytes.TrimSpace(rest)) != 0 {
		return errors.New("want exactly one PEM CERTIFICATE block")
	}
	if fp := fingerprint(block.Bytes); parts[1] != fp+".pem" {
		return fmt.Errorf("file name does not match certificate fingerprint %s", fp)
	}
	// SM2 certificates too (the hub's key for the Guangxi single window).
	c, err := pki.ParseCertificate(block.Bytes)
	if err != nil {
		return err
	}
	a.Certs[participant] = append(a.Certs[participant], c)
	return nil
}
