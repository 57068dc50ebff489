package tracing

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

func TestParseTraceparent(t *testing.T) {
	tests := []struct {
		in   string
		ok   bool
		want string // trace id
	}{
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true, "4bf92f3577b34da6a3ce929d0e0e4736"},
		{" 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00 ", true, "4bf92f3577b34da6a3ce929d0e0e4736"},
		// A later version is read by its first four fields.
		{"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future", true, "4bf92f3577b34da6a3ce929d0e0e4736"},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", false, ""},
		{"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false, ""},
		{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", false, ""},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false, ""},
		{"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", false, ""},
		{"00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", false, ""},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bz-01", false, ""},
		{"", false, ""},
		{"garbage", false, ""},
	}
	for _, tt := range tests {
		tr, ok := ParseTraceparent(tt.in)
		if ok != tt.ok || (ok && tr.TraceIDString() != tt.want) {
			t.Errorf("ParseTraceparent(%q) = %s, %v; want %s, %v", tt.in, tr.TraceIDString(), ok, tt.want, tt.ok)
		}
		if ok {
			if back, ok2 := ParseTraceparent(tr.Traceparent()); !ok2 || back != tr {
				t.Errorf("round trip of %q: %q", tt.in, tr.Traceparent())
			}
		}
	}
}

func TestChildAndStoredTrace(t *testing.T) {
	tr := New()
	if !tr.Valid() || tr.Flags != 1 {
		t.Fatalf("New() = %+v", tr)
	}
	c := tr.Child()
	if c.TraceID != tr.TraceID || c.SpanID == tr.SpanID {
		t.Errorf("Child() = %+v of %+v", c, tr)
	}
	if got := FromTraceID(tr.TraceIDString()); got.TraceID != tr.TraceID || !got.Valid() {
		t.Errorf("FromTraceID lost the trace: %+v", got)
	}
	for _, bad := range []string{"", "xyz", "00000000000000000000000000000000"} {
		if got := FromTraceID(bad); !got.Valid() {
			t.Errorf("FromTraceID(%q) = invalid %+v; want a new trace", bad, got)
		}
	}
}

func TestValidRequestID(t *testing.T) {
	for id, want := range map[string]bool{
		"abc-123": true, "trader-req-42": true, "": false, "has space": false, "new\nline": false,
		strings.Repeat("a", MaxRequestIDLen): true, strings.Repeat("a", MaxRequestIDLen+1): false, "tiếng-việt": false,
	} {
		if got := ValidRequestID(id); got != want {
			t.Errorf("ValidRequestID(%q) = %v, want %v", id, got, want)
		}
	}
	if id := NewRequestID(); !ValidRequestID(id) || len(id) != 16 {
		t.Errorf("NewRequestID() = %q", id)
	}
}

func TestInjectAndLog(t *testing.T) {
	h := http.Header{}
	Inject(context.Background(), h)
	if len(h) != 0 {
		t.Errorf("outside a request Inject set %v", h)
	}
	tr := New()
	ctx := With(context.Background(), "req-1", tr)
	Inject(ctx, h)
	got, ok := ParseTraceparent(h.Get(HeaderTraceparent))
	if h.Get(HeaderRequestID) != "req-1" || !ok || got.TraceID != tr.TraceID || got.SpanID == tr.SpanID {
		t.Errorf("Inject set %v", h)
	}

	var buf bytes.Buffer
	log := slog.New(LogHandler(slog.NewTextHandler(&buf, nil))).With("component", "x")
	log.InfoContext(ctx, "hello")
	log.Info("no context")
	out := buf.String()
	if !strings.Contains(out, "request_id=req-1") || !strings.Contains(out, "trace_id="+tr.TraceIDString()) || !strings.Contains(out, "component=x") {
		t.Errorf("log lacks the ids: %s", out)
	}
	if strings.Count(out, "request_id=") != 1 {
		t.Errorf("a line without a request context got an id: %s", out)
	}
}
