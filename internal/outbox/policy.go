// Package outbox delivers stored, signed agency messages: it claims due rows
// from the store under a lease, hands each to a Sender, and records the
// outcome (sent, retry later with backoff, or dead-letter) in one store
// transaction per message. The message row is the outbox row, so the state an
// operator sees and the state the dispatcher acts on can never disagree.
package outbox

import (
	"math"
	"time"

	"github.com/gatehub/gatehub/internal/store"
)

// Policy decides when a failed delivery is tried again and when the hub
// gives up on it.
type Policy struct {
	MaxAttempts int           // dead-letter once this many attempts failed
	MaxAge      time.Duration // dead-letter once the message is this old and still failing
	BaseBackoff time.Duration // delay after the first failure
	MaxBackoff  time.Duration // ceiling of the exponential delay
	// Jitter returns a value in [0, 1); it spreads retries of many messages to
	// one recovering agency so they do not arrive as one burst.
	Jitter func() float64
}

// DefaultPolicy is tuned for agencies that are down for minutes, not days: a
// truck waiting at the gate needs a human (dead-letter, HOLD) within the hour.
func DefaultPolicy() Policy {
	return Policy{MaxAttempts: 12, MaxAge: time.Hour, BaseBackoff: 2 * time.Second, MaxBackoff: 5 * time.Minute}
}

// Backoff returns the delay before attempt number attempts+1, given that
// `attempts` attempts have failed. An agency's Retry-After wins when longer.
func (p Policy) Backoff(attempts int, retryAfter time.Duration) time.Duration {
	if attempts < 1 {
		attempts = 1
	}
	d := float64(p.BaseBackoff) * math.Pow(2, float64(attempts-1))
	if p.MaxBackoff > 0 && d > float64(p.MaxBackoff) {
		d = float64(p.MaxBackoff)
	}
	if p.Jitter != nil {
		// "Equal jitter": keep at least half the delay so backoff still grows.
		d = d/2 + d/2*p.Jitter()
	}
	delay := time.Duration(d)
	if retryAfter > delay {
		delay = retryAfter
	}
	return delay
}

// Exhausted reports whether a message that has just failed for the
// m.Attempts-th time must be dead-lettered.
func (p Policy) Exhausted(m *store.Message, now time.Time) bool {
	if p.MaxAttempts > 0 && m.Attempts >= p.MaxAttempts {
		return true
	}
	return p.MaxAge > 0 && now.Sub(m.CreatedAt) >= p.MaxAge
}
