package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/store"
)

func testAgencyMessages(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustInsertDecls(t, s, decl("D", 1, "T", "", "", at(0)))
	hold := store.AgencyMessage{ID: "CUS-H-1", Agency: "customs", Kind: "HOLD", DeclarationID: "D", Version: 1,
		Checkpoint: "B1", ReasonCode: "CUS-RED", ReasonText: "Kiểm tra thực tế / physical inspection",
		Detail: []byte(`{"a":1}`), Raw: []byte("<Hold>\x00signed\xff</Hold>"), Answer: []byte(`{"decision":"HOLD"}`),
		ReceivedAt: at(time.Second)}
	release := store.AgencyMessage{ID: "CUS-R-1", Agency: "customs", Kind: "RELEASE", DeclarationID: "D", Version: 1,
		Raw: []byte("<Release/>"), ReceivedAt: at(2 * time.Second)}
	inTx(t, s, func(tx store.Tx) error {
		if _, err := tx.GetAgencyMessage(ctx, hold.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("before insert: err = %v, want ErrNotFound", err)
		}
		// Inserted out of order: the list follows ReceivedAt.
		r, h := release, hold
		if err := tx.InsertAgencyMessage(ctx, &r); err != nil {
			return err
		}
		return tx.InsertAgencyMessage(ctx, &h)
	})
	inTx(t, s, func(tx store.Tx) error {
		again := hold
		again.Raw = []byte("other bytes")
		if err := tx.InsertAgencyMessage(ctx, &again); !errors.Is(err, store.ErrConflict) {
			t.Errorf("same id again: err = %v, want ErrConflict", err)
		}
		got, err := tx.GetAgencyMessage(ctx, hold.ID)
		if err != nil {
			t.Fatalf("GetAgencyMessage: %v", err)
		}
		w := hold
		w.ReceivedAt = store.Truncate(w.ReceivedAt)
		equal(t, "agency message (the first one stays)", *got, w)
		list, err := tx.AgencyMessagesForDeclaration(ctx, "D")
		if err != nil {
			t.Fatalf("AgencyMessagesForDeclaration: %v", err)
		}
		w.Raw, w.Answer = nil, nil
		wr := release
		wr.Raw, wr.ReceivedAt = nil, store.Truncate(wr.ReceivedAt)
		equal(t, "agency messages of D, by time, without bytes", list, []store.AgencyMessage{w, wr})
		none, err := tx.AgencyMessagesForDeclaration(ctx, "other")
		if err != nil {
			t.Fatalf("AgencyMessagesForDeclaration: %v", err)
		}
		equal(t, "agency messages of a declaration without any", len(none), 0)
		return nil
	})
}
