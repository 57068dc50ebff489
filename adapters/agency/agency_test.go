package agency

import (
	"context"
	"errors"
	"github.com/gatehub/gatehub/internal/outbox"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		resp Response
		err  error
		want outbox.Outcome
	}{
		{"sync ack", Response{Status: 200, Body: []byte("<Ack/>")}, nil, outbox.Delivered},
		{"async accepted", Response{Status: 202, Async: true}, nil, outbox.Delivered},
		{"200 without ack body", Response{Status: 200}, nil, outbox.Temporary},
		{"bad request", Response{Status: 400}, nil, outbox.Permanent},
		{"unprocessable", Response{Status: 422}, nil, outbox.Permanent},
		{"forbidden", Response{Status: 403}, nil, outbox.Permanent},
		{"request timeout", Response{Status: 408}, nil, outbox.Temporary},
		{"too many requests", Response{Status: 429, RetryAfter: time.Second}, nil, outbox.Temporary},
		{"server error", Response{Status: 500}, nil, outbox.Temporary},
		{"unavailable", Response{Status: 503}, nil, outbox.Temporary},
		{"gateway timeout", Response{Status: 504}, nil, outbox.Temporary},
		{"unfollowed redirect", Response{Status: 302}, nil, outbox.Permanent},
		{"transport error", Response{}, errors.New("connection refused"), outbox.Temporary},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.resp, tt.err); got != tt.want {
				t.Fatalf("Classify = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"7", 7 * time.Second},
		{"0", 0},
		{"-3", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		if got := ParseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestTransportPost(t *testing.T) {
	type seen struct {
		method, ct, idem, msgID, extra string
		body                           string
	}
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.Header.Get("Content-Type"), r.Header.Get(HeaderIdempotencyKey),
			r.Header.Get(HeaderMessageID), r.Header.Get("X-Agency-Channel"), string(b)}
		w.Header().Set("Retry-After", "3")
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(200)
		io.WriteString(w, "<Ack/>")
	}))
	defer srv.Close()

	spec := Spec{Name: "customs", ExtraHeaders: map[string]string{"X-Agency-Channel": "road"}}
	resp, err := NewTransport(srv.Client()).Post(context.Background(), spec, srv.URL, "m-1", []byte("<Msg/>"))
	if err != nil {
		t.Fatal(err)
	}
	s := <-got
	want := seen{"POST", DefaultContentType, "m-1", "m-1", "road", "<Msg/>"}
	if s != want {
		t.Fatalf("request = %+v, want %+v", s, want)
	}
	if resp.Status != 200 || string(resp.Body) != "<Ack/>" || resp.RetryAfter != 3*time.Second || resp.Async {
		t.Fatalf("response = %+v", resp)
	}
	if Classify(resp, nil) != outbox.Delivered {
		t.Fatal("want Delivered")
	}
}

func TestTransportAsyncAndProblem(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(HeaderMessageID) == "async" {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		WriteProblem(w, Problem{Status: 422, Title: "Schema invalid", Code: "SCHEMA-INVALID", Detail: "line 3"})
	}))
	defer srv.Close()
	tr := NewTransport(srv.Client())

	resp, err := tr.Post(context.Background(), Spec{Name: "guangxi"}, srv.URL, "async", nil)
	if err != nil || !resp.Async || Classify(resp, err) != outbox.Delivered {
		t.Fatalf("async: %+v %v", resp, err)
	}
	resp, err = tr.Post(context.Background(), Spec{Name: "guangxi"}, srv.URL, "bad", nil)
	if err != nil || Classify(resp, err) != outbox.Permanent {
		t.Fatalf("refusal: %+v %v", resp, err)
	}
	p, ok := ParseProblem(resp.ContentType, resp.Body)
	if !ok || p.Code != "SCHEMA-INVALID" || p.Status != 422 {
		t.Fatalf("problem = %+v ok=%v", p, ok)
	}
	if _, ok := ParseProblem("application/xml", []byte("<x/>")); ok {
		t.Fatal("xml parsed as problem")
	}
}

