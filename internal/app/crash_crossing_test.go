package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/crossing"
	"github.com/gatehub/gatehub/internal/lanes"
	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/store/postgres"
	"github.com/gatehub/gatehub/internal/store/sqlite"
	"github.com/gatehub/gatehub/internal/views"
)

// crashReadings of one truck's crossing of Hữu Nghị, in order.
func crashReadings(plate, id string) [][2]string {
	return [][2]string{
		{b1Camera, plateReading(plate)},
		{b2Camera, plateReading(plate)},
		{b2Scale, fmt.Sprintf(`{"kind":"weight","weightKg":38500,"plate":%q}`, plate)},
		{b2QR, qrReading(id)},
		{b0Camera, plateReading(plate)},
		{b0QR, qrReading(id)},
	}
}

// postReading sends one reading to the hub process; an error is a reading
// the device got no answer to.
func postReading(url, token, body string) (*lanes.Answer, error) {
	req, err := http.NewRequest("POST", url+"/v1/devices/readings", bytes.NewReader([]byte(body)))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	var a lanes.Answer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		return nil, err
	}
	return &a, nil
}

// crashCrossings takes every cleared truck through B1, B2 and B0. Between
// readings, and racing some readings, the hub is SIGKILLed and restarted;
// a reading without an answer is sent again, as a device retries. It
// returns the declarations that crossed.
func crashCrossings(t *testing.T, proc *hubProcess, rng *rand.Rand, views map[string]views.DeclarationView, ids []string) []string {
	t.Helper()
	var crossed []string
	kills := 0
	for _, id := range ids {
		v := views[id]
		if v.Decision.Status != "CLEARED" {
			continue
		}
		crossed = append(crossed, id)
		for _, r := range crashReadings(v.PlateVN, id) {
			var ans *lanes.Answer
			var err error
			switch n := rng.IntN(12); {
			case n == 0 && kills < crashKills:
				// Killed while the reading is in flight: it may or may not
				// have committed; the device resends it after the restart.
				done := make(chan struct{})
				go func() { defer close(done); ans, err = postReading(proc.url, r[0], r[1]) }()
				proc.kill()
				<-done
				proc.start()
				kills++
			case n == 1 && kills < crashKills:
				proc.kill()
				proc.start()
				kills++
				ans, err = postReading(proc.url, r[0], r[1])
			default:
				ans, err = postReading(proc.url, r[0], r[1])
			}
			for attempt := 0; err != nil; attempt++ {
				if attempt > 20 {
					t.Fatalf("reading %s for %s: %v", r[1], id, err)
				}
				ans, err = postReading(proc.url, r[0], r[1])
			}
			if ans.Stale {
				t.Fatalf("a resent reading was refused as stale: %+v", ans)
			}
		}
	}
	t.Logf("%d trucks crossed, %d kills during the crossings", len(crossed), kills)
	return crossed
}

// checkCrossings reads the stopped hub's store: every crossed truck exited
// with one passage per checkpoint (none lost), one OPEN per checkpoint was
// signed (none doubled), and folding the log's crossing events through the
// domain's transitions reproduces the stored crossings.
func checkCrossings(t *testing.T, dsn, dataDir string, crossed []string) {
	t.Helper()
	ctx := context.Background()
	var st store.Store
	var err error
	if dsn != "" {
		st, err = postgres.Open(ctx, dsn)
	} else {
		st, err = sqlite.Open(ctx, filepath.Join(dataDir, "gatehub.db"))
	}
	if err != nil {
		t.Fatalf("open the hub's store: %v", err)
	}
	defer st.Close()
	stored := map[string]*crossing.Crossing{}
	var entries []store.AuditEntry
	err = st.WithTx(ctx, func(tx store.Tx) error {
		var err error
		if entries, err = tx.ListAudit(ctx, store.AuditFilter{}); err != nil {
			return err
		}
		for _, id := range crossed {
			sc, err := tx.GetCrossing(ctx, id)
			if err != nil {
				return fmt.Errorf("crossing of %s: %w", id, err)
			}
			if stored[id], err = lanes.FromStore(sc); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	opens := map[[2]string]map[string]bool{} // (declaration, checkpoint) → distinct signed OPEN tokens
	replayed := map[string]*crossing.Crossing{}
	for i := range entries {
		e := &entries[i]
		switch e.Kind {
		case audit.KindLaneDecision:
			var p lanes.DecisionEntry
			if json.Unmarshal(e.Payload, &p) != nil || p.Answer == nil || p.Answer.Action != "OPEN" {
				continue
			}
			k := [2]string{p.Answer.DeclarationID, p.Answer.Checkpoint}
			if opens[k] == nil {
				opens[k] = map[string]bool{}
			}
			opens[k][p.Answer.Token] = true
		case audit.KindCrossingOpened, audit.KindCrossingPassed, audit.KindCrossingExited,
			audit.KindCrossingTurnedBack, audit.KindCrossingCancelled, audit.KindCrossingAmended:
			var ev crossing.Event
			if err := json.Unmarshal(e.Payload, &ev); err != nil {
				t.Fatalf("entry %d: %v", e.Seq, err)
			}
			c, err := crossing.Replay(replayed[ev.DeclarationID], ev)
			if err != nil {
				t.Fatalf("replay entry %d: %v", e.Seq, err)
			}
			replayed[ev.DeclarationID] = c
		}
	}
	for _, id := range crossed {
		c := stored[id]
		if c.State != crossing.Exited || len(c.Passages) != 3 {
			t.Errorf("%s: %s with %d passages, want exited after 3", id, c.State, len(c.Passages))
		}
		for _, cp := range []string{"B1", "B2", "B0"} {
			if n := len(opens[[2]string{id, cp}]); n != 1 {
				t.Errorf("%s at %s: %d signed OPENs, want 1", id, cp, n)
			}
		}
		r := replayed[id]
		if r == nil {
			t.Errorf("%s: no crossing events in the log", id)
			continue
		}
		if r.State != c.State || len(r.Passages) != len(c.Passages) || r.Version != c.Version || r.Plate != c.Plate {
			t.Errorf("%s: replayed %s/%d passages, stored %s/%d", id, r.State, len(r.Passages), c.State, len(c.Passages))
		}
		for i := range min(len(r.Passages), len(c.Passages)) {
			if a, b := r.Passages[i], c.Passages[i]; a.Checkpoint != b.Checkpoint || !a.PassedAt.Equal(b.PassedAt) || a.Vehicle != b.Vehicle {
				t.Errorf("%s passage %d: replayed %+v, stored %+v", id, i, a, b)
			}
		}
	}
	if len(crossed) == 0 {
		t.Error(errors.New("no truck crossed"))
	}
}
