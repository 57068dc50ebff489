package audit

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gatehub/gatehub/internal/pki"
	"github.com/gatehub/gatehub/internal/store"
)

// Archive format identification, written to and required in manifest.json.
// Version 2 puts every small member before entries.jsonl (so a reader can
// stream the entries in one pass), links each archive to the file before it
// (prev_archive_sha256) and may carry content-addressed blobs; version 1
// archives are still read and verified.
const (
	ArchiveFormat  = "gatehub-audit-archive"
	ArchiveVersion = 2
	// archiveVersion1 is the first format: entries.jsonl before
	// checkpoints.json and the certificates, no blobs, no file link.
	archiveVersion1 = 1
)

// Member names inside the archive.
const (
	manifestName    = "manifest.json"
	entriesName     = "entries.jsonl"
	checkpointsName = "checkpoints.json"
	certsDir        = "certs/"
	blobsDir        = "blobs/"
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
	// PrevArchiveSHA256 is the SHA-256 of the archive file this one
	// continues (version 2; empty for the first archive of a chain): a hash
	// link between archive files, besides the entry hash link PrevHash.
	PrevArchiveSHA256 HexBytes `json:"prev_archive_sha256,omitempty"`
	// Blobs counts the blobs/ members (version 2).
	Blobs int `json:"blobs,omitempty"`
}

// Archive is the decoded content of an archive file.
type Archive struct {
	Manifest    Manifest
	Entries     []store.AuditEntry
	Checkpoints []store.AuditCheckpoint
	Certs       map[string][]*x509.Certificate // participant → certificates, by fingerprint
	Blobs       map[string][]byte              // SHA-256 hex → content (blobs/<sha256>)
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
	total       int64 // uncompressed bytes over all members (ReadArchive only: it holds them all)
	manifest    int64
	checkpoints int64
	cert        int64
	blob        int64 // one blobs/ member
	blobs       int64 // all blobs/ members
	members     int
	line        int // one entries.jsonl line
}

var defaultLimits = readLimits{
	total:       1 << 30,
	manifest:    1 << 20,
	checkpoints: 64 << 20,
	cert:        64 << 10,
	blob:        16 << 20,
	blobs:       256 << 20,
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
	a := &Archive{Certs: map[string][]*x509.Certificate{}, Blobs: map[string][]byte{}}
	seen := map[string]bool{}
	var total, blobTotal int64
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
		default:
			if strings.HasPrefix(name, blobsDir) {
				limit = lim.blob
				if blobTotal += hdr.Size; blobTotal > lim.blobs {
					return nil, fmt.Errorf("read audit archive: blobs larger than %d bytes in all", lim.blobs)
				}
			}
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
			err = decodeCert(a.Certs, name, data)
		case strings.HasPrefix(name, blobsDir):
			err = decodeBlob(a.Blobs, name, data)
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
	if err := checkManifestFormat(&a.Manifest); err != nil {
		return nil, fmt.Errorf("read audit archive: %w", err)
	}
	if a.Manifest.Version == archiveVersion1 && len(a.Blobs) > 0 {
		return nil, errors.New("read audit archive: blobs in a version 1 archive")
	}
	return a, nil
}

// checkManifestFormat accepts the archive versions this reader knows.
func checkManifestFormat(m *Manifest) error {
	if m.Format != ArchiveFormat || (m.Version != ArchiveVersion && m.Version != archiveVersion1) {
		return fmt.Errorf("format %q version %d, want %q version %d or %d",
			m.Format, m.Version, ArchiveFormat, archiveVersion1, ArchiveVersion)
	}
	if m.EntryEncoding != EntryEncoding || m.CheckpointEncoding != CheckpointEncoding {
		return fmt.Errorf("encodings %q/%q, want %q/%q",
			m.EntryEncoding, m.CheckpointEncoding, EntryEncoding, CheckpointEncoding)
	}
	if m.Version == archiveVersion1 && (len(m.PrevArchiveSHA256) != 0 || m.Blobs != 0) {
		return errors.New("version 1 manifest with version 2 fields")
	}
	if n := len(m.PrevArchiveSHA256); n != 0 && n != sha256.Size {
		return fmt.Errorf("prev_archive_sha256 of %d bytes, want %d", n, sha256.Size)
	}
	return nil
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
		e, err := decodeEntryLine(data[:i], line)
		if err != nil {
			return nil, err
		}
		data = data[i+1:]
		out = append(out, e)
	}
	return out, nil
}

// decodeEntryLine decodes line number n of entries.jsonl (without its
// newline).
func decodeEntryLine(b []byte, n int) (store.AuditEntry, error) {
	if e, ok := fastEntryLine(b); ok {
		return e, nil
	}
	return jsonEntryLine(b, n)
}

// jsonEntryLine is decodeEntryLine through encoding/json: every line the
// fast path does not take, and the reference it is tested against.
func jsonEntryLine(b []byte, n int) (store.AuditEntry, error) {
	var ej entryJSON
	if err := decodeStrict(b, &ej); err != nil {
		return store.AuditEntry{}, fmt.Errorf("line %d: %w", n, err)
	}
	t, err := exactTime(ej.Time)
	if err != nil {
		return store.AuditEntry{}, fmt.Errorf("line %d (seq %d): time: %w", n, ej.Seq, err)
	}
	return store.AuditEntry{
		Seq: ej.Seq, Time: t, Kind: ej.Kind, Actor: ej.Actor,
		DeclarationID: ej.DeclarationID, MessageID: ej.MessageID, Agency: ej.Agency, Plate: ej.Plate,
		Payload: ej.Payload, PrevHash: ej.PrevHash, Hash: ej.Hash,
	}, nil
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
func decodeCert(certs map[string][]*x509.Certificate, name string, data []byte) error {
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
	certs[participant] = append(certs[participant], c)
	return nil
}

// decodeBlob reads blobs/<sha256>: content named by its own hash, so a
// blob cannot pose as another.
func decodeBlob(blobs map[string][]byte, name string, data []byte) error {
	ref := strings.TrimPrefix(name, blobsDir)
	if len(ref) != 2*sha256.Size || strings.ToLower(ref) != ref {
		return errors.New("want blobs/<sha256, lowercase hex>")
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != ref {
		return fmt.Errorf("content hashes to %x, not its name", sum)
	}
	blobs[ref] = data
	return nil
}
