package main

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/gatehub/gatehub/internal/app"
	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/inputs"
	"github.com/gatehub/gatehub/internal/mapping"
	"github.com/gatehub/gatehub/internal/store"
)

// progressTo prints a long run's progress on w (stderr): one line at most
// every second, so a log of a run reads as its history.
func progressTo(w io.Writer, what string) func(audit.Progress) {
	return func(p audit.Progress) {
		fmt.Fprintf(w, "%s: %s, %s\n", what, p, p.Elapsed.Round(time.Second))
	}
}

// certsVerifier checks XML signatures with the certificates an archive
// itself carries, at the time each entry was logged.
func certsVerifier(certs map[string][]*x509.Certificate) audit.XMLVerifier {
	// Each agency's signatures are held to its own profile, the hub's to
	// any of them (app.ArchiveVerifier).
	set, err := localAgencies()
	if err != nil {
		return func(string, []byte, time.Time) error { return err }
	}
	v := app.ArchiveVerifier(set, certs)
	return func(participant string, xml []byte, at time.Time) error {
		_, err := v.Verify(participant, xml, at)
		return err
	}
}

// byteSize is a flag value in bytes, written 256MiB, 1GiB, 500MB or 1048576.
type byteSize int64

func (b *byteSize) String() string { return strconv.FormatInt(int64(*b), 10) }
func (b *byteSize) Type() string   { return "size" }
func (b *byteSize) Set(v string) error {
	units := []struct {
		suffix string
		n      int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	s, mult := strings.TrimSpace(v), int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.n
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return fmt.Errorf("want a positive size such as 256MiB, not %q", v)
	}
	*b = byteSize(n * mult)
	return nil
}

// span is a flag value: a Go duration, or whole days written 30d.
type span time.Duration

func (s *span) String() string { return time.Duration(*s).String() }
func (s *span) Type() string   { return "duration" }
func (s *span) Set(v string) error {
	if d, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n <= 0 {
			return fmt.Errorf("want a duration such as 24h or 30d, not %q", v)
		}
		*s = span(time.Duration(n) * 24 * time.Hour)
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return fmt.Errorf("want a duration such as 24h or 30d, not %q", v)
	}
	*s = span(d)
	return nil
}

func perSecond(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// addInputs makes the export carry the build inputs (mapping files, code
// lists, XSDs) every message.built entry names, read from the store.
func addInputs(ctx context.Context, opts *audit.ExportOptions, st store.Store) {
	refs := map[string][]string{} // inputs id → the blobs it needs
	get := func(ref string) ([]byte, error) {
		var b []byte
		err := readTx(ctx, st, func(tx store.Tx) error {
			var err error
			b, err = tx.GetBlob(ctx, ref)
			return err
		})
		return b, err
	}
	var failed error
	opts.BlobRefs = func(e *store.AuditEntry) []string {
		if e.Kind != audit.KindMessageBuilt {
			return nil
		}
		var b struct {
			Inputs string `json:"inputs"`
		}
		if json.Unmarshal(e.Payload, &b) != nil || b.Inputs == "" {
			return nil
		}
		if r, ok := refs[b.Inputs]; ok {
			return r
		}
		mb, err := get(b.Inputs)
		if err == nil {
			var m *inputs.Manifest
			if m, err = inputs.ParseManifest(b.Inputs, mb); err == nil {
				refs[b.Inputs] = m.Refs(b.Inputs)
				return refs[b.Inputs]
			}
		}
		// Named but not readable: let Blob report it when the archive is
		// written, so no archive claims inputs it does not carry.
		failed = err
		refs[b.Inputs] = []string{b.Inputs}
		return refs[b.Inputs]
	}
	opts.Blob = func(ctx context.Context, ref string) ([]byte, error) {
		b, err := get(ref)
		if err != nil && failed != nil {
			err = fmt.Errorf("%w (%v)", err, failed)
		}
		return b, err
	}
}

// readTx reads beside the embedded store's writer (store.Store.WithReadTx).
func readTx(ctx context.Context, st store.Store, fn func(store.Tx) error) error {
	return st.WithReadTx(ctx, fn)
}

func fingerprintOf(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// inputCache loads the mappings a message was built with from the inputs
// its archive carries, once per set of inputs; messages logged before
// inputs were recorded are rebuilt with the --mappings directory.
type inputCache struct {
	dir  string
	reg  *mapping.Registry
	regs map[string]*mapping.Registry
}

func newInputCache(dir string, reg *mapping.Registry) *inputCache {
	return &inputCache{dir: dir, reg: reg, regs: map[string]*mapping.Registry{}}
}

func (c *inputCache) registry(ar *audit.ArchiveReader) func(audit.MessageBuilt) (*mapping.Registry, error) {
	return func(b audit.MessageBuilt) (*mapping.Registry, error) {
		if b.Inputs == "" {
			return c.reg, nil
		}
		if r, ok := c.regs[b.Inputs]; ok {
			return r, nil
		}
		dir := filepath.Join(c.dir, b.Inputs)
		if _, err := inputs.Materialize(dir, b.Inputs, func(ref string) ([]byte, bool) {
			data, ok := ar.Blobs[ref]
			return data, ok
		}); err != nil {
			return nil, fmt.Errorf("the archive's build inputs: %w", err)
		}
		r, err := mapping.Load(filepath.Join(dir, "mappings"))
		if err != nil {
			return nil, fmt.Errorf("the archive's build inputs %s: %w", b.Inputs, err)
		}
		c.regs[b.Inputs] = r
		return r, nil
	}
}

// peakRSS is this process's peak resident set in bytes (VmHWM, Linux; 0
// elsewhere), for summaries: an auditor's run of a province-year states
// what it needed. getrusage would count the memory of the process that
// started this one (Linux carries ru_maxrss across fork and exec).
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(v)
			if len(f) >= 1 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n * 1024
			}
		}
	}
	return 0
}

// lessGC trades memory for CPU in verify (and replay, which verifies
// first): its live heap is one entry per worker, so collecting at 4× it
// instead of 2× costs tens of MiB and saves about a sixth of verify's
// CPU. GOGC in the environment still decides when set.
func lessGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
}
