package app_test

import (
	"context"
	"github.com/gatehub/gatehub/internal/message"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/app"
	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/store/sqlite"
)

// gatedAgency stands between the hub and a simulated agency: it reports
// every delivery that reaches it and holds it until the test releases it,
// so the test knows a delivery is in flight instead of guessing by delay.
type gatedAgency struct {
	target  atomic.Pointer[url.URL]
	arrived chan string
	release chan struct{}
}

func (g *gatedAgency) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.arrived <- r.URL.Path
	<-g.release
	httputil.NewSingleHostReverseProxy(g.target.Load()).ServeHTTP(w, r)
}

func TestShutdownSettlesDeliveriesInFlight(t *testing.T) {
	gate := &gatedAgency{arrived: make(chan string, 16), release: make(chan struct{})}
	proxy := httptest.NewServer(gate)
	t.Cleanup(proxy.Close)

	cfg := baseConfig(t)
	// Customs goes through the gate; the other agencies answer directly.
	cfg.AgencyURLs = map[string]string{"customs": proxy.URL + "/customs/messages"}
	cfg.ShutdownGrace = 30 * time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := &notifyListener{Listener: ln, closed: make(chan struct{})}
	h := launch(t, cfg, app.Options{Listener: closed})
	simURL, _ := url.Parse(h.app.Simulators.BaseURL())
	gate.target.Store(simURL)

	v := h.submit(sample(t, nil))
	select {
	case <-gate.arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("the customs delivery never left the hub")
	}

	// Shut down while the delivery waits for the agency's answer, then let
	// the agency answer.
	stopped := make(chan error, 1)
	go func() { stopped <- h.stop() }()
	<-closed.closed // shutdown has begun: the hub no longer accepts requests
	select {
	case err := <-stopped:
		t.Fatalf("Run returned (%v) with a delivery still in flight", err)
	default:
	}
	close(gate.release)
	if err := <-stopped; err != nil {
		t.Fatalf("run: %v", err)
	}

	// The hub is gone; its store tells how the delivery ended.
	st, err := sqlite.Open(context.Background(), filepath.Join(cfg.DataDir, "gatehub.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var msgs []store.Message
	err = st.WithTx(context.Background(), func(tx store.Tx) error {
		var err error
		msgs, err = tx.ListMessages(context.Background(), store.MessageFilter{DeclarationID: v.ID})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range msgs {
		if m.Agency != "customs" {
			continue
		}
		found = true
		if m.State != message.Acked && m.State != message.Sent {
			t.Errorf("customs message left %s (attempts %d, last error %q)", m.State, m.Attempts, m.LastError)
		}
		if m.LeaseOwner != "" || !m.LeaseUntil.IsZero() {
			t.Errorf("customs message still leased by %q until %s", m.LeaseOwner, m.LeaseUntil)
		}
	}
	if !found {
		t.Fatal("no customs message")
	}
}

// notifyListener tells when the server closed it, the first step of a
// graceful shutdown.
type notifyListener struct {
	net.Listener
	once   sync.Once
	closed chan struct{}
}

func (l *notifyListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return l.Listener.Close()
}
