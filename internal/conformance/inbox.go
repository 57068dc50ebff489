package conformance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/beevik/etree"

	"github.com/gatehub/gatehub/adapters/agency"
	"github.com/gatehub/gatehub/internal/ack"
	"github.com/gatehub/gatehub/internal/mapping"
)

// Inbox plays the hub's callback endpoint, POST {URL}/v1/acks/{agency},
// for agencies that answer 202 and send their signed ACK/NACK later. It
// keeps every callback by the message id it refers to; that id is read
// without trusting the document, only to match the callback with what the
// kit sent: the checks verify it afterwards like any answer. One run at a
// time: Run starts by forgetting what an earlier run received.
type Inbox struct {
	url  string
	http *http.Server
	done chan struct{}

	mu      sync.Mutex
	agency  string
	reg     *mapping.Registry
	reader  *ack.Reader
	byRef   map[string][][]byte
	strays  []string // callbacks that refer to no message (or cannot be read)
	changed chan struct{}
}

// StartInbox listens on addr (127.0.0.1:0 for a free loopback port) and
// serves callbacks until ctx ends or Close. publicURL is the base URL the
// agency calls back on, when it is not the listener's own (a proxy, NAT).
func StartInbox(ctx context.Context, addr, publicURL string) (*Inbox, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("callback listener: %w", err)
	}
	in := &Inbox{url: strings.TrimRight(publicURL, "/"), done: make(chan struct{}), byRef: map[string][][]byte{}, changed: make(chan struct{})}
	if in.url == "" {
		in.url = "http://" + ln.Addr().String()
	}
	in.http = &http.Server{Handler: in, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(in.done)
		_ = in.http.Serve(ln) // ErrServerClosed is the normal end
	}()
	go func() {
		select {
		case <-ctx.Done():
			_ = in.Close()
		case <-in.done:
		}
	}()
	return in, nil
}

// URL is the base URL agencies call back on; they POST to URL/v1/acks/{agency}.
func (in *Inbox) URL() string { return in.url }

// Close stops the listener.
func (in *Inbox) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := in.http.Shutdown(ctx)
	<-in.done
	return err
}

// expect readies the inbox for one run: callbacks for agency, read with
// reg and verified by reader.
func (in *Inbox) expect(agencyName string, reg *mapping.Registry, reader *ack.Reader) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.agency, in.reg, in.reader = agencyName, reg, reader
	in.byRef, in.strays = map[string][][]byte{}, nil
}

// ServeHTTP takes one callback. It answers as the hub does: 200 for an
// answer it verified, 422 for one it refuses (kept all the same, for the
// checks to say why), 4xx for a wrong path or an unreadable body.
func (in *Inbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutPrefix(r.URL.Path, "/v1/acks/")
	if r.Method != http.MethodPost || !ok {
		agency.WriteProblem(w, agency.Problem{Status: http.StatusNotFound, Detail: "callbacks go to POST /v1/acks/{agency}"})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, ack.MaxBytes+1))
	if err != nil {
		return
	}
	in.mu.Lock()
	expected, reg, reader := in.agency, in.reg, in.reader
	in.mu.Unlock()
	if name != expected || expected == "" {
		in.stray(fmt.Sprintf("callback to /v1/acks/%s, not /v1/acks/%s", name, expected))
		agency.WriteProblem(w, agency.Problem{Status: http.StatusNotFound, Detail: "this run tests " + expected})
		return
	}
	ref, err := reference(reg, name, body)
	if err != nil {
		in.stray("callback that cannot be read as an answer: " + err.Error())
		agency.WriteProblem(w, agency.Problem{Status: http.StatusUnprocessableEntity, Detail: err.Error()})
		return
	}
	_, refused := reader.Read(name, body, time.Now())
	in.mu.Lock()
	in.byRef[ref] = append(in.byRef[ref], body)
	close(in.changed)
	in.changed = make(chan struct{})
	in.mu.Unlock()
	if refused != nil {
		agency.WriteProblem(w, agency.Problem{Status: http.StatusUnprocessableEntity, Detail: refused.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"status":"received"}`+"\n")
}

func (in *Inbox) stray(what string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.strays = append(in.strays, what)
}

// reference reads, untrusted, which message an answer refers to.
func reference(reg *mapping.Registry, agencyName string, body []byte) (string, error) {
	if len(body) > ack.MaxBytes {
		return "", fmt.Errorf("%d bytes exceeds %d", len(body), ack.MaxBytes)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(body); err != nil || doc.Root() == nil {
		return "", errors.New("not well-formed XML")
	}
	f, err := reg.ParseAck(agencyName, doc.Root())
	if err != nil {
		return "", err
	}
	return f.RefMessageID, nil
}

// wait returns the n-th callback (from 1) referring to msgID, or false when
// none came within d.
func (in *Inbox) wait(ctx context.Context, msgID string, n int, d time.Duration) ([]byte, bool) {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		in.mu.Lock()
		got, changed := in.byRef[msgID], in.changed
		in.mu.Unlock()
		if len(got) >= n {
			return got[n-1], true
		}
		select {
		case <-changed:
		case <-t.C:
			return nil, false
		case <-ctx.Done():
			return nil, false
		}
	}
}

// unexpected lists the callbacks that matched nothing this run sent.
func (in *Inbox) unexpected(sent map[string]bool) []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	var refs []string
	for ref := range in.byRef {
		if !sent[ref] {
			refs = append(refs, fmt.Sprintf("callback refers to message %q, which this run did not send", ref))
		}
	}
	slices.Sort(refs)
	return append(append([]string(nil), in.strays...), refs...)
}
