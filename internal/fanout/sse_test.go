package fanout

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// sseEvent is what an EventSource-style client sees.
type sseEvent struct {
	id, typ, data string
}

// sseReader parses text/event-stream the way the WHATWG algorithm does, for
// the fields ServeSSE writes.
type sseReader struct {
	r        *bufio.Reader
	comments chan string
}

func (s *sseReader) next() (sseEvent, error) {
	var ev sseEvent
	var data []string
	seen := false
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return sseEvent{}, err
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			if !seen {
				continue
			}
			ev.data = strings.Join(data, "\n")
			return ev, nil
		}
		if strings.HasPrefix(line, ":") {
			if s.comments != nil {
				select {
				case s.comments <- strings.TrimSpace(line[1:]):
				default: // nobody listening any more
				}
			}
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		seen = true
		switch field {
		case "id":
			ev.id = value
		case "event":
			ev.typ = value
		case "data":
			data = append(data, value)
		}
	}
}

type sseServer struct {
	srv    *httptest.Server
	ready  chan struct{}
	result chan error
}

func newSSEServer(t *testing.T, bus Bus, heartbeat time.Duration) *sseServer {
	s := &sseServer{ready: make(chan struct{}, 8), result: make(chan error, 8)}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.result <- ServeSSE(w, r, bus, "lane-1", heartbeat, OnReady(func() { s.ready <- struct{}{} }))
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// connect opens the stream and returns once the server reports it is live.
func (s *sseServer) connect(t *testing.T, ctx context.Context, lastID string, viaQuery bool) (*sseReader, *http.Response) {
	t.Helper()
	u := s.srv.URL
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if lastID != "" {
		if viaQuery {
			req.URL.RawQuery = url.Values{"lastEventId": {lastID}}.Encode()
		} else {
			req.Header.Set("Last-Event-ID", lastID)
		}
	}
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	select {
	case <-s.ready:
	case <-time.After(failsafe):
		t.Fatal("stream never became ready")
	}
	return &sseReader{r: bufio.NewReader(resp.Body)}, resp
}

func (s *sseServer) handlerResult(t *testing.T) error {
	t.Helper()
	select {
	case err := <-s.result:
		return err
	case <-time.After(failsafe):
		t.Fatal("handler did not return")
	}
	return nil
}

func TestServeSSEStreamsAndResumes(t *testing.T) {
	for _, viaQuery := range []bool{false, true} {
		name := "Last-Event-ID header"
		if viaQuery {
			name = "lastEventId query"
		}
		t.Run(name, func(t *testing.T) {
			bus := NewMemory(100)
			defer bus.Close()
			srv := newSSEServer(t, bus, 0)
			ctx := context.Background()

			cctx, cancel := context.WithCancel(ctx)
			stream, _ := srv.connect(t, cctx, "", false)
			payloads := []struct{ typ, data, want string }{
				{"decision", `{"plate":"29C-12345","gate":"OPEN"}`, `{"plate":"29C-12345","gate":"OPEN"}`},
				{"decision", "line1\nline2", "line1\nline2"},
				{"", "a\r\nb\rc", "a\nb\nc"},
				{"hold", "", ""},
			}
			var published []Event
			for _, p := range payloads {
				ev, err := bus.Publish(ctx, "lane-1", p.typ, []byte(p.data))
				if err != nil {
					t.Fatal(err)
				}
				published = append(published, ev)
			}
			for i, p := range payloads {
				got, err := stream.next()
				if err != nil {
					t.Fatalf("event %d: %v", i, err)
				}
				want := sseEvent{id: published[i].ID, typ: p.typ, data: p.want}
				if got != want {
					t.Fatalf("event %d: got %+v, want %+v", i, got, want)
				}
			}

			// The device drops off; the handler notices and returns cleanly.
			cancel()
			if err := srv.handlerResult(t); err != nil {
				t.Fatalf("handler after client left: %v", err)
			}

			missed, err := bus.Publish(ctx, "lane-1", "decision", []byte("missed while away"))
			if err != nil {
				t.Fatal(err)
			}
			stream, _ = srv.connect(t, ctx, published[1].ID, viaQuery)
			for _, want := range []Event{published[2], published[3], missed} {
				got, err := stream.next()
				if err != nil {
					t.Fatal(err)
				}
				if got.id != want.ID {
					t.Fatalf("resumed event id %s, want %s", got.id, want.ID)
				}
			}
		})
	}
}

func TestServeSSEHeartbeat(t *testing.T) {
	bus := NewMemory(10)
	defer bus.Close()
	srv := newSSEServer(t, bus, time.Millisecond)
	stream, _ := srv.connect(t, context.Background(), "", false)
	stream.comments = make(chan string, 1)
	go func() { _, _ = stream.next() }()
	for {
		select {
		case c := <-stream.comments:
			if c == "heartbeat" {
				return
			}
		case <-time.After(failsafe):
			t.Fatal("no heartbeat")
		}
	}
}

func TestServeSSEBusClosed(t *testing.T) {
	bus := NewMemory(10)
	srv := newSSEServer(t, bus, 0)
	stream, _ := srv.connect(t, context.Background(), "", false)
	if err := bus.Close(); err != nil {
		t.Fatal(err)
	}
	if err := srv.handlerResult(t); !errors.Is(err, ErrSubscriptionEnded) {
		t.Fatalf("handler returned %v, want ErrSubscriptionEnded", err)
	}
	if _, err := stream.next(); !errors.Is(err, io.EOF) {
		t.Fatalf("client read %v, want EOF", err)
	}
	// A new connection to a closed bus is refused, not left hanging.
	resp, err := srv.srv.Client().Get(srv.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", resp.StatusCode)
	}
}
