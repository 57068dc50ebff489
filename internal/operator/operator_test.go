package operator_test

import (
	"errors"
	"github.com/gatehub/gatehub/internal/message"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/hub"
	"github.com/gatehub/gatehub/internal/hubtest"
	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/store/storetest"
)

// setState puts message id in state, as the dispatcher would have.
func setState(t *testing.T, s store.Store, id string, state message.State, sentAt time.Time) {
	t.Helper()
	err := s.WithTx(t.Context(), func(tx store.Tx) error {
		m, err := tx.GetMessage(t.Context(), id)
		if err != nil {
			return err
		}
		m.State, m.Attempts, m.SentAt = state, 3, sentAt
		return tx.UpdateMessage(t.Context(), m)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestActions(t *testing.T) {
	cases := []struct {
		name      string
		from      message.State
		action    string // redrive | cancel
		wantErr   error
		wantState message.State
		wantKind  string
	}{
		{name: "redrive dead", from: message.Dead, action: "redrive", wantState: message.Pending, wantKind: audit.KindOperatorRedrive},
		{name: "redrive cancelled", from: message.Cancelled, action: "redrive", wantState: message.Pending, wantKind: audit.KindOperatorRedrive},
		{name: "redrive sent", from: message.Sent, action: "redrive", wantErr: hub.ErrInvalidState, wantState: message.Sent},
		{name: "cancel pending", from: message.Pending, action: "cancel", wantState: message.Cancelled, wantKind: audit.KindOperatorCancel},
		{name: "cancel dead", from: message.Dead, action: "cancel", wantState: message.Cancelled, wantKind: audit.KindOperatorCancel},
		{name: "cancel acked", from: message.Acked, action: "cancel", wantErr: hub.ErrInvalidState, wantState: message.Acked},
	}
	for _, st := range hubtest.Stores {
		for _, tc := range cases {
			t.Run(st.Name+"/"+tc.name, func(t *testing.T) {
				s := st.Open(t)
				h := hubtest.New(t, s)
				v := h.Submit(t, 1)
				id := v.Messages[0].ID
				setState(t, s, id, tc.from, h.Clock.Now())
				wakes := h.Wakes.Load()
				var err error
				if tc.action == "redrive" {
					_, err = h.Operator.Redrive(t.Context(), hubtest.Operator, id)
				} else {
					_, err = h.Operator.CancelMessage(t.Context(), hubtest.Operator, id)
				}
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				m, err := h.Views.Message(t.Context(), id)
				if err != nil {
					t.Fatal(err)
				}
				if m.State != tc.wantState {
					t.Errorf("state %s, want %s", m.State, tc.wantState)
				}
				if tc.wantState == message.Pending && (m.Attempts != 0 || h.Wakes.Load() != wakes+1) {
					t.Errorf("redriven: attempts %d, dispatcher woken %d times; want 0 and 1", m.Attempts, h.Wakes.Load()-wakes)
				}
				if tc.wantKind != "" {
					es, err := h.Views.AuditFind(t.Context(), store.AuditFilter{MessageID: id, Kind: tc.wantKind})
					if err != nil || len(es) != 1 || es[0].Actor != hubtest.Operator.String() {
						t.Errorf("audit %s: %v (%v), want one entry by %s", tc.wantKind, es, err, hubtest.Operator)
					}
				}
			})
		}
	}
}

func TestUnknownMessage(t *testing.T) {
	h := hubtest.New(t, storetest.OpenSQLite(t))
	if _, err := h.Operator.Redrive(t.Context(), hubtest.Operator, "M-none"); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("redrive unknown: %v, want ErrNotFound", err)
	}
	if _, err := h.Operator.RedriveAgency(t.Context(), hubtest.Operator, "nobody", 10); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("redrive unknown agency: %v, want ErrNotFound", err)
	}
}

// TestResendOverdue: a sent message whose agency has not answered within
// the gate's deadline is queued again under the same id, once; one sent
// recently is left alone.
func TestResendOverdue(t *testing.T) {
	cases := []struct {
		name       string
		sentAgo    time.Duration // since the (last) delivery
		wantResent int
	}{
		{name: "within the deadline", sentAgo: time.Second},
		{name: "past the deadline", sentAgo: 24 * time.Hour, wantResent: 1},
	}
	for _, st := range hubtest.Stores {
		for _, tc := range cases {
			t.Run(st.Name+"/"+tc.name, func(t *testing.T) {
				s := st.Open(t)
				h := hubtest.New(t, s)
				v := h.Submit(t, 1)
				id := v.Messages[0].ID
				sentAt := h.Clock.Now()
				err := s.WithTx(t.Context(), func(tx store.Tx) error {
					m, err := tx.GetMessage(t.Context(), id)
					if err != nil {
						return err
					}
					m.State, m.Attempts, m.SentAt, m.AckDeadline = message.Sent, 1, sentAt, sentAt.Add(time.Second)
					return tx.UpdateMessage(t.Context(), m)
				})
				if err != nil {
					t.Fatal(err)
				}
				h.Clock.Advance(tc.sentAgo)
				n, err := h.Operator.ResendOverdue(t.Context(), 10)
				if err != nil || n != tc.wantResent {
					t.Fatalf("ResendOverdue = %d, %v; want %d", n, err, tc.wantResent)
				}
				// Twice in a row resends nothing more.
				if n, err := h.Operator.ResendOverdue(t.Context(), 10); err != nil || n != 0 {
					t.Errorf("second ResendOverdue = %d, %v; want 0", n, err)
				}
				m, err := h.Views.Message(t.Context(), id)
				if err != nil {
					t.Fatal(err)
				}
				want := message.Sent
				if tc.wantResent == 1 {
					want = message.Pending
				}
				if m.State != want || !m.AckDeadline.Equal(sentAt.Add(time.Second)) {
					t.Errorf("state %s deadline %v; want %s and the first delivery's deadline", m.State, m.AckDeadline, want)
				}
			})
		}
	}
}
