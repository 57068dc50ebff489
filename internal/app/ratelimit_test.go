package app_test

import (
	"encoding/json"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/app"
	"github.com/gatehub/gatehub/internal/config"
	"github.com/gatehub/gatehub/internal/redistest"
)

// frozen is a clock that does not move: the limiter refills nothing between
// requests, so "quick" needs no timing assumption.
func frozen() func() time.Time {
	at := time.Date(2026, 11, 25, 1, 0, 0, 0, time.UTC)
	return func() time.Time { return at }
}

func limited(t *testing.T, edit func(*config.Config)) config.Config {
	cfg := baseConfig(t)
	cfg.RateLimit = config.RateLimit{Rate: 1, Burst: 3}
	if edit != nil {
		edit(&cfg)
	}
	return cfg
}

// budgetCall makes one cheap authenticated request and returns its status.
func budgetCall(t *testing.T, in *instance, token string) *http.Response {
	t.Helper()
	resp, data := in.call(t, "GET", "/v1/gates", token, nil, nil)
	if resp.StatusCode == http.StatusTooManyRequests {
		var p struct {
			Status int    `json:"status"`
			Title  string `json:"title"`
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("429 with content type %q", ct)
		}
		if err := json.Unmarshal(data, &p); err != nil || p.Status != 429 || p.Title == "" {
			t.Errorf("429 body is not a problem document: %s", data)
		}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 1 {
			t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
		}
	}
	return resp
}

func TestRateLimitPerPrincipal(t *testing.T) {
	h := launch(t, limited(t, nil), app.Options{Now: frozen()})
	statuses := func(token string, n int) []int {
		var out []int
		for range n {
			out = append(out, budgetCall(t, h, token).StatusCode)
		}
		return out
	}
	if got := statuses(operatorToken, 4); got[0] != 200 || got[2] != 200 || got[3] != 429 {
		t.Fatalf("operator: %v, want 3 × 200 then 429", got)
	}
	// Another principal has its own budget.
	if got := statuses(adminDevToken, 3); got[2] != 200 {
		t.Fatalf("admin after the operator ran out: %v", got)
	}
	// Unauthenticated probes are refused before the budget is consulted and
	// cannot exhaust anyone's.
	for range 5 {
		if resp, _ := h.call(t, "GET", "/v1/gates", "not-a-token", nil, nil); resp.StatusCode != 401 {
			t.Fatalf("unknown token: HTTP %d", resp.StatusCode)
		}
	}
	if got := statuses(auditorDevToken, 1); got[0] != 200 {
		t.Fatalf("auditor: %v", got)
	}
}

const auditorDevToken = "dev-auditor"

func TestRateLimitSharedThroughRedis(t *testing.T) {
	_, prefix := redistest.Client(t)
	url := os.Getenv(redistest.EnvURL)
	shared := func(c *config.Config) { c.RedisURL, c.RedisPrefix = url, prefix }
	a := launch(t, limited(t, shared), app.Options{Now: frozen()})
	b := launch(t, limited(t, shared), app.Options{Now: frozen()})

	steps := []struct {
		on   *instance
		want int
	}{{a, 200}, {b, 200}, {a, 200}, {b, 429}, {a, 429}}
	for i, s := range steps {
		if got := budgetCall(t, s.on, operatorToken).StatusCode; got != s.want {
			t.Fatalf("request %d: HTTP %d, want %d", i+1, got, s.want)
		}
	}
	if got := budgetCall(t, b, adminDevToken).StatusCode; got != 200 {
		t.Fatalf("admin on B after the operator ran out: HTTP %d", got)
	}
}
