// Package ratelimit bounds how fast each participant (trader, agency,
// device) may call the hub, with a token bucket per key: Burst requests at
// once, refilled at Rate per second.
package ratelimit

import (
	"context"
	"fmt"
	"math"
	"time"
)

// Limiter decides whether one more request under key may proceed now.
type Limiter interface {
	Allow(ctx context.Context, key string) (Result, error)
}

// Result of one Allow.
type Result struct {
	Allowed bool
	// Remaining is how many more requests would be allowed right now.
	Remaining int
	// RetryAfter is how long until the next request could be allowed; zero
	// when Allowed.
	RetryAfter time.Duration
}

// Limit is a token bucket: Burst tokens at most, refilled at Rate per second.
type Limit struct {
	Rate  float64 // tokens per second
	Burst int
}

// Validate reports a limit that could never allow anything sensibly.
func (l Limit) Validate() error {
	if !(l.Rate > 0) || math.IsInf(l.Rate, 0) {
		return fmt.Errorf("ratelimit: rate %v must be positive and finite", l.Rate)
	}
	if l.Burst < 1 {
		return fmt.Errorf("ratelimit: burst %d must be at least 1", l.Burst)
	}
	return nil
}

// mustValid panics on an invalid limit: limits are configuration, and a
// limiter silently built from a bad one would either refuse everyone or
// nobody.
func mustValid(l Limit) {
	if err := l.Validate(); err != nil {
		panic(err)
	}
}

// fullAfter is how long an empty bucket takes to fill; a bucket idle that
// long is indistinguishable from a new one, which is what lets both
// implementations forget it.
func (l Limit) fullAfter() time.Duration {
	return time.Duration(float64(l.Burst) / l.Rate * float64(time.Second))
}

// take refills a bucket holding tokens as of last up to now and tries to
// take one token. Shared by Memory and mirrored by the Lua script in Redis.
func (l Limit) take(tokens float64, last, now time.Time) (left float64, res Result) {
	if elapsed := now.Sub(last); elapsed > 0 {
		tokens = math.Min(float64(l.Burst), tokens+elapsed.Seconds()*l.Rate)
	}
	if tokens >= 1 {
		tokens--
		return tokens, Result{Allowed: true, Remaining: int(tokens)}
	}
	wait := time.Duration(math.Ceil((1 - tokens) / l.Rate * float64(time.Second)))
	return tokens, Result{RetryAfter: wait}
}
