package app_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/app"
	"github.com/gatehub/gatehub/internal/decisions"
	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/store/sqlite"
)

// TestShutdownSignsTheChainHead: a hub that stops gracefully leaves its
// last audit entry covered by a signed checkpoint, even when the periodic
// checkpoint has not come round yet.
func TestShutdownSignsTheChainHead(t *testing.T) {
	cfg := baseConfig(t)
	cfg.CheckpointEvery = time.Hour
	in := launch(t, cfg, app.Options{})
	events := in.events("HUUNGHI", "EXP-1")
	v := in.submit(sample(t, nil))
	in.waitDecision(events, v.ID, func(ev decisions.DecisionEvent) bool { return ev.Decision.Status == "CLEARED" })
	if err := in.stop(); err != nil {
		t.Fatal(err)
	}

	st, err := sqlite.Open(context.Background(), filepath.Join(cfg.DataDir, "gatehub.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	err = st.WithTx(t.Context(), func(tx store.Tx) error {
		seq, hash, err := tx.AuditHead(t.Context())
		if err != nil {
			return err
		}
		cps, err := tx.ListCheckpoints(t.Context(), 0, 0)
		if err != nil {
			return err
		}
		if len(cps) == 0 {
			t.Fatal("no checkpoint after a graceful stop")
		}
		last := cps[len(cps)-1]
		if last.Seq != seq || !bytes.Equal(last.Hash, hash) {
			t.Fatalf("last checkpoint at %d, head at %d", last.Seq, seq)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
