// Package eventrelay publishes the durable events of the store to the
// fan-out bus: the relay half of a transactional outbox for live events.
//
// A transaction that changes what devices must see (a clearance decision,
// a lane's state) appends its events with store.Tx.AppendEvent in that same
// transaction; in the hub, code calls txn.Effects.Publish(topic, type, key,
// v) inside txn.Runner.InTx, which appends the events just before the audit
// head is taken. Nothing is published before the commit, and nothing committed
// is lost when the bus is down: the Relay publishes every committed event
// that is not yet marked published, in id order, and marks it published
// afterwards. A bus outage delays events; it never drops one.
//
// One relay at a time: each instance runs a Relay, and the one that holds
// the store's relay lease (store.Tx.ClaimEventRelay) publishes, so a
// topic's events reach the bus in the order they were appended (a
// declaration's events are appended under its declaration lock, so in
// commit order). A lease that lapses (a crashed or stalled instance) is
// taken over by another instance after Lease.
//
// Delivery is at least once: an instance that dies between publishing and
// marking leaves events that the next holder publishes again (under a new
// bus id). That is harmless by design: every event carries the whole state
// of its key (a declaration's decision, a lane's answer), never a delta, so
// a repeat changes nothing on a device.
//
// A device that (re)connects first receives its topic's current state
// (Snapshot: the newest event of each key), then live events; see
// internal/httpapi's lane event stream.
package eventrelay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gatehub/gatehub/internal/fanout"
	"github.com/gatehub/gatehub/internal/store"
)

// Relay moves committed events from the store to the bus. Build it with
// New; run it with Run; call Wake after a commit that appended events.
type Relay struct {
	cfg Config

	wake chan struct{}

	mu        sync.Mutex
	published int64 // events this relay published, for tests and metrics
	lastPrune time.Time
}

// Config is what a Relay needs. Store, Bus and Owner are required.
type Config struct {
	Store store.Store
	Bus   fanout.Bus
	// Owner names this instance in the relay lease.
	Owner string
	// Batch is how many events one round reads (default 256).
	Batch int
	// Lease is how long a holder keeps the relay without renewing it
	// (default 10s): how long another instance waits after a crash.
	Lease time.Duration
	// Poll is the idle wait between rounds when nobody called Wake
	// (default 200ms): it bounds how late another instance's events are
	// published when this one holds the lease.
	Poll time.Duration
	// PublishTimeout bounds one publish (default 2s).
	PublishTimeout time.Duration
	// Retention is how long published events are kept for lane snapshots
	// (default 24h); pruned about once a minute.
	Retention time.Duration
	// MaxBackoff bounds the wait after a failed round (default 5s).
	MaxBackoff time.Duration
	Now        func() time.Time
	Log        *slog.Logger
	// OnPublished, if set, is called after each round with the events it
	// marked published (metrics, tests).
	OnPublished func([]store.Event)
	// OnBacklog, if set, is called every round with the age of the oldest
	// event not yet published (0 when none): how late the lanes are, the
	// number to alert on while the bus is down.
	OnBacklog func(oldest time.Duration)
}

// New checks cfg and fills its defaults.
func New(cfg Config) (*Relay, error) {
	if cfg.Store == nil || cfg.Bus == nil {
		return nil, errors.New("eventrelay: Store and Bus are required")
	}
	if cfg.Owner == "" {
		return nil, errors.New("eventrelay: Owner is required")
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 256
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 10 * time.Second
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 200 * time.Millisecond
	}
	if cfg.PublishTimeout <= 0 {
		cfg.PublishTimeout = 2 * time.Second
	}
	if cfg.PublishTimeout*2 >= cfg.Lease {
		return nil, fmt.Errorf("eventrelay: PublishTimeout %v must be well under Lease %v", cfg.PublishTimeout, cfg.Lease)
	}
	if cfg.Retention <= 0 {
		cfg.Retention = 24 * time.Hour
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Relay{cfg: cfg, wake: make(chan struct{}, 1)}, nil
}

// Wake makes a running relay look for events now instead of at its next
// poll. It never blocks.
func (r *Relay) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Published reports how many events this relay has published.
func (r *Relay) Published() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.published
}

// Run relays until ctx ends.
func (r *Relay) Run(ctx context.Context) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-r.wake:
		}
		more, err := r.RunOnce(ctx)
		next := r.cfg.Poll
		switch {
		case err != nil && ctx.Err() == nil:
			failures++
			next = min(r.cfg.Poll<<min(failures, 10), r.cfg.MaxBackoff)
			if failures == 1 || failures%20 == 0 {
				r.cfg.Log.Warn("event relay round failed; events wait in the store", "error", err, "failures", failures)
			}
		case err == nil:
			if failures > 0 {
				r.cfg.Log.Info("event relay recovered", "after_failures", failures)
			}
			failures = 0
			if more {
				next = 0
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next)
	}
}

