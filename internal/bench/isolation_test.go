package bench

import (
	"context"
	"testing"
)

// BenchmarkAgencyIsolation reports the healthy agencies' delivery rate
// with one agency up, down and hung; the ratios to "none" are what
// carries over between machines (`go test -bench AgencyIsolation
// -benchtime 1x ./internal/bench`).
func BenchmarkAgencyIsolation(b *testing.B) {
	rates := map[string]float64{}
	for _, fault := range []string{FaultNone, FaultDown, FaultHung} {
		b.Run(fault, func(b *testing.B) {
			for range b.N {
				res, err := AgencyIsolation(context.Background(), b.TempDir(), 100, fault)
				if err != nil {
					b.Fatal(err)
				}
				rates[fault] = res.PerSecond
				b.ReportMetric(res.PerSecond, "msg/s")
				if fault != FaultNone && rates[FaultNone] > 0 {
					b.ReportMetric(res.PerSecond/rates[FaultNone], "of-normal")
				}
			}
		})
	}
}
