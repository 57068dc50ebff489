package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/gatehub/gatehub/internal/message"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"time"

	"github.com/gatehub/gatehub/internal/outbox"
	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/store/sqlite"
)

// Agency faults of AgencyIsolation.
const (
	FaultNone = "none" // every agency answers
	FaultDown = "down" // one agency refuses connections
	FaultHung = "hung" // one agency accepts connections and never answers
)

// IsolationResult is the delivery rate of the healthy agencies while the
// faulty one behaves as Fault says.
type IsolationResult struct {
	Fault     string
	N         int // messages delivered to the healthy agencies
	Elapsed   time.Duration
	PerSecond float64
}

// isolationLatency is how long a healthy agency takes to answer.
const isolationLatency = 20 * time.Millisecond

// healthyAgencies answer; FaultyAgency is the one that fails.
var healthyAgencies = []string{"customs", "borderguard", "vehicleregistry"}

// FaultyAgency is the agency AgencyIsolation makes fail.
const FaultyAgency = "guangxi"

// AgencyIsolation measures the outbox dispatcher over the embedded store
// in dir, delivering n due messages to each of four agencies over real
// loopback HTTP: three answer in 20 ms, the fourth answers too (FaultNone),
// refuses connections (FaultDown) or accepts them and never answers
// (FaultHung, until the 2 s client timeout). It returns the three healthy
// agencies' delivery rate. The dispatcher runs as the hub runs it: one
// lane per agency, 8 attempts in flight each, circuit breakers on.
func AgencyIsolation(ctx context.Context, dir string, n int, fault string) (IsolationResult, error) {
	res := IsolationResult{Fault: fault, N: n * len(healthyAgencies)}
	st, err := sqlite.Open(ctx, filepath.Join(dir, "isolation.db"))
	if err != nil {
		return res, err
	}
	defer st.Close()

	var (
		mu        sync.Mutex
		delivered int
		last      time.Time
		done      = make(chan struct{})
	)
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		t := time.NewTimer(isolationLatency)
		defer t.Stop()
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer healthy.Close()
	endpoints := map[string]string{}
	for _, a := range healthyAgencies {
		endpoints[a] = healthy.URL
	}
	switch fault {
	case FaultNone:
		endpoints[FaultyAgency] = healthy.URL
	case FaultDown:
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return res, err
		}
		endpoints[FaultyAgency] = "http://" + ln.Addr().String()
		_ = ln.Close() // nothing listens there now: connection refused
	case FaultHung:
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return res, err
		}
		var held []net.Conn
		var hmu sync.Mutex
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				hmu.Lock()
				held = append(held, c) // read nothing, answer nothing
				hmu.Unlock()
			}
		}()
		defer func() {
			_ = ln.Close()
			hmu.Lock()
			for _, c := range held {
				_ = c.Close()
			}
			hmu.Unlock()
		}()
		endpoints[FaultyAgency] = "http://" + ln.Addr().String()
	default:
		return res, fmt.Errorf("unknown fault %q", fault)
	}

	if err := seedIsolation(ctx, st, n); err != nil {
		return res, err
	}
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer client.CloseIdleConnections()
	snd := senderFunc(func(ctx context.Context, m store.Message) outbox.Result {
		r := postMessage(ctx, client, endpoints[m.Agency], m)
		if r.Outcome == outbox.Delivered && m.Agency != FaultyAgency {
			mu.Lock()
			delivered++
			last = time.Now()
			if delivered == res.N {
				close(done)
			}
			mu.Unlock()
		}
		return r
	})
	d := &outbox.Dispatcher{
		Store: st, Sender: snd, Policy: outbox.DefaultPolicy(), Owner: "bench", Lease: 5 * time.Second,
		Workers: 8, Poll: 100 * time.Millisecond, Now: time.Now, Log: slog.New(slog.DiscardHandler),
		Agencies: append(append([]string(nil), healthyAgencies...), FaultyAgency),
	}
	runCtx, cancel := context.WithCancel(ctx)
	start := time.Now()
	ran := make(chan error, 1)
	go func() { ran <- d.Run(runCtx) }()
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		cancel()
		<-ran
		return res, errors.New("healthy agencies not served within 5 minutes")
	case <-ctx.Done():
		cancel()
		<-ran
		return res, ctx.Err()
	}
	cancel()
	<-ran
	mu.Lock()
	res.Elapsed = last.Sub(start)
	mu.Unlock()
	res.PerSecond = float64(res.N) / res.Elapsed.Seconds()
	return res, nil
}

type senderFunc func(ctx context.Context, m store.Message) outbox.Result

func (f senderFunc) Send(ctx context.Context, m store.Message) outbox.Result { return f(ctx, m) }

func postMessage(ctx context.Context, client *http.Client, url string, m store.Message) outbox.Result {
	req, err := http.NewRequestWithContext(ctx, "POST", url+"/messages", bytes.NewReader(m.Body))
	if err != nil {
		return outbox.Result{Outcome: outbox.Permanent, Err: err}
	}
	req.Header.Set("Content-Type", "application/xml")
	resp, err := client.Do(req)
	if err != nil {
		return outbox.Result{Outcome: outbox.Temporary, Err: err}
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	switch {
	case resp.StatusCode < 300:
		return outbox.Result{Outcome: outbox.Delivered, Status: resp.StatusCode}
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return outbox.Result{Outcome: outbox.Temporary, Status: resp.StatusCode}
	}
	return outbox.Result{Outcome: outbox.Permanent, Status: resp.StatusCode}
}

func seedIsolation(ctx context.Context, st store.Store, n int) error {
	now := time.Now()
	return st.WithTx(ctx, func(tx store.Tx) error {
		if err := tx.InsertDeclaration(ctx, &store.Declaration{
			ID: "D-ISOLATION", Version: 1, TraderTaxCode: "0101234567", Gate: "HUUNGHI", Status: "active",
			Body: []byte(`{}`), CreatedAt: now,
		}); err != nil {
			return err
		}
		for i := range n {
			for _, a := range append(append([]string(nil), healthyAgencies...), FaultyAgency) {
				if err := tx.InsertMessage(ctx, &store.Message{
					ID: fmt.Sprintf("%s-%05d", a, i), DeclarationID: "D-ISOLATION", Version: 1, Agency: a, Kind: "submit",
					MappingVersion: "bench", SchemaVersion: "bench", Body: []byte("<Message/>"), State: message.Pending,
					NextAttemptAt: now, CreatedAt: now.Add(time.Duration(i) * time.Microsecond), UpdatedAt: now,
				}); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
