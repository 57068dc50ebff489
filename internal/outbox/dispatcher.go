package outbox

import (
	"context"
	"errors"
	"fmt"
	"github.com/gatehub/gatehub/internal/message"
	"log/slog"
	"sync"
	"time"

	"github.com/gatehub/gatehub/internal/store"
)

// Outcome classifies one delivery attempt. It is the one definition of a
// delivery verdict: agency transports classify their answers into it
// (adapters/agency.Classify), and the zero value is no verdict at all, so a
// Result nobody classified is never taken for a temporary failure.
type Outcome int

const (
	// Delivered: the agency took the message (synchronous answer in Body, or
	// accepted for an asynchronous answer).
	Delivered Outcome = iota + 1
	// Temporary: try again later (5xx, 429, timeout, connection refused).
	Temporary
	// Permanent: the agency refused the message itself (4xx); retrying the
	// same signed bytes cannot succeed, so it goes straight to dead-letter.
	Permanent
)

func (o Outcome) String() string {
	switch o {
	case Delivered:
		return "delivered"
	case Temporary:
		return "temporary"
	case Permanent:
		return "permanent"
	}
	return "unknown"
}

// Result is what a Sender reports for one attempt.
type Result struct {
	Outcome Outcome
	Status  int    // HTTP status, 0 for transport errors
	Body    []byte // synchronous ACK/NACK, when the agency answered one
	// BodyRead is what the Sender learned of Body before the settle
	// transaction (the ACK already verified and parsed), handed to
	// Hooks.Settled with the attempt it belongs to. Opaque to the outbox.
	BodyRead   any
	RetryAfter time.Duration
	Err        error
	Duration   time.Duration
}

// Sender performs one delivery attempt of a stored message.
type Sender interface {
	Send(ctx context.Context, m store.Message) Result
}

// Hooks lets the hub act on a settled attempt. Settled runs inside the
// transaction that records the outcome (audit entries, synchronous ACK,
// clearance decision); Committed runs after that transaction committed
// (live events, metrics).
type Hooks interface {
	Settled(ctx context.Context, tx store.Tx, m *store.Message, r Result) error
	Committed(ctx context.Context, m *store.Message, r Result)
}

// Dispatcher claims due messages and delivers them.
//
// With Agencies set, Run gives each agency a lane of its own: its own
// claims (ClaimDueFor), at most Workers attempts in flight, its own circuit
// breaker, and a claim as soon as one of its attempts ends, so there is no
// batch that a slow or hung agency holds up for the others. Retries follow
// the Policy: a lane wakes when the soonest message it rescheduled is due,
// not at the next poll. Without Agencies, Run claims Batch messages of any
// agency per round and waits for the round (the behaviour RunOnce steps).
type Dispatcher struct {
	Store   store.Store
	Sender  Sender
	Hooks   Hooks
	Policy  Policy
	Owner   string        // lease owner: instance id, so leases of a crashed instance are recognisable
	Batch   int           // messages claimed per round (RunOnce, and Run without Agencies)
	Lease   time.Duration // must exceed the longest Send, in-call retries included
	Workers int           // attempts in flight: per agency with Agencies, per round without
	Poll    time.Duration // idle wait when nothing is due and nobody called Wake
	Now     func() time.Time
	Log     *slog.Logger
	// Agencies, when set, are delivered by one lane each (see above).
	Agencies []string
	// Breaker tunes each lane's circuit breaker; zero fields take
	// DefaultBreakerPolicy's.
	Breaker BreakerPolicy
	// OnBreaker, when set, is told every change of a lane's circuit
	// (metrics); it must not block.
	OnBreaker func(agency string, from, to BreakerState)

	wakeOnce sync.Once
	wake     chan struct{}
	lanes    map[string]*lane
}

func (d *Dispatcher) init() {
	d.wakeOnce.Do(func() {
		d.wake = make(chan struct{}, 1)
		d.lanes = map[string]*lane{}
		for _, a := range d.Agencies {
			d.lanes[a] = &lane{agency: a, br: newBreaker(d.Breaker), kick: make(chan struct{}, 1)}
		}
	})
}

// Wake makes a running dispatcher look for due messages now instead of at
// its next poll; called after a declaration commits its messages.
func (d *Dispatcher) Wake() {
	d.init()
	poke(d.wake)
	for _, l := range d.lanes {
		poke(l.kick)
	}
}

func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// ResetBreaker closes agency's circuit and makes its lane claim now: an
// operator who redrives an agency after its outage says it is back.
func (d *Dispatcher) ResetBreaker(agency string) {
	d.init()
	if l, ok := d.lanes[agency]; ok {
		if from := l.br.reset(); from != BreakerClosed && d.OnBreaker != nil {
			d.OnBreaker(agency, from, BreakerClosed)
		}
		poke(l.kick)
	}
}

// BreakerState reports agency's circuit (closed for an agency without a lane).
func (d *Dispatcher) BreakerState(agency string) BreakerState {
	d.init()
	if l, ok := d.lanes[agency]; ok {
		return l.br.current()
	}
	return BreakerClosed
}

func (d *Dispatcher) poll() time.Duration {
	if d.Poll <= 0 {
		return time.Second
	}
	return d.Poll
}

func (d *Dispatcher) lease() time.Duration {
	if d.Lease <= 0 {
		return time.Minute
	}
	return d.Lease
}

