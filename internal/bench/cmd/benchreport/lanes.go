package main

import (
	"context"
	"log"
	"os"

	"github.com/gatehub/gatehub/internal/bench"
)

// laneLanes and laneRounds size the lane latency run: 200 lanes busy at
// once, each taking laneRounds trucks one after another.
const (
	laneLanes  = 200
	laneRounds = 2
)

type laneRow struct {
	store string
	res   bench.LaneResult
	err   error
}

// runLanes measures lane decision latency (device reading → lane event
// published) with 200 lanes busy, on each store.
func (r *report) runLanes(dbURL string) {
	log.Print("6/7 lane decisions, 200 lanes busy")
	for _, st := range []string{"sqlite", "postgres"} {
		dsn := ""
		if st == "postgres" {
			if dbURL == "" {
				continue
			}
			var drop func()
			var err error
			if dsn, drop, err = bench.PostgresSchema(context.Background(), dbURL); err != nil {
				r.lanes = append(r.lanes, laneRow{store: st, err: err})
				continue
			}
			defer drop()
		}
		dir, err := os.MkdirTemp("", "gatehub-bench-lanes-")
		if err != nil {
			log.Fatal(err)
		}
		h, err := bench.StartLaneHub(r.root, dir, dsn, laneLanes)
		if err != nil {
			r.lanes = append(r.lanes, laneRow{store: st, err: err})
			_ = os.RemoveAll(dir)
			continue
		}
		res, err := h.RunLanes(context.Background(), laneLanes, laneRounds)
		log.Printf("  %s: %d readings, p50 %v, p99 %v %v", st, res.Readings, res.P50, res.P99, errOrEmpty(err))
		r.lanes = append(r.lanes, laneRow{store: st, res: res, err: err})
		_ = h.Close()
		_ = os.RemoveAll(dir)
	}
}

func (r *report) renderLanes(p func(format string, args ...any)) {
	if len(r.lanes) == 0 {
		return
	}
	p("## 6. Lane decisions with 200 lanes busy")
	p("")
	p("A generated gate of %d lanes, one checkpoint needing plate, weight and QR and every agency. On", laneLanes)
	p("every lane at once, %d trucks one after another are declared, awaited CLEARED and read by camera,", laneRounds)
	p("weighbridge and QR scanner over loopback HTTP. Latency: a reading sent → its lane event")
	p("published on the fan-out bus (the lane row locked, the readings fused, decided, signed, the passage,")
	p("audit entries and durable event committed, the relay publishing).")
	p("")
	p("| store | readings | trucks (one OPEN each) | p50 | p99 | max |")
	p("|---|---:|---:|---:|---:|---:|")
	for _, l := range r.lanes {
		p("| %s | %d | %d (%d OPEN) | %s | %s | %s |%s", l.store, l.res.Readings, l.res.Trucks, l.res.Opens, ms(l.res.P50), ms(l.res.P99), ms(l.res.Max), failed(l.err))
	}
	p("")
}
