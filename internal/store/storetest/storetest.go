// Package storetest is the one contract test every store.Store
// implementation must pass, plus helpers that open a throw-away store for
// other packages' tests.
package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/gatehub/gatehub/internal/message"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/store"
)

// Run runs the contract suite. open must return a fresh, empty store for
// each call and arrange for it to be closed when t ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Ping", testPing},
		{"DeclarationInsertAndLookup", testDeclarations},
		{"DeclarationTimesAndBytes", testDeclarationRoundTrip},
		{"DeclarationsByPlate", testByPlate},
		{"ListDeclarations", testListDeclarations},
		{"DeclarationsAfter", testDeclarationsAfter},
		{"UpdateDeclarationStatus", testUpdateStatus},
		{"Idempotency", testIdempotency},
		{"Messages", testMessages},
		{"ListMessages", testListMessages},
		{"CountMessages", testCountMessages},
		{"OldestPending", testOldestPending},
		{"ClaimDue", testClaimDue},
		{"ClaimDueLimitAndOrder", testClaimDueLimit},
		{"ClaimDueConcurrent", testClaimDueConcurrent},
		{"ClaimDueForAgency", testClaimDueFor},
		{"RescheduleAgency", testRescheduleAgency},
		{"RollbackOnError", testRollback},
		{"RollbackOnPanic", testRollbackPanic},
		{"AfterCommit", testAfterCommit},
		{"AfterCommitConcurrent", testAfterCommitConcurrent},
		{"Acks", testAcks},
		{"Decisions", testDecisions},
		{"Audit", testAudit},
		{"AuditFilters", testAuditFilters},
		{"AuditRuns", testAuditRuns},
		{"AuditConcurrentAppends", testAuditConcurrent},
		{"AuditPrune", testAuditPrune},
		{"AuditPayloadRefs", testAuditPayloadRefs},
		{"GateConfigs", testGateConfigs},
		{"AgencyMessages", testAgencyMessages},
		{"Checkpoints", testCheckpoints},
		{"Crossings", testCrossings},
		{"LaneStates", testLaneStates},
		{"LockDeclaration", testLockDeclaration},
		{"LockDeclarationSerialises", testLockDeclarationConcurrent},
		{"Events", testEvents},
		{"EventsRollback", testEventsRollback},
		{"LatestEvents", testLatestEvents},
		{"EventRelayLease", testEventRelayLease},
		{"PruneEvents", testPruneEvents},
		{"Blobs", testBlobs},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

// base is deliberately not UTC and carries nanoseconds, so every round trip
// also checks the UTC conversion and the microsecond truncation.
var base = time.Date(2026, 11, 25, 8, 30, 0, 123456789, time.FixedZone("ICT", 7*3600))

func at(d time.Duration) time.Time { return base.Add(d) }

func inTx(t *testing.T, s store.Store, fn func(tx store.Tx) error) {
	t.Helper()
	if err := s.WithTx(t.Context(), fn); err != nil {
		t.Fatalf("WithTx: %v", err)
	}
}

func decl(id string, version int, trader, vn, cn string, created time.Time) *store.Declaration {
	return &store.Declaration{
		ID: id, Version: version, TraderTaxCode: trader, Gate: "HUUNGHI", Lane: "L1",
		PlateVN: vn, PlateCN: cn, Status: "active",
		Body:           []byte(fmt.Sprintf(`{"id":%q,"version":%d}`, id, version)),
		IdempotencyKey: "idem-" + id, CreatedAt: created,
	}
}

func msg(id, declID string, version int, agency string, state message.State, created time.Time) *store.Message {
	return &store.Message{
		ID: id, DeclarationID: declID, Version: version, Agency: agency, Kind: "submit",
		MappingVersion: "m1", SchemaVersion: "s1", ContentHash: "ab12", Body: []byte("<x>" + id + "</x>"),
		State: state, CreatedAt: created, UpdatedAt: created,
	}
}

func mustInsertDecls(t *testing.T, s store.Store, ds ...*store.Declaration) {
	t.Helper()
	inTx(t, s, func(tx store.Tx) error {
		for _, d := range ds {
			if err := tx.InsertDeclaration(t.Context(), d); err != nil {
				return err
			}
		}
		return nil
	})
}

func mustInsertMsgs(t *testing.T, s store.Store, ms ...*store.Message) {
	t.Helper()
	inTx(t, s, func(tx store.Tx) error {
		for _, m := range ms {
			if err := tx.InsertMessage(t.Context(), m); err != nil {
				return err
			}
		}
		return nil
	})
}

// normDecl is what a store must return for d: times in UTC at microseconds.
func normDecl(d store.Declaration) store.Declaration {
	d.CreatedAt = store.Truncate(d.CreatedAt)
	return d
}

func normMsg(m store.Message) store.Message {
	for _, p := range []*time.Time{&m.NextAttemptAt, &m.LeaseUntil, &m.SentAt, &m.AckDeadline, &m.CreatedAt, &m.UpdatedAt} {
		*p = store.Truncate(*p)
	}
	return m
}

