package decisions_test

import (
	"github.com/gatehub/gatehub/internal/message"
	"testing"

	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/clearance"
	"github.com/gatehub/gatehub/internal/hubtest"
	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/store/storetest"
	"github.com/gatehub/gatehub/internal/txn"
)

// TestDecide: a decision is stored, logged and announced only when it
// changed; the lane sees the latest one.
func TestDecide(t *testing.T) {
	cases := []struct {
		name string
		// state is what every message of the declaration is set to before
		// deciding again ("" leaves them as submitted).
		state      message.State
		wantStatus clearance.Status
		wantNew    bool
	}{
		{name: "unchanged", wantStatus: clearance.Pending},
		{name: "all acked", state: message.Acked, wantStatus: clearance.Cleared, wantNew: true},
		{name: "one cancelled", state: message.Cancelled, wantStatus: clearance.Hold, wantNew: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := storetest.OpenSQLite(t)
			h := hubtest.New(t, s)
			ctx := t.Context()
			v := h.Submit(t, 1)
			before := len(h.Audit(t, v.ID))
			var got clearance.Status
			err := h.Tx.InTx(ctx, func(tx store.Tx, fx *txn.Effects) error {
				if tc.state != "" {
					for _, mv := range v.Messages {
						m, err := tx.GetMessage(ctx, mv.ID)
						if err != nil {
							return err
						}
						m.State = tc.state
						if err := tx.UpdateMessage(ctx, m); err != nil {
							return err
						}
					}
				}
				dec, err := h.Decisions.Decide(ctx, tx, fx, v.ID)
				if err != nil {
					return err
				}
				got = dec.Status
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.wantStatus {
				t.Errorf("decision %s, want %s", got, tc.wantStatus)
			}
			es := h.Audit(t, v.ID)[before:]
			if (len(es) == 1 && es[0].Kind == audit.KindDecision) != tc.wantNew || (!tc.wantNew && len(es) != 0) {
				t.Errorf("new entries %v, want a decision entry: %v", hubtest.Kinds(es), tc.wantNew)
			}
			err = h.Tx.ReadTx(ctx, func(tx store.Tx) error {
				d, err := tx.LatestDeclaration(ctx, v.ID)
				if err != nil {
					return err
				}
				stored, err := tx.GetDecision(ctx, v.ID, d.Version)
				if err != nil {
					return err
				}
				// Stored decision == derived decision.
				if stored.Status != got {
					t.Errorf("stored decision %s, derived %s", stored.Status, got)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
