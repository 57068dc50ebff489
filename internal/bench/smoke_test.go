package bench

import (
	"context"
	"testing"
	"time"
)

// The report's sections run only under make bench; these run each of the
// ones that drive whole tools and gates once at the smallest size, so that
// make test notices when a change elsewhere (a gate needing code-list
// entries, a tool needing the agency files) breaks a measurement.

func TestLaneBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a hub")
	}
	h, err := StartLaneHub(root(t), t.TempDir(), "", 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Error(err)
		}
	})
	r, err := h.RunLanes(context.Background(), 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	if r.Trucks != 2 || r.Opens != r.Trucks {
		t.Fatalf("%d OPEN events for %d trucks, want 2 and 2", r.Opens, r.Trucks)
	}
}

func TestAuditBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds gatehubctl")
	}
	r := root(t)
	bin, err := BuildCtl(r, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	row, err := MeasureAudit(context.Background(), r, bin, 5, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if row.Entries != 5*EntriesPerDeclaration || row.VerifyRate <= 0 || row.ReplayRate <= 0 {
		t.Fatalf("audit row %+v", row)
	}
}
