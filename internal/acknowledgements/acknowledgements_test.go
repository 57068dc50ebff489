package acknowledgements_test

import (
	"context"
	"errors"
	"github.com/gatehub/gatehub/internal/message"
	"sync"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/ack"
	"github.com/gatehub/gatehub/internal/acknowledgements"
	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/hubtest"
	"github.com/gatehub/gatehub/internal/outbox"
	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/views"
)

func TestHandleAck(t *testing.T) {
	cases := []struct {
		name string
		// post returns the agency and body to post, given the submitted
		// declaration; it may post earlier answers first.
		post      func(t *testing.T, h *hubtest.Hub, v *views.DeclarationView) (string, []byte)
		wantCode  string // refusal code, "" when accepted
		wantState message.State
		wantDup   bool
	}{
		{
			name: "ack",
			post: func(t *testing.T, h *hubtest.Hub, v *views.DeclarationView) (string, []byte) {
				m := v.Messages[0]
				return m.Agency, h.Ack(t, m.Agency, v.ID, m.ID, "A1", ack.StatusAck)
			},
			wantState: message.Acked,
		},
		{
			name: "nack",
			post: func(t *testing.T, h *hubtest.Hub, v *views.DeclarationView) (string, []byte) {
				m := v.Messages[0]
				return m.Agency, h.Ack(t, m.Agency, v.ID, m.ID, "A1", ack.StatusNack)
			},
			wantState: message.Nacked,
		},
		{
			name: "duplicate",
			post: func(t *testing.T, h *hubtest.Hub, v *views.DeclarationView) (string, []byte) {
				m := v.Messages[0]
				raw := h.Ack(t, m.Agency, v.ID, m.ID, "A1", ack.StatusAck)
				if _, err := h.Acks.HandleAck(t.Context(), m.Agency, raw, acknowledgements.AckOrigin{Authenticated: true}); err != nil {
					t.Fatal(err)
				}
				return m.Agency, raw
			},
			wantState: message.Acked, wantDup: true,
		},
		{
			name: "conflicting second answer",
			post: func(t *testing.T, h *hubtest.Hub, v *views.DeclarationView) (string, []byte) {
				m := v.Messages[0]
				if _, err := h.Acks.HandleAck(t.Context(), m.Agency, h.Ack(t, m.Agency, v.ID, m.ID, "A1", ack.StatusAck), acknowledgements.AckOrigin{Authenticated: true}); err != nil {
					t.Fatal(err)
				}
				return m.Agency, h.Ack(t, m.Agency, v.ID, m.ID, "A2", ack.StatusNack)
			},
			wantCode: "conflict", wantState: message.Acked,
		},
		{
			name: "unknown message",
			post: func(t *testing.T, h *hubtest.Hub, v *views.DeclarationView) (string, []byte) {
				m := v.Messages[0]
				return m.Agency, h.Ack(t, m.Agency, v.ID, "M-none", "A1", ack.StatusAck)
			},
			wantCode: "unknown_message", wantState: message.Pending,
		},
		{
			name: "another agency's message",
			post: func(t *testing.T, h *hubtest.Hub, v *views.DeclarationView) (string, []byte) {
				m, other := v.Messages[0], v.Messages[1]
				return other.Agency, h.Ack(t, other.Agency, v.ID, m.ID, "A1", ack.StatusAck)
			},
			wantCode: "wrong_agency", wantState: message.Pending,
		},
		{
			name: "signed by another agency",
			post: func(t *testing.T, h *hubtest.Hub, v *views.DeclarationView) (string, []byte) {
				m, other := v.Messages[0], v.Messages[1]
				return m.Agency, h.Ack(t, other.Agency, v.ID, m.ID, "A1", ack.StatusAck)
			},
			wantCode: "signature", wantState: message.Pending,
		},
		{
			name: "not XML (no signed root)",
			post: func(t *testing.T, h *hubtest.Hub, v *views.DeclarationView) (string, []byte) {
				return v.Messages[0].Agency, []byte("hello")
			},
			wantCode: "signature", wantState: message.Pending,
		},
	}
	for _, st := range hubtest.Stores {
		for _, tc := range cases {
			t.Run(st.Name+"/"+tc.name, func(t *testing.T) {
				h := hubtest.New(t, st.Open(t))
				v := h.Submit(t, 1)
				if len(v.Messages) < 2 {
					t.Fatalf("%d messages, the cases need two agencies", len(v.Messages))
				}
				agency, raw := tc.post(t, h, v)
				res, err := h.Acks.HandleAck(t.Context(), agency, raw, acknowledgements.AckOrigin{Authenticated: true})
				var refused *acknowledgements.RefusedError
				switch {
				case tc.wantCode == "" && err != nil:
					t.Fatalf("refused: %v", err)
				case tc.wantCode != "" && (!errors.As(err, &refused) || refused.Code != tc.wantCode):
					t.Fatalf("err = %v, want refusal %q", err, tc.wantCode)
				case tc.wantCode == "" && res.Duplicate != tc.wantDup:
					t.Errorf("duplicate = %v, want %v", res.Duplicate, tc.wantDup)
				}
				m, err := h.Views.Message(t.Context(), v.Messages[0].ID)
				if err != nil {
					t.Fatal(err)
				}
				if m.State != tc.wantState {
					t.Errorf("message state %s, want %s", m.State, tc.wantState)
				}
				if tc.wantCode != "" {
					es, err := h.Views.AuditFind(t.Context(), store.AuditFilter{Kind: audit.KindAckRefused})
					if err != nil || len(es) != 1 {
						t.Errorf("%d ack.refused entries (%v), want 1", len(es), err)
					}
				}
			})
		}
	}
}

