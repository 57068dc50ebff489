package ratelimit

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

type stubLimiter struct {
	res Result
	err error
}

func (s stubLimiter) Allow(context.Context, string) (Result, error) { return s.res, s.err }

func TestMiddleware(t *testing.T) {
	tests := []struct {
		name           string
		limiter        Limiter
		wantStatus     int
		wantRetryAfter string
	}{
		{"allowed", stubLimiter{res: Result{Allowed: true, Remaining: 3}}, http.StatusOK, ""},
		{"limited rounds up", stubLimiter{res: Result{RetryAfter: 1500 * time.Millisecond}}, http.StatusTooManyRequests, "2"},
		{"limited whole second", stubLimiter{res: Result{RetryAfter: 3 * time.Second}}, http.StatusTooManyRequests, "3"},
		{"limited never says zero", stubLimiter{res: Result{RetryAfter: time.Millisecond}}, http.StatusTooManyRequests, "1"},
		{"limiter failure fails open", stubLimiter{err: errors.New("redis down")}, http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
			h := Middleware(tt.limiter, func(*http.Request) string { return "k" }, nil)(next)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/declarations", nil))
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d", rec.Code, tt.wantStatus)
			}
			if got := rec.Header().Get("Retry-After"); got != tt.wantRetryAfter {
				t.Fatalf("Retry-After %q, want %q", got, tt.wantRetryAfter)
			}
		})
	}
}

func TestMiddlewareWithMemoryAndCustomAnswer(t *testing.T) {
	clock := newFakeClock()
	lim := NewMemory(Limit{Rate: 0.25, Burst: 2}, clock.Now)
	var gotRetry time.Duration
	onLimited := func(w http.ResponseWriter, _ *http.Request, retryAfter time.Duration) {
		gotRetry = retryAfter
		w.WriteHeader(http.StatusTooManyRequests)
	}
	byTrader := func(r *http.Request) string { return r.Header.Get("X-Trader") }
	h := Middleware(lim, byTrader, onLimited)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))

	do := func(trader string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/v1/declarations", nil)
		req.Header.Set("X-Trader", trader)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for i, want := range []int{200, 200, 429} {
		if rec := do("0101234567"); rec.Code != want {
			t.Fatalf("request %d: status %d, want %d", i, rec.Code, want)
		}
	}
	if gotRetry != 4*time.Second {
		t.Fatalf("onLimited got %v, want 4s", gotRetry)
	}
	if rec := do("0109999999"); rec.Code != 200 {
		t.Fatalf("other trader refused: %d", rec.Code)
	}
	clock.Advance(4 * time.Second)
	if rec := do("0101234567"); rec.Code != 200 {
		t.Fatalf("after waiting Retry-After: status %d", rec.Code)
	}
}
