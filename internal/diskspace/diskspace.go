// Package diskspace keeps the embedded store from filling its disk: a Guard
// refuses new work (declarations, amendments) once the free space of the
// store's file system falls below a reserve, so that what the hub already
// accepted can still be settled (ACKs, delivery outcomes, decisions,
// checkpoints) from the reserve, and admits again by itself once space
// returns. SQLite that runs out of space mid-commit fails every writer,
// settles included; refusing early is what keeps the hub's promises.
package diskspace

import (
	"context"
	"fmt"
	"sync"

	"github.com/gatehub/gatehub/internal/store"
)

// Probe reports the space of the file system that holds path.
type Probe interface {
	Space(path string) (free, total uint64, err error)
}

// ProbeFunc adapts a function to Probe (tests drive the free space with one).
type ProbeFunc func(path string) (free, total uint64, err error)

// Space calls f.
func (f ProbeFunc) Space(path string) (uint64, uint64, error) { return f(path) }

// DefaultReserve is the free space below which new declarations are refused:
// at about 100 KiB of store per declaration (messages, ACKs, audit entries,
// WAL) it settles a few thousand accepted declarations, and is small beside
// any disk a hub runs on.
const DefaultReserve = 256 << 20

// Guard admits new work while the free space stays above Reserve.
type Guard struct {
	Path    string // a file or directory on the store's file system
	Probe   Probe  // nil: the operating system's (statfs)
	Reserve uint64 // bytes; 0 means DefaultReserve

	mu  sync.Mutex
	low bool
}

// Status is one reading of the guarded file system.
type Status struct {
	Free, Total, Reserve uint64
	Low                  bool  // below the reserve: new work refused
	Err                  error // the probe failed; the guard then admits
}

func (s Status) String() string {
	switch {
	case s.Err != nil:
		return "unknown: " + s.Err.Error()
	case s.Low:
		return fmt.Sprintf("low: %s free of %s, below the reserve of %s; new declarations refused", mib(s.Free), mib(s.Total), mib(s.Reserve))
	}
	return "ok"
}

func mib(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// Read probes the file system now. A probe that fails reads as not low:
// refusing every trader because statfs failed would turn a monitoring gap
// into an outage; the failure shows in readiness.
func (g *Guard) Read() Status {
	reserve := g.Reserve
	if reserve == 0 {
		reserve = DefaultReserve
	}
	free, total, err := g.probe().Space(g.Path)
	st := Status{Free: free, Total: total, Reserve: reserve, Err: err}
	if err == nil {
		st.Low = free < reserve
	}
	g.mu.Lock()
	g.low = st.Low
	g.mu.Unlock()
	return st
}

func (g *Guard) probe() Probe {
	if g.Probe == nil {
		return ProbeFunc(statfs)
	}
	return g.Probe
}

// Admit returns an error wrapping store.ErrNoSpace while the free space is
// below the reserve. It probes on every call: statfs costs a microsecond,
// and a cached answer would keep refusing after space returned.
func (g *Guard) Admit(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	st := g.Read()
	if st.Low {
		return store.NoSpace(fmt.Errorf("disk space %s", st))
	}
	return nil
}

// Low reports what the last reading found.
func (g *Guard) Low() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.low
}
