package views_test

import (
	"errors"
	"github.com/gatehub/gatehub/internal/message"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/hub"
	"github.com/gatehub/gatehub/internal/hubtest"
	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/store/storetest"
	"github.com/gatehub/gatehub/internal/views"
)

func TestViews(t *testing.T) {
	h := hubtest.New(t, storetest.OpenSQLite(t))
	ctx := t.Context()
	first := h.Submit(t, 1)
	h.Clock.Advance(time.Second)
	second := h.Submit(t, 2)
	cases := []struct {
		name    string
		plate   string
		wantIDs []string
	}{
		{name: "VN plate", plate: "12C-10001", wantIDs: []string{first.ID}},
		{name: "CN plate", plate: "桂A10002", wantIDs: []string{second.ID}},
		{name: "unknown plate", plate: "99Z-00000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vs, err := h.Views.ViewsByPlate(ctx, tc.plate, 10)
			if err != nil {
				t.Fatal(err)
			}
			ds, err := h.Views.DecisionsByPlate(ctx, tc.plate, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(vs) != len(tc.wantIDs) || len(ds) != len(tc.wantIDs) {
				t.Fatalf("%d views, %d decisions; want %d", len(vs), len(ds), len(tc.wantIDs))
			}
			for i, id := range tc.wantIDs {
				// The light decision and the full view agree.
				if vs[i].ID != id || ds[i].DeclarationID != id || ds[i].Decision.Status != vs[i].Decision.Status {
					t.Errorf("view %s (%s), decision %s (%s); want %s", vs[i].ID, vs[i].Decision.Status, ds[i].DeclarationID, ds[i].Decision.Status, id)
				}
			}
		})
	}
	t.Run("list newest first", func(t *testing.T) {
		ds, err := h.Views.ListDeclarations(ctx, "", 10)
		if err != nil || len(ds) != 2 || ds[0].ID != second.ID {
			t.Errorf("ListDeclarations = %v, %v; want %s first", ds, err, second.ID)
		}
	})
	t.Run("not found", func(t *testing.T) {
		if _, err := h.Views.View(ctx, "D-none"); !errors.Is(err, hub.ErrNotFound) {
			t.Errorf("View: %v, want ErrNotFound", err)
		}
		if _, err := h.Views.Message(ctx, "M-none"); !errors.Is(err, hub.ErrNotFound) {
			t.Errorf("Message: %v, want ErrNotFound", err)
		}
	})
	t.Run("audit head follows the log", func(t *testing.T) {
		seq, hash, err := h.Views.AuditHead(ctx)
		es, ferr := h.Views.AuditFind(ctx, store.AuditFilter{})
		if err != nil || ferr != nil || len(es) == 0 || seq != es[len(es)-1].Seq || len(hash) == 0 {
			t.Errorf("AuditHead = %d, %x, %v; log ends at %d", seq, hash, err, es[len(es)-1].Seq)
		}
	})
	t.Run("lane snapshot has each truck's decision", func(t *testing.T) {
		if first.Lane == "" {
			t.Skip("sample declaration names no lane")
		}
		evs, err := h.Views.LaneSnapshot(ctx, first.Gate, first.Lane)
		if err != nil || len(evs) != 2 {
			t.Errorf("LaneSnapshot = %d events, %v; want 2", len(evs), err)
		}
	})
	t.Run("overdue is derived from the clock", func(t *testing.T) {
		now := h.Clock.Now()
		ms := []store.Message{
			{ID: "a", State: message.Sent, AckDeadline: now.Add(-time.Second)},
			{ID: "b", State: message.Sent, AckDeadline: now.Add(time.Second)},
			{ID: "c", State: message.Acked, AckDeadline: now.Add(-time.Second)},
		}
		var mv []bool
		for _, v := range views.MessageViews(ms, now) {
			mv = append(mv, v.Overdue)
		}
		if !mv[0] || mv[1] || mv[2] {
			t.Errorf("overdue = %v, want [true false false]", mv)
		}
	})
}
