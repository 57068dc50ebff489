package app_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/app"
)

// TestAppliedGateReachesEveryInstanceAndSurvivesRestart: a gate file
// applied on one instance is installed on the others without a restart,
// and an instance started later (or restarted) runs it, not the shipped
// file.
func TestAppliedGateReachesEveryInstanceAndSurvivesRestart(t *testing.T) {
	c := startCluster(t, nil)
	yaml := huunghiWith(t, exp3("EXP-3"))
	resp, data := c.a.call(t, "PUT", "/v1/admin/gates/HUUNGHI", "dev-admin", yaml, http.Header{"Content-Type": {"application/yaml"}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("apply on A: HTTP %d: %s", resp.StatusCode, data)
	}
	if !c.a.app.GateConfig.Gates.Current().KnownLane("HUUNGHI", "EXP-3") {
		t.Fatal("A does not run the file it applied")
	}

	// B hears of it through the bus and installs it from the store.
	guard := time.After(30 * time.Second)
	for !c.b.app.GateConfig.Gates.Current().KnownLane("HUUNGHI", "EXP-3") {
		select {
		case <-c.b.app.GatesSynced():
		case <-guard:
			t.Fatal("instance B never installed the gate applied on A")
		}
	}

	// A restarted instance starts with the applied file.
	cfg := c.a.app.Config
	if err := c.a.stop(); err != nil {
		t.Fatal(err)
	}
	cfg.Addr = "127.0.0.1:0"
	again := launch(t, cfg, app.Options{Now: testClock()})
	if !again.app.GateConfig.Gates.Current().KnownLane("HUUNGHI", "EXP-3") {
		t.Fatal("a restarted instance went back to the shipped gate file")
	}
}