func equal(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

func ids[T any](xs []T, id func(T) string) []string {
	out := make([]string, 0, len(xs))
	for _, x := range xs {
		out = append(out, id(x))
	}
	return out
}

func declIDs(ds []store.Declaration) []string {
	return ids(ds, func(d store.Declaration) string { return fmt.Sprintf("%s/v%d", d.ID, d.Version) })
}

func msgIDs(ms []store.Message) []string {
	return ids(ms, func(m store.Message) string { return m.ID })
}

func testPing(t *testing.T, s store.Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func testDeclarations(t *testing.T, s store.Store) {
	ctx := t.Context()
	v1 := decl("D1", 1, "0101234567", "29C12345", "桂A12345", at(0))
	v2 := decl("D1", 2, "0101234567", "29C12345", "桂A12345", at(time.Minute))
	mustInsertDecls(t, s, v1, v2)

	inTx(t, s, func(tx store.Tx) error {
		// A conflict must not poison the transaction: the caller may go on.
		dup := decl("D1", 1, "other", "", "", at(time.Hour))
		if err := tx.InsertDeclaration(ctx, dup); !errors.Is(err, store.ErrConflict) {
			t.Errorf("duplicate (ID, Version): err = %v, want ErrConflict", err)
		}
		if err := tx.InsertDeclaration(ctx, decl("D2", 1, "x", "", "", at(0))); err != nil {
			t.Errorf("insert after conflict in same tx: %v", err)
		}

		got, err := tx.LatestDeclaration(ctx, "D1")
		if err != nil {
			t.Fatalf("LatestDeclaration: %v", err)
		}
		equal(t, "latest", *got, normDecl(*v2))

		got, err = tx.DeclarationVersion(ctx, "D1", 1)
		if err != nil {
			t.Fatalf("DeclarationVersion: %v", err)
		}
		equal(t, "version 1", *got, normDecl(*v1))

		for _, tc := range []struct {
			name string
			err  error
		}{
			{"latest of unknown id", func() error { _, err := tx.LatestDeclaration(ctx, "nope"); return err }()},
			{"unknown version", func() error { _, err := tx.DeclarationVersion(ctx, "D1", 3); return err }()},
			{"unknown id", func() error { _, err := tx.DeclarationVersion(ctx, "nope", 1); return err }()},
		} {
			if !errors.Is(tc.err, store.ErrNotFound) {
				t.Errorf("%s: err = %v, want ErrNotFound", tc.name, tc.err)
			}
		}
		return nil
	})
	// The first insert survived the conflicting one.
	inTx(t, s, func(tx store.Tx) error {
		got, err := tx.DeclarationVersion(ctx, "D1", 1)
		if err != nil {
			return err
		}
		equal(t, "version 1 after conflict", got.TraderTaxCode, v1.TraderTaxCode)
		return nil
	})
}

func testDeclarationRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	tests := []struct {
		name string
		d    *store.Declaration
	}{
		{"binary body and unicode", &store.Declaration{ID: "B1", Version: 1, PlateCN: "桂A·12345", Status: "active",
			Body: []byte{0, 1, 2, 0xff, 0xfe, '{', '}', 0}, CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 999999999, time.UTC)}},
		{"nil body", &store.Declaration{ID: "B2", Version: 1, CreatedAt: at(0)}},
		{"local zone nanoseconds", &store.Declaration{ID: "B3", Version: 7, Body: []byte("x"),
			CreatedAt: time.Date(2026, 6, 30, 23, 59, 59, 1500, time.FixedZone("CST", 8*3600))}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mustInsertDecls(t, s, tc.d)
			inTx(t, s, func(tx store.Tx) error {
				got, err := tx.DeclarationVersion(ctx, tc.d.ID, tc.d.Version)
				if err != nil {
					return err
				}
				equal(t, "round trip", *got, normDecl(*tc.d))
				if got.CreatedAt.Location() != time.UTC {
					t.Errorf("CreatedAt location = %v, want UTC", got.CreatedAt.Location())
				}
				return nil
			})
		})
	}

	t.Run("zero CreatedAt is set", func(t *testing.T) {
		d := &store.Declaration{ID: "B4", Version: 1}
		mustInsertDecls(t, s, d)
		if d.CreatedAt.IsZero() {
			t.Fatal("InsertDeclaration left CreatedAt zero")
		}
		inTx(t, s, func(tx store.Tx) error {
			got, err := tx.LatestDeclaration(ctx, "B4")
			if err != nil {
				return err
			}
			equal(t, "defaulted CreatedAt", got.CreatedAt, d.CreatedAt)
			return nil
		})
	})
}

func testByPlate(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustInsertDecls(t, s,
		decl("A", 1, "T1", "29C11111", "桂A00001", at(0)),
		// The amendment changed the VN plate: the old plate no longer finds A.
		decl("A", 2, "T1", "29C22222", "桂A00001", at(2*time.Minute)),
		decl("B", 1, "T2", "", "桂A00001", at(3*time.Minute)),
		decl("C", 1, "T2", "29C22222", "", at(time.Minute)),
		decl("E", 1, "T3", "99X99999", "", at(4*time.Minute)),
	)
	tests := []struct {
		plate string
		limit int
		want  []string
	}{
		{"桂A00001", 0, []string{"B/v1", "A/v2"}},
		{"桂A00001", 1, []string{"B/v1"}},
		{"29C22222", 0, []string{"A/v2", "C/v1"}},
		{"29C11111", 0, []string{}},
		{"unknown", 10, []string{}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/limit%d", tc.plate, tc.limit), func(t *testing.T) {
			inTx(t, s, func(tx store.Tx) error {
				got, err := tx.DeclarationsByPlate(ctx, tc.plate, tc.limit)
				if err != nil {
					return err
				}
				equal(t, "declarations", declIDs(got), tc.want)
				return nil
			})
		})
	}
}

func testListDeclarations(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustInsertDecls(t, s,
		decl("A", 1, "T1", "", "", at(0)),
		decl("B", 1, "T2", "", "", at(time.Minute)),
		decl("C", 1, "T1", "", "", at(2*time.Minute)),
		decl("A", 2, "T1", "", "", at(3*time.Minute)),
	)
	tests := []struct {
		trader string
		limit  int
		want   []string
	}{
		{"", 0, []string{"A/v2", "C/v1", "B/v1"}},
		{"", 2, []string{"A/v2", "C/v1"}},
		{"T1", 0, []string{"A/v2", "C/v1"}},
		{"T2", 5, []string{"B/v1"}},
		{"T9", 0, []string{}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%q/limit%d", tc.trader, tc.limit), func(t *testing.T) {
			inTx(t, s, func(tx store.Tx) error {
				got, err := tx.ListDeclarations(ctx, tc.trader, tc.limit)
				if err != nil {
					return err
				}
				equal(t, "declarations", declIDs(got), tc.want)
				return nil
			})
		})
	}
}

func testUpdateStatus(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustInsertDecls(t, s, decl("A", 1, "T1", "", "", at(0)), decl("A", 2, "T1", "", "", at(time.Minute)))
	inTx(t, s, func(tx store.Tx) error {
		if err := tx.UpdateDeclarationStatus(ctx, "A", "cancelled"); err != nil {
			t.Fatalf("UpdateDeclarationStatus: %v", err)
		}
		if err := tx.UpdateDeclarationStatus(ctx, "nope", "cancelled"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown id: err = %v, want ErrNotFound", err)
		}
		return nil
	})
	inTx(t, s, func(tx store.Tx) error {
		latest, err := tx.LatestDeclaration(ctx, "A")
		if err != nil {
			return err
		}
		equal(t, "latest status", latest.Status, "cancelled")
		v1, err := tx.DeclarationVersion(ctx, "A", 1)
		if err != nil {
			return err
		}
		equal(t, "v1 status (history is not rewritten)", v1.Status, "active")
		return nil
	})
}

