package app_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/app"
	"github.com/gatehub/gatehub/internal/tracing"
	"github.com/gatehub/gatehub/internal/views"
)

// syncBuffer is a log sink the hub's goroutines write to concurrently.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the JSON log records whose msg is msg.
func (b *syncBuffer) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	b.mu.Lock()
	data := append([]byte(nil), b.buf.Bytes()...)
	b.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line is not JSON: %s", sc.Bytes())
		}
		if rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// waitLines waits (bounded) until a record with msg satisfying match is
// logged.
func (b *syncBuffer) waitLine(t *testing.T, msg string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, rec := range b.lines(t, msg) {
			if match(rec) {
				return rec
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line %q matching; got %v", msg, b.lines(t, msg))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRequestIDReachesTheAgency: the id and trace of the trader's request
// are in the access log (with the principal), stored with the messages it
// creates, logged with their delivery and sent to the agency as
// X-Request-Id and a traceparent of the same trace; shutdown is logged.
func TestRequestIDReachesTheAgency(t *testing.T) {
	type seen struct{ requestID, traceparent, messageID string }
	got := make(chan seen, 8)
	agency := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.Header.Get("X-Request-Id"), r.Header.Get("traceparent"), r.Header.Get("X-Gatehub-Message-Id")}
		w.WriteHeader(http.StatusAccepted) // the ACK would come later, on the callback
	}))
	defer agency.Close()

	logs := &syncBuffer{}
	cfg := baseConfig(t)
	cfg.AgencyURLs = map[string]string{"customs": agency.URL}
	in := launch(t, cfg, app.Options{Log: slog.New(slog.NewJSONHandler(logs, nil))})

	const requestID = "trader-req-42"
	const callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	req, _ := http.NewRequest("POST", in.url+"/v1/declarations", bytes.NewReader(sample(t, nil)))
	req.Header.Set("Authorization", "Bearer "+traderToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-Id", requestID)
	req.Header.Set("traceparent", "00-"+callerTrace+"-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("submit: HTTP %d", resp.StatusCode)
	}
	if id := resp.Header.Get("X-Request-Id"); id != requestID {
		t.Errorf("answer X-Request-Id %q, want the caller's %q", id, requestID)
	}
	if tr, ok := tracing.ParseTraceparent(resp.Header.Get("traceparent")); !ok || tr.TraceIDString() != callerTrace {
		t.Errorf("answer traceparent %q does not continue the caller's trace", resp.Header.Get("traceparent"))
	}

	var s seen
	select {
	case s = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("the agency received nothing")
	}
	if s.requestID != requestID {
		t.Errorf("agency got X-Request-Id %q, want %q", s.requestID, requestID)
	}
	tr, ok := tracing.ParseTraceparent(s.traceparent)
	if !ok || tr.TraceIDString() != callerTrace {
		t.Errorf("agency got traceparent %q, want one of trace %s", s.traceparent, callerTrace)
	}
	if strings.Contains(s.traceparent, "00f067aa0ba902b7") {
		t.Errorf("agency got the caller's own span %q, want a child span", s.traceparent)
	}

	access := logs.waitLine(t, "http", func(r map[string]any) bool { return r["route"] == "/v1/declarations" })
	for k, want := range map[string]any{"request_id": requestID, "trace_id": callerTrace, "principal": "trader:trader-0101234567", "status": 201.0, "method": "POST"} {
		if access[k] != want {
			t.Errorf("access log %s = %v, want %v (%v)", k, access[k], want, access)
		}
	}
	if _, ok := access["duration_ms"].(float64); !ok {
		t.Errorf("access log without duration_ms: %v", access)
	}
	delivery := logs.waitLine(t, "delivery attempt", func(r map[string]any) bool { return r["message_id"] == s.messageID })
	for k, want := range map[string]any{"request_id": requestID, "trace_id": callerTrace, "agency": "customs", "outcome": "delivered"} {
		if delivery[k] != want {
			t.Errorf("delivery log %s = %v, want %v (%v)", k, delivery[k], want, delivery)
		}
	}
	if _, ok := delivery["duration_ms"].(float64); !ok {
		t.Errorf("delivery log without duration_ms: %v", delivery)
	}

	// Operators find it in the outbox listing.
	_, data := in.do("GET", "/v1/admin/outbox?agency=customs", operatorToken, nil, "")
	var list struct{ Messages []views.MessageView }
	if err := json.Unmarshal(data, &list); err != nil || len(list.Messages) != 1 || list.Messages[0].RequestID != requestID {
		t.Errorf("outbox listing %s, want the customs message with requestId %s", data, requestID)
	}

	if err := in.stop(); err != nil {
		t.Fatal(err)
	}
	if len(logs.lines(t, "gatehub shutting down")) != 1 || len(logs.lines(t, "gatehub stopped")) != 1 {
		t.Errorf("shutdown not logged: %v %v", logs.lines(t, "gatehub shutting down"), logs.lines(t, "gatehub stopped"))
	}
}