// RunOnce takes (or renews) the relay lease and, holding it, publishes one
// batch of unpublished events in id order, stopping at the first failure,
// and marks what it published. more says a full batch went out (more may
// be waiting). Not holding the lease is no error: another instance relays.
func (r *Relay) RunOnce(ctx context.Context) (more bool, err error) {
	// A look first, beside the writers: an idle hub then costs a read per
	// poll, not a write (on the embedded store, an fsync).
	var waiting []store.Event
	if err := readTx(ctx, r.cfg.Store, func(tx store.Tx) error {
		var err error
		waiting, err = tx.UnpublishedEvents(ctx, 1)
		return err
	}); err != nil {
		return false, fmt.Errorf("eventrelay: look for events: %w", err)
	}
	now := r.cfg.Now()
	if r.cfg.OnBacklog != nil {
		var age time.Duration
		if len(waiting) > 0 {
			age = max(now.Sub(waiting[0].CreatedAt), 0)
		}
		r.cfg.OnBacklog(age)
	}
	if len(waiting) == 0 {
		return false, nil
	}
	until := now.Add(r.cfg.Lease)
	var held bool
	var evs []store.Event
	err = r.cfg.Store.WithTx(ctx, func(tx store.Tx) error {
		var err error
		if held, err = tx.ClaimEventRelay(ctx, r.cfg.Owner, now, until); err != nil || !held {
			return err
		}
		evs, err = tx.UnpublishedEvents(ctx, r.cfg.Batch)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("eventrelay: read events: %w", err)
	}
	if !held {
		return false, nil
	}
	var done []store.Event
	var pubErr error
	for _, e := range evs {
		// Past the lease (less a publish), another instance may have taken
		// over: stop rather than race it out of order.
		if !r.cfg.Now().Add(r.cfg.PublishTimeout).Before(until) {
			break
		}
		pctx, cancel := context.WithTimeout(ctx, r.cfg.PublishTimeout)
		_, err := r.cfg.Bus.Publish(pctx, e.Topic, e.Type, e.Data)
		cancel()
		if err != nil {
			pubErr = fmt.Errorf("eventrelay: publish event %d to %s: %w", e.ID, e.Topic, err)
			break
		}
		done = append(done, e)
	}
	if len(done) > 0 {
		if err := r.mark(ctx, done); err != nil {
			return false, errors.Join(pubErr, err)
		}
	}
	if pubErr == nil {
		if err := r.maybePrune(ctx); err != nil {
			r.cfg.Log.Warn("prune published events", "error", err)
		}
	}
	return pubErr == nil && len(evs) == r.cfg.Batch && len(done) == len(evs), pubErr
}

func (r *Relay) mark(ctx context.Context, done []store.Event) error {
	ids := make([]int64, len(done))
	for i, e := range done {
		ids[i] = e.ID
	}
	at := store.Truncate(r.cfg.Now())
	// The events are on the bus already: mark them even if ctx has ended,
	// or the next holder publishes them again.
	mctx := context.WithoutCancel(ctx)
	if err := r.cfg.Store.WithTx(mctx, func(tx store.Tx) error {
		return tx.MarkEventsPublished(mctx, ids, at)
	}); err != nil {
		return fmt.Errorf("eventrelay: mark %d events published: %w", len(ids), err)
	}
	for i := range done {
		done[i].PublishedAt = at
	}
	r.mu.Lock()
	r.published += int64(len(done))
	r.mu.Unlock()
	if r.cfg.OnPublished != nil {
		r.cfg.OnPublished(done)
	}
	return nil
}

// pruneEvery is how often the lease holder deletes events past retention.
const pruneEvery = time.Minute

func (r *Relay) maybePrune(ctx context.Context) error {
	now := r.cfg.Now()
	r.mu.Lock()
	due := now.Sub(r.lastPrune) >= pruneEvery
	if due {
		r.lastPrune = now
	}
	r.mu.Unlock()
	if !due {
		return nil
	}
	return r.cfg.Store.WithTx(ctx, func(tx store.Tx) error {
		_, err := tx.PruneEvents(ctx, now.Add(-r.cfg.Retention))
		return err
	})
}

// Snapshot returns the current state of topic: the newest event of each
// of its keys (at most limit keys, those changed last), by ascending id,
// published or not. A device is sent this first when it connects.
func Snapshot(ctx context.Context, st store.Store, topic string, limit int) ([]store.Event, error) {
	var out []store.Event
	fn := func(tx store.Tx) error {
		var err error
		out, err = tx.LatestEvents(ctx, topic, limit)
		return err
	}
	if err := readTx(ctx, st, fn); err != nil {
		return nil, fmt.Errorf("eventrelay: snapshot of %s: %w", topic, err)
	}
	return out, nil
}

// readTx reads beside the embedded store's writer (store.Store.WithReadTx).
func readTx(ctx context.Context, st store.Store, fn func(store.Tx) error) error {
	return st.WithReadTx(ctx, fn)
}
