package main

import (
	"context"
	"log"
	"os"

	"github.com/gatehub/gatehub/internal/bench"
)

// isolationRounds: each fault's rate is the best of this many runs,
// interleaved, so a burst of load from elsewhere does not decide a ratio.
const isolationRounds = 3

// runIsolation measures delivery isolation between agencies (section 5).
func (r *report) runIsolation(n int) {
	log.Print("5/7 delivery isolation between agencies")
	r.isolation = map[string]bench.IsolationResult{}
	for range isolationRounds {
		for _, fault := range []string{bench.FaultNone, bench.FaultDown, bench.FaultHung} {
			dir, err := os.MkdirTemp("", "gatehub-isolation-")
			if err != nil {
				log.Fatal(err)
			}
			res, err := bench.AgencyIsolation(context.Background(), dir, n, fault)
			_ = os.RemoveAll(dir)
			if err != nil {
				log.Fatalf("isolation %s: %v", fault, err)
			}
			log.Printf("  %s %s: %.0f msg/s", bench.FaultyAgency, fault, res.PerSecond)
			if res.PerSecond > r.isolation[fault].PerSecond {
				r.isolation[fault] = res
			}
		}
	}
}

func (r *report) renderIsolation(p func(string, ...any)) {
	if len(r.isolation) == 0 {
		return
	}
	p("## 5. Delivery isolation between agencies")
	p("")
	p("The outbox dispatcher over the embedded store, as the hub runs it (one lane per agency, 8")
	p("attempts in flight each, circuit breakers on), delivering %d due messages to each of four", r.isolation[bench.FaultNone].N/3)
	p("agencies over loopback HTTP. Three answer in 20 ms; %s answers too, refuses connections", bench.FaultyAgency)
	p("(down), or accepts them and never answers (hung, until the 2 s client timeout). The rate is the")
	p("three healthy agencies' together, best of %d interleaved runs; the requirement is at least 90 %%", isolationRounds)
	p("of the rate with every agency up.")
	p("")
	p("| %s | delivered | rate | of normal |", bench.FaultyAgency)
	p("|---|---:|---:|---:|")
	normal := r.isolation[bench.FaultNone].PerSecond
	for _, fault := range []string{bench.FaultNone, bench.FaultDown, bench.FaultHung} {
		res := r.isolation[fault]
		p("| %s | %d | %.0f msg/s | %.0f %% |", fault, res.N, res.PerSecond, 100*res.PerSecond/normal)
	}
	p("")
}
