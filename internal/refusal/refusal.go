// Package refusal keeps refused requests from growing the audit log
// without bound. The audit log is hash-chained and cannot be pruned, so
// whatever an anonymous client can make the hub write there must be
// bounded in size per entry and in entries per unit of time:
//
//   - untrusted bytes (a request path, a refused ACK body) are kept as a
//     Digest: SHA-256, size and a short prefix, never whole;
//   - a source (client address; IPv6 by /64) whose requests keep being
//     refused spends a refusal budget and is then answered 429 before its
//     requests are read, checked or logged;
//   - within a window, the first few refusals of a source get their own
//     entry and the rest are counted into one summary entry per source;
//   - a global budget bounds the entries of all sources together, so a
//     crowd of addresses cannot do what one address may not. What exceeds
//     it is counted into one overflow summary per window.
//
// The bound, per hub instance and window W: at most Global.Burst +
// Global.Rate*W refusal entries plus one overflow summary, each at most
// MaxEntryBytes. Counters are in process memory, bounded by MaxSources.
package refusal

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gatehub/gatehub/internal/ratelimit"
)

// Digest is the bounded form of untrusted bytes in an audit entry.
type Digest struct {
	SHA256 string `json:"sha256"`
	Size   int    `json:"size"`
	// Prefix is the first bytes, as text (invalid UTF-8 replaced), enough
	// to recognise what was sent.
	Prefix    string `json:"prefix"`
	Truncated bool   `json:"truncated,omitempty"`
}

// PrefixBytes is how much of untrusted bytes a Digest keeps.
const PrefixBytes = 128

// MaxEntryBytes bounds the payload of one refusal entry written through
// this package's forms (a Digest or two, a reason, counters).
const MaxEntryBytes = 4 << 10

// Of returns the Digest of b.
func Of(b []byte) Digest {
	sum := sha256.Sum256(b)
	d := Digest{SHA256: hex.EncodeToString(sum[:]), Size: len(b)}
	p := b
	if len(p) > PrefixBytes {
		p, d.Truncated = p[:PrefixBytes], true
	}
	d.Prefix = strings.ToValidUTF8(string(p), "\uFFFD")
	return d
}

// OfString is Of for a string.
func OfString(s string) Digest { return Of([]byte(s)) }

