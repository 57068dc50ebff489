package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/app"
	"github.com/gatehub/gatehub/internal/app/apptest"
	"github.com/gatehub/gatehub/internal/config"
	"github.com/gatehub/gatehub/internal/decisions"
	"github.com/gatehub/gatehub/internal/lanes"
)

// baseConfig is the e2e harness configuration in a fresh directory, for
// tests that need to change it before the hub starts.
func baseConfig(t *testing.T) config.Config { return apptest.Config(t, repoRoot) }

func testLog() *slog.Logger { return apptest.Log() }

// instance is a running hub whose end the test controls.
type instance struct {
	*harness
	client *http.Client
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// launch assembles and runs a hub with cfg. The hub stops when the test
// ends unless the test stopped it earlier.
func launch(t *testing.T, cfg config.Config, opt app.Options) *instance {
	t.Helper()
	if opt.Log == nil {
		opt.Log = testLog()
	}
	if opt.Now == nil {
		opt.Now = testClock()
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, opt)
	if err != nil {
		cancel()
		t.Fatalf("assemble hub: %v", err)
	}
	in := &instance{harness: &harness{t: t, app: a, url: a.URL()}, client: http.DefaultClient, cancel: cancel, done: make(chan error, 1)}
	go func() { in.done <- a.Run(ctx) }()
	t.Cleanup(func() {
		if err := in.stop(); err != nil {
			t.Errorf("hub run: %v", err)
		}
	})
	return in
}

// stop cancels the hub's Run context and waits until Run has returned.
func (in *instance) stop() error {
	in.once.Do(func() {
		in.cancel()
		in.err = <-in.done
	})
	return in.err
}

// call is harness.do with the instance's client, extra headers and any
// caller-chosen test.
func (in *instance) call(t *testing.T, method, path, token string, body []byte, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, in.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := in.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, data
}

var jsonHeader = http.Header{"Content-Type": {"application/json"}}

// reading sends one device reading and decodes the lane answer.
func (in *instance) reading(t *testing.T, token, body string) lanes.Answer {
	t.Helper()
	resp, data := in.call(t, "POST", "/v1/devices/readings", token, []byte(body), jsonHeader)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("reading %s: HTTP %d: %s", body, resp.StatusCode, data)
	}
	var ans lanes.Answer
	if err := json.Unmarshal(data, &ans); err != nil {
		t.Fatal(err)
	}
	return ans
}

// sseEvent is one event as a device sees it on the wire.
type sseEvent struct {
	ID, Type string
	Data     []byte
}

// laneStream opens a lane's SSE stream with token (resuming after lastID
// when set) and returns once the server has subscribed (": open"), so
// nothing published afterwards is missed. Closing the returned function
// disconnects, as a device losing its network would.
func (in *instance) laneStream(t *testing.T, gate, lane, token, lastID string) (<-chan sseEvent, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", in.url+"/v1/gates/"+gate+"/lanes/"+lane+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := in.client.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("open event stream: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		cancel()
		t.Fatalf("event stream: HTTP %d", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	if !sc.Scan() || sc.Text() != ": open" {
		cancel()
		t.Fatalf("event stream did not open")
	}
	out := make(chan sseEvent, 256)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.ID != "" {
					out <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				ev.ID = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "event: "):
				ev.Type = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.Data = append(ev.Data, strings.TrimPrefix(line, "data: ")...)
			}
		}
	}()
	return out, cancel
}

// next reads events until match accepts one; the deadline only guards
// against a hung test.
func next(t *testing.T, events <-chan sseEvent, what string, match func(sseEvent) bool) sseEvent {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("event stream closed while waiting for %s", what)
			}
			if match(ev) {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %s within 30s", what)
		}
	}
}

// decisionFor matches decision events of declaration id with status.
func decisionFor(id, status string) func(sseEvent) bool {
	return func(ev sseEvent) bool {
		if ev.Type != "decision" {
			return false
		}
		var d decisions.DecisionEvent
		return json.Unmarshal(ev.Data, &d) == nil && d.DeclarationID == id && string(d.Decision.Status) == status
	}
}

// laneDecisionFor matches lane-decision events about declaration id.
func laneDecisionFor(id, action string) func(sseEvent) bool {
	return func(ev sseEvent) bool {
		if ev.Type != "lane-decision" {
			return false
		}
		var a lanes.Answer
		return json.Unmarshal(ev.Data, &a) == nil && a.DeclarationID == id && a.Action == action
	}
}

// withSerial is a sample edit giving the truck its own plates (12C-<serial>,
// 桂A<serial>; serial is five digits), so that trucks of one test never
// match each other's declarations.
func withSerial(serial string) func(map[string]any) {
	return func(m map[string]any) {
		m["vehicle"].(map[string]any)["plateVN"] = "12C-" + serial
		m["vehicle"].(map[string]any)["plateCN"] = "桂A" + serial
	}
}

// auditKinds returns how many entries of kind the audit log holds.
func (in *instance) auditCount(t *testing.T, kind string) int {
	t.Helper()
	resp, data := in.call(t, "GET", "/v1/audit?kind="+kind+"&limit=1000", "dev-auditor", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("audit: HTTP %d: %s", resp.StatusCode, data)
	}
	var out struct {
		Entries []json.RawMessage `json:"entries"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return len(out.Entries)
}
