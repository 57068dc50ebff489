package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/gatehub/gatehub/internal/message"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/outbox"
	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/store/storetest"
)

// t0 has microsecond precision, so times read back from the store compare
// equal without truncation noise.
var t0 = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

// clock is a manual clock: it moves only when the test says so.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// sender answers each message with the next scripted result (Delivered when
// the script is exhausted) and can act while the "HTTP call" is in flight.
type sender struct {
	mu     sync.Mutex
	script map[string][]outbox.Result
	during func(m store.Message)
	sent   []string
}

func (s *sender) Send(_ context.Context, m store.Message) outbox.Result {
	s.mu.Lock()
	s.sent = append(s.sent, m.ID)
	r := outbox.Result{Outcome: outbox.Delivered, Status: 202}
	if q := s.script[m.ID]; len(q) > 0 {
		r, s.script[m.ID] = q[0], q[1:]
	}
	during := s.during
	s.mu.Unlock()
	if during != nil {
		during(m)
	}
	if r.Duration == 0 {
		r.Duration = time.Millisecond // keep the dispatcher from asking the clock
	}
	return r
}

func (s *sender) Sent() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.sent...)
}

// hooks records what the dispatcher reports; settled, when set, runs in the
// settle transaction.
type hooks struct {
	mu        sync.Mutex
	settled   func(ctx context.Context, tx store.Tx, m *store.Message) error
	settles   []string
	committed []store.Message
	onCommit  func(m *store.Message)
}

func (h *hooks) Settled(ctx context.Context, tx store.Tx, m *store.Message, _ outbox.Result) error {
	h.mu.Lock()
	h.settles = append(h.settles, m.ID)
	fn := h.settled
	h.mu.Unlock()
	if fn != nil {
		return fn(ctx, tx, m)
	}
	return nil
}

func (h *hooks) Committed(_ context.Context, m *store.Message, _ outbox.Result) {
	h.mu.Lock()
	h.committed = append(h.committed, *m)
	fn := h.onCommit
	h.mu.Unlock()
	if fn != nil {
		fn(m)
	}
}

func (h *hooks) commits() []store.Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]store.Message(nil), h.committed...)
}

const lease = time.Minute

func policy() outbox.Policy {
	return outbox.Policy{
		MaxAttempts: 5, MaxAge: time.Hour, BaseBackoff: time.Second, MaxBackoff: time.Minute,
		// 0.5 puts every delay at three quarters of its nominal value: inside
		// the jitter bounds and distinguishable from both of them.
		Jitter: fixedJitter(0.5),
	}
}

func dispatcher(s store.Store, owner string, snd outbox.Sender, c *clock, h outbox.Hooks) *outbox.Dispatcher {
	d := &outbox.Dispatcher{
		Store: s, Sender: snd, Policy: policy(), Owner: owner, Batch: 10, Lease: lease, Workers: 1, Now: c.Now,
	}
	if h != nil {
		d.Hooks = h
	}
	return d
}

