package replay

import (
	"context"
	"testing"

	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/directive"
	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/store/storetest"
)

// TestRestoreKeepsAgencyMessages: a store restored from the log holds the
// agencies' own messages, so a decision derived there after the restore
// still sees the hold; a log whose entry contradicts its XML is refused.
func TestRestoreKeepsAgencyMessages(t *testing.T) {
	hold, err := directive.Build(directive.Message{ID: "CUS-H-1", Kind: directive.Hold, Sender: "customs", DeclarationID: "D1",
		Version: 1, Checkpoint: "B1", ReasonCode: "CUS-RED", CreatedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := hold.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	var b logBuilder
	b.accepted("D1", "12C-12345")
	b.add(audit.KindAgencyMessage, "D1", "CUS-H-1", "customs", raw)
	b.decision("D1", 1, "HOLD")

	st := storetest.OpenSQLite(t)
	ctx := context.Background()
	if _, err := Restore(ctx, st, b.entries, fakeAcks); err != nil {
		t.Fatal(err)
	}
	err = st.WithTx(ctx, func(tx store.Tx) error {
		ms, err := tx.AgencyMessagesForDeclaration(ctx, "D1")
		if err != nil {
			return err
		}
		if len(ms) != 1 || ms[0].ID != "CUS-H-1" || ms[0].Kind != "HOLD" || ms[0].Checkpoint != "B1" {
			t.Errorf("restored agency messages %+v", ms)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	var bad logBuilder
	bad.accepted("D1", "12C-12345")
	bad.add(audit.KindAgencyMessage, "D1", "CUS-H-1", "borderguard", raw)
	if _, err := FromEntries(bad.entries, fakeAcks); err == nil {
		t.Fatal("an agency message logged under another sender was replayed")
	}
}
