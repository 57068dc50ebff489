package ratelimit

import (
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"
)

// Middleware refuses requests over the limit of keyFunc(r). Refused requests
// get a Retry-After header (whole seconds, rounded up, at least 1) and are
// answered by onLimited, or with a plain 429 if onLimited is nil.
//
// If the limiter itself fails (Redis unreachable) the request is let through
// and the error logged: the limiter guards capacity, it is not an access
// control, and refusing every truck at the gate because the rate-limit store
// is down would turn a degraded dependency into a closed border. The
// declaration path has its own back-pressure (store, outbox) behind it.
func Middleware(l Limiter, keyFunc func(*http.Request) string, onLimited func(w http.ResponseWriter, r *http.Request, retryAfter time.Duration)) func(http.Handler) http.Handler {
	if onLimited == nil {
		onLimited = func(w http.ResponseWriter, _ *http.Request, _ time.Duration) {
			http.Error(w, "rate limit exceeded", http.StatusTooManyRequests)
		}
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			key := keyFunc(r)
			res, err := l.Allow(r.Context(), key)
			if err != nil {
				slog.ErrorContext(r.Context(), "rate limiter failed; allowing request", "key", key, "error", err)
				next.ServeHTTP(w, r)
				return
			}
			if !res.Allowed {
				w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(res.RetryAfter)))
				onLimited(w, r, res.RetryAfter)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// retryAfterSeconds rounds up so a client that waits exactly as told is not
// refused again, and never says 0, which some clients read as "now".
func retryAfterSeconds(d time.Duration) int {
	s := int(math.Ceil(d.Seconds()))
	if s < 1 {
		return 1
	}
	return s
}