func TestTransportTimeoutIsTemporary(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	_, err := NewTransport(srv.Client()).Post(context.Background(),
		Spec{Name: "vehicleregistry", Timeout: 20 * time.Millisecond}, srv.URL, "m", nil)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	if Classify(Response{}, err) != outbox.Temporary {
		t.Fatal("timeout must be temporary")
	}
}

func TestTransportRejectsEmptyMessageID(t *testing.T) {
	if _, err := NewTransport(nil).Post(context.Background(), Spec{Name: "x"}, "http://127.0.0.1:1", "", nil); err == nil {
		t.Fatal("want error")
	}
}

func TestTransportOversizedAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("x", MaxResponseBytes+1))
	}))
	defer srv.Close()
	_, err := NewTransport(srv.Client()).Post(context.Background(), Spec{Name: "x"}, srv.URL, "m", nil)
	if !errors.Is(err, ErrResponseTooLarge) {
		t.Fatalf("err = %v", err)
	}
}

func TestRetryingClient(t *testing.T) {
	tests := []struct {
		name       string
		statuses   []int
		maxRetries int
		wantCalls  int32
		wantStatus int
	}{
		{"503 503 200", []int{503, 503, 200}, 3, 3, 200},
		{"429 then 200", []int{429, 200}, 3, 2, 200},
		{"422 is never retried", []int{422, 200}, 3, 1, 422},
		{"400 is never retried", []int{400, 200}, 3, 1, 400},
		{"gives up and passes last answer through", []int{500, 502, 503}, 2, 3, 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			bodies := make(chan string, 8)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := calls.Add(1)
				b, _ := io.ReadAll(r.Body)
				bodies <- string(b) + "|" + r.Header.Get(HeaderIdempotencyKey)
				st := tt.statuses[min(int(n), len(tt.statuses))-1]
				if st == 429 {
					w.Header().Set("Retry-After", "0")
				}
				w.WriteHeader(st)
				if st == 200 {
					io.WriteString(w, "<Ack/>")
				}
			}))
			defer srv.Close()
			var retries []int
			client := NewRetryingClient(RetryOptions{
				MaxRetries: tt.maxRetries, WaitMin: time.Millisecond, WaitMax: 2 * time.Millisecond, Seed: 1,
				OnRetry: func(_ *http.Request, n int) { retries = append(retries, n) },
			})
			resp, err := NewTransport(client).Post(context.Background(), Spec{Name: "customs"}, srv.URL, "m-7", []byte("<Msg/>"))
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != tt.wantStatus || calls.Load() != tt.wantCalls {
				t.Fatalf("status %d after %d calls, want %d after %d", resp.Status, calls.Load(), tt.wantStatus, tt.wantCalls)
			}
			if len(retries) != int(tt.wantCalls)-1 {
				t.Fatalf("OnRetry calls %v", retries)
			}
			close(bodies)
			for b := range bodies {
				if b != "<Msg/>|m-7" {
					t.Fatalf("a retry changed the request: %q", b)
				}
			}
		})
	}
}

func TestBackoffHonoursRetryAfterAndCap(t *testing.T) {
	j := &jitter{rnd: newTestRand()}
	resp := &http.Response{Header: http.Header{"Retry-After": {"5"}}}
	if d := j.backoff(time.Millisecond, time.Minute, 0, resp); d != 5*time.Second {
		t.Fatalf("Retry-After ignored: %v", d)
	}
	if d := j.backoff(time.Millisecond, 2*time.Second, 0, resp); d != 2*time.Second {
		t.Fatalf("cap ignored: %v", d)
	}
	for attempt := range 10 {
		d := j.backoff(100*time.Millisecond, time.Second, attempt, nil)
		if d < 100*time.Millisecond || d > time.Second {
			t.Fatalf("attempt %d: %v out of [min,max]", attempt, d)
		}
	}
}
