package outbox

import (
	"context"
	"github.com/gatehub/gatehub/internal/message"
	"sync"
	"time"

	"github.com/gatehub/gatehub/internal/store"
)

// lane delivers one agency's messages.
type lane struct {
	agency string
	br     *breaker
	kick   chan struct{} // Wake, an attempt that ended, a breaker reset

	mu       sync.Mutex
	inflight int
	// soonest is the earliest NextAttemptAt of a message this lane
	// rescheduled and has not reached yet: the lane wakes then, so retry
	// spacing is the policy's, not the poll's.
	soonest time.Time
}

func (l *lane) free(workers int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return workers - l.inflight
}

// nextWake returns how long to wait at most, given the poll and the
// soonest rescheduled message.
func (l *lane) nextWake(now time.Time, wait time.Duration) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.soonest.IsZero() {
		return wait
	}
	if !now.Before(l.soonest) {
		l.soonest = time.Time{} // reached: this round's claim takes it
		return wait
	}
	return min(wait, l.soonest.Sub(now))
}

func (l *lane) ended(settled *store.Message) {
	l.mu.Lock()
	l.inflight--
	if settled != nil && settled.State == message.Pending && !settled.NextAttemptAt.IsZero() &&
		(l.soonest.IsZero() || settled.NextAttemptAt.Before(l.soonest)) {
		l.soonest = settled.NextAttemptAt
	}
	l.mu.Unlock()
	poke(l.kick)
}

// runLane claims l's due messages while it has free slots and its circuit
// lets it, until ctx ends; then it waits for its attempts in flight.
func (d *Dispatcher) runLane(ctx context.Context, l *lane) {
	var wg sync.WaitGroup
	defer wg.Wait()
	workers := max(d.Workers, 1)
	timer := time.NewTimer(0)
	defer timer.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-l.kick:
		}
		now := d.Now()
		wait := d.poll()
		if free := l.free(workers); free > 0 {
			n, reopen := l.br.allow(now, free)
			switch {
			case n > 0:
				claimed, err := d.claimFor(ctx, l.agency, now, n)
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					if !failing {
						d.logger().Error("outbox claim failed", "agency", l.agency, "error", err)
					}
					failing = true
					l.br.unused()
					break
				}
				failing = false
				if len(claimed) == 0 {
					l.br.unused()
				}
				for _, m := range claimed {
					l.mu.Lock()
					l.inflight++
					l.mu.Unlock()
					wg.Add(1)
					go func() {
						defer wg.Done()
						d.attempt(context.WithoutCancel(ctx), l, m)
					}()
				}
				// Every slot taken: the attempt that ends first kicks the
				// lane. Fewer due than slots: nothing more until the poll,
				// a Wake or a rescheduled message falls due.
			case !reopen.IsZero():
				wait = min(wait, max(reopen.Sub(now), 0))
			}
		}
		wait = l.nextWake(now, wait)
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wait)
	}
}

func (d *Dispatcher) attempt(ctx context.Context, l *lane, m store.Message) {
	r, settled, err := d.deliver(ctx, m)
	if err != nil {
		d.logger().Error("outbox delivery not settled", "agency", l.agency, "message_id", m.ID, "error", err)
	}
	if r.Outcome != 0 {
		if from, to, changed := l.br.record(d.Now(), r.Outcome); changed {
			d.logger().Warn("agency circuit "+to.String(), "agency", l.agency, "from", from.String(), "last_error", describe(r))
			if d.OnBreaker != nil {
				d.OnBreaker(l.agency, from, to)
			}
		}
	}
	l.ended(settled)
}

func (d *Dispatcher) claimFor(ctx context.Context, agency string, now time.Time, n int) ([]store.Message, error) {
	var claimed []store.Message
	err := d.Store.WithTx(ctx, func(tx store.Tx) error {
		var err error
		claimed, err = tx.ClaimDueFor(ctx, store.ClaimParams{
			Agency: agency, Now: now, Limit: n, Owner: d.Owner, LeaseUntil: now.Add(d.lease()),
		})
		return err
	})
	return claimed, err
}
