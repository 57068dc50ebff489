package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	sim "github.com/gatehub/gatehub/internal/simulator"
)

// AsyncAgencies answer by callback in the mixed-agency runs: the border
// guard and the Guangxi single window answer 202 and POST their signed ACK
// to the hub afterwards, customs and the vehicle registry answer in the
// delivery response. Two callbacks per declaration race each other and the
// dispatcher's settle transactions: the production shape the
// per-declaration lock and the one lock order are for.
var AsyncAgencies = []string{"borderguard", "guangxi"}

// answerByCallback switches the AsyncAgencies simulators of h to
// callbacks. Done before the first declaration, at run time (the
// simulators' PUT /config), so the hub is started exactly as the
// synchronous runs start it.
func answerByCallback(h *Hub) error {
	mode := sim.ModeAsync
	for _, a := range AsyncAgencies {
		srv := h.App.Simulators.Server(a)
		if srv == nil {
			return fmt.Errorf("no simulator of %s", a)
		}
		if err := srv.Reconfigure(sim.Update{Mode: &mode}); err != nil {
			return fmt.Errorf("simulator %s: %w", a, err)
		}
	}
	return nil
}

// startMixed starts a delivering hub and switches AsyncAgencies to
// callbacks.
func startMixed(root, dataDir, dsn string) (*Hub, error) {
	h, err := StartHubMode(root, dataDir, dsn, RoundTrip)
	if err != nil {
		return nil, err
	}
	if err := answerByCallback(h); err != nil {
		_ = h.Close()
		return nil, err
	}
	return h, nil
}

// StartHubWithAgencies starts a delivering hub on the store at dsn
// (embedded when "") with the mixed synchronous and callback agencies.
func StartHubWithAgencies(root, dataDir, dsn string) (*Hub, error) {
	return startMixed(root, dataDir, dsn)
}

// StartPostgresMixedHub starts a delivering hub on a fresh schema of the
// database at base whose simulators answer synchronously and by callback
// (AsyncAgencies). Measure RunEndToEnd on it for the round trip, and
// RunAccept for the accept path while deliveries and callbacks run (the
// latency a trader sees on a busy hub; AcceptOnly would switch the async
// agencies off altogether). Close drops the schema.
func StartPostgresMixedHub(root, dataDir, base string) (*Hub, error) {
	dsn, drop, err := PostgresSchema(context.Background(), base)
	if err != nil {
		return nil, err
	}
	h, err := startMixed(root, dataDir, dsn)
	if err != nil {
		drop()
		return nil, err
	}
	h.cleanup = append(h.cleanup, drop)
	return h, nil
}

// Drain waits until every declaration submitted so far was seen CLEARED,
// so that the backlog of one accept run (deliveries and callbacks still
// going on after the last 201) does not run into the next measurement.
func (h *Hub) Drain(ctx context.Context) error {
	if h.cleared == nil {
		return errors.New("Drain on a hub that does not deliver (AcceptOnly)")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for h.cleared.Cleared.Load() < int64(h.Submitted()) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("drain: %d of %d declarations cleared: %w", h.cleared.Cleared.Load(), h.Submitted(), ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}
