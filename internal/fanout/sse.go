package fanout

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// ErrSubscriptionEnded is returned by ServeSSE when the bus, not the client,
// ended the stream: the bus closed, the device fell too far behind, or the
// Redis subscription was lost. The device is expected to reconnect with
// Last-Event-ID; callers may log it to spot devices that keep lagging.
var ErrSubscriptionEnded = errors.New("fanout: subscription ended by the bus")

// SSEOption adjusts ServeSSE.
type SSEOption func(*sseOptions)

type sseOptions struct {
	onReady      func()
	writeTimeout time.Duration
	snapshot     func(ctx context.Context) ([]Event, error)
}

// WithSnapshot makes the stream begin with the topic's current state:
// after the subscription is live and before any live or replayed event,
// ServeSSE writes the events f returns, without ids (the client's
// Last-Event-ID stays the bus position). Anything that changes afterwards
// arrives live, so a client that applies events as whole states (never
// deltas) ends up current. If f fails, the client gets 503, as when the
// subscription fails.
func WithSnapshot(f func(ctx context.Context) ([]Event, error)) SSEOption {
	return func(o *sseOptions) { o.snapshot = f }
}

// OnReady registers f to run once the subscription is live and the response
// headers are flushed: anything published after f runs reaches the client.
// Tests use it instead of sleeping.
func OnReady(f func()) SSEOption { return func(o *sseOptions) { o.onReady = f } }

// WithWriteTimeout bounds each write to the client (default 10s). A device
// that stops reading but keeps its TCP connection would otherwise pin the
// handler; the server's own WriteTimeout cannot be used for streams.
func WithWriteTimeout(d time.Duration) SSEOption {
	return func(o *sseOptions) { o.writeTimeout = d }
}

// ServeSSE streams topic from bus to the client as text/event-stream until
// the client goes away (returns nil) or the bus ends the subscription
// (returns ErrSubscriptionEnded). It resumes after the Last-Event-ID header
// or, for clients that cannot set headers, the lastEventId query parameter.
// A heartbeat comment is sent every heartbeat (none if heartbeat <= 0) so
// proxies keep the connection open and dead clients are noticed.
func ServeSSE(w http.ResponseWriter, r *http.Request, bus Bus, topic string, heartbeat time.Duration, opts ...SSEOption) error {
	o := sseOptions{writeTimeout: 10 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	lastID := r.Header.Get("Last-Event-ID")
	if lastID == "" {
		lastID = r.URL.Query().Get("lastEventId")
	}

	ctx := r.Context()
	events, err := bus.Subscribe(ctx, topic, lastID)
	if err != nil {
		http.Error(w, "event stream unavailable", http.StatusServiceUnavailable)
		return fmt.Errorf("fanout: sse subscribe %q: %w", topic, err)
	}

	var initial []Event
	if o.snapshot != nil {
		// Read after subscribing: whatever changes after this read is on the
		// subscription (possibly also in the snapshot: a harmless repeat).
		if initial, err = o.snapshot(ctx); err != nil {
			http.Error(w, "event stream unavailable", http.StatusServiceUnavailable)
			return fmt.Errorf("fanout: sse snapshot of %q: %w", topic, err)
		}
	}

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	// Reverse proxies (nginx) buffer responses by default, which would hold
	// gate decisions back until the buffer fills.
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	bw := bufio.NewWriter(w)
	flush := func() error {
		if o.writeTimeout > 0 {
			if err := rc.SetWriteDeadline(time.Now().Add(o.writeTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
				return fmt.Errorf("fanout: sse set write deadline: %w", err)
			}
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("fanout: sse write: %w", err)
		}
		if err := rc.Flush(); err != nil {
			return fmt.Errorf("fanout: sse flush: %w", err)
		}
		return nil
	}

	// An initial comment gets headers and a first byte to the client now,
	// so it knows the stream is open before the first event.
	bw.WriteString(": open\n\n")
	for _, ev := range initial {
		ev.ID = "" // not a bus position
		writeEvent(bw, ev)
	}
	if err := flush(); err != nil {
		return clientGone(r, err)
	}
	if o.onReady != nil {
		o.onReady()
	}

	var tick <-chan time.Time
	if heartbeat > 0 {
		t := time.NewTicker(heartbeat)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return ErrSubscriptionEnded
			}
			writeEvent(bw, ev)
		case <-tick:
			bw.WriteString(": heartbeat\n\n")
		case <-ctx.Done():
			return nil
		}
		if err := flush(); err != nil {
			return clientGone(r, err)
		}
	}
}

// clientGone reports a write error unless it is just the client leaving.
func clientGone(r *http.Request, err error) error {
	if r.Context().Err() != nil {
		return nil
	}
	return err
}

// writeEvent encodes ev in the SSE wire format. bufio.Writer keeps the first
// error and reports it on Flush, so individual writes are not checked.
func writeEvent(bw *bufio.Writer, ev Event) {
	// An empty id field would reset the client's Last-Event-ID; an event
	// without one leaves it alone.
	if ev.ID != "" {
		bw.WriteString("id: ")
		bw.WriteString(ev.ID)
		bw.WriteByte('\n')
	}
	if ev.Type != "" {
		bw.WriteString("event: ")
		bw.WriteString(ev.Type)
		bw.WriteByte('\n')
	}
	// SSE ends a line at CRLF, LF or CR; each line of data needs its own
	// data: field and the client joins them back with LF. An empty payload
	// still needs one data: field or the client drops the event.
	data := strings.ReplaceAll(string(ev.Data), "\r\n", "\n")
	data = strings.ReplaceAll(data, "\r", "\n")
	for line := range strings.SplitSeq(data, "\n") {
		bw.WriteString("data: ")
		bw.WriteString(line)
		bw.WriteByte('\n')
	}
	bw.WriteByte('\n')
}