func testIdempotency(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := store.Idempotency{Trader: "0101234567", Key: "k-1", RequestHash: "h1", DeclarationID: "D1", CreatedAt: at(0)}
	inTx(t, s, func(tx store.Tx) error {
		if _, err := tx.GetIdempotency(ctx, want.Trader, want.Key); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("before insert: err = %v, want ErrNotFound", err)
		}
		i := want
		return tx.InsertIdempotency(ctx, &i)
	})
	inTx(t, s, func(tx store.Tx) error {
		again := store.Idempotency{Trader: want.Trader, Key: want.Key, RequestHash: "h2", DeclarationID: "D2"}
		if err := tx.InsertIdempotency(ctx, &again); !errors.Is(err, store.ErrConflict) {
			t.Errorf("second insert: err = %v, want ErrConflict", err)
		}
		// The usual caller reacts to the conflict by reading the first
		// result in the same transaction.
		got, err := tx.GetIdempotency(ctx, want.Trader, want.Key)
		if err != nil {
			t.Fatalf("GetIdempotency after conflict: %v", err)
		}
		w := want
		w.CreatedAt = store.Truncate(w.CreatedAt)
		equal(t, "idempotency", *got, w)
		// Same key, other trader: independent.
		other := store.Idempotency{Trader: "other", Key: want.Key, DeclarationID: "D3"}
		if err := tx.InsertIdempotency(ctx, &other); err != nil {
			t.Errorf("same key, other trader: %v", err)
		}
		if other.CreatedAt.IsZero() {
			t.Error("InsertIdempotency left CreatedAt zero")
		}
		return nil
	})
}

func testMessages(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustInsertDecls(t, s, decl("D1", 1, "T", "", "", at(0)), decl("D1", 2, "T", "", "", at(time.Minute)))
	full := &store.Message{
		ID: "M1", DeclarationID: "D1", Version: 1, Agency: "customs", Kind: "submit",
		MappingVersion: "customs/submit@3", SchemaVersion: "customs-1.2", ContentHash: "e3b0c442",
		Body: []byte("<?xml version=\"1.0\"?>\n<Sig>\x00\xff</Sig>"), State: message.Sent, Attempts: 2,
		NextAttemptAt: at(time.Second), LastError: "timeout", LeaseOwner: "hub-1", LeaseUntil: at(time.Minute),
		SentAt: at(2 * time.Second), AckDeadline: at(time.Hour), CreatedAt: at(0), UpdatedAt: at(3 * time.Second),
		RequestID: "req-7f3a", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736",
	}
	bare := msg("M0", "D1", 1, "guangxi", message.Pending, at(-time.Second))
	amend := msg("M2", "D1", 2, "customs", message.Pending, at(time.Minute))
	amend.Kind, amend.PreviousID = "amend", "M1"
	mustInsertMsgs(t, s, full, bare, amend)

	inTx(t, s, func(tx store.Tx) error {
		got, err := tx.GetMessage(ctx, "M1")
		if err != nil {
			t.Fatalf("GetMessage: %v", err)
		}
		equal(t, "full message", *got, normMsg(*full))
		got, err = tx.GetMessage(ctx, "M0")
		if err != nil {
			t.Fatalf("GetMessage: %v", err)
		}
		equal(t, "bare message (zero times stay zero)", *got, normMsg(*bare))
		if _, err := tx.GetMessage(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown message: err = %v, want ErrNotFound", err)
		}
		if err := tx.InsertMessage(ctx, msg("M1", "D1", 1, "x", message.Pending, at(0))); !errors.Is(err, store.ErrConflict) {
			t.Errorf("duplicate message: err = %v, want ErrConflict", err)
		}
		all, err := tx.MessagesForDeclaration(ctx, "D1")
		if err != nil {
			t.Fatalf("MessagesForDeclaration: %v", err)
		}
		equal(t, "messages of D1 by CreatedAt", msgIDs(all), []string{"M0", "M1", "M2"})
		equal(t, "previous id", all[2].PreviousID, "M1")
		// Everything but the bytes.
		wantFull := normMsg(*full)
		wantFull.Body = nil
		equal(t, "full message in the list", all[1], wantFull)
		none, err := tx.MessagesForDeclaration(ctx, "nope")
		if err != nil {
			t.Fatalf("MessagesForDeclaration: %v", err)
		}
		equal(t, "messages of unknown declaration", len(none), 0)
		return nil
	})

	// UpdateMessage writes exactly the mutable fields.
	upd := *bare
	upd.State, upd.Attempts, upd.NextAttemptAt, upd.LastError = message.Sent, 1, at(time.Minute), "503"
	upd.LeaseOwner, upd.LeaseUntil = "", time.Time{}
	upd.SentAt, upd.AckDeadline, upd.UpdatedAt = at(5*time.Second), at(10*time.Minute), at(5*time.Second)
	inTx(t, s, func(tx store.Tx) error {
		changed := upd
		changed.Body, changed.Agency, changed.Kind = []byte("ignored"), "ignored", "ignored"
		if err := tx.UpdateMessage(ctx, &changed); err != nil {
			t.Fatalf("UpdateMessage: %v", err)
		}
		missing := upd
		missing.ID = "nope"
		if err := tx.UpdateMessage(ctx, &missing); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("update unknown message: err = %v, want ErrNotFound", err)
		}
		return nil
	})
	inTx(t, s, func(tx store.Tx) error {
		got, err := tx.GetMessage(ctx, "M0")
		if err != nil {
			return err
		}
		equal(t, "updated message", *got, normMsg(upd))
		return nil
	})

	// Messages belong to a stored declaration version.
	err := s.WithTx(ctx, func(tx store.Tx) error {
		return tx.InsertMessage(ctx, msg("M9", "D1", 9, "customs", message.Pending, at(0)))
	})
	if err == nil {
		t.Error("message for an unknown declaration version was accepted")
	}
}

func testListMessages(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustInsertDecls(t, s, decl("D1", 1, "T", "", "", at(0)), decl("D2", 1, "T", "", "", at(0)))
	sentLate := msg("S1", "D1", 1, "customs", message.Sent, at(1*time.Second))
	sentLate.AckDeadline = at(time.Minute)
	sentOK := msg("S2", "D2", 1, "customs", message.Sent, at(2*time.Second))
	sentOK.AckDeadline = at(time.Hour)
	pendingDeadline := msg("P1", "D1", 1, "guangxi", message.Pending, at(3*time.Second))
	pendingDeadline.AckDeadline = at(time.Second) // not Sent: never overdue
	acked := msg("K1", "D2", 1, "guangxi", message.Acked, at(4*time.Second))
	sentNoDeadline := msg("S3", "D2", 1, "borderguard", message.Sent, at(5*time.Second))
	mustInsertMsgs(t, s, sentLate, sentOK, pendingDeadline, acked, sentNoDeadline)

	tests := []struct {
		name string
		f    store.MessageFilter
		want []string
	}{
		{"all", store.MessageFilter{}, []string{"S1", "S2", "P1", "K1", "S3"}},
		{"state", store.MessageFilter{State: message.Sent}, []string{"S1", "S2", "S3"}},
		{"agency", store.MessageFilter{Agency: "guangxi"}, []string{"P1", "K1"}},
		{"declaration", store.MessageFilter{DeclarationID: "D2"}, []string{"S2", "K1", "S3"}},
		{"overdue", store.MessageFilter{OverdueAt: at(10 * time.Minute)}, []string{"S1"}},
		{"overdue later", store.MessageFilter{OverdueAt: at(2 * time.Hour)}, []string{"S1", "S2"}},
		{"overdue at deadline is not overdue", store.MessageFilter{OverdueAt: at(time.Minute)}, []string{}},
		{"combined", store.MessageFilter{State: message.Sent, Agency: "customs", DeclarationID: "D2"}, []string{"S2"}},
		{"limit", store.MessageFilter{Limit: 2}, []string{"S1", "S2"}},
		{"no match", store.MessageFilter{Agency: "nope"}, []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inTx(t, s, func(tx store.Tx) error {
				got, err := tx.ListMessages(ctx, tc.f)
				if err != nil {
					return err
				}
				equal(t, "messages", msgIDs(got), tc.want)
				return nil
			})
		})
	}
}