// seed stores declaration D1 (messages need one) and messages with the
// given ids, pending and due at t0 unless edit changes them.
func seed(t *testing.T, s store.Store, edit func(*store.Message), ids ...string) {
	t.Helper()
	err := s.WithTx(t.Context(), func(tx store.Tx) error {
		if _, err := tx.LatestDeclaration(t.Context(), "D1"); errors.Is(err, store.ErrNotFound) {
			if err := tx.InsertDeclaration(t.Context(), &store.Declaration{
				ID: "D1", Version: 1, TraderTaxCode: "0101234567", Gate: "HUUNGHI", Status: "active",
				Body: []byte(`{}`), CreatedAt: t0.Add(-time.Minute),
			}); err != nil {
				return err
			}
		}
		for i, id := range ids {
			m := &store.Message{
				ID: id, DeclarationID: "D1", Version: 1, Agency: "customs", Kind: "submit",
				MappingVersion: "m1", SchemaVersion: "s1", Body: []byte("<m>" + id + "</m>"),
				State: message.Pending, NextAttemptAt: t0,
				CreatedAt: t0.Add(time.Duration(i) * time.Microsecond), UpdatedAt: t0,
			}
			if edit != nil {
				edit(m)
			}
			if err := tx.InsertMessage(t.Context(), m); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
}

func get(t *testing.T, s store.Store, id string) store.Message {
	t.Helper()
	var m *store.Message
	if err := s.WithTx(t.Context(), func(tx store.Tx) error {
		var err error
		m, err = tx.GetMessage(t.Context(), id)
		return err
	}); err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return *m
}

func runOnce(t *testing.T, d *outbox.Dispatcher) int {
	t.Helper()
	n, err := d.RunOnce(t.Context())
	if err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	return n
}

func TestDispatcherOutcomes(t *testing.T) {
	boom := errors.New("connection refused")
	tests := []struct {
		name          string
		edit          func(*store.Message) // message as stored before the attempt
		result        outbox.Result
		wantState     message.State
		wantAttempts  int
		wantError     string        // substring of LastError; "" means empty
		wantNextAfter time.Duration // pending only: NextAttemptAt - now
	}{
		{
			name: "delivered is sent and clears the last error", edit: func(m *store.Message) { m.Attempts, m.LastError = 2, "HTTP 503" },
			result: outbox.Result{Outcome: outbox.Delivered, Status: 202}, wantState: message.Sent, wantAttempts: 3,
		},
		{
			name: "temporary 503 backs off", result: outbox.Result{Outcome: outbox.Temporary, Status: 503},
			wantState: message.Pending, wantAttempts: 1, wantError: "HTTP 503", wantNextAfter: 750 * time.Millisecond,
		},
		{
			name: "backoff grows with the attempts", edit: func(m *store.Message) { m.Attempts = 2 },
			result: outbox.Result{Outcome: outbox.Temporary, Status: 502}, wantState: message.Pending, wantAttempts: 3,
			wantError: "HTTP 502", wantNextAfter: 3 * time.Second, // nominal 4s, jitter 0.5
		},
		{
			name: "Retry-After longer than the backoff is honoured", result: outbox.Result{Outcome: outbox.Temporary, Status: 429, RetryAfter: 30 * time.Second},
			wantState: message.Pending, wantAttempts: 1, wantError: "HTTP 429", wantNextAfter: 30 * time.Second,
		},
		{
			name: "Retry-After shorter than the backoff is not", edit: func(m *store.Message) { m.Attempts = 3 },
			result: outbox.Result{Outcome: outbox.Temporary, Status: 503, RetryAfter: time.Second}, wantState: message.Pending,
			wantAttempts: 4, wantError: "HTTP 503", wantNextAfter: 6 * time.Second,
		},
		{
			name: "transport error keeps its text", result: outbox.Result{Outcome: outbox.Temporary, Err: boom},
			wantState: message.Pending, wantAttempts: 1, wantError: "connection refused", wantNextAfter: 750 * time.Millisecond,
		},
		{
			name: "permanent 4xx is dead at once", result: outbox.Result{Outcome: outbox.Permanent, Status: 422, Err: errors.New("schema invalid")},
			wantState: message.Dead, wantAttempts: 1, wantError: "HTTP 422: schema invalid",
		},
		{
			name: "dead after MaxAttempts", edit: func(m *store.Message) { m.Attempts = 4 },
			result: outbox.Result{Outcome: outbox.Temporary, Status: 503}, wantState: message.Dead, wantAttempts: 5,
			wantError: "gave up after 5 attempts: HTTP 503",
		},
		{
			name: "dead after MaxAge", edit: func(m *store.Message) { m.CreatedAt = t0.Add(-time.Hour) },
			result: outbox.Result{Outcome: outbox.Temporary, Status: 503}, wantState: message.Dead, wantAttempts: 1,
			wantError: "gave up after 1 attempts",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := storetest.OpenSQLite(t)
			c := newClock()
			seed(t, s, tc.edit, "M1")
			snd := &sender{script: map[string][]outbox.Result{"M1": {tc.result}}}
			h := &hooks{}
			d := dispatcher(s, "A", snd, c, h)

			if n := runOnce(t, d); n != 1 {
				t.Fatalf("claimed %d, want 1", n)
			}
			m := get(t, s, "M1")
			if m.State != tc.wantState || m.Attempts != tc.wantAttempts {
				t.Fatalf("state %s attempts %d, want %s %d", m.State, m.Attempts, tc.wantState, tc.wantAttempts)
			}
			if (tc.wantError == "" && m.LastError != "") || !strings.Contains(m.LastError, tc.wantError) {
				t.Errorf("last error %q, want %q", m.LastError, tc.wantError)
			}
			if m.LeaseOwner != "" || !m.LeaseUntil.IsZero() {
				t.Errorf("lease %q until %v left behind", m.LeaseOwner, m.LeaseUntil)
			}
			if got := h.commits(); len(got) != 1 || got[0].State != tc.wantState {
				t.Errorf("Committed saw %+v, want one call with state %s", got, tc.wantState)
			}
			switch tc.wantState {
			case message.Sent:
				if !m.SentAt.Equal(t0) {
					t.Errorf("sent at %v, want %v", m.SentAt, t0)
				}
			case message.Pending:
				if got := m.NextAttemptAt.Sub(t0); got != tc.wantNextAfter {
					t.Fatalf("next attempt after %v, want %v", got, tc.wantNextAfter)
				}
				// Not due a microsecond early; due exactly on time.
				c.Advance(tc.wantNextAfter - time.Microsecond)
				if n := runOnce(t, d); n != 0 {
					t.Fatalf("claimed %d before the backoff elapsed", n)
				}
				c.Advance(time.Microsecond)
				if n := runOnce(t, d); n != 1 {
					t.Fatalf("claimed %d once the backoff elapsed, want 1", n)
				}
				if got := get(t, s, "M1"); got.State != message.Sent || got.Attempts != tc.wantAttempts+1 {
					t.Fatalf("retry: state %s attempts %d", got.State, got.Attempts)
				}
				return
			}
			// Sent and dead messages are never claimed again.
			c.Advance(48 * time.Hour)
			if n := runOnce(t, d); n != 0 {
				t.Fatalf("a %s message was claimed again", tc.wantState)
			}
			if got := snd.Sent(); len(got) != 1 {
				t.Fatalf("sent %v, want exactly one attempt", got)
			}
		})
	}
}

func TestDispatcherClaimsInBatches(t *testing.T) {
	s := storetest.OpenSQLite(t)
	c := newClock()
	seed(t, s, nil, "M1", "M2", "M3", "M4", "M5")
	snd := &sender{}
	d := dispatcher(s, "A", snd, c, nil)
	d.Batch = 2
	var rounds []int
	for range 4 {
		rounds = append(rounds, runOnce(t, d))
	}
	if fmt.Sprint(rounds) != "[2 2 1 0]" {
		t.Fatalf("claimed per round %v, want [2 2 1 0]", rounds)
	}
	if got := fmt.Sprint(snd.Sent()); got != "[M1 M2 M3 M4 M5]" {
		t.Fatalf("sent %s, want every message once in creation order", got)
	}
}

func TestDispatcherSkipsMessagesNotDue(t *testing.T) {
	s := storetest.OpenSQLite(t)
	c := newClock()
	seed(t, s, func(m *store.Message) { m.NextAttemptAt = t0.Add(10 * time.Second) }, "LATER")
	seed(t, s, func(m *store.Message) { m.State = message.Sent }, "SENT")
	seed(t, s, func(m *store.Message) { m.State = message.Dead }, "DEAD")
	seed(t, s, func(m *store.Message) { m.State = message.Cancelled }, "CANCELLED")
	snd := &sender{}
	d := dispatcher(s, "A", snd, c, nil)
	if n := runOnce(t, d); n != 0 {
		t.Fatalf("claimed %d messages, none is due", n)
	}
	c.Advance(10 * time.Second)
	if n := runOnce(t, d); n != 1 || fmt.Sprint(snd.Sent()) != "[LATER]" {
		t.Fatalf("claimed %d, sent %v; want only LATER once due", n, snd.Sent())
	}
}

// TestDispatcherLease: while A holds a message's lease, B cannot claim it;
// once the lease expires B takes over, and A's late settle changes nothing.
func TestDispatcherLease(t *testing.T) {
	tests := []struct {
		name string
		// takeOver runs while A's attempt is in flight, with the clock past
		// A's lease. It returns the state the message must end in.
		takeOver  func(t *testing.T, s store.Store, b *outbox.Dispatcher, c *clock) (state message.State, owner string, attempts int)
		bSendsToo bool
	}{
		{
			name: "B claimed and is still delivering", // the cur.LeaseOwner != d.Owner branch with the row still pending
			takeOver: func(t *testing.T, s store.Store, _ *outbox.Dispatcher, c *clock) (message.State, string, int) {
				if err := s.WithTx(t.Context(), func(tx store.Tx) error {
					got, err := tx.ClaimDue(t.Context(), c.Now(), 10, "B", c.Now().Add(lease))
					if err == nil && len(got) != 1 {
						err = fmt.Errorf("B claimed %d messages after A's lease expired, want 1", len(got))
					}
					return err
				}); err != nil {
					t.Fatal(err)
				}
				return message.Pending, "B", 0
			},
		},
		{
			name: "B claimed and delivered",
			takeOver: func(t *testing.T, _ store.Store, b *outbox.Dispatcher, _ *clock) (message.State, string, int) {
				if n := runOnce(t, b); n != 1 {
					t.Fatalf("B claimed %d after A's lease expired, want 1", n)
				}
				return message.Sent, "", 1
			},
			bSendsToo: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := storetest.OpenSQLite(t)
			c := newClock()
			seed(t, s, nil, "M1")
			hb := &hooks{}
			sb := &sender{}
			b := dispatcher(s, "B", sb, c, hb)
			ha := &hooks{}
			sa := &sender{script: map[string][]outbox.Result{"M1": {{Outcome: outbox.Temporary, Status: 503}}}}
			var want struct {
				state    message.State
				owner    string
				attempts int
			}
			sa.during = func(store.Message) {
				// A's lease holds: B gets nothing, however often it looks.
				c.Advance(lease - time.Microsecond)
				if n := runOnce(t, b); n != 0 {
					t.Errorf("B claimed %d messages while A's lease held", n)
				}
				c.Advance(time.Microsecond)
				want.state, want.owner, want.attempts = tc.takeOver(t, s, b, c)
			}
			a := dispatcher(s, "A", sa, c, ha)
			if n := runOnce(t, a); n != 1 {
				t.Fatalf("A claimed %d, want 1", n)
			}
			m := get(t, s, "M1")
			if m.State != want.state || m.LeaseOwner != want.owner || m.Attempts != want.attempts || m.LastError != "" {
				t.Fatalf("after A's late settle: state %s owner %q attempts %d error %q; want %s %q %d and no error",
					m.State, m.LeaseOwner, m.Attempts, m.LastError, want.state, want.owner, want.attempts)
			}
			if len(ha.settles) != 0 || len(ha.commits()) != 0 {
				t.Errorf("A's hooks ran for an attempt whose lease it had lost: settled %v committed %d", ha.settles, len(ha.commits()))
			}
			if tc.bSendsToo && fmt.Sprint(sb.Sent()) != "[M1]" {
				t.Errorf("B sent %v", sb.Sent())
			}
		})
	}
}

// TestDispatcherKeepsConcurrentStateChanges: what happened to a message
// while its attempt was in flight (operator cancel, supersession, an ACK
// that overtook the settle) is not overwritten by the attempt's outcome.
func TestDispatcherKeepsConcurrentStateChanges(t *testing.T) {
	for _, state := range []message.State{message.Cancelled, message.Superseded, message.Acked} {
		for _, outcome := range []outbox.Outcome{outbox.Delivered, outbox.Temporary, outbox.Permanent} {
			t.Run(string(state)+"/"+outcome.String(), func(t *testing.T) {
				s := storetest.OpenSQLite(t)
				c := newClock()
				seed(t, s, nil, "M1")
				snd := &sender{script: map[string][]outbox.Result{"M1": {{Outcome: outcome, Status: 500}}}}
				snd.during = func(store.Message) {
					// What Hub.CancelMessage / supersede / applyAck do: change the
					// state and release the lease.
					if err := s.WithTx(t.Context(), func(tx store.Tx) error {
						m, err := tx.GetMessage(t.Context(), "M1")
						if err != nil {
							return err
						}
						m.State, m.LeaseOwner, m.LeaseUntil = state, "", time.Time{}
						return tx.UpdateMessage(t.Context(), m)
					}); err != nil {
						t.Error(err)
					}
				}
				h := &hooks{}
				if n := runOnce(t, dispatcher(s, "A", snd, c, h)); n != 1 {
					t.Fatalf("claimed %d", n)
				}
				m := get(t, s, "M1")
				if m.State != state || m.Attempts != 0 || m.LastError != "" || !m.SentAt.IsZero() {
					t.Fatalf("state %s attempts %d error %q sent %v; want %s untouched", m.State, m.Attempts, m.LastError, m.SentAt, state)
				}
				if len(h.settles) != 0 || len(h.commits()) != 0 {
					t.Errorf("hooks ran: settled %v committed %d", h.settles, len(h.commits()))
				}
			})
		}
	}
}

// TestDispatcherHooks: Settled runs inside the settle transaction (it sees
// the uncommitted attempt, and its error rolls the attempt back); Committed
// runs only after commit.
func TestDispatcherHooks(t *testing.T) {
	s := storetest.OpenSQLite(t)
	c := newClock()
	seed(t, s, nil, "M1")
	fail := true
	h := &hooks{}
	h.settled = func(ctx context.Context, tx store.Tx, m *store.Message) error {
		// The hook's own writes share the transaction…
		if err := tx.UpdateDeclarationStatus(ctx, "D1", "touched-by-hook"); err != nil {
			return err
		}
		// …and it sees the attempt recorded but not yet committed.
		cur, err := tx.GetMessage(ctx, m.ID)
		if err != nil {
			return err
		}
		if cur.State != message.Sent || cur.Attempts != m.Attempts {
			t.Errorf("inside Settled the row is %s/%d, want the attempt's sent/%d", cur.State, cur.Attempts, m.Attempts)
		}
		if fail {
			return errors.New("audit append failed")
		}
		return nil
	}
	h.onCommit = func(m *store.Message) {
		// Committed: a fresh transaction sees the outcome.
		if got := get(t, s, m.ID); got.State != message.Sent {
			t.Errorf("Committed ran before the outcome was visible: state %s", got.State)
		}
	}
	snd := &sender{}
	d := dispatcher(s, "A", snd, c, h)

	if _, err := d.RunOnce(t.Context()); err == nil || !strings.Contains(err.Error(), "audit append failed") {
		t.Fatalf("RunOnce error %v, want the hook's failure", err)
	}
	m := get(t, s, "M1")
	if m.State != message.Pending || m.Attempts != 0 || m.LeaseOwner != "A" {
		t.Fatalf("after a failed hook: state %s attempts %d lease %q; want pending, 0, still leased by A", m.State, m.Attempts, m.LeaseOwner)
	}
	var status string
	if err := s.WithTx(t.Context(), func(tx store.Tx) error {
		d, err := tx.LatestDeclaration(t.Context(), "D1")
		if err == nil {
			status = d.Status
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if status != "active" {
		t.Errorf("the hook's write survived the rollback: declaration status %q", status)
	}
	if len(h.commits()) != 0 {
		t.Fatalf("Committed ran for a rolled-back attempt")
	}

	// The outcome was lost, not the message: after the lease it is sent
	// again, with the same id, and this time settles.
	fail = false
	if n := runOnce(t, d); n != 0 {
		t.Fatalf("reclaimed %d while the lease held", n)
	}
	c.Advance(lease)
	if n := runOnce(t, d); n != 1 {
		t.Fatalf("claimed %d after the lease expired, want 1", n)
	}
	if got := fmt.Sprint(snd.Sent()); got != "[M1 M1]" {
		t.Fatalf("sent %s, want the same message twice", got)
	}
	if got := h.commits(); len(got) != 1 || got[0].State != message.Sent || got[0].Attempts != 1 {
		t.Fatalf("Committed %+v, want once with sent/1", got)
	}
}
