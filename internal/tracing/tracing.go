// Package tracing carries the identity of one API request through the
// hub: its request id (X-Request-Id, chosen by the caller or by the hub)
// and its W3C Trace Context (https://www.w3.org/TR/trace-context/). Both
// reach every log line written for the request, are stored with the
// messages it creates, and are sent on to agencies with each delivery, so
// an operator can follow one truck from the trader's POST to the agency's
// logs with one id.
//
// This is propagation only: the hub records no spans. A tracing backend in
// front of or behind the hub sees one trace across both.
package tracing

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strings"
)

// Header names.
const (
	HeaderRequestID   = "X-Request-Id"
	HeaderTraceparent = "traceparent"
	HeaderTracestate  = "tracestate"
)

// MaxRequestIDLen bounds a caller-chosen request id: it is logged on every
// line and stored with every message.
const MaxRequestIDLen = 64

// Trace is a W3C trace context: the trace everything belongs to and the
// span (here: the request or the delivery attempt) that is the parent of
// whatever the next hop does.
type Trace struct {
	TraceID [16]byte
	SpanID  [8]byte
	Flags   byte
}

// Valid reports whether t has the non-zero ids the specification requires.
func (t Trace) Valid() bool { return t.TraceID != [16]byte{} && t.SpanID != [8]byte{} }

// TraceIDString is the trace-id as 32 lower-case hex digits ("" when zero).
func (t Trace) TraceIDString() string {
	if t.TraceID == [16]byte{} {
		return ""
	}
	return hex.EncodeToString(t.TraceID[:])
}

// Traceparent is the header value, version 00.
func (t Trace) Traceparent() string {
	return "00-" + hex.EncodeToString(t.TraceID[:]) + "-" + hex.EncodeToString(t.SpanID[:]) + "-" + hex.EncodeToString([]byte{t.Flags})
}

// Child returns a new span of the same trace, as a hop that calls the next
// service does.
func (t Trace) Child() Trace {
	c := t
	c.SpanID = randomSpan()
	return c
}

// New starts a trace, sampled (flags 01): the hub does not sample, so it
// leaves the choice to whoever records spans downstream.
func New() Trace {
	var t Trace
	_, _ = rand.Read(t.TraceID[:])
	t.SpanID = randomSpan()
	t.Flags = 1
	return t
}

// FromTraceID continues a trace whose id was stored (a message delivered
// long after its request), with a fresh span. An invalid id starts a new
// trace.
func FromTraceID(id string) Trace {
	b, err := hex.DecodeString(id)
	if err != nil || len(b) != 16 {
		return New()
	}
	t := Trace{Flags: 1, SpanID: randomSpan()}
	copy(t.TraceID[:], b)
	if t.TraceID == [16]byte{} {
		return New()
	}
	return t
}

func randomSpan() [8]byte {
	var s [8]byte
	for s == [8]byte{} {
		_, _ = rand.Read(s[:])
	}
	return s
}

// ParseTraceparent reads a traceparent header value. Per the
// specification, a version other than 00 is read by its first four fields,
// and anything malformed (or all-zero ids) is ignored: the hub then starts
// its own trace.
func ParseTraceparent(v string) (Trace, bool) {
	v = strings.TrimSpace(v)
	parts := strings.Split(v, "-")
	if len(parts) < 4 || len(parts[0]) != 2 || len(parts[1]) != 32 || len(parts[2]) != 16 || len(parts[3]) != 2 {
		return Trace{}, false
	}
	if parts[0] == "ff" || (parts[0] == "00" && len(parts) != 4) || !lowerHex(v[:55]) {
		return Trace{}, false
	}
	var t Trace
	if _, err := hex.Decode(t.TraceID[:], []byte(parts[1])); err != nil {
		return Trace{}, false
	}
	if _, err := hex.Decode(t.SpanID[:], []byte(parts[2])); err != nil {
		return Trace{}, false
	}
	var f [1]byte
	if _, err := hex.Decode(f[:], []byte(parts[3])); err != nil {
		return Trace{}, false
	}
	t.Flags = f[0]
	return t, t.Valid()
}

// lowerHex reports whether s holds only lower-case hex digits and dashes.
func lowerHex(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c == '-') {
			return false
		}
	}
	return true
}

// ValidRequestID reports whether a caller's X-Request-Id may be kept: short,
// printable ASCII without spaces, so it cannot break a log line or a header.
func ValidRequestID(id string) bool {
	if id == "" || len(id) > MaxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

// NewRequestID returns a random request id (16 hex digits).
func NewRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

type ctxKey struct{}

type ids struct {
	requestID string
	trace     Trace
}

// With returns ctx carrying the request id and trace.
func With(ctx context.Context, requestID string, t Trace) context.Context {
	return context.WithValue(ctx, ctxKey{}, ids{requestID, t})
}

// RequestID returns the request id ctx carries ("" outside a request).
func RequestID(ctx context.Context) string {
	v, _ := ctx.Value(ctxKey{}).(ids)
	return v.requestID
}

// FromContext returns the trace ctx carries.
func FromContext(ctx context.Context) (Trace, bool) {
	v, ok := ctx.Value(ctxKey{}).(ids)
	return v.trace, ok && v.trace.Valid()
}

// Inject sets the request id and a child span of ctx's trace on an
// outbound request's headers.
func Inject(ctx context.Context, h http.Header) {
	if id := RequestID(ctx); id != "" {
		h.Set(HeaderRequestID, id)
	}
	if t, ok := FromContext(ctx); ok {
		h.Set(HeaderTraceparent, t.Child().Traceparent())
	}
}

// Log keys, the same on every line.
const (
	KeyRequestID = "request_id"
	KeyTraceID   = "trace_id"
)

// LogHandler adds request_id and trace_id to every record logged with a
// context that carries them (slog's *Context methods), so code below the
// HTTP layer never has to pass them along by hand.
func LogHandler(h slog.Handler) slog.Handler {
	if _, ok := h.(logHandler); ok {
		return h
	}
	return logHandler{h}
}

type logHandler struct{ slog.Handler }

func (h logHandler) Handle(ctx context.Context, r slog.Record) error {
	if v, ok := ctx.Value(ctxKey{}).(ids); ok {
		if v.requestID != "" {
			r.AddAttrs(slog.String(KeyRequestID, v.requestID))
		}
		if v.trace.Valid() {
			r.AddAttrs(slog.String(KeyTraceID, v.trace.TraceIDString()))
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return logHandler{h.Handler.WithAttrs(as)}
}

func (h logHandler) WithGroup(name string) slog.Handler {
	return logHandler{h.Handler.WithGroup(name)}
}