func testCountMessages(t *testing.T, s store.Store) {
	ctx := t.Context()
	count := func() map[[2]string]int {
		var got map[[2]string]int
		inTx(t, s, func(tx store.Tx) error {
			var err error
			got, err = tx.CountMessages(ctx)
			return err
		})
		return got
	}
	equal(t, "empty store", count(), map[[2]string]int{})

	mustInsertDecls(t, s, decl("D1", 1, "T", "", "", at(0)), decl("D2", 1, "T", "", "", at(0)))
	mustInsertMsgs(t, s,
		msg("A", "D1", 1, "customs", message.Pending, at(0)),
		msg("B", "D2", 1, "customs", message.Pending, at(time.Second)),
		msg("C", "D1", 1, "customs", message.Dead, at(2*time.Second)),
		msg("E", "D1", 1, "guangxi", message.Acked, at(3*time.Second)),
		msg("F", "D2", 1, "guangxi", message.Acked, at(4*time.Second)),
		msg("G", "D2", 1, "borderguard", message.Sent, at(5*time.Second)),
	)
	equal(t, "counts", count(), map[[2]string]int{
		{"customs", string(message.Pending)}: 2, {"customs", string(message.Dead)}: 1,
		{"guangxi", string(message.Acked)}: 2, {"borderguard", string(message.Sent)}: 1,
	})

	// A state change moves a message from one count to another.
	inTx(t, s, func(tx store.Tx) error {
		m, err := tx.GetMessage(ctx, "A")
		if err != nil {
			return err
		}
		m.State = message.Sent
		return tx.UpdateMessage(ctx, m)
	})
	equal(t, "after update", count(), map[[2]string]int{
		{"customs", string(message.Pending)}: 1, {"customs", string(message.Sent)}: 1, {"customs", string(message.Dead)}: 1,
		{"guangxi", string(message.Acked)}: 2, {"borderguard", string(message.Sent)}: 1,
	})
}

func testOldestPending(t *testing.T, s store.Store) {
	ctx := t.Context()
	oldest := func() map[string]time.Time {
		var got map[string]time.Time
		inTx(t, s, func(tx store.Tx) error {
			var err error
			got, err = tx.OldestPending(ctx)
			return err
		})
		return got
	}
	equal(t, "empty store", oldest(), map[string]time.Time{})

	mustInsertDecls(t, s, decl("D1", 1, "T", "", "", at(0)))
	mustInsertMsgs(t, s,
		msg("A", "D1", 1, "customs", message.Dead, at(-time.Hour)), // older, but not pending
		msg("B", "D1", 1, "customs", message.Pending, at(time.Second)),
		msg("C", "D1", 1, "customs", message.Pending, at(2*time.Second)),
		msg("E", "D1", 1, "guangxi", message.Sent, at(0)),
		msg("F", "D1", 1, "borderguard", message.Pending, at(5*time.Second)),
	)
	equal(t, "oldest pending", oldest(), map[string]time.Time{
		"customs": store.Truncate(at(time.Second)), "borderguard": store.Truncate(at(5 * time.Second)),
	})

	// Delivering the oldest makes the next one the oldest; delivering the
	// last of an agency removes the agency.
	inTx(t, s, func(tx store.Tx) error {
		for _, id := range []string{"B", "F"} {
			m, err := tx.GetMessage(ctx, id)
			if err != nil {
				return err
			}
			m.State = message.Sent
			if err := tx.UpdateMessage(ctx, m); err != nil {
				return err
			}
		}
		return nil
	})
	equal(t, "after delivery", oldest(), map[string]time.Time{"customs": store.Truncate(at(2 * time.Second))})
}

// claimFixture stores one message per ClaimDue case, relative to now.
func claimFixture(t *testing.T, s store.Store, now time.Time) {
	t.Helper()
	mustInsertDecls(t, s, decl("D", 1, "T", "", "", at(-time.Hour)))
	due := msg("due", "D", 1, "customs", message.Pending, at(-time.Hour))
	due.NextAttemptAt = now.Add(-time.Minute)
	future := msg("future", "D", 1, "customs", message.Pending, at(-time.Hour))
	future.NextAttemptAt = now.Add(time.Minute)
	sent := msg("sent", "D", 1, "customs", message.Sent, at(-time.Hour))
	sent.NextAttemptAt = now.Add(-time.Minute)
	leased := msg("leased", "D", 1, "customs", message.Pending, at(-time.Hour))
	leased.NextAttemptAt, leased.LeaseOwner, leased.LeaseUntil = now.Add(-time.Minute), "other", now.Add(time.Minute)
	expired := msg("expired", "D", 1, "customs", message.Pending, at(-time.Hour))
	expired.NextAttemptAt, expired.LeaseOwner, expired.LeaseUntil = now.Add(-2*time.Minute), "crashed", now.Add(-time.Second)
	never := msg("never", "D", 1, "customs", message.Pending, at(-time.Hour)) // zero NextAttemptAt: due now
	exact := msg("exact", "D", 1, "customs", message.Pending, at(-time.Hour))
	exact.NextAttemptAt = now
	mustInsertMsgs(t, s, due, future, sent, leased, expired, never, exact)
}

func claim(t *testing.T, s store.Store, now time.Time, limit int, owner string, until time.Time) []store.Message {
	t.Helper()
	var got []store.Message
	inTx(t, s, func(tx store.Tx) error {
		var err error
		got, err = tx.ClaimDue(t.Context(), now, limit, owner, until)
		return err
	})
	return got
}

