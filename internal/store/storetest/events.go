package storetest

import (
	"errors"
	"fmt"
	"github.com/gatehub/gatehub/internal/clearance"
	"github.com/gatehub/gatehub/internal/message"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/store"
)

func testLockDeclaration(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustInsertDecls(t, s, decl("D", 1, "T", "", "", at(0)), decl("D", 2, "T", "", "", at(time.Minute)))
	mustInsertMsgs(t, s, msg("M1", "D", 2, "customs", message.Pending, at(time.Minute)))
	inTx(t, s, func(tx store.Tx) error {
		if err := tx.LockDeclaration(ctx, "D"); err != nil {
			return err
		}
		// Held: the same transaction still writes the declaration's rows.
		if err := tx.PutDecision(ctx, &store.Decision{DeclarationID: "D", Version: 2, Status: "PENDING", DecidedAt: at(time.Minute)}); err != nil {
			return err
		}
		if err := tx.UpdateDeclarationStatus(ctx, "D", "cancelled"); err != nil {
			return err
		}
		if err := tx.InsertMessage(ctx, msg("M2", "D", 2, "borderguard", message.Pending, at(2*time.Minute))); err != nil {
			return err
		}
		id, err := tx.LockMessageDeclaration(ctx, "M1")
		if err != nil {
			return err
		}
		equal(t, "declaration of M1", id, "D")
		if err := tx.LockDeclaration(ctx, "NOPE"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("LockDeclaration(unknown) = %v, want ErrNotFound", err)
		}
		if _, err := tx.LockMessageDeclaration(ctx, "NOPE"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("LockMessageDeclaration(unknown) = %v, want ErrNotFound", err)
		}
		return nil
	})
}

// testLockDeclarationConcurrent is the lost-update test: each transaction
// reads a counter kept in the declaration's decision and writes it back
// plus one. Serialised per declaration, none is lost; at READ COMMITTED
// without the lock, two read the same value and one increment vanishes
// (the shape of the stale-decision bug: two ACKs each seeing the other
// agency pending).
func testLockDeclarationConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustInsertDecls(t, s, decl("D", 1, "T", "", "", at(0)))
	inTx(t, s, func(tx store.Tx) error {
		return tx.PutDecision(ctx, &store.Decision{DeclarationID: "D", Version: 1, Status: "0", DecidedAt: at(0)})
	})
	const n = 24
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.WithTx(ctx, func(tx store.Tx) error {
				if err := tx.LockDeclaration(ctx, "D"); err != nil {
					return err
				}
				d, err := tx.GetDecision(ctx, "D", 1)
				if err != nil {
					return err
				}
				v, err := strconv.Atoi(string(d.Status))
				if err != nil {
					return err
				}
				d.Status = clearance.Status(strconv.Itoa(v + 1))
				return tx.PutDecision(ctx, d)
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("increment: %v", err)
		}
	}
	inTx(t, s, func(tx store.Tx) error {
		d, err := tx.GetDecision(ctx, "D", 1)
		if err != nil {
			return err
		}
		equal(t, "counter after serialised increments", string(d.Status), strconv.Itoa(n))
		return nil
	})
}

func event(topic, key string, i int) *store.Event {
	return &store.Event{Topic: topic, Type: "decision", Key: key, Data: []byte(fmt.Sprintf(`{"n":%d}`, i)), CreatedAt: at(time.Duration(i) * time.Second)}
}

func testEvents(t *testing.T, s store.Store) {
	ctx := t.Context()
	var appended []store.Event
	inTx(t, s, func(tx store.Tx) error {
		appended = appended[:0]
		for i, key := range []string{"D1", "D2", "D1"} {
			e := event("lane/G/L1", key, i)
			if err := tx.AppendEvent(ctx, e); err != nil {
				return err
			}
			appended = append(appended, *e)
		}
		e := &store.Event{Topic: "config/gates", Type: "gate-applied", Key: "G"} // no data, no time
		if err := tx.AppendEvent(ctx, e); err != nil {
			return err
		}
		if e.CreatedAt.IsZero() {
			t.Error("AppendEvent left CreatedAt zero")
		}
		appended = append(appended, *e)
		return nil
	})
	for i := 1; i < len(appended); i++ {
		if appended[i].ID <= appended[i-1].ID {
			t.Fatalf("ids not increasing: %d then %d", appended[i-1].ID, appended[i].ID)
		}
	}
	var got []store.Event
	inTx(t, s, func(tx store.Tx) (err error) {
		got, err = tx.UnpublishedEvents(ctx, 0)
		return err
	})
	equal(t, "unpublished count", len(got), 4)
	for i, e := range got {
		w := appended[i]
		w.CreatedAt = store.Truncate(w.CreatedAt)
		if w.Data == nil {
			w.Data = []byte{}
		}
		if e.Data == nil {
			e.Data = []byte{}
		}
		equal(t, fmt.Sprintf("event %d", i), e, w)
	}
	inTx(t, s, func(tx store.Tx) (err error) {
		got, err = tx.UnpublishedEvents(ctx, 2)
		return err
	})
	equal(t, "limited", len(got), 2)
	equal(t, "limited: oldest first", got[0].ID, appended[0].ID)

	pub := at(time.Hour)
	inTx(t, s, func(tx store.Tx) error {
		return tx.MarkEventsPublished(ctx, []int64{appended[0].ID, appended[2].ID}, pub)
	})
	inTx(t, s, func(tx store.Tx) (err error) {
		got, err = tx.UnpublishedEvents(ctx, 0)
		return err
	})
	if len(got) != 2 || got[0].ID != appended[1].ID || got[1].ID != appended[3].ID {
		t.Fatalf("after marking 1st and 3rd: unpublished %+v", got)
	}
	inTx(t, s, func(tx store.Tx) (err error) {
		got, err = tx.LatestEvents(ctx, "lane/G/L1", 0)
		return err
	})
	equal(t, "latest of the lane", len(got), 2)
	equal(t, "published time kept", got[1].PublishedAt, store.Truncate(pub))
	equal(t, "unpublished time zero", got[0].PublishedAt, time.Time{})
	inTx(t, s, func(tx store.Tx) error { return tx.MarkEventsPublished(ctx, nil, pub) })
}