// Short cuts s to at most n bytes on a rune boundary, marking the cut: for
// texts of our own that may quote input (reasons, problem details).
func Short(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// Source is the key refusals are counted under: the client address without
// its port; an IPv6 address by its /64, which one subscriber usually holds
// whole.
func Source(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return Short(host, 64)
	}
	if ip.To4() == nil {
		return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
	return ip.String()
}

// Config bounds what refusals may cost.
type Config struct {
	// Window is the aggregation period (default one minute).
	Window time.Duration
	// Detailed is how many refusals of one source per window get their own
	// entry (default 5); the rest are counted.
	Detailed int
	// PerSource is the refusal budget of one source: when spent, the
	// source is answered 429 unprocessed until it refills (default burst
	// 30, refilled at one per 5 s).
	PerSource ratelimit.Limit
	// Global bounds the refusal entries of all sources together (default
	// burst 200, 5 per second).
	Global ratelimit.Limit
	// MaxSources bounds the sources tracked at once (default 10,000).
	MaxSources int
}

func (c *Config) setDefaults() {
	if c.Window <= 0 {
		c.Window = time.Minute
	}
	if c.Detailed <= 0 {
		c.Detailed = 5
	}
	if c.PerSource.Rate <= 0 || c.PerSource.Burst < 1 {
		c.PerSource = ratelimit.Limit{Rate: 0.2, Burst: 30}
	}
	if c.Global.Rate <= 0 || c.Global.Burst < 1 {
		c.Global = ratelimit.Limit{Rate: 5, Burst: 200}
	}
	if c.MaxSources <= 0 {
		c.MaxSources = 10_000
	}
}

// Summary is one aggregate entry: refusals of Kind from Source that got no
// entry of their own between From and To. Source "*" is the overflow of
// the global budget.
type Summary struct {
	Kind    string    `json:"kind"`
	Source  string    `json:"source"`
	Count   int       `json:"count"`
	Limited int       `json:"limited,omitempty"` // of which answered 429 unprocessed
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
	// Reasons counts the refusal codes or reasons seen (at most 8 kept).
	Reasons map[string]int `json:"reasons,omitempty"`
}

// OverflowSource names the summary of refusals beyond the global budget.
const OverflowSource = "*"

const maxReasons = 8

// Guard counts refusals and decides which get their own audit entry.
// Safe for concurrent use.
type Guard struct {
	cfg     Config
	now     func() time.Time
	budgets *ratelimit.Memory // per-source refusal budget
	global  *ratelimit.Memory // one key: the entries of everyone

	mu       sync.Mutex
	windows  map[windowKey]*list.Element // of *window
	lru      *list.List                  // front = most recent
	overflow map[string]*window          // by kind
	ended    []Summary                   // evicted or closed, waiting for Due
}

type windowKey struct{ kind, source string }

type window struct {
	key      windowKey
	from, to time.Time
	logged   int
	sum      Summary
}

// New returns a Guard; now is the clock (time.Now when nil).
func New(cfg Config, now func() time.Time) *Guard {
	cfg.setDefaults()
	if now == nil {
		now = time.Now
	}
	return &Guard{
		cfg: cfg, now: now,
		budgets:  ratelimit.NewMemoryMaxKeys(cfg.PerSource, now, cfg.MaxSources),
		global:   ratelimit.NewMemoryMaxKeys(cfg.Global, now, 1),
		windows:  map[windowKey]*list.Element{},
		lru:      list.New(),
		overflow: map[string]*window{},
	}
}

// Window is the aggregation period: how often Due should be called.
func (g *Guard) Window() time.Duration { return g.cfg.Window }

// Admit reports whether a request from source may be processed at all. It
// is false, with how long to wait, once the source spent its refusal
// budget; the caller answers 429 without reading, checking or logging the
// request, and the refusal is only counted (as kind).
func (g *Guard) Admit(kind, source string) (bool, time.Duration) {
	empty, wait := g.budgets.Empty(source)
	if !empty {
		return true, 0
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	w := g.windowLocked(windowKey{kind, source}, g.now())
	w.sum.Count++
	w.sum.Limited++
	return false, wait
}

// Refused counts one refusal of kind from source and reports whether it
// gets its own audit entry (true) or is only counted into a summary.
func (g *Guard) Refused(kind, source, reason string) bool {
	_, _ = g.budgets.Allow(context.Background(), source)
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	w := g.windowLocked(windowKey{kind, source}, now)
	if w.logged < g.cfg.Detailed {
		if res, _ := g.global.Allow(context.Background(), ""); res.Allowed {
			w.logged++
			return true
		}
		g.countOverflowLocked(kind, reason, now)
		return false
	}
	w.sum.Count++
	countReason(&w.sum, reason)
	return false
}

func (g *Guard) countOverflowLocked(kind, reason string, now time.Time) {
	g.foldLocked(Summary{Kind: kind, From: now, Count: 1, Reasons: map[string]int{reason: 1}}, now)
}

func countReason(s *Summary, reason string) {
	if reason == "" {
		return
	}
	reason = Short(reason, 80)
	if s.Reasons == nil {
		s.Reasons = map[string]int{}
	}
	if _, ok := s.Reasons[reason]; ok || len(s.Reasons) < maxReasons {
		s.Reasons[reason]++
	} else {
		s.Reasons["(other)"]++
	}
}

// windowLocked returns the open window of k, closing an expired one and
// evicting the least recent beyond MaxSources (its count is not lost: it
// waits for Due).
func (g *Guard) windowLocked(k windowKey, now time.Time) *window {
	if el, ok := g.windows[k]; ok {
		w := el.Value.(*window)
		if now.Before(w.to) {
			g.lru.MoveToFront(el)
			return w
		}
		g.closeLocked(el, now)
	}
	w := &window{key: k, from: now, to: now.Add(g.cfg.Window), sum: Summary{Kind: k.kind, Source: k.source, From: now}}
	g.windows[k] = g.lru.PushFront(w)
	for g.lru.Len() > g.cfg.MaxSources {
		g.closeLocked(g.lru.Back(), now)
	}
	return w
}

func (g *Guard) closeLocked(el *list.Element, now time.Time) {
	w := el.Value.(*window)
	g.lru.Remove(el)
	delete(g.windows, w.key)
	g.endLocked(w, now)
}

func (g *Guard) endLocked(w *window, now time.Time) {
	if w.sum.Count == 0 {
		return
	}
	w.sum.To = now
	if w.to.Before(now) {
		w.sum.To = w.to
	}
	if len(g.ended) >= g.cfg.MaxSources {
		// Due is not keeping up: fold into the overflow rather than grow.
		g.foldLocked(w.sum, now)
		return
	}
	g.ended = append(g.ended, w.sum)
}

// foldLocked adds a source's summary to its kind's overflow summary.
func (g *Guard) foldLocked(sum Summary, now time.Time) {
	o := g.overflow[sum.Kind]
	if o == nil {
		o = &window{from: sum.From, to: now.Add(g.cfg.Window), sum: Summary{Kind: sum.Kind, Source: OverflowSource, From: sum.From}}
		g.overflow[sum.Kind] = o
	}
	if sum.From.Before(o.sum.From) {
		o.sum.From = sum.From
	}
	o.sum.Count += sum.Count
	o.sum.Limited += sum.Limited
	for r, n := range sum.Reasons {
		for range n {
			countReason(&o.sum, r)
		}
	}
}

// Due returns the summaries of windows that have ended (all of them when
// final, at shutdown), for the caller to write to the audit log. Windows
// whose every refusal got its own entry yield nothing. Per-source
// summaries are entries too: they take from the global budget, and what
// does not fit is folded into its kind's overflow summary.
func (g *Guard) Due(final bool) []Summary {
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	for el := g.lru.Back(); el != nil; {
		prev := el.Prev()
		if w := el.Value.(*window); final || !now.Before(w.to) {
			g.closeLocked(el, now)
		}
		el = prev
	}
	var out []Summary
	for _, sum := range g.ended {
		if res, _ := g.global.Allow(context.Background(), ""); res.Allowed {
			out = append(out, sum)
		} else {
			g.foldLocked(sum, now)
		}
	}
	g.ended = nil
	for kind, o := range g.overflow {
		if final || !now.Before(o.to) {
			delete(g.overflow, kind)
			if o.sum.Count > 0 {
				o.sum.To = now
				out = append(out, o.sum)
			}
		}
	}
	return out
}
