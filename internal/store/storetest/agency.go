package storetest

import (
	"github.com/gatehub/gatehub/internal/message"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/store"
)

// claimFor is ClaimDueFor in its own transaction.
func claimFor(t *testing.T, s store.Store, p store.ClaimParams) []store.Message {
	t.Helper()
	var got []store.Message
	inTx(t, s, func(tx store.Tx) error {
		var err error
		got, err = tx.ClaimDueFor(t.Context(), p)
		return err
	})
	return got
}

// agencyFixture: due messages of two agencies, interleaved in time.
func agencyFixture(t *testing.T, s store.Store, now time.Time) {
	t.Helper()
	mustInsertDecls(t, s, decl("D", 1, "T", "", "", at(-time.Hour)))
	var ms []*store.Message
	for i, a := range []string{"customs", "guangxi", "customs", "guangxi", "customs"} {
		m := msg(a[:1]+string(rune('0'+i)), "D", 1, a, message.Pending, at(-time.Hour+time.Duration(i)*time.Second))
		m.NextAttemptAt = now.Add(-time.Minute + time.Duration(i)*time.Second)
		ms = append(ms, m)
	}
	mustInsertMsgs(t, s, ms...)
}

func testClaimDueFor(t *testing.T, s store.Store) {
	now := at(0)
	agencyFixture(t, s, now)
	lease := now.Add(time.Minute)
	got := claimFor(t, s, store.ClaimParams{Agency: "guangxi", Now: now, Limit: 10, Owner: "w1", LeaseUntil: lease})
	equal(t, "guangxi's", msgIDs(got), []string{"g1", "g3"})
	for _, m := range got {
		equal(t, m.ID+" owner", m.LeaseOwner, "w1")
	}
	got = claimFor(t, s, store.ClaimParams{Agency: "customs", Now: now, Limit: 2, Owner: "w2", LeaseUntil: lease})
	equal(t, "customs', limited", msgIDs(got), []string{"c0", "c2"})
	equal(t, "unknown agency", msgIDs(claimFor(t, s, store.ClaimParams{Agency: "none", Now: now, Limit: 10, Owner: "w3", LeaseUntil: lease})), []string{})
	got = claimFor(t, s, store.ClaimParams{Now: now, Limit: 10, Owner: "w4", LeaseUntil: lease})
	equal(t, "every agency's, leases respected", msgIDs(got), []string{"c4"})
}

func testRescheduleAgency(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := at(0)
	mustInsertDecls(t, s, decl("D", 1, "T", "", "", at(-time.Hour)))
	later := func(m *store.Message) *store.Message { m.NextAttemptAt = now.Add(time.Hour); return m }
	waiting := later(msg("waiting", "D", 1, "customs", message.Pending, at(-time.Hour)))
	leased := later(msg("leased", "D", 1, "customs", message.Pending, at(-time.Hour)))
	leased.LeaseOwner, leased.LeaseUntil = "w", now.Add(time.Minute)
	dueNow := msg("due", "D", 1, "customs", message.Pending, at(-time.Hour))
	dueNow.NextAttemptAt = now.Add(-time.Minute)
	dead := later(msg("dead", "D", 1, "customs", message.Dead, at(-time.Hour)))
	other := later(msg("other", "D", 1, "guangxi", message.Pending, at(-time.Hour)))
	mustInsertMsgs(t, s, waiting, leased, dueNow, dead, other)

	var n int
	inTx(t, s, func(tx store.Tx) error {
		var err error
		n, err = tx.RescheduleAgency(ctx, "customs", now)
		return err
	})
	equal(t, "rescheduled", n, 1)
	inTx(t, s, func(tx store.Tx) error {
		for id, want := range map[string]time.Time{
			"waiting": now, "leased": now.Add(time.Hour), "due": now.Add(-time.Minute),
			"dead": now.Add(time.Hour), "other": now.Add(time.Hour),
		} {
			m, err := tx.GetMessage(ctx, id)
			if err != nil {
				return err
			}
			equal(t, id+" next attempt", m.NextAttemptAt, store.Truncate(want))
		}
		return nil
	})
}
