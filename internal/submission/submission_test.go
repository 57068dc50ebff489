package submission_test

import (
	"errors"
	"github.com/gatehub/gatehub/internal/message"
	"slices"
	"testing"

	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/hub"
	"github.com/gatehub/gatehub/internal/hubtest"
	"github.com/gatehub/gatehub/internal/submission"
)

func TestSubmit(t *testing.T) {
	for _, st := range hubtest.Stores {
		t.Run(st.Name, func(t *testing.T) {
			h := hubtest.New(t, st.Open(t))
			v := h.Submit(t, 1)
			if v.Version != 1 || v.Status != hub.StatusActive {
				t.Errorf("view: version %d status %s", v.Version, v.Status)
			}
			if len(v.Messages) == 0 || len(v.Messages) != len(v.Required) {
				t.Fatalf("%d messages for %d required agencies", len(v.Messages), len(v.Required))
			}
			for _, m := range v.Messages {
				if m.State != message.Pending || m.Kind != message.Submit {
					t.Errorf("message %s: %s %s", m.Agency, m.Kind, m.State)
				}
			}
			// The answer is what a reader sees afterwards.
			got, err := h.Views.View(t.Context(), v.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Decision.Status != v.Decision.Status || len(got.Messages) != len(v.Messages) {
				t.Errorf("view after submit: %s/%d messages, answer said %s/%d", got.Decision.Status, len(got.Messages), v.Decision.Status, len(v.Messages))
			}
			kinds := hubtest.Kinds(h.Audit(t, v.ID))
			want := []string{audit.KindDeclarationAccepted}
			for range v.Messages {
				want = append(want, audit.KindMessageBuilt, audit.KindMessageOutbound)
			}
			want = append(want, audit.KindDecision)
			if !slices.Equal(kinds, want) {
				t.Errorf("audit kinds %v, want %v", kinds, want)
			}
			// The dispatcher and the relay are woken once, after the commit.
			if h.Wakes.Load() != 1 || h.EventWakes.Load() != 1 {
				t.Errorf("wakes %d, event wakes %d; want 1 and 1", h.Wakes.Load(), h.EventWakes.Load())
			}
		})
	}
}

func TestSubmitIdempotency(t *testing.T) {
	cases := []struct {
		name        string
		otherTruck  bool // the second request carries another declaration
		wantErr     error
		wantCreated bool
	}{
		{name: "same body answers the first result", wantCreated: false},
		{name: "different body conflicts", otherTruck: true, wantErr: hub.ErrConflict},
	}
	for _, st := range hubtest.Stores {
		for _, tc := range cases {
			t.Run(st.Name+"/"+tc.name, func(t *testing.T) {
				h := hubtest.New(t, st.Open(t))
				ctx := t.Context()
				first, created, err := h.Submission.Submit(ctx, hubtest.Trader, submission.SubmitRequest{Declaration: hubtest.Declaration(t, 1), IdempotencyKey: "k1"})
				if err != nil || !created {
					t.Fatalf("first submit: created %v, %v", created, err)
				}
				i := 1
				if tc.otherTruck {
					i = 2
				}
				again, created, err := h.Submission.Submit(ctx, hubtest.Trader, submission.SubmitRequest{Declaration: hubtest.Declaration(t, i), IdempotencyKey: "k1"})
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("second submit: %v, want %v", err, tc.wantErr)
				}
				if err != nil {
					return
				}
				if created != tc.wantCreated || again.ID != first.ID {
					t.Errorf("second submit: created %v id %s, want %v %s", created, again.ID, tc.wantCreated, first.ID)
				}
				ds, err := h.Views.ListDeclarations(ctx, "", 10)
				if err != nil || len(ds) != 1 {
					t.Errorf("%d declarations stored (%v), want 1", len(ds), err)
				}
			})
		}
	}
}

func TestAmendAndCancel(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T, h *hubtest.Hub, id string) error
		// wantErr, else the expected kinds of the new messages and the
		// declaration's status.
		wantErr   error
		wantKinds []string
		status    string
	}{
		{
			name: "unchanged amendment sends nothing",
			run: func(t *testing.T, h *hubtest.Hub, id string) error {
				_, err := h.Submission.Amend(t.Context(), hubtest.Trader, id, hubtest.Declaration(t, 1))
				return err
			},
			status: hub.StatusActive,
		},
		{
			name: "cancel before delivery withdraws in place",
			run: func(t *testing.T, h *hubtest.Hub, id string) error {
				_, err := h.Submission.Cancel(t.Context(), hubtest.Trader, id, "test")
				return err
			},
			status: hub.StatusCancelled,
		},
		{
			name: "another trader cannot see it",
			run: func(t *testing.T, h *hubtest.Hub, id string) error {
				_, err := h.Submission.Cancel(t.Context(), hub.Actor{Role: "trader", TaxCode: "0109999999"}, id, "test")
				return err
			},
			wantErr: hub.ErrNotFound,
		},
		{
			name: "amending a cancelled declaration",
			run: func(t *testing.T, h *hubtest.Hub, id string) error {
				if _, err := h.Submission.Cancel(t.Context(), hubtest.Trader, id, "test"); err != nil {
					return err
				}
				_, err := h.Submission.Amend(t.Context(), hubtest.Trader, id, hubtest.Declaration(t, 1))
				return err
			},
			wantErr: hub.ErrInvalidState,
		},
		{
			name: "unknown declaration",
			run: func(t *testing.T, h *hubtest.Hub, _ string) error {
				_, err := h.Submission.Cancel(t.Context(), hubtest.Trader, "D-none", "test")
				return err
			},
			wantErr: hub.ErrNotFound,
		},
	}
	for _, st := range hubtest.Stores {
		for _, tc := range cases {
			t.Run(st.Name+"/"+tc.name, func(t *testing.T) {
				h := hubtest.New(t, st.Open(t))
				v := h.Submit(t, 1)
				h.Clock.Advance(1e9)
				err := tc.run(t, h, v.ID)
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if err != nil {
					return
				}
				got, err := h.Views.View(t.Context(), v.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.Status != tc.status {
					t.Errorf("status %s, want %s", got.Status, tc.status)
				}
				var kinds []string
				for _, m := range got.Messages[len(v.Messages):] {
					kinds = append(kinds, string(m.Kind))
				}
				if !slices.Equal(kinds, tc.wantKinds) {
					t.Errorf("new messages %v, want %v", kinds, tc.wantKinds)
				}
				if tc.status == hub.StatusCancelled {
					for _, m := range got.Messages {
						if m.State != message.Cancelled {
							t.Errorf("message %s to %s is %s after cancel, want cancelled", m.ID, m.Agency, m.State)
						}
					}
				}
			})
		}
	}
}