// syncSender answers each delivery at once with a signed ACK, as a
// synchronous agency does; before answering it runs during (a lost lease).
type syncSender struct {
	t      *testing.T
	h      *hubtest.Hub
	declID string
	during func(m store.Message)
}

func (s *syncSender) Send(_ context.Context, m store.Message) outbox.Result {
	raw := s.h.Ack(s.t, m.Agency, s.declID, m.ID, "A-"+m.ID, ack.StatusAck)
	if s.during != nil {
		s.during(m)
	}
	return outbox.Result{Outcome: outbox.Delivered, Status: 200, Body: raw, BodyRead: s.h.Acks.VerifyAck(m, raw)}
}

// TestSettleEffects: the effects of a settled delivery (the relay woken for
// the decision event, its metrics) follow the commit of the settle
// transaction exactly once, and never happen when the lease was lost or
// the transaction rolled back.
func TestSettleEffects(t *testing.T) {
	cases := []struct {
		name string
		// lose takes the message away from the dispatcher while it sends.
		lose bool
		// failHook makes the settle transaction fail after the hub's hook.
		failHook  bool
		wantState message.State
		wantWakes int64
	}{
		{name: "committed", wantState: message.Acked, wantWakes: 1},
		{name: "lost lease", lose: true, wantState: message.Pending},
		{name: "rolled back", failHook: true, wantState: message.Pending},
	}
	for _, st := range hubtest.Stores {
		for _, tc := range cases {
			t.Run(st.Name+"/"+tc.name, func(t *testing.T) {
				s := st.Open(t)
				h := hubtest.New(t, s)
				v := h.Submit(t, 1)
				target := v.Messages[0]
				// Only target is due: the others are cancelled.
				for _, m := range v.Messages[1:] {
					if _, err := h.Operator.CancelMessage(t.Context(), hubtest.Operator, m.ID); err != nil {
						t.Fatal(err)
					}
				}
				sender := &syncSender{t: t, h: h, declID: v.ID}
				if tc.lose {
					sender.during = func(m store.Message) {
						// Another instance claimed it after our lease ran out.
						err := s.WithTx(context.Background(), func(tx store.Tx) error {
							cur, err := tx.GetMessage(context.Background(), m.ID)
							if err != nil {
								return err
							}
							cur.LeaseOwner = "other"
							return tx.UpdateMessage(context.Background(), cur)
						})
						if err != nil {
							t.Error(err)
						}
					}
				}
				var hooks outbox.Hooks = h.Acks
				if tc.failHook {
					hooks = failingHooks{h.Acks}
				}
				committed := &countingHooks{Hooks: hooks}
				d := &outbox.Dispatcher{
					Store: s, Hooks: committed, Sender: sender, Owner: "me",
					Batch: 10, Lease: time.Minute, Workers: 1, Now: h.Clock.Now,
					Policy: outbox.Policy{MaxAttempts: 5, BaseBackoff: time.Second, MaxBackoff: time.Second},
				}
				wakes := h.EventWakes.Load()
				_, _ = d.RunOnce(t.Context())
				m, err := h.Views.Message(t.Context(), target.ID)
				if err != nil {
					t.Fatal(err)
				}
				if m.State != tc.wantState {
					t.Errorf("state %s, want %s", m.State, tc.wantState)
				}
				if got := h.EventWakes.Load() - wakes; got != tc.wantWakes {
					t.Errorf("relay woken %d times after the attempt, want %d", got, tc.wantWakes)
				}
				es, err := h.Views.AuditFind(t.Context(), store.AuditFilter{MessageID: target.ID, Kind: audit.KindDeliveryAttempt})
				if err != nil {
					t.Fatal(err)
				}
				if want := int(tc.wantWakes); len(es) != want {
					t.Errorf("%d delivery.attempt entries, want %d", len(es), want)
				}
			})
		}
	}
}

// failingHooks fails the settle transaction of every attempt after the
// hub's own hook ran in it.
type failingHooks struct{ outbox.Hooks }

func (f failingHooks) Settled(ctx context.Context, tx store.Tx, m *store.Message, r outbox.Result) error {
	if err := f.Hooks.Settled(ctx, tx, m, r); err != nil {
		return err
	}
	return errors.New("later step fails")
}

type countingHooks struct {
	outbox.Hooks
	mu sync.Mutex
	n  int
}

func (c *countingHooks) Committed(ctx context.Context, m *store.Message, r outbox.Result) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	c.Hooks.Committed(ctx, m, r)
}
