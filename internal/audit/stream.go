package audit

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"

	"github.com/gatehub/gatehub/internal/store"
)

// ArchiveReader reads an archive one entry at a time: it holds the
// manifest, checkpoints, certificates and blobs (small, bounded members)
// and never more than one entry, so memory does not grow with the archive.
// A version 2 archive is read in one pass (entries.jsonl comes last); a
// version 1 archive, whose checkpoints and certificates follow the entries,
// is read twice: once for everything but the entries, once for them.
type ArchiveReader struct {
	Manifest    Manifest
	Checkpoints []store.AuditCheckpoint
	Certs       map[string][]*x509.Certificate
	Blobs       map[string][]byte

	open func() (io.ReadCloser, error)
	lim  readLimits

	rc      io.ReadCloser
	raw     *countReader // compressed bytes read, for progress
	hash    hash.Hash    // of the file, when this pass reads all of it
	gz      *gzip.Reader
	tr      *tar.Reader
	br      *bufio.Reader
	line    int
	members int
	done    bool
	sum     []byte
	buf     []byte
}

// OpenArchiveFile opens the archive at path for streaming.
func OpenArchiveFile(path string) (*ArchiveReader, error) {
	a, err := OpenArchive(func() (io.ReadCloser, error) { return os.Open(path) })
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return a, nil
}

// OpenArchive reads an archive's small members and positions the reader at
// its first entry. open must return the archive's bytes from the start each
// time it is called (a version 1 archive is read twice).
func OpenArchive(open func() (io.ReadCloser, error)) (*ArchiveReader, error) {
	return openArchive(open, defaultLimits)
}

func openArchive(open func() (io.ReadCloser, error), lim readLimits) (*ArchiveReader, error) {
	a := &ArchiveReader{open: open, lim: lim, Certs: map[string][]*x509.Certificate{}, Blobs: map[string][]byte{}}
	if err := a.start(); err != nil {
		a.Close()
		return nil, fmt.Errorf("read audit archive: %w", err)
	}
	return a, nil
}

// start makes the first pass: small members, up to entries.jsonl when the
// manifest before it says version 2, else to the end.
func (a *ArchiveReader) start() error {
	if err := a.reopen(); err != nil {
		return err
	}
	seen := map[string]bool{}
	var blobTotal int64
	var manifestSeen bool
	for {
		hdr, err := a.nextMember()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		name := hdr.Name
		if seen[name] {
			return fmt.Errorf("duplicate member %q", name)
		}
		seen[name] = true
		if name == entriesName {
			if manifestSeen && a.Manifest.Version != archiveVersion1 {
				// Version 2: everything else came first; stream from here.
				a.br = bufio.NewReaderSize(a.tr, 1<<20)
				return nil
			}
			// Version 1 (or a manifest yet to come): skip now, stream in
			// the second pass.
			if _, err := io.Copy(io.Discard, a.tr); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			continue
		}
		limit := a.lim.cert
		switch {
		case name == manifestName:
			limit = a.lim.manifest
		case name == checkpointsName:
			limit = a.lim.checkpoints
		case strings.HasPrefix(name, blobsDir):
			limit = a.lim.blob
			if blobTotal += hdr.Size; blobTotal > a.lim.blobs {
				return fmt.Errorf("blobs larger than %d bytes in all", a.lim.blobs)
			}
		}
		if hdr.Size > limit {
			return fmt.Errorf("%q too large (%d bytes)", name, hdr.Size)
		}
		data, err := io.ReadAll(io.LimitReader(a.tr, limit+1))
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if int64(len(data)) > limit {
			return fmt.Errorf("%q too large", name)
		}
		switch {
		case name == manifestName:
			err = decodeStrict(data, &a.Manifest)
			if err == nil {
				err = checkManifestFormat(&a.Manifest)
			}
			manifestSeen = err == nil
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
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	for _, name := range []string{manifestName, entriesName, checkpointsName} {
		if !seen[name] {
			return fmt.Errorf("%s missing", name)
		}
	}
	if a.Manifest.Version != archiveVersion1 {
		return fmt.Errorf("version %d archive with members after %s", a.Manifest.Version, entriesName)
	}
	if len(a.Blobs) > 0 {
		return errors.New("blobs in a version 1 archive")
	}
	// The first pass read the whole file: its hash is known.
	if err := a.drain(); err != nil {
		return err
	}
	// Second pass, to the entries.
	if err := a.reopen(); err != nil {
		return err
	}
	a.hash = nil
	for {
		hdr, err := a.nextMember()
		if err != nil {
			return fmt.Errorf("second pass: %w", err)
		}
		if hdr.Name == entriesName {
			a.br = bufio.NewReaderSize(a.tr, 1<<20)
			return nil
		}
	}
}

func (a *ArchiveReader) reopen() error {
	if a.rc != nil {
		a.rc.Close()
	}
	rc, err := a.open()
	if err != nil {
		return err
	}
	a.rc = rc
	a.hash = sha256.New()
	a.raw = &countReader{r: io.TeeReader(rc, a.hash)}
	gz, err := gzip.NewReader(a.raw)
	if err != nil {
		return fmt.Errorf("gzip: %w", err)
	}
	a.gz = gz
	a.tr = tar.NewReader(gz)
	a.members = 0
	return nil
}

func (a *ArchiveReader) nextMember() (*tar.Header, error) {
	hdr, err := a.tr.Next()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, err
		}
		return nil, fmt.Errorf("tar: %w", err)
	}
	if a.members++; a.members > a.lim.members {
		return nil, fmt.Errorf("more than %d members", a.lim.members)
	}
	if hdr.Typeflag != tar.TypeReg {
		return nil, fmt.Errorf("%q is not a regular file", hdr.Name)
	}
	return hdr, nil
}

