package outbox

import (
	"sync"
	"time"
)

// BreakerPolicy tunes the circuit breaker of each agency's delivery lane.
// A lane whose agency failed Failures attempts in a row (connection
// refused, timeout, 5xx: Temporary outcomes) stops claiming its messages
// for Cooldown; then one message goes as a probe (half-open): if the agency
// answers, the lane closes and delivers at full concurrency again,
// otherwise it opens for twice as long, up to MaxCooldown. While open,
// the agency's messages stay pending, their attempts uncounted: a down
// agency does not burn through its messages' retry budget.
type BreakerPolicy struct {
	Failures    int
	Cooldown    time.Duration
	MaxCooldown time.Duration
}

// DefaultBreakerPolicy opens after 5 failures in a row for 2 s, growing to
// at most the policy's longest retry spacing of interest (32 s).
func DefaultBreakerPolicy() BreakerPolicy {
	return BreakerPolicy{Failures: 5, Cooldown: 2 * time.Second, MaxCooldown: 32 * time.Second}
}

func (p BreakerPolicy) withDefaults() BreakerPolicy {
	d := DefaultBreakerPolicy()
	if p.Failures <= 0 {
		p.Failures = d.Failures
	}
	if p.Cooldown <= 0 {
		p.Cooldown = d.Cooldown
	}
	if p.MaxCooldown < p.Cooldown {
		p.MaxCooldown = max(d.MaxCooldown, p.Cooldown)
	}
	return p
}

// BreakerState is a lane's circuit state.
type BreakerState int

// Circuit states.
const (
	BreakerClosed   BreakerState = iota // delivering normally
	BreakerOpen                         // agency failing: nothing is claimed until the cooldown ends
	BreakerHalfOpen                     // one probe in flight decides
)

func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerOpen:
		return "open"
	case BreakerHalfOpen:
		return "half-open"
	}
	return "unknown"
}

type breaker struct {
	p BreakerPolicy

	mu       sync.Mutex
	state    BreakerState
	fails    int
	until    time.Time // open: when the next probe may go
	cooldown time.Duration
	probing  bool // half-open: the probe is in flight
}

func newBreaker(p BreakerPolicy) *breaker {
	p = p.withDefaults()
	return &breaker{p: p, cooldown: p.Cooldown}
}

// allow returns how many of free slots may be used now; when none, wake
// is when to ask again (zero: when an attempt in flight ends).
func (b *breaker) allow(now time.Time, free int) (n int, wake time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case BreakerOpen:
		if now.Before(b.until) {
			return 0, b.until
		}
		b.state, b.probing = BreakerHalfOpen, false
		fallthrough
	case BreakerHalfOpen:
		if b.probing || free == 0 {
			return 0, time.Time{}
		}
		b.probing = true
		return 1, time.Time{}
	}
	return free, time.Time{}
}

// unused returns a probe slot allow granted but the lane found nothing to
// send with.
func (b *breaker) unused() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == BreakerHalfOpen {
		b.probing = false
	}
}

// record takes one attempt's outcome; it reports the state change, if any.
func (b *breaker) record(now time.Time, o Outcome) (from, to BreakerState, changed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	from = b.state
	switch o {
	case Temporary:
		switch b.state {
		case BreakerHalfOpen:
			b.cooldown = min(2*b.cooldown, b.p.MaxCooldown)
			b.state, b.until, b.probing = BreakerOpen, now.Add(b.cooldown), false
		case BreakerClosed:
			b.fails++
			if b.fails >= b.p.Failures {
				b.state, b.until = BreakerOpen, now.Add(b.cooldown)
			}
		}
	default:
		// The agency answered (accepted, or refused the message itself):
		// it is up.
		b.state, b.fails, b.cooldown, b.probing = BreakerClosed, 0, b.p.Cooldown, false
	}
	return from, b.state, from != b.state
}

// reset closes the circuit (an operator redrove the agency after its outage).
func (b *breaker) reset() (from BreakerState) {
	b.mu.Lock()
	defer b.mu.Unlock()
	from = b.state
	b.state, b.fails, b.cooldown, b.probing = BreakerClosed, 0, b.p.Cooldown, false
	return from
}

func (b *breaker) current() BreakerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}
