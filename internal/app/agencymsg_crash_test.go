package app_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/clearance"
	"github.com/gatehub/gatehub/internal/directive"
	"github.com/gatehub/gatehub/internal/pki"
	sim "github.com/gatehub/gatehub/internal/simulator"
)

// TestForwardSurvivesKill: the vehicle registry revokes a truck's permit;
// the hub forwards the REVOKE to customs and the border guard and is
// killed with SIGKILL while the first forward is at its agency, before it
// could record the delivery. After the restart each subscriber holds
// exactly one forward of the REVOKE, under one message id, answered once:
// the resend carried the same id and the same bytes (a simulated agency
// refuses a known id with other bytes), and the truck stays rejected.
func TestForwardSurvivesKill(t *testing.T) {
	bin := gatehubd(t)
	dir := t.TempDir()
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	keysDir, trustDir, dataDir := filepath.Join(dir, "keys"), filepath.Join(dir, "trust"), filepath.Join(dir, "data")
	hubID, hubSM2 := processHubKeys(t, keysDir)
	addr := reserveAddr(t)
	// Customs answers slowly: the kill lands while a forward is with it.
	sims := startTappedSims(t, root, []*pki.Identity{hubID, hubSM2}, "http://"+addr, func(c *sim.Config) {
		c.Mode = sim.ModeSync
		if c.Agency == "customs" || c.Agency == "borderguard" {
			c.Delay = 300 * time.Millisecond
		}
	})
	hubTrust := pki.NewTrustStore()
	sims.trustAgencies(hubTrust)
	if err := hubTrust.Save(trustDir); err != nil {
		t.Fatal(err)
	}
	env := processEnv(root, addr, dataDir, keysDir, trustDir, sims)
	proc := &hubProcess{t: t, bin: bin, env: env, logDir: dir, url: "http://" + addr}
	t.Cleanup(proc.cleanup)
	proc.start()

	id, err := proc.submit(crashDeclaration(t, 900, false), "forward-kill-1")
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, url: proc.url}
	if v := waitFinal(h, h.events("HUUNGHI", "EXP-1"), []string{id}, 30*time.Second)[id]; v.Decision.Status != clearance.Cleared {
		t.Fatalf("before the revocation: %s %+v", v.Decision.Status, v.Decision.Reasons)
	}

	revoke := signOrder(t, sims.server("vehicleregistry"), directive.Message{ID: "VR-KILL-REVOKE", Kind: directive.Revoke,
		DeclarationID: id, Version: 1, Subject: "PERMIT", ReasonCode: "VR-PERMIT-REVOKED"})
	fired := sims.tap.after(1)
	ans := h.orderOK("vehicleregistry", revoke)
	if len(ans.Forwarded) != 2 {
		t.Fatalf("answer %+v: want forwards to customs and the border guard", ans)
	}
	select {
	case <-fired:
	case <-time.After(30 * time.Second): // a guard against hanging, not a synchronisation
		t.Fatal("no forward was delivered")
	}
	proc.kill()
	proc.start()

	fwds := h.waitForwardsAcked(id, 2)
	resent := 0
	for _, f := range fwds {
		srv := sims.server(f.Agency)
		var forwards []string
		for mid, st := range srv.Stats() {
			if st.Kind == sim.KindForward {
				forwards = append(forwards, mid)
			}
		}
		if !slices.Equal(forwards, []string{f.ID}) {
			t.Errorf("%s holds forwards %v, want exactly %s", f.Agency, forwards, f.ID)
		}
		st := srv.Stats()[f.ID]
		if st.Status != "ACK" || st.Refused != "" {
			t.Errorf("%s's record of %s: %+v (a resend with other bytes is refused MESSAGE-ID-REUSED)", f.Agency, f.ID, st)
		}
		if st.Attempts > 1 {
			resent++
		}
		t.Logf("%s received forward %s in %d attempts", f.Agency, f.ID, st.Attempts)
	}
	if resent == 0 {
		t.Error("no forward was resent: the kill did not interrupt a delivery")
	}
	// The revocation stood through the kill; its resend changes nothing.
	if d := h.view(id).Decision; d.Status != clearance.Rejected {
		t.Errorf("after restart: %s %+v", d.Status, d.Reasons)
	}
	again := h.orderOK("vehicleregistry", revoke)
	if !again.Duplicate || fmt.Sprint(again.Forwarded) != fmt.Sprint(ans.Forwarded) {
		t.Errorf("resend: %+v, first %+v", again, ans)
	}
	proc.stop()
}
