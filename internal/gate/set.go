package gate

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gatehub/gatehub/internal/agencies"
)

// Set is an immutable collection of validated gates, indexed for the
// lookups the hub does on every device request.
type Set struct {
	gates map[string]*Gate
	codes []string
	creds []credential
}

// credential is one device's digests in binary form, so lookups compare
// fixed-size arrays in constant time.
type credential struct {
	token, cert [32]byte
	hasCert     bool
	dev         *Device
	lane        *Lane
	gate        *Gate
}

// NewSet validates each gate and builds a set. Gate codes, device token
// hashes and certificate fingerprints must be unique across the set: a
// shared credential would let one gate's device act on another gate.
func NewSet(gates ...*Gate) (*Set, error) {
	s := &Set{gates: map[string]*Gate{}}
	var errs []error
	// Conflicts between gates are located in the file of the gate that
	// comes second, like a duplicate inside one file, so a refused apply
	// points the province at the line to change.
	var conflicts []Issue
	conflict := func(g *Gate, path, format string, args ...any) {
		p := g.at(path)
		conflicts = append(conflicts, Issue{File: g.Source, Line: p.Line, Col: p.Col, Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	tokenOwner := map[[32]byte]string{}
	certOwner := map[[32]byte]string{}
	for _, g := range gates {
		if g == nil {
			errs = append(errs, errors.New("nil gate"))
			continue
		}
		if err := g.Validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		if prev, dup := s.gates[g.Code]; dup {
			conflict(g, "code", "gate code %q already defined in %s", g.Code, where(prev))
			continue
		}
		s.gates[g.Code] = g
		s.codes = append(s.codes, g.Code)
		for i := range g.Lanes {
			l := &g.Lanes[i]
			for j := range l.Devices {
				d := &l.Devices[j]
				c := credential{dev: d, lane: l, gate: g}
				id := g.Code + "/" + l.ID + "/" + d.ID
				dp := fmt.Sprintf("lanes[%d].devices[%d]", i, j)
				c.token = mustDigest(d.TokenSHA256)
				if prev, dup := tokenOwner[c.token]; dup {
					conflict(g, dp+".tokenSHA256", "device %s shares its token with %s", id, prev)
				}
				tokenOwner[c.token] = id
				if d.CertFingerprint != "" {
					c.cert, c.hasCert = mustDigest(d.CertFingerprint), true
					if prev, dup := certOwner[c.cert]; dup {
						conflict(g, dp+".certFingerprint", "device %s shares its certificate with %s", id, prev)
					}
					certOwner[c.cert] = id
				}
				s.creds = append(s.creds, c)
			}
		}
	}
	if len(conflicts) > 0 {
		errs = append(errs, &ConfigError{Issues: conflicts})
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("gate set: %w", errors.Join(errs...))
	}
	sort.Strings(s.codes)
	return s, nil
}

func where(g *Gate) string {
	if g.Source != "" {
		return g.Source
	}
	return "gate " + g.Code
}

// mustDigest decodes a digest that Validate already checked.
func mustDigest(h string) [32]byte {
	var out [32]byte
	if _, err := hex.Decode(out[:], []byte(h)); err != nil {
		panic("gate: unvalidated digest " + h)
	}
	return out
}

// LoadDir loads every *.yaml file in dir into a set. All files are parsed
// even when one fails, so the error lists the problems of every file.
func LoadDir(dir string, known *agencies.Set) (*Set, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, fmt.Errorf("load gates from %s: %w", dir, err)
	}
	if len(paths) == 0 {
		// Most likely a wrong path; a hub with no gates clears nothing.
		return nil, fmt.Errorf("load gates from %s: no *.yaml gate files", dir)
	}
	var gates []*Gate
	var errs []error
	for _, p := range paths {
		g, err := LoadFile(p, known)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		gates = append(gates, g)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("load gates from %s: %w", dir, errors.Join(errs...))
	}
	s, err := NewSet(gates...)
	if err != nil {
		return nil, fmt.Errorf("load gates from %s: %w", dir, err)
	}
	return s, nil
}

// Gate returns the gate with the given code.
func (s *Set) Gate(code string) (*Gate, bool) {
	g, ok := s.gates[code]
	return g, ok
}

// Codes returns the gate codes in sorted order.
func (s *Set) Codes() []string {
	return append([]string(nil), s.codes...)
}

// KnownGate reports whether code is a configured gate.
func (s *Set) KnownGate(code string) bool {
	_, ok := s.gates[code]
	return ok
}

// KnownLane reports whether lane is configured at gate.
func (s *Set) KnownLane(gate, lane string) bool {
	g, ok := s.gates[gate]
	if !ok {
		return false
	}
	_, ok = g.Lane(lane)
	return ok
}

// DeviceByToken finds the device whose configured token hash matches the
// SHA-256 of token. Every credential is compared in constant time and the
// scan never stops early, so timing reveals neither the token nor where its
// device sits in the configuration.
func (s *Set) DeviceByToken(token string) (*Device, *Lane, *Gate, bool) {
	if token == "" {
		return nil, nil, nil, false
	}
	sum := sha256.Sum256([]byte(token))
	var found *credential
	for i := range s.creds {
		if subtle.ConstantTimeCompare(sum[:], s.creds[i].token[:]) == 1 {
			found = &s.creds[i]
		}
	}
	if found == nil {
		return nil, nil, nil, false
	}
	return found.dev, found.lane, found.gate, true
}

// DeviceByCertFingerprint finds the device whose mTLS certificate has the
// given SHA-256 fingerprint (hex, any case, colons allowed).
func (s *Set) DeviceByCertFingerprint(fp string) (*Device, *Lane, *Gate, bool) {
	fp = strings.ToLower(strings.ReplaceAll(fp, ":", ""))
	if !reSHA256.MatchString(fp) {
		return nil, nil, nil, false
	}
	want := mustDigest(fp)
	var found *credential
	for i := range s.creds {
		c := &s.creds[i]
		if c.hasCert && subtle.ConstantTimeCompare(want[:], c.cert[:]) == 1 {
			found = c
		}
	}
	if found == nil {
		return nil, nil, nil, false
	}
	return found.dev, found.lane, found.gate, true
}

func (s *Set) all() []*Gate {
	out := make([]*Gate, 0, len(s.codes))
	for _, c := range s.codes {
		out = append(out, s.gates[c])
	}
	return out
}

// Registry holds the current gate set and swaps it atomically, so a gate
// can be onboarded or changed while requests are being served: readers see
// either the old set or the new one, never a mix.
type Registry struct {
	cur atomic.Pointer[Set]
	mu  sync.Mutex // serializes writers so concurrent Applies don't lose updates
}

// NewRegistry starts a registry with s (an empty set when s is nil).
func NewRegistry(s *Set) *Registry {
	if s == nil {
		s = &Set{gates: map[string]*Gate{}}
	}
	r := &Registry{}
	r.cur.Store(s)
	return r
}

// Current returns the set in force now. Callers should fetch it once per
// request and use that snapshot throughout.
func (r *Registry) Current() *Set {
	return r.cur.Load()
}

// Apply adds g, or replaces the gate with the same code, and returns the
// new set. When g is invalid or conflicts with other gates the current set
// stays in force and the error says why.
func (r *Registry) Apply(g *Gate) (*Set, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if g == nil {
		return nil, errors.New("apply gate: nil gate")
	}
	var gates []*Gate
	for _, old := range r.cur.Load().all() {
		if old.Code != g.Code {
			gates = append(gates, old)
		}
	}
	next, err := NewSet(append(gates, g)...)
	if err != nil {
		return nil, fmt.Errorf("apply gate %s: %w", g.Code, err)
	}
	r.cur.Store(next)
	return next, nil
}

// Replace installs a whole new set, e.g. after reloading deploy/gates.
func (r *Registry) Replace(s *Set) {
	if s == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cur.Store(s)
}
