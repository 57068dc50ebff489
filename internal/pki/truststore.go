package pki

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Fingerprint is the lower-case hex SHA-256 of the certificate's DER; the
// project uses it as the key id in logs, audit entries and file names.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

type trusted struct {
	cert        *x509.Certificate
	from, until time.Time // inclusive window in which cert is accepted
}

// TrustStore maps participant ids to the certificates accepted for them.
// Reads are safe concurrently with each other and with Add.
type TrustStore struct {
	mu    sync.RWMutex
	certs map[string][]trusted
}

// NewTrustStore returns an empty trust store.
func NewTrustStore() *TrustStore {
	return &TrustStore{certs: make(map[string][]trusted)}
}

// Add trusts cert for participant between from and until (inclusive). A zero
// bound means the certificate's own bound; a bound outside the certificate's
// validity is clamped to it, so a window only ever narrows. Adding a
// certificate already held for participant replaces its window.
func (t *TrustStore) Add(participant string, cert *x509.Certificate, from, until time.Time) {
	if from.IsZero() || from.Before(cert.NotBefore) {
		from = cert.NotBefore
	}
	if until.IsZero() || until.After(cert.NotAfter) {
		until = cert.NotAfter
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	list := t.certs[participant]
	for i := range list {
		if list[i].cert.Equal(cert) {
			list[i].from, list[i].until = from, until
			return
		}
	}
	t.certs[participant] = append(list, trusted{cert: cert, from: from, until: until})
}

// Certificates returns the certificates accepted for participant at the
// given instant, in the order they were added.
func (t *TrustStore) Certificates(participant string, at time.Time) []*x509.Certificate {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var out []*x509.Certificate
	for _, e := range t.certs[participant] {
		if !at.Before(e.from) && !at.After(e.until) {
			out = append(out, e.cert)
		}
	}
	return out
}

// All returns every certificate held for participant, whatever its window.
func (t *TrustStore) All(participant string) []*x509.Certificate {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]*x509.Certificate, 0, len(t.certs[participant]))
	for _, e := range t.certs[participant] {
		out = append(out, e.cert)
	}
	return out
}

// Window returns the acceptance window of cert for participant.
func (t *TrustStore) Window(participant string, cert *x509.Certificate) (from, until time.Time, ok bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, e := range t.certs[participant] {
		if e.cert.Equal(cert) {
			return e.from, e.until, true
		}
	}
	return time.Time{}, time.Time{}, false
}

// Participants returns the participant ids that have at least one
// certificate, sorted.
func (t *TrustStore) Participants() []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]string, 0, len(t.certs))
	for p, list := range t.certs {
		if len(list) > 0 {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

const (
	certSuffix   = ".crt.pem"
	windowSuffix = ".window.json"
)

type windowFile struct {
	From  time.Time `json:"from"`
	Until time.Time `json:"until"`
}

// LoadTrustStore reads the directory layout described in the package
// comment. Unknown files are ignored; a malformed certificate, window file or
// participant directory name is an error, because a trust store that loads
// partially would silently refuse (or accept) the wrong messages.
func LoadTrustStore(dir string) (*TrustStore, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("load trust store: %w", err)
	}
	ts := NewTrustStore()
	for _, pe := range entries {
		participant := pe.Name()
		// Kubernetes Secret and ConfigMap volumes hold the real files in a
		// timestamped "..2026_…" directory behind a "..data" symlink, and
		// expose each entry as a symlink into it: skip the dot entries and
		// follow the symlinks.
		if strings.HasPrefix(participant, ".") {
			continue
		}
		isDir := pe.IsDir()
		if pe.Type()&os.ModeSymlink != 0 {
			fi, err := os.Stat(filepath.Join(dir, participant))
			if err != nil {
				return nil, fmt.Errorf("load trust store: %w", err)
			}
			isDir = fi.IsDir()
		}
		if !isDir {
			continue
		}
		if err := ValidParticipant(participant); err != nil {
			return nil, fmt.Errorf("load trust store %s: %w", dir, err)
		}
		pdir := filepath.Join(dir, participant)
		files, err := os.ReadDir(pdir)
		if err != nil {
			return nil, fmt.Errorf("load trust store: %w", err)
		}
		for _, f := range files {
			name := f.Name()
			if f.IsDir() || !strings.HasSuffix(name, certSuffix) {
				continue
			}
			data, err := os.ReadFile(filepath.Join(pdir, name))
			if err != nil {
				return nil, fmt.Errorf("load trust store: %w", err)
			}
			cert, err := ParseCertPEM(data)
			if err != nil {
				return nil, fmt.Errorf("load trust store %s: %w", filepath.Join(pdir, name), err)
			}
			var w windowFile
			wpath := filepath.Join(pdir, strings.TrimSuffix(name, certSuffix)+windowSuffix)
			switch wdata, err := os.ReadFile(wpath); {
			case err == nil:
				if err := json.Unmarshal(wdata, &w); err != nil {
					return nil, fmt.Errorf("load trust store %s: %w", wpath, err)
				}
				if !w.From.IsZero() && !w.Until.IsZero() && w.Until.Before(w.From) {
					return nil, fmt.Errorf("load trust store %s: until %s before from %s", wpath, w.Until, w.From)
				}
			case !os.IsNotExist(err):
				return nil, fmt.Errorf("load trust store: %w", err)
			}
			ts.Add(participant, cert, w.From, w.Until)
		}
	}
	return ts, nil
}

// Save writes the store in the layout LoadTrustStore reads, naming each
// certificate by its fingerprint. A window file is written only when the
// window is narrower than the certificate. Files already in dir are left in
// place, so Save adds to an existing store directory.
func (t *TrustStore) Save(dir string) error {
	t.mu.RLock()
	snapshot := make(map[string][]trusted, len(t.certs))
	for p, list := range t.certs {
		snapshot[p] = slices.Clone(list)
	}
	t.mu.RUnlock()

	for participant, list := range snapshot {
		if err := ValidParticipant(participant); err != nil {
			return fmt.Errorf("save trust store: %w", err)
		}
		pdir := filepath.Join(dir, participant)
		if err := os.MkdirAll(pdir, 0o755); err != nil {
			return fmt.Errorf("save trust store: %w", err)
		}
		for _, e := range list {
			base := filepath.Join(pdir, Fingerprint(e.cert))
			if err := writeFileAtomic(base+certSuffix, CertPEM(e.cert), 0o644); err != nil {
				return fmt.Errorf("save trust store %s: %w", participant, err)
			}
			if e.from.Equal(e.cert.NotBefore) && e.until.Equal(e.cert.NotAfter) {
				if err := os.Remove(base + windowSuffix); err != nil && !os.IsNotExist(err) {
					return fmt.Errorf("save trust store %s: %w", participant, err)
				}
				continue
			}
			data, err := json.MarshalIndent(windowFile{From: e.from.UTC(), Until: e.until.UTC()}, "", "  ")
			if err != nil {
				return fmt.Errorf("save trust store %s: %w", participant, err)
			}
			if err := writeFileAtomic(base+windowSuffix, append(data, '\n'), 0o644); err != nil {
				return fmt.Errorf("save trust store %s: %w", participant, err)
			}
		}
	}
	return nil
}