// drain reads the rest of the file so its hash is complete.
func (a *ArchiveReader) drain() error {
	if _, err := io.Copy(io.Discard, a.gz); err != nil {
		return fmt.Errorf("gzip: %w", err)
	}
	if _, err := io.Copy(io.Discard, a.raw); err != nil {
		return err
	}
	if a.hash != nil && a.sum == nil {
		a.sum = a.hash.Sum(nil)
	}
	return nil
}

// Next returns the next entry, or io.EOF after the last one. At io.EOF a
// version 2 archive has been read to its end (nothing follows the entries)
// and SHA256 is known.
func (a *ArchiveReader) Next() (*store.AuditEntry, error) {
	if a.done {
		return nil, io.EOF
	}
	line, err := a.readLine()
	if errors.Is(err, io.EOF) {
		a.done = true
		if a.Manifest.Version != archiveVersion1 {
			if _, err := a.nextMember(); !errors.Is(err, io.EOF) {
				if err == nil {
					err = fmt.Errorf("member after %s", entriesName)
				}
				return nil, fmt.Errorf("read audit archive: %w", err)
			}
			if err := a.drain(); err != nil {
				return nil, fmt.Errorf("read audit archive: %w", err)
			}
		}
		return nil, io.EOF
	}
	if err != nil {
		return nil, fmt.Errorf("read audit archive: %s: %w", entriesName, err)
	}
	e, err := decodeEntryLine(line, a.line)
	if err != nil {
		return nil, fmt.Errorf("read audit archive: %s: %w", entriesName, err)
	}
	return &e, nil
}

// readLine returns the next line of entries.jsonl without its newline; the
// slice is valid until the next call.
func (a *ArchiveReader) readLine() ([]byte, error) {
	a.buf = a.buf[:0]
	for {
		chunk, err := a.br.ReadSlice('\n')
		a.buf = append(a.buf, chunk...)
		if len(a.buf) > a.lim.line+1 {
			return nil, fmt.Errorf("line %d: longer than %d bytes", a.line+1, a.lim.line)
		}
		switch {
		case err == nil:
			a.line++
			return a.buf[:len(a.buf)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if len(a.buf) > 0 {
				return nil, fmt.Errorf("line %d: not terminated by a newline", a.line+1)
			}
			return nil, io.EOF
		default:
			return nil, err
		}
	}
}

// SHA256 is the hash of the archive file, known once Next returned io.EOF
// (version 2) or from the start (version 1); nil before.
func (a *ArchiveReader) SHA256() []byte { return a.sum }

// BytesRead is how many bytes of the file have been read, for progress.
func (a *ArchiveReader) BytesRead() int64 {
	if a.raw == nil {
		return 0
	}
	return a.raw.n
}

// Close releases the file.
func (a *ArchiveReader) Close() error {
	if a.rc == nil {
		return nil
	}
	err := a.rc.Close()
	a.rc = nil
	return err
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// ReadManifest reads only an archive's manifest (the first member of every
// archive gatehub writes), to order a chain before verifying it.
func ReadManifest(path string) (*Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: gzip: %w", path, err)
	}
	tr := tar.NewReader(gz)
	for i := 0; i < defaultLimits.members; i++ {
		hdr, err := tr.Next()
		if err != nil {
			return nil, fmt.Errorf("%s: %s not found: %w", path, manifestName, err)
		}
		if hdr.Name != manifestName || hdr.Typeflag != tar.TypeReg {
			continue
		}
		data, err := io.ReadAll(io.LimitReader(tr, defaultLimits.manifest+1))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		var m Manifest
		if err := decodeStrict(data, &m); err != nil {
			return nil, fmt.Errorf("%s: manifest: %w", path, err)
		}
		if err := checkManifestFormat(&m); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return &m, nil
	}
	return nil, fmt.Errorf("%s: %s not found", path, manifestName)
}
