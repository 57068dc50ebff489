package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/store"
)

func testCrossings(t *testing.T, s store.Store) {
	ctx := t.Context()
	c1 := &store.Crossing{DeclarationID: "D1", Gate: "HUUNGHI", Plate: "12C-12345", State: "submitted", Active: true,
		Detail: []byte(`{"version":1}`), UpdatedAt: at(0)}
	inTx(t, s, func(tx store.Tx) error { return tx.InsertCrossing(ctx, c1) })

	// A second active crossing for the plate at the gate is refused; at
	// another gate, or for another plate, it is not.
	err := s.WithTx(ctx, func(tx store.Tx) error {
		return tx.InsertCrossing(ctx, &store.Crossing{DeclarationID: "D2", Gate: "HUUNGHI", Plate: "12C-12345", State: "submitted", Active: true, Detail: []byte(`{}`)})
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second active crossing: %v, want ErrConflict", err)
	}
	inTx(t, s, func(tx store.Tx) error {
		if err := tx.InsertCrossing(ctx, &store.Crossing{DeclarationID: "D3", Gate: "TANTHANH", Plate: "12C-12345", State: "submitted", Active: true, Detail: []byte(`{}`)}); err != nil {
			return err
		}
		return tx.InsertCrossing(ctx, &store.Crossing{DeclarationID: "D4", Gate: "HUUNGHI", Plate: "12C-99999", State: "submitted", Active: true, Detail: []byte(`{}`)})
	})
	if err := s.WithTx(ctx, func(tx store.Tx) error { return tx.InsertCrossing(ctx, c1) }); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("same declaration twice: %v", err)
	}

	inTx(t, s, func(tx store.Tx) error {
		got, err := tx.ActiveCrossing(ctx, "HUUNGHI", "12C-12345")
		if err != nil {
			return err
		}
		if got.DeclarationID != "D1" || !got.Active || got.State != "submitted" || string(got.Detail) != `{"version":1}` || !got.UpdatedAt.Equal(store.Truncate(at(0))) {
			t.Errorf("ActiveCrossing = %+v", got)
		}
		return nil
	})

	// Once it exits, the plate is free for a new declaration.
	inTx(t, s, func(tx store.Tx) error {
		c, err := tx.GetCrossing(ctx, "D1")
		if err != nil {
			return err
		}
		c.State, c.Active, c.Detail, c.UpdatedAt = "exited", false, []byte(`{"version":1,"passages":[]}`), at(time.Hour)
		return tx.UpdateCrossing(ctx, c)
	})
	inTx(t, s, func(tx store.Tx) error {
		if _, err := tx.ActiveCrossing(ctx, "HUUNGHI", "12C-12345"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ActiveCrossing after exit: %v", err)
		}
		c, err := tx.GetCrossing(ctx, "D1")
		if err != nil {
			return err
		}
		if c.State != "exited" || c.Active || string(c.Detail) != `{"version":1,"passages":[]}` || !c.UpdatedAt.Equal(store.Truncate(at(time.Hour))) {
			t.Errorf("GetCrossing = %+v", c)
		}
		return tx.InsertCrossing(ctx, &store.Crossing{DeclarationID: "D5", Gate: "HUUNGHI", Plate: "12C-12345", State: "submitted", Active: true, Detail: []byte(`{}`)})
	})
	// Re-activating D1 now collides with D5, and leaves the transaction usable.
	inTx(t, s, func(tx store.Tx) error {
		c, err := tx.GetCrossing(ctx, "D1")
		if err != nil {
			return err
		}
		c.Active = true
		if err := tx.UpdateCrossing(ctx, c); !errors.Is(err, store.ErrConflict) {
			t.Errorf("re-activate into an occupied plate: %v", err)
		}
		_, err = tx.GetCrossing(ctx, "D5")
		return err
	})
	inTx(t, s, func(tx store.Tx) error {
		if _, err := tx.GetCrossing(ctx, "DX"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetCrossing unknown: %v", err)
		}
		if err := tx.UpdateCrossing(ctx, &store.Crossing{DeclarationID: "DX", Detail: []byte(`{}`)}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UpdateCrossing unknown: %v", err)
		}
		return nil
	})
}

func testLaneStates(t *testing.T, s store.Store) {
	ctx := t.Context()
	inTx(t, s, func(tx store.Tx) error {
		if _, err := tx.GetLaneState(ctx, "HUUNGHI", "B1", "L1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetLaneState before any reading: %v", err)
		}
		l, err := tx.LockLane(ctx, "HUUNGHI", "B1", "L1")
		if err != nil {
			return err
		}
		if l.Rev != 0 || l.Vehicle != 0 || l.State != nil {
			t.Errorf("new lane = %+v", l)
		}
		l.Vehicle, l.State, l.UpdatedAt = 1, []byte(`{"number":1}`), at(0)
		if err := tx.PutLaneState(ctx, l); err != nil {
			return err
		}
		if l.Rev != 1 {
			t.Errorf("Rev after put = %d", l.Rev)
		}
		return nil
	})
	inTx(t, s, func(tx store.Tx) error {
		l, err := tx.LockLane(ctx, "HUUNGHI", "B1", "L1")
		if err != nil {
			return err
		}
		if l.Rev != 1 || l.Vehicle != 1 || string(l.State) != `{"number":1}` || !l.UpdatedAt.Equal(store.Truncate(at(0))) {
			t.Errorf("LockLane = %+v", l)
		}
		// A writer holding an older revision cannot overwrite.
		stale := *l
		stale.Rev = 0
		if err := tx.PutLaneState(ctx, &stale); !errors.Is(err, store.ErrConflict) {
			t.Errorf("stale put: %v", err)
		}
		// Another checkpoint's lane of the same id is another row.
		o, err := tx.LockLane(ctx, "HUUNGHI", "B0", "L1")
		if err != nil {
			return err
		}
		if o.Rev != 0 {
			t.Errorf("other checkpoint shares the row: %+v", o)
		}
		return nil
	})

	// Concurrent read-modify-writes of one lane never lose an update: the
	// lock serialises them, on Postgres across connections.
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.WithTx(ctx, func(tx store.Tx) error {
				l, err := tx.LockLane(ctx, "HUUNGHI", "B2", "L1")
				if err != nil {
					return err
				}
				l.Vehicle++
				return tx.PutLaneState(ctx, l)
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent lane update: %v", err)
		}
	}
	inTx(t, s, func(tx store.Tx) error {
		l, err := tx.GetLaneState(ctx, "HUUNGHI", "B2", "L1")
		if err != nil {
			return err
		}
		if l.Vehicle != n || l.Rev != n {
			t.Errorf("after %d concurrent updates: vehicle %d rev %d", n, l.Vehicle, l.Rev)
		}
		return nil
	})
}
