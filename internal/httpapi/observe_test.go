package httpapi

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gatehub/gatehub/internal/metrics"
)

// A handler that panics answers 500 and is counted as one, under its route
// with a numeric code; the access log names the request and the panic.
func TestPanicIsCountedAs500(t *testing.T) {
	var logs bytes.Buffer
	s := &Server{Metrics: metrics.New(), Log: slog.New(slog.NewJSONHandler(&logs, nil))}
	h := s.requestContext(s.instrument("/boom", false, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("boom")
	})))
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/boom", nil)
	req.Header.Set("X-Request-Id", "req-boom")
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("HTTP %d, want 500", rec.Code)
	}
	if rec.Header().Get("X-Request-Id") != "req-boom" || rec.Header().Get("traceparent") == "" {
		t.Errorf("answer headers %v", rec.Header())
	}
	const want = `
# HELP gatehub_http_requests_total HTTP requests served, by route pattern, method and status code.
# TYPE gatehub_http_requests_total counter
gatehub_http_requests_total{code="500",method="post",route="/boom"} 1
`
	if err := testutil.CollectAndCompare(s.Metrics.Registry, strings.NewReader(want), "gatehub_http_requests_total"); err != nil {
		t.Error(err)
	}
	var sawPanic bool
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["msg"] == "panic in handler" {
			sawPanic = rec["request_id"] == "req-boom" && rec["panic"] == "boom"
		}
	}
	if !sawPanic {
		t.Errorf("no panic line with the request id: %s", logs.String())
	}
}

// Streams are counted and tracked as open, but not timed.
func TestStreamsStayOutOfTheLatencyHistogram(t *testing.T) {
	s := &Server{Metrics: metrics.New()}
	open := func(n string) string {
		return `
# HELP gatehub_http_streams_open Live event streams (SSE) open now, by route pattern.
# TYPE gatehub_http_streams_open gauge
gatehub_http_streams_open{route="` + laneEventsPattern + `"} ` + n + "\n"
	}
	inside := make(chan error, 1)
	stream := s.instrument(laneEventsPattern, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inside <- testutil.CollectAndCompare(s.Metrics.Registry, strings.NewReader(open("1")), "gatehub_http_streams_open")
		w.WriteHeader(http.StatusOK)
	}))
	stream.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/v1/gates/G/lanes/L/events", nil))
	plain := s.instrument("/v1/declarations", false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
	}))
	plain.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/v1/declarations", nil))
	if err := <-inside; err != nil {
		t.Errorf("while streaming: %v", err)
	}
	if err := testutil.CollectAndCompare(s.Metrics.Registry, strings.NewReader(open("0")), "gatehub_http_streams_open"); err != nil {
		t.Errorf("after the stream: %v", err)
	}
	if n := testutil.CollectAndCount(s.Metrics.Registry, "gatehub_http_request_duration_seconds"); n != 1 {
		t.Errorf("%d latency series, want 1 (the declaration route only)", n)
	}
	if n := testutil.CollectAndCount(s.Metrics.Registry, "gatehub_http_requests_total"); n != 2 {
		t.Errorf("%d request series, want 2 (the stream is counted)", n)
	}
}
