package bench

import (
	"context"
	"fmt"
	"testing"

	"github.com/gatehub/gatehub/internal/store/storetest"
)

// BenchmarkPostgresMixedAgencies: a delivering hub on Postgres whose
// customs and vehicle-registry simulators answer in the delivery response
// and whose border-guard and Guangxi simulators answer by callback
// (AsyncAgencies). "accept" times POST until 201 while the deliveries and
// callbacks of earlier declarations run (drained before the next
// sub-benchmark); "roundtrip" waits for CLEARED. Use -benchtime Nx.
func BenchmarkPostgresMixedAgencies(b *testing.B) {
	h, err := StartHubWithAgencies(root(b), b.TempDir(), storetest.PostgresDSN(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := h.Close(); err != nil {
			b.Error(err)
		}
	})
	ctx := context.Background()
	if _, err := h.RunEndToEnd(ctx, 16, 8); err != nil { // warm up
		b.Fatal(err)
	}
	for _, phase := range []struct {
		name string
		run  func(*Hub, context.Context, int, int) (EndToEndResult, error)
	}{{"roundtrip", (*Hub).RunEndToEnd}, {"accept", (*Hub).RunAccept}} {
		for _, c := range []int{1, 8, 64} {
			b.Run(fmt.Sprintf("%s/c%d", phase.name, c), func(b *testing.B) {
				n := max(b.N, c)
				cpu0 := ProcessCPU()
				b.ResetTimer()
				r, err := phase.run(h, ctx, n, c)
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(r.PerSecond, "decl/s")
				b.ReportMetric(float64((ProcessCPU()-cpu0).Microseconds())/1000/float64(n), "cpu-ms/decl")
				if err := h.Drain(ctx); err != nil {
					b.Fatal(err)
				}
			})
		}
	}
}