func testEventsRollback(t *testing.T, s store.Store) {
	ctx := t.Context()
	boom := errors.New("boom")
	err := s.WithTx(ctx, func(tx store.Tx) error {
		if err := tx.AppendEvent(ctx, event("lane/G/L1", "D1", 1)); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("WithTx = %v, want boom", err)
	}
	inTx(t, s, func(tx store.Tx) error {
		got, err := tx.UnpublishedEvents(ctx, 0)
		if err != nil {
			return err
		}
		equal(t, "events of a rolled-back transaction", len(got), 0)
		return nil
	})
}

func testLatestEvents(t *testing.T, s store.Store) {
	ctx := t.Context()
	// Keys D1..D3 on lane L1 (D1 twice, D2 three times), one on L2.
	seq := []struct{ topic, key string }{
		{"lane/G/L1", "D1"}, {"lane/G/L1", "D2"}, {"lane/G/L2", "D9"}, {"lane/G/L1", "D2"},
		{"lane/G/L1", "D3"}, {"lane/G/L1", "D1"}, {"lane/G/L1", "D2"},
	}
	ids := make([]int64, len(seq))
	inTx(t, s, func(tx store.Tx) error {
		for i, e := range seq {
			ev := event(e.topic, e.key, i)
			if err := tx.AppendEvent(ctx, ev); err != nil {
				return err
			}
			ids[i] = ev.ID
		}
		return nil
	})
	var got []store.Event
	inTx(t, s, func(tx store.Tx) (err error) {
		got, err = tx.LatestEvents(ctx, "lane/G/L1", 0)
		return err
	})
	want := []int64{ids[4], ids[5], ids[6]} // D3, D1, D2 by ascending id
	if len(got) != len(want) {
		t.Fatalf("latest of L1: %d events, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		equal(t, fmt.Sprintf("latest[%d].ID", i), got[i].ID, want[i])
	}
	equal(t, "latest data", string(got[2].Data), `{"n":6}`)
	inTx(t, s, func(tx store.Tx) (err error) {
		got, err = tx.LatestEvents(ctx, "lane/G/L1", 2)
		return err
	})
	if len(got) != 2 || got[0].ID != ids[5] || got[1].ID != ids[6] {
		t.Fatalf("latest 2 of L1: %+v, want ids %d %d", got, ids[5], ids[6])
	}
	inTx(t, s, func(tx store.Tx) (err error) {
		got, err = tx.LatestEvents(ctx, "lane/G/NONE", 10)
		return err
	})
	equal(t, "unknown topic", len(got), 0)
}

func testEventRelayLease(t *testing.T, s store.Store) {
	ctx := t.Context()
	claim := func(owner string, now time.Time) bool {
		var ok bool
		inTx(t, s, func(tx store.Tx) (err error) {
			ok, err = tx.ClaimEventRelay(ctx, owner, now, now.Add(10*time.Second))
			return err
		})
		return ok
	}
	steps := []struct {
		owner string
		at    time.Duration
		want  bool
	}{
		{"a", 0, true},                // free
		{"b", 5 * time.Second, false}, // a holds it
		{"a", 8 * time.Second, true},  // renewal: now until 18s
		{"b", 15 * time.Second, false},
		{"b", 18 * time.Second, true}, // a's lease expired
		{"a", 19 * time.Second, false},
	}
	for _, st := range steps {
		if got := claim(st.owner, at(st.at)); got != st.want {
			t.Errorf("claim by %s at +%v = %v, want %v", st.owner, st.at, got, st.want)
		}
	}
}

func testPruneEvents(t *testing.T, s store.Store) {
	ctx := t.Context()
	var ids []int64
	inTx(t, s, func(tx store.Tx) error {
		for i := range 4 {
			e := event("lane/G/L1", "D"+strconv.Itoa(i), i)
			if err := tx.AppendEvent(ctx, e); err != nil {
				return err
			}
			ids = append(ids, e.ID)
		}
		if err := tx.MarkEventsPublished(ctx, ids[:1], at(time.Minute)); err != nil {
			return err
		}
		return tx.MarkEventsPublished(ctx, ids[1:2], at(time.Hour))
	})
	inTx(t, s, func(tx store.Tx) error {
		n, err := tx.PruneEvents(ctx, at(30*time.Minute))
		if err != nil {
			return err
		}
		equal(t, "pruned", n, int64(1))
		got, err := tx.LatestEvents(ctx, "lane/G/L1", 0)
		if err != nil {
			return err
		}
		equal(t, "kept", len(got), 3)
		n, err = tx.PruneEvents(ctx, at(48*time.Hour))
		if err != nil {
			return err
		}
		equal(t, "pruned the other published one", n, int64(1))
		un, err := tx.UnpublishedEvents(ctx, 0)
		if err != nil {
			return err
		}
		equal(t, "unpublished never pruned", len(un), 2)
		return nil
	})
	// Ids are never reused after a prune (a relay or a device may still
	// hold the old ones).
	inTx(t, s, func(tx store.Tx) error {
		e := event("lane/G/L1", "D9", 9)
		if err := tx.AppendEvent(ctx, e); err != nil {
			return err
		}
		if e.ID <= ids[len(ids)-1] {
			t.Errorf("id after prune %d, want > %d", e.ID, ids[len(ids)-1])
		}
		return nil
	})
}
