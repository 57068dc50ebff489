package main

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/hub"
	"github.com/gatehub/gatehub/internal/mapping"
	"github.com/gatehub/gatehub/internal/pki"
	"github.com/gatehub/gatehub/internal/sign"
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
	v := sign.NewVerifier(certsTrust(certs))
	return func(participant string, xml []byte, at time.Time) error {
		_, err := v.Verify(participant, xml, at)
		return err
	}
}

// certsTrust trusts an archive's certificates within their own validity.
func certsTrust(certs map[string][]*x509.Certificate) *pki.TrustStore {
	ts := pki.NewTrustStore()
	for p, list := range certs {
		for _, c := range list {
			ts.Add(p, c, time.Time{}, time.Time{})
		}
	}
	return ts
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

// addInputs lets the export carry the mapping inputs messages were built
// with.
func addInputs(opts *audit.ExportOptions, st store.Store) error { return nil }

func fingerprintOf(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// inputCache loads the mappings an archive carries for a message, once per
// set of inputs.
type inputCache struct {
	dir string
	reg *mapping.Registry
}

func newInputCache(dir string, reg *mapping.Registry) *inputCache {
	return &inputCache{dir: dir, reg: reg}
}

func (c *inputCache) registry(ar *audit.ArchiveReader) func(hub.BuildRecord) (*mapping.Registry, error) {
	return func(hub.BuildRecord) (*mapping.Registry, error) { return c.reg, nil }
}
