package refusal

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/ratelimit"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestDigestAndSource(t *testing.T) {
	long := strings.Repeat("é", 1000) // 2 bytes a rune: the prefix must not cut one
	d := OfString(long)
	if d.Size != 2000 || !d.Truncated || len(d.Prefix) > PrefixBytes || !strings.HasPrefix(long, d.Prefix) || len(d.SHA256) != 64 {
		t.Fatalf("digest %+v", d)
	}
	if d := Of([]byte("\xff\xfeabc")); d.Truncated || !strings.HasSuffix(d.Prefix, "abc") {
		t.Fatalf("invalid UTF-8: %+v", d)
	}
	for in, want := range map[string]string{
		"127.0.0.1:5555":           "127.0.0.1",
		"[2001:db8:1:2:3::4]:443":  "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::]:80": "2001:db8:1:2::/64",
		"not an address":           "not an address",
	} {
		if got := Source(in); got != want {
			t.Errorf("Source(%q) = %q, want %q", in, got, want)
		}
	}
	if s := Short(strings.Repeat("ư", 100), 11); len(s) > 11+len("…") || !strings.HasSuffix(s, "…") {
		t.Fatalf("Short: %q", s)
	}
}

func TestGuardOneSource(t *testing.T) {
	c := &clock{t: time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)}
	g := New(Config{Window: time.Minute, Detailed: 3, PerSource: ratelimit.Limit{Rate: 0.1, Burst: 10},
		Global: ratelimit.Limit{Rate: 100, Burst: 100}}, c.now)
	logged, limited := 0, 0
	for range 50 {
		if ok, wait := g.Admit("auth.refused", "10.0.0.1"); !ok {
			if wait <= 0 {
				t.Fatal("429 without Retry-After")
			}
			limited++
			continue
		}
		if g.Refused("auth.refused", "10.0.0.1", "unauthenticated") {
			logged++
		}
	}
	// 10 refusals spend the budget: 3 logged, 7 counted; 40 answered 429.
	if logged != 3 || limited != 40 {
		t.Fatalf("logged %d, limited %d; want 3 and 40", logged, limited)
	}
	if due := g.Due(false); len(due) != 0 {
		t.Fatalf("summaries before the window ended: %+v", due)
	}
	// Another source is not affected.
	if ok, _ := g.Admit("auth.refused", "10.0.0.2"); !ok || !g.Refused("auth.refused", "10.0.0.2", "x") {
		t.Fatal("a second source was throttled by the first")
	}
	c.add(61 * time.Second)
	due := g.Due(false)
	if len(due) != 1 {
		t.Fatalf("summaries %+v, want one for 10.0.0.1 (10.0.0.2 had every refusal logged)", due)
	}
	s := due[0]
	if s.Source != "10.0.0.1" || s.Count != 47 || s.Limited != 40 || s.Reasons["unauthenticated"] != 7 || !s.To.After(s.From) {
		t.Fatalf("summary %+v", s)
	}
	if again := g.Due(true); len(again) != 0 {
		t.Fatalf("summaries reported twice: %+v", again)
	}
}

// TestGuardManySources: a crowd of addresses gets no more entries than
// the global budget, the rest is one overflow summary, and memory stays
// within MaxSources windows.
func TestGuardManySources(t *testing.T) {
	c := &clock{t: time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)}
	g := New(Config{Window: time.Minute, Detailed: 5, PerSource: ratelimit.Limit{Rate: 1, Burst: 100},
		Global: ratelimit.Limit{Rate: 0.001, Burst: 50}, MaxSources: 100}, c.now)
	logged := 0
	const sources, each = 1000, 8
	for i := range sources {
		src := fmt.Sprintf("10.%d.%d.1", i/256, i%256)
		for range each {
			if ok, _ := g.Admit("ack.refused", src); ok && g.Refused("ack.refused", src, "signature") {
				logged++
			}
		}
	}
	if logged != 50 {
		t.Fatalf("%d entries of their own, want the global burst 50", logged)
	}
	g.mu.Lock()
	open, ended := g.lru.Len(), len(g.ended)
	g.mu.Unlock()
	if open > 100 || ended > 100 {
		t.Fatalf("%d open windows and %d ended summaries kept, bound 100 each", open, ended)
	}
	c.add(2 * time.Minute)
	due := g.Due(true)
	total := logged
	for _, s := range due {
		total += s.Count
	}
	if total != sources*each {
		t.Fatalf("%d refusals accounted for, want %d", total, sources*each)
	}
	// Summaries are entries too and take from the same budget: all but the
	// overflow summary were folded in, as the budget is spent.
	if len(due) != 1 || due[0].Source != OverflowSource {
		t.Fatalf("%d summaries, want only the overflow: %+v", len(due), due[:min(3, len(due))])
	}
}
