package agency

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// RetryOptions configures NewRetryingClient. Zero values get defaults.
type RetryOptions struct {
	// MaxRetries is the number of retries after the first attempt (default 3).
	// Negative means none.
	MaxRetries int
	WaitMin    time.Duration // first backoff step (default 500ms)
	WaitMax    time.Duration // cap on any wait, Retry-After included (default 30s)
	// Seed feeds the jitter; a fixed seed makes backoff sequences reproducible
	// in tests. Zero seeds from the wall clock.
	Seed int64
	// Base is the underlying client (timeouts, TLS); nil uses a pooled default.
	Base *http.Client
	// OnRetry, when set, is called before each retry of a request (retry
	// counts from 1); the hub feeds its metrics from it.
	OnRetry func(req *http.Request, retry int)
}

// NewRetryingClient returns an *http.Client whose round tripper is
// go-retryablehttp, for short in-call retries (durable retries across crashes
// are the outbox's). It retries transport errors, 5xx, 408 and 429 and never
// any other 4xx; it waits exponential backoff with full jitter, or the
// agency's Retry-After when given (capped by WaitMax); after the last attempt
// it hands back the final response unchanged so Classify sees the real status.
// Pass it to NewTransport.
func NewRetryingClient(opts RetryOptions) *http.Client {
	if opts.MaxRetries == 0 {
		opts.MaxRetries = 3
	}
	if opts.MaxRetries < 0 {
		opts.MaxRetries = 0
	}
	if opts.WaitMin <= 0 {
		opts.WaitMin = 500 * time.Millisecond
	}
	if opts.WaitMax <= 0 {
		opts.WaitMax = 30 * time.Second
	}
	seed := opts.Seed
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	j := &jitter{rnd: rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))}

	rc := retryablehttp.NewClient()
	if opts.Base != nil {
		rc.HTTPClient = opts.Base
	}
	rc.Logger = nil
	rc.RetryMax = opts.MaxRetries
	rc.RetryWaitMin = opts.WaitMin
	rc.RetryWaitMax = opts.WaitMax
	rc.ErrorHandler = retryablehttp.PassthroughErrorHandler
	rc.CheckRetry = RetryPolicy
	if onRetry := opts.OnRetry; onRetry != nil {
		rc.RequestLogHook = func(_ retryablehttp.Logger, req *http.Request, i int) {
			if i > 0 {
				onRetry(req, i)
			}
		}
	}
	rc.Backoff = j.backoff
	return rc.StandardClient()
}

// RetryPolicy is the retry decision used by NewRetryingClient: transient
// failures yes, refusals no, and never once the caller gave up.
func RetryPolicy(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return false, err
		}
		return true, nil
	}
	switch s := resp.StatusCode; {
	case s == http.StatusRequestTimeout, s == http.StatusTooEarly, s == http.StatusTooManyRequests:
		return true, nil
	case s >= 500, s == 0:
		return true, nil
	default:
		return false, nil
	}
}

type jitter struct {
	mu  sync.Mutex
	rnd *rand.Rand
}

// backoff waits Retry-After when the agency named one, else a full-jitter
// exponential step: uniform in [min, min·2^attempt], capped at max. Full
// jitter spreads the retries of many trucks queued behind one outage.
func (j *jitter) backoff(minWait, maxWait time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil {
		if d := ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); d > 0 {
			return min(d, maxWait)
		}
	}
	ceil := minWait
	for i := 0; i < attempt && ceil < maxWait; i++ {
		ceil *= 2
	}
	ceil = min(ceil, maxWait)
	j.mu.Lock()
	defer j.mu.Unlock()
	if ceil <= minWait {
		return minWait
	}
	return minWait + time.Duration(j.rnd.Int64N(int64(ceil-minWait)+1))
}