// Run delivers until ctx ends. In-flight attempts are allowed to finish and
// settle, so a graceful shutdown does not leave work only a lease expiry
// would recover.
func (d *Dispatcher) Run(ctx context.Context) error {
	d.init()
	if len(d.lanes) > 0 {
		var wg sync.WaitGroup
		for _, l := range d.lanes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d.runLane(ctx, l)
			}()
		}
		wg.Wait()
		return nil
	}
	poll := d.poll()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-d.wake:
		}
		n, err := d.RunOnce(context.WithoutCancel(ctx))
		if err != nil {
			d.logger().Error("outbox round failed", "error", err)
		}
		next := poll
		if n >= d.batch() {
			next = 0 // more may be due right now
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

func (d *Dispatcher) batch() int {
	if d.Batch <= 0 {
		return 32
	}
	return d.Batch
}

func (d *Dispatcher) logger() *slog.Logger {
	if d.Log == nil {
		return slog.Default()
	}
	return d.Log
}

// RunOnce claims one batch, delivers it and settles every attempt. It returns
// how many messages it claimed.
func (d *Dispatcher) RunOnce(ctx context.Context) (int, error) {
	now := d.Now()
	lease := d.lease()
	var claimed []store.Message
	err := d.Store.WithTx(ctx, func(tx store.Tx) error {
		var err error
		claimed, err = tx.ClaimDue(ctx, now, d.batch(), d.Owner, now.Add(lease))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("claim due messages: %w", err)
	}
	workers := max(d.Workers, 1)
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, m := range claimed {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if _, _, err := d.deliver(ctx, m); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return len(claimed), errors.Join(errs...)
}

// deliver sends m and settles the attempt. It returns the attempt's result
// and the message as settled (nil when another owner's state won).
func (d *Dispatcher) deliver(ctx context.Context, m store.Message) (Result, *store.Message, error) {
	start := d.Now()
	sendCtx := ctx
	if !m.LeaseUntil.IsZero() {
		// The attempt must end when its lease does: after that another
		// instance may claim the message and send the same attempt again.
		// The transport's own bounds (agency timeout, in-call retries and
		// their waits) can be far longer than the lease.
		var cancel context.CancelFunc
		sendCtx, cancel = context.WithTimeout(ctx, m.LeaseUntil.Sub(start))
		defer cancel()
	}
	r := d.Sender.Send(sendCtx, m)
	if r.Duration == 0 {
		r.Duration = d.Now().Sub(start)
	}
	var settled *store.Message
	err := d.Store.WithTx(ctx, func(tx store.Tx) error {
		// The declaration before the message: the lock order of every
		// transaction that changes a declaration (store.Tx.LockDeclaration).
		if err := tx.LockDeclaration(ctx, m.DeclarationID); err != nil {
			return fmt.Errorf("lock declaration %s: %w", m.DeclarationID, err)
		}
		cur, err := tx.GetMessage(ctx, m.ID)
		if err != nil {
			return fmt.Errorf("reload message: %w", err)
		}
		if cur.LeaseOwner != d.Owner || cur.State != message.Pending {
			// Our lease expired and another instance took over, or an operator
			// cancelled/superseded the message meanwhile: their state wins.
			settled = nil
			return nil
		}
		if err := d.apply(cur, r); err != nil {
			return err
		}
		if err := tx.UpdateMessage(ctx, cur); err != nil {
			return fmt.Errorf("record attempt: %w", err)
		}
		if d.Hooks != nil {
			if err := d.Hooks.Settled(ctx, tx, cur, r); err != nil {
				return fmt.Errorf("settle hooks: %w", err)
			}
		}
		settled = cur
		return nil
	})
	if err != nil {
		// The attempt's outcome is lost, not the message: the lease expires and
		// the same bytes are sent again under the same message id.
		return r, nil, fmt.Errorf("settle message %s: %w", m.ID, err)
	}
	if settled != nil && d.Hooks != nil {
		d.Hooks.Committed(ctx, settled, r)
	}
	return r, settled, nil
}

// apply moves m, a pending message this dispatcher holds the lease of, to
// the state r calls for, through the message state machine.
func (d *Dispatcher) apply(m *store.Message, r Result) error {
	now := d.Now()
	m.Attempts++
	m.UpdatedAt = now
	m.LeaseOwner = ""
	m.LeaseUntil = time.Time{}
	var ev message.Event
	switch r.Outcome {
	case Delivered:
		ev = message.Delivered
		m.SentAt = now
		m.LastError = ""
	case Permanent:
		ev = message.GiveUp
		m.LastError = describe(r)
	default:
		ev = message.Retry
		m.LastError = describe(r)
		if d.Policy.Exhausted(m, now) {
			ev = message.GiveUp
			m.LastError = fmt.Sprintf("gave up after %d attempts: %s", m.Attempts, m.LastError)
		} else {
			m.NextAttemptAt = now.Add(d.Policy.Backoff(m.Attempts, r.RetryAfter))
		}
	}
	to, err := message.Transition(m.State, ev)
	if err != nil {
		return fmt.Errorf("message %s: %w", m.ID, err)
	}
	m.State = to
	return nil
}

func describe(r Result) string {
	switch {
	case r.Err != nil && r.Status != 0:
		return fmt.Sprintf("HTTP %d: %v", r.Status, r.Err)
	case r.Err != nil:
		return r.Err.Error()
	case r.Status != 0:
		return fmt.Sprintf("HTTP %d", r.Status)
	}
	return r.Outcome.String()
}