func testClaimDue(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := at(0)
	claimFixture(t, s, now)
	lease := now.Add(30 * time.Second)

	got := claim(t, s, now, 100, "w1", lease)
	equal(t, "claimed (by NextAttemptAt)", msgIDs(got), []string{"never", "expired", "due", "exact"})
	for _, m := range got {
		if m.LeaseOwner != "w1" || !m.LeaseUntil.Equal(store.Truncate(lease)) {
			t.Errorf("%s: returned lease %q until %v, want w1 until %v", m.ID, m.LeaseOwner, m.LeaseUntil, lease)
		}
	}
	inTx(t, s, func(tx store.Tx) error {
		m, err := tx.GetMessage(ctx, "due")
		if err != nil {
			return err
		}
		equal(t, "stored lease owner", m.LeaseOwner, "w1")
		equal(t, "stored lease until", m.LeaseUntil, store.Truncate(lease))
		equal(t, "state unchanged", m.State, message.Pending)
		return nil
	})

	equal(t, "claim while leases hold", msgIDs(claim(t, s, now.Add(10*time.Second), 100, "w2", lease)), []string{})

	// w1's leases ran out; "leased" is still held until now+1m, "future" is
	// not due yet.
	later := now.Add(31 * time.Second)
	got = claim(t, s, later, 100, "w2", later.Add(time.Hour))
	equal(t, "reclaimed after lease expiry", msgIDs(got), []string{"never", "expired", "due", "exact"})
	for _, m := range got {
		equal(t, m.ID+" owner", m.LeaseOwner, "w2")
	}

	got = claim(t, s, now.Add(2*time.Minute), 100, "w3", now.Add(time.Hour))
	equal(t, "future and leased once due/free", msgIDs(got), []string{"leased", "future"})
	equal(t, "limit 0", len(claim(t, s, now.Add(24*time.Hour), 0, "w4", now.Add(48*time.Hour))), 0)
}

func testClaimDueLimit(t *testing.T, s store.Store) {
	now := at(0)
	claimFixture(t, s, now)
	lease := now.Add(time.Minute)
	first := claim(t, s, now, 2, "w1", lease)
	equal(t, "first page", msgIDs(first), []string{"never", "expired"})
	second := claim(t, s, now, 2, "w2", lease)
	equal(t, "second page", msgIDs(second), []string{"due", "exact"})
	equal(t, "nothing left", msgIDs(claim(t, s, now, 2, "w3", lease)), []string{})
}

func testClaimDueConcurrent(t *testing.T, s store.Store) {
	const messages, workers, batch = 60, 8, 3
	now := at(0)
	mustInsertDecls(t, s, decl("D", 1, "T", "", "", at(-time.Hour)))
	var ms []*store.Message
	for i := range messages {
		m := msg(fmt.Sprintf("M%03d", i), "D", 1, "customs", message.Pending, at(time.Duration(i)*time.Millisecond))
		m.NextAttemptAt = now.Add(-time.Second)
		ms = append(ms, m)
	}
	mustInsertMsgs(t, s, ms...)

	claimed := ClaimAll(t, []store.Store{s}, workers, now, batch, now.Add(time.Hour))
	if len(claimed) != messages {
		t.Errorf("claimed %d distinct messages, want %d", len(claimed), messages)
	}
}

