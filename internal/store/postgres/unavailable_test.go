package postgres_test

import (
	"context"
	"errors"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/netfault"
	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/store/storetest"
)

// With Postgres cut off, transactions and Ping fail as store.ErrUnavailable
// (503 upstream, never 500); an error of the transaction's own making does
// not; and the store works again once Postgres is back, without reopening.
func TestUnreachableIsUnavailable(t *testing.T) {
	u, err := url.Parse(storetest.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	p, err := netfault.Listen(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	u.Host = p.Addr()
	s := open(t, u.String())
	ctx := context.Background()
	read := func() error {
		return s.WithTx(ctx, func(tx store.Tx) error {
			_, err := tx.LatestDeclaration(ctx, "none")
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			return err
		})
	}
	if err := read(); err != nil {
		t.Fatal(err)
	}
	mine := errors.New("mine")
	if err := s.WithTx(ctx, func(store.Tx) error { return mine }); !errors.Is(err, mine) || errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("fn's own error came back as %v", err)
	}

	p.Cut()
	if err := read(); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("transaction with Postgres cut: %v, want ErrUnavailable", err)
	}
	if err := s.Ping(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("ping with Postgres cut: %v, want ErrUnavailable", err)
	}
	if err := p.Restore(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for read() != nil || s.Ping(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("store did not recover: %v / %v", read(), s.Ping(ctx))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Readiness has its own connection: with every pooled connection busy in a
// long transaction, Ping still answers at once.
func TestPingDoesNotQueueBehindThePool(t *testing.T) {
	s := open(t, storetest.PostgresDSN(t)+"&pool_max_conns=2")
	ctx := context.Background()
	release := make(chan struct{})
	var held, wg sync.WaitGroup
	for range 2 {
		held.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = s.WithTx(ctx, func(tx store.Tx) error {
				held.Done()
				<-release
				return nil
			})
		}()
	}
	held.Wait()
	start := time.Now()
	err := s.Ping(ctx)
	took := time.Since(start)
	close(release)
	wg.Wait()
	if err != nil {
		t.Fatalf("ping with the pool exhausted: %v", err)
	}
	if took > 500*time.Millisecond {
		t.Errorf("ping took %s with the pool exhausted", took)
	}
}
