package main

import (
	"context"
	"log"
	"os"
	"time"

	"github.com/gatehub/gatehub/internal/bench"
)

// mixedStore labels the rows of a Postgres hub with callback agencies.
const mixedStore = "postgres-async"

// runMixed measures a delivering Postgres hub with synchronous and
// callback agencies (bench.AsyncAgencies): the round trip until CLEARED,
// then the accept path while deliveries and callbacks run, draining the
// backlog after each accept row.
func (r *report) runMixed(e2eN int, dbURL string) {
	dir, err := os.MkdirTemp("", "gatehub-bench-")
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	h, err := bench.StartPostgresMixedHub(r.root, dir, dbURL)
	if err != nil {
		log.Fatalf("start %s hub: %v", mixedStore, err)
	}
	defer func() { _ = h.Close() }()
	ctx := context.Background()
	if _, err := h.RunEndToEnd(ctx, 16, 8); err != nil {
		log.Fatalf("%s warm-up: %v", mixedStore, err)
	}
	for _, phase := range []struct {
		name string
		run  func(*bench.Hub, context.Context, int, int) (bench.EndToEndResult, error)
		rows *[]e2eRow
	}{{"until CLEARED", (*bench.Hub).RunEndToEnd, &r.e2e}, {"accept", (*bench.Hub).RunAccept, &r.accept}} {
		for _, c := range []int{1, 8, 64} {
			n := max(e2eN, c)
			if c == 1 {
				n = max(e2eN/3, 1)
			}
			before := signingBound()
			res, err := phase.run(h, ctx, n, c)
			bound := (before + signingBound()) / 2
			if err == nil {
				err = h.Drain(ctx)
			}
			log.Printf("  %s %s c%d: %.1f decl/s (%d in %v) %v", mixedStore, phase.name, c, res.PerSecond, res.N, res.Elapsed.Round(time.Millisecond), errOrEmpty(err))
			*phase.rows = append(*phase.rows, e2eRow{store: mixedStore, res: res, err: err, bound: bound})
		}
	}
}