// ClaimAll runs workers goroutines, spread over stores, each claiming
// batches in its own transaction until nothing is due. It fails t if any
// message is handed out twice and returns message id → owner.
func ClaimAll(t testing.TB, stores []store.Store, workers int, now time.Time, batch int, leaseUntil time.Time) map[string]string {
	t.Helper()
	var (
		mu      sync.Mutex
		owners  = map[string]string{}
		dupes   []string
		wg      sync.WaitGroup
		errs    = make(chan error, workers)
		release = make(chan struct{})
		// A store that ignores leases would hand out messages forever;
		// the first duplicate stops every worker.
		failed atomic.Bool
	)
	for w := range workers {
		s := stores[w%len(stores)]
		owner := fmt.Sprintf("worker-%d", w)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-release // start together to maximise contention
			for !failed.Load() {
				var got []store.Message
				err := s.WithTx(context.Background(), func(tx store.Tx) error {
					var err error
					got, err = tx.ClaimDue(context.Background(), now, batch, owner, leaseUntil)
					return err
				})
				if err != nil {
					errs <- fmt.Errorf("%s: %w", owner, err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, m := range got {
					if prev, ok := owners[m.ID]; ok {
						dupes = append(dupes, fmt.Sprintf("%s to %s and %s", m.ID, prev, owner))
						failed.Store(true)
					}
					owners[m.ID] = owner
				}
				mu.Unlock()
			}
		}()
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("ClaimDue: %v", err)
	}
	for _, d := range dupes {
		t.Errorf("message claimed twice while its lease held: %s", d)
	}
	return owners
}

func testRollback(t *testing.T, s store.Store) {
	ctx := t.Context()
	boom := errors.New("boom")
	err := s.WithTx(ctx, func(tx store.Tx) error {
		if err := writeEverything(ctx, tx); err != nil {
			t.Fatalf("writes before failure: %v", err)
		}
		return fmt.Errorf("later step: %w", boom)
	})
	if !errors.Is(err, boom) {
		t.Fatalf("WithTx: err = %v, want the error returned by fn", err)
	}
	assertNothingWritten(t, s)
}

func testRollbackPanic(t *testing.T, s store.Store) {
	ctx := t.Context()
	func() {
		defer func() {
			if p := recover(); p != "kaboom" {
				t.Errorf("recovered %v, want the panic to propagate", p)
			}
		}()
		_ = s.WithTx(ctx, func(tx store.Tx) error {
			if err := writeEverything(ctx, tx); err != nil {
				t.Errorf("writes before panic: %v", err)
			}
			panic("kaboom")
		})
	}()
	assertNothingWritten(t, s)
	// The store is still usable after the panic.
	mustInsertDecls(t, s, decl("after", 1, "T", "", "", at(0)))
}

func writeEverything(ctx context.Context, tx store.Tx) error {
	steps := []func() error{
		func() error { return tx.InsertDeclaration(ctx, decl("R", 1, "T", "29C1", "桂A1", at(0))) },
		func() error {
			return tx.InsertIdempotency(ctx, &store.Idempotency{Trader: "T", Key: "k", DeclarationID: "R"})
		},
		func() error { return tx.InsertMessage(ctx, msg("RM", "R", 1, "customs", message.Pending, at(0))) },
		func() error { return tx.InsertAck(ctx, &store.Ack{MessageID: "RM", Status: "ACK"}) },
		func() error {
			return tx.PutDecision(ctx, &store.Decision{DeclarationID: "R", Version: 1, Status: "CLEARED"})
		},
		func() error { return tx.AppendAudit(ctx, &store.AuditEntry{Seq: 1, Time: at(0), Kind: "x"}) },
		func() error { return tx.InsertCheckpoint(ctx, &store.AuditCheckpoint{Seq: 1, Hash: []byte{1}}) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

func assertNothingWritten(t *testing.T, s store.Store) {
	t.Helper()
	ctx := t.Context()
	inTx(t, s, func(tx store.Tx) error {
		checks := []struct {
			name string
			err  error
		}{
			{"declaration", func() error { _, err := tx.LatestDeclaration(ctx, "R"); return err }()},
			{"idempotency", func() error { _, err := tx.GetIdempotency(ctx, "T", "k"); return err }()},
			{"message", func() error { _, err := tx.GetMessage(ctx, "RM"); return err }()},
			{"ack", func() error { _, err := tx.GetAck(ctx, "RM"); return err }()},
			{"decision", func() error { _, err := tx.GetDecision(ctx, "R", 1); return err }()},
		}
		for _, c := range checks {
			if !errors.Is(c.err, store.ErrNotFound) {
				t.Errorf("%s after rollback: err = %v, want ErrNotFound", c.name, c.err)
			}
		}
		seq, hash, err := tx.AuditHead(ctx)
		if err != nil || seq != 0 || hash != nil {
			t.Errorf("audit head after rollback = %d, %x, %v; want 0, nil, nil", seq, hash, err)
		}
		cps, err := tx.ListCheckpoints(ctx, 0, 0)
		if err != nil || len(cps) != 0 {
			t.Errorf("checkpoints after rollback = %v, %v; want none", cps, err)
		}
		return nil
	})
}

func testAcks(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustInsertDecls(t, s, decl("D", 1, "T", "", "", at(0)))
	mustInsertMsgs(t, s, msg("M1", "D", 1, "customs", message.Sent, at(0)))
	want := store.Ack{MessageID: "M1", Agency: "customs", AckID: "VNACCS-77", Status: "NACK", ReasonCode: "E042",
		ReasonText: "Sai mã HS / HS code invalid", Raw: []byte("<Ack>\x00signed\xff</Ack>"), ReceivedAt: at(time.Second)}
	inTx(t, s, func(tx store.Tx) error {
		if _, err := tx.GetAck(ctx, "M1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("before insert: err = %v, want ErrNotFound", err)
		}
		a := want
		return tx.InsertAck(ctx, &a)
	})
	inTx(t, s, func(tx store.Tx) error {
		second := store.Ack{MessageID: "M1", Agency: "customs", AckID: "VNACCS-78", Status: "ACK"}
		if err := tx.InsertAck(ctx, &second); !errors.Is(err, store.ErrConflict) {
			t.Errorf("second ack: err = %v, want ErrConflict", err)
		}
		got, err := tx.GetAck(ctx, "M1")
		if err != nil {
			t.Fatalf("GetAck: %v", err)
		}
		w := want
		w.ReceivedAt = store.Truncate(w.ReceivedAt)
		equal(t, "ack (the first one stays)", *got, w)
		byDecl, err := tx.AcksForDeclaration(ctx, "D")
		if err != nil {
			t.Fatalf("AcksForDeclaration: %v", err)
		}
		w.Raw = nil
		equal(t, "acks of D (without their XML)", byDecl, map[string]store.Ack{"M1": w})
		none, err := tx.AcksForDeclaration(ctx, "other")
		if err != nil {
			t.Fatalf("AcksForDeclaration: %v", err)
		}
		equal(t, "acks of a declaration without any", len(none), 0)
		return nil
	})
}

func testDecisions(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustInsertDecls(t, s, decl("D", 1, "T", "", "", at(0)), decl("D", 2, "T", "", "", at(time.Minute)))
	steps := []store.Decision{
		{DeclarationID: "D", Version: 1, Status: "PENDING", Detail: []byte(`{"waiting":["customs"]}`), DecidedAt: at(time.Second)},
		{DeclarationID: "D", Version: 1, Status: "CLEARED", Detail: []byte(`{}`), DecidedAt: at(2 * time.Second)},
		{DeclarationID: "D", Version: 2, Status: "HOLD", Detail: []byte(`{"reason":"weight"}`), DecidedAt: at(3 * time.Second)},
	}
	for _, d := range steps {
		inTx(t, s, func(tx store.Tx) error {
			put := d
			if err := tx.PutDecision(ctx, &put); err != nil {
				return err
			}
			got, err := tx.GetDecision(ctx, d.DeclarationID, d.Version)
			if err != nil {
				return err
			}
			w := d
			w.DecidedAt = store.Truncate(w.DecidedAt)
			equal(t, "decision after put", *got, w)
			return nil
		})
	}
	inTx(t, s, func(tx store.Tx) error {
		got, err := tx.GetDecision(ctx, "D", 1)
		if err != nil {
			return err
		}
		equal(t, "v1 decision (upserted)", string(got.Status), "CLEARED")
		if _, err := tx.GetDecision(ctx, "D", 3); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown version: err = %v, want ErrNotFound", err)
		}
		return nil
	})
}

func chainHash(prev, payload []byte) []byte {
	h := sha256.New()
	h.Write(prev)
	h.Write(payload)
	return h.Sum(nil)
}

// appendNext appends e after the current head, the way the audit log does.
func appendNext(ctx context.Context, tx store.Tx, e store.AuditEntry) (store.AuditEntry, error) {
	seq, prev, err := tx.AuditHead(ctx)
	if err != nil {
		return e, err
	}
	e.Seq, e.PrevHash, e.Hash = seq+1, prev, chainHash(prev, e.Payload)
	return e, tx.AppendAudit(ctx, &e)
}

func testAudit(t *testing.T, s store.Store) {
	ctx := t.Context()
	var stored []store.AuditEntry
	inTx(t, s, func(tx store.Tx) error {
		seq, hash, err := tx.AuditHead(ctx)
		if err != nil || seq != 0 || hash != nil {
			t.Errorf("empty head = %d, %x, %v; want 0, nil, nil", seq, hash, err)
		}
		for i := range 3 {
			e, err := appendNext(ctx, tx, store.AuditEntry{Time: at(time.Duration(i) * time.Second), Kind: "declaration.received",
				Actor: "trader:T", DeclarationID: "D", Payload: []byte{byte(i), 0, 0xff}})
			if err != nil {
				return err
			}
			e.Time = store.Truncate(e.Time)
			stored = append(stored, e)
		}
		return nil
	})
	inTx(t, s, func(tx store.Tx) error {
		seq, hash, err := tx.AuditHead(ctx)
		if err != nil {
			return err
		}
		equal(t, "head seq", seq, int64(3))
		equal(t, "head hash", hash, stored[2].Hash)
		for _, tc := range []struct {
			name string
			seq  int64
		}{{"duplicate seq", 3}, {"gap", 5}, {"rewind", 1}} {
			e := store.AuditEntry{Seq: tc.seq, Time: at(0), Kind: "x"}
			if err := tx.AppendAudit(ctx, &e); !errors.Is(err, store.ErrConflict) {
				t.Errorf("%s: err = %v, want ErrConflict", tc.name, err)
			}
		}
		// Still usable after the refused appends.
		if _, err := appendNext(ctx, tx, store.AuditEntry{Time: at(time.Hour), Kind: "y"}); err != nil {
			t.Errorf("append after conflicts: %v", err)
		}
		got, err := tx.ListAudit(ctx, store.AuditFilter{ToSeq: 3})
		if err != nil {
			return err
		}
		equal(t, "entries", got, stored)
		return nil
	})
}

// testAuditRuns: several entries appended in one call go in whole, in
// order, and become the head; a run that is not consecutive, is empty or
// does not continue the head goes in not at all.
func testAuditRuns(t *testing.T, s store.Store) {
	ctx := t.Context()
	run := func(seq int64, n int) []*store.AuditEntry {
		var out []*store.AuditEntry
		for i := range n {
			out = append(out, &store.AuditEntry{Seq: seq + int64(i), Time: at(time.Duration(i) * time.Second),
				Kind: "run", DeclarationID: "D", Payload: []byte{byte(i)}, Hash: []byte{byte(seq) + byte(i)}})
		}
		return out
	}
	inTx(t, s, func(tx store.Tx) error {
		if _, err := appendNext(ctx, tx, store.AuditEntry{Time: at(0), Kind: "first"}); err != nil {
			return err
		}
		for _, tc := range []struct {
			name     string
			es       []*store.AuditEntry
			conflict bool // ErrConflict rather than any refusal
		}{
			{"empty", nil, false},
			{"gap inside", append(run(2, 2), run(5, 1)...), false},
			{"repeated seq inside", append(run(2, 2), run(3, 1)...), false},
			{"nil entry", []*store.AuditEntry{run(2, 1)[0], nil}, false},
			{"does not continue the head", run(3, 3), true},
			{"rewinds the head", run(1, 3), true},
		} {
			err := tx.AppendAudit(ctx, tc.es...)
			if err == nil || (tc.conflict && !errors.Is(err, store.ErrConflict)) {
				t.Errorf("%s: err = %v, want a refusal (ErrConflict: %v)", tc.name, err, tc.conflict)
			}
			if seq, _, err := tx.AuditHead(ctx); err != nil || seq != 1 {
				t.Errorf("%s: head seq = %d, %v after a refused run; want 1", tc.name, seq, err)
			}
		}
		// Many more than a statement would carry on SQLite.
		if err := tx.AppendAudit(ctx, run(2, 600)...); err != nil {
			return fmt.Errorf("run of 600: %w", err)
		}
		seq, hash, err := tx.AuditHead(ctx)
		if err != nil {
			return err
		}
		equal(t, "head seq after the run", seq, int64(601))
		equal(t, "head hash after the run", hash, run(2, 600)[599].Hash)
		return nil
	})
	inTx(t, s, func(tx store.Tx) error {
		got, err := tx.ListAudit(ctx, store.AuditFilter{FromSeq: 2})
		if err != nil {
			return err
		}
		want := run(2, 600)
		if len(got) != len(want) {
			t.Fatalf("%d entries stored, want %d", len(got), len(want))
		}
		for i := range got {
			w := *want[i]
			w.Time = store.Truncate(w.Time)
			if !reflect.DeepEqual(got[i], w) {
				t.Fatalf("entry %d = %+v, want %+v", i, got[i], w)
			}
		}
		return nil
	})
}

func testAuditFilters(t *testing.T, s store.Store) {
	ctx := t.Context()
	entries := []store.AuditEntry{
		{Time: at(0), Kind: "declaration.received", DeclarationID: "D1", Plate: "29C1"},
		{Time: at(1 * time.Minute), Kind: "message.sent", DeclarationID: "D1", MessageID: "M1", Agency: "customs", Plate: "29C1"},
		{Time: at(2 * time.Minute), Kind: "message.sent", DeclarationID: "D1", MessageID: "M2", Agency: "guangxi", Plate: "桂A1"},
		{Time: at(3 * time.Minute), Kind: "ack.received", DeclarationID: "D1", MessageID: "M1", Agency: "customs"},
		{Time: at(4 * time.Minute), Kind: "decision", DeclarationID: "D2", Plate: "桂A1"},
	}
	inTx(t, s, func(tx store.Tx) error {
		for _, e := range entries {
			e.Payload = []byte(e.Kind)
			if _, err := appendNext(ctx, tx, e); err != nil {
				return err
			}
		}
		return nil
	})
	tests := []struct {
		name string
		f    store.AuditFilter
		want []int64
	}{
		{"all", store.AuditFilter{}, []int64{1, 2, 3, 4, 5}},
		{"seq range", store.AuditFilter{FromSeq: 2, ToSeq: 4}, []int64{2, 3, 4}},
		{"from seq", store.AuditFilter{FromSeq: 4}, []int64{4, 5}},
		{"time range [From, To)", store.AuditFilter{From: at(time.Minute), To: at(3 * time.Minute)}, []int64{2, 3}},
		{"from time", store.AuditFilter{From: at(3 * time.Minute)}, []int64{4, 5}},
		{"kind", store.AuditFilter{Kind: "message.sent"}, []int64{2, 3}},
		{"declaration", store.AuditFilter{DeclarationID: "D2"}, []int64{5}},
		{"message", store.AuditFilter{MessageID: "M1"}, []int64{2, 4}},
		{"agency", store.AuditFilter{Agency: "guangxi"}, []int64{3}},
		{"plate", store.AuditFilter{Plate: "桂A1"}, []int64{3, 5}},
		{"limit", store.AuditFilter{Limit: 2}, []int64{1, 2}},
		{"combined", store.AuditFilter{DeclarationID: "D1", Agency: "customs", FromSeq: 3, Limit: 5}, []int64{4}},
		{"none", store.AuditFilter{Kind: "nope"}, []int64{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inTx(t, s, func(tx store.Tx) error {
				got, err := tx.ListAudit(ctx, tc.f)
				if err != nil {
					return err
				}
				seqs := []int64{}
				for _, e := range got {
					seqs = append(seqs, e.Seq)
				}
				equal(t, "seqs", seqs, tc.want)
				return nil
			})
		})
	}
}

// testAuditConcurrent: concurrent transactions, each appending several
// entries as a submit does (the head the store answers after its own
// append must still be the chain's), never fork or gap the chain.
func testAuditConcurrent(t *testing.T, s store.Store) {
	const workers, each, perTx = 8, 15, 3
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	release := make(chan struct{})
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-release
			for i := range each {
				err := s.WithTx(context.Background(), func(tx store.Tx) error {
					for k := range perTx {
						_, err := appendNext(context.Background(), tx, store.AuditEntry{
							Time: time.Now(), Kind: "concurrent", Actor: fmt.Sprintf("w%d", w),
							Payload: fmt.Appendf(nil, "w%d-%d-%d", w, i, k)})
						if err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					errs <- fmt.Errorf("worker %d append %d: %w", w, i, err)
					return
				}
			}
		}()
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	inTx(t, s, func(tx store.Tx) error {
		got, err := tx.ListAudit(t.Context(), store.AuditFilter{})
		if err != nil {
			return err
		}
		if len(got) != workers*each*perTx {
			t.Fatalf("%d entries, want %d", len(got), workers*each*perTx)
		}
		var prev []byte
		for i, e := range got {
			if e.Seq != int64(i+1) {
				t.Fatalf("entry %d has seq %d: gap or reorder", i, e.Seq)
			}
			if !reflect.DeepEqual(e.PrevHash, prev) || !reflect.DeepEqual(e.Hash, chainHash(prev, e.Payload)) {
				t.Fatalf("seq %d does not link to its predecessor", e.Seq)
			}
			prev = e.Hash
		}
		return nil
	})
}

func testCheckpoints(t *testing.T, s store.Store) {
	ctx := t.Context()
	var want []store.AuditCheckpoint
	for _, seq := range []int64{10, 20, 30} {
		want = append(want, store.AuditCheckpoint{Seq: seq, Hash: []byte{byte(seq), 0xff},
			Signature: []byte{0, byte(seq)}, KeyID: "hub-2026", CreatedAt: at(time.Duration(seq) * time.Second)})
	}
	inTx(t, s, func(tx store.Tx) error {
		for _, c := range want {
			if err := tx.InsertCheckpoint(ctx, &c); err != nil {
				return err
			}
		}
		dup := store.AuditCheckpoint{Seq: 20, Hash: []byte{9}}
		if err := tx.InsertCheckpoint(ctx, &dup); !errors.Is(err, store.ErrConflict) {
			t.Errorf("duplicate checkpoint: err = %v, want ErrConflict", err)
		}
		return nil
	})
	for i := range want {
		want[i].CreatedAt = store.Truncate(want[i].CreatedAt)
	}
	tests := []struct {
		from, to int64
		want     []store.AuditCheckpoint
	}{
		{0, 0, want},
		{10, 20, want[:2]},
		{11, 30, want[1:]},
		{25, 0, want[2:]},
		{31, 40, nil},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d-%d", tc.from, tc.to), func(t *testing.T) {
			inTx(t, s, func(tx store.Tx) error {
				got, err := tx.ListCheckpoints(ctx, tc.from, tc.to)
				if err != nil {
					return err
				}
				if len(got) == 0 && len(tc.want) == 0 {
					return nil
				}
				equal(t, "checkpoints", got, tc.want)
				return nil
			})
		})
	}
}

// testAuditPrune: archived entries can leave the hot store, the head never
// does, and appending continues the chain from it.
func testAuditPrune(t *testing.T, s store.Store) {
	ctx := t.Context()
	var head store.AuditEntry
	inTx(t, s, func(tx store.Tx) error {
		for i := range 5 {
			e, err := appendNext(ctx, tx, store.AuditEntry{Time: at(time.Duration(i) * time.Second), Kind: "k", Payload: []byte{byte(i)}})
			if err != nil {
				return err
			}
			head = e
		}
		return nil
	})
	inTx(t, s, func(tx store.Tx) error {
		for _, through := range []int64{5, 6} {
			if _, err := tx.PruneAudit(ctx, through); !errors.Is(err, store.ErrConflict) {
				t.Errorf("prune through %d (head 5): err = %v, want ErrConflict", through, err)
			}
		}
		n, err := tx.PruneAudit(ctx, 3)
		if err != nil {
			return err
		}
		equal(t, "pruned", n, int64(3))
		got, err := tx.ListAudit(ctx, store.AuditFilter{})
		if err != nil {
			return err
		}
		if len(got) != 2 || got[0].Seq != 4 || got[1].Seq != 5 {
			t.Errorf("after prune: %d entries, want seq 4 and 5", len(got))
		}
		seq, hash, err := tx.AuditHead(ctx)
		if err != nil {
			return err
		}
		equal(t, "head seq after prune", seq, int64(5))
		equal(t, "head hash after prune", hash, head.Hash)
		next, err := appendNext(ctx, tx, store.AuditEntry{Time: at(time.Minute), Kind: "k"})
		if err != nil {
			return err
		}
		equal(t, "next seq", next.Seq, int64(6))
		equal(t, "next prev hash", next.PrevHash, head.Hash)
		return nil
	})
}

func testGateConfigs(t *testing.T, s store.Store) {
	ctx := t.Context()
	inTx(t, s, func(tx store.Tx) error {
		got, err := tx.ListGateConfigs(ctx)
		if err != nil {
			return err
		}
		equal(t, "empty", len(got), 0)
		for i, c := range []store.GateConfig{
			{Code: "TANTHANH", YAML: []byte("code: TANTHANH\n"), AppliedBy: "admin:a", AppliedAt: at(0)},
			{Code: "HUUNGHI", YAML: []byte("code: HUUNGHI\n# v1\n"), AppliedBy: "admin:a", AppliedAt: at(time.Second)},
			{Code: "HUUNGHI", YAML: []byte("code: HUUNGHI\n# v2\n"), AppliedBy: "admin:b", AppliedAt: at(2 * time.Second)},
		} {
			if err := tx.PutGateConfig(ctx, &c); err != nil {
				return err
			}
			want := int64(1)
			if i == 2 {
				want = 2
			}
			equal(t, "version of "+c.Code, c.Version, want)
		}
		got, err = tx.ListGateConfigs(ctx)
		if err != nil {
			return err
		}
		if len(got) != 2 || got[0].Code != "HUUNGHI" || got[1].Code != "TANTHANH" {
			t.Fatalf("listed %+v", got)
		}
		equal(t, "latest yaml", string(got[0].YAML), "code: HUUNGHI\n# v2\n")
		equal(t, "latest version", got[0].Version, int64(2))
		equal(t, "applied by", got[0].AppliedBy, "admin:b")
		equal(t, "applied at", got[0].AppliedAt, store.Truncate(at(2*time.Second)))
		return nil
	})
}

func testBlobs(t *testing.T, s store.Store) {
	ctx := context.Background()
	data := []byte("version: 1.2.0\nrules: []\n")
	sum := sha256.Sum256(data)
	ref := hex.EncodeToString(sum[:])
	inTx(t, s, func(tx store.Tx) error {
		if _, err := tx.GetBlob(ctx, ref); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetBlob before PutBlob: %v", err)
		}
		if err := tx.PutBlob(ctx, ref, data); err != nil {
			return err
		}
		// Content-addressed: the same bytes again are no conflict.
		return tx.PutBlob(ctx, ref, data)
	})
	inTx(t, s, func(tx store.Tx) error {
		got, err := tx.GetBlob(ctx, ref)
		if err != nil {
			return err
		}
		equal(t, "blob", got, data)
		if err := tx.PutBlob(ctx, ref, []byte("other bytes")); err == nil {
			t.Fatal("PutBlob stored bytes under a hash not theirs")
		}
		return nil
	})
}
