package agency

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehub/gatehub/internal/tracing"
)

// DefaultTimeout bounds one POST when the Spec sets no Timeout.
const DefaultTimeout = 30 * time.Second

// MaxResponseBytes caps how much of an agency answer is read: an ACK is a
// few kilobytes, and a misbehaving endpoint must not exhaust hub memory.
const MaxResponseBytes = 4 << 20

// ErrResponseTooLarge is returned when an agency answer exceeds MaxResponseBytes.
var ErrResponseTooLarge = errors.New("agency response too large")

// Transport performs exactly one HTTP POST per call. Retrying is the
// caller's business (the outbox, or a client from NewRetryingClient), so the
// attempt count the hub records is the attempt count on the wire.
type Transport struct {
	client *http.Client
	now    func() time.Time
}

// NewTransport wraps client (http.DefaultClient when nil).
func NewTransport(client *http.Client) *Transport {
	if client == nil {
		client = http.DefaultClient
	}
	return &Transport{client: client, now: time.Now}
}

// WithClock returns a copy of t that reads time from now; only an HTTP-date
// Retry-After needs it.
func (t *Transport) WithClock(now func() time.Time) *Transport {
	c := *t
	c.now = now
	return &c
}

// Post sends body to endpoint as the message messageID. A non-nil error
// means no HTTP status was obtained (connection, timeout, oversized answer);
// every status, including 4xx/5xx, comes back as a Response for Classify.
func (t *Transport) Post(ctx context.Context, spec Spec, endpoint, messageID string, body []byte) (Response, error) {
	if messageID == "" {
		return Response{}, fmt.Errorf("post to %s: empty message id", spec.Name)
	}
	timeout := spec.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return Response{}, fmt.Errorf("post to %s: build request: %w", spec.Name, err)
	}
	// GetBody lets a retrying round tripper or a 307/308 redirect resend the
	// exact same bytes.
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	for k, v := range spec.ExtraHeaders {
		req.Header.Set(k, v)
	}
	ct := spec.ContentType
	if ct == "" {
		ct = DefaultContentType
	}
	req.Header.Set("Content-Type", ct)
	req.Header.Set(HeaderIdempotencyKey, messageID)
	req.Header.Set(HeaderMessageID, messageID)
	// X-Request-Id and traceparent of the request the message came from.
	tracing.Inject(ctx, req.Header)

	resp, err := t.client.Do(req)
	if err != nil {
		return Response{}, fmt.Errorf("post %s to %s: %w", messageID, spec.Name, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return Response{}, fmt.Errorf("post %s to %s: read answer: %w", messageID, spec.Name, err)
	}
	if len(data) > MaxResponseBytes {
		return Response{}, fmt.Errorf("post %s to %s: %w", messageID, spec.Name, ErrResponseTooLarge)
	}
	return Response{
		Status:      resp.StatusCode,
		Body:        data,
		ContentType: resp.Header.Get("Content-Type"),
		RetryAfter:  ParseRetryAfter(resp.Header.Get("Retry-After"), t.now()),
		Async:       resp.StatusCode == http.StatusAccepted,
	}, nil
}

// ParseRetryAfter reads a Retry-After value (delay-seconds or HTTP-date,
// RFC 9110 §10.2.3). Unparseable or past values give zero.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		const maxSeconds = int64(24 * time.Hour / time.Second)
		return time.Duration(min(n, maxSeconds)) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil {
		if d := at.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
