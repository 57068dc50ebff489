package hub

import (
	"context"

	"github.com/gatehub/gatehub/internal/eventrelay"
	"github.com/gatehub/gatehub/internal/fanout"
)

// laneSnapshotKeys bounds a lane's current state: the trucks (and the lane
// answer) whose events changed last.
const laneSnapshotKeys = 100

// LaneSnapshot is the current state of a lane as devices see it: the newest
// stored event of each key of its topic (each truck's decision, the lane's
// last answer), oldest first. A device is sent it when it connects, before
// live events.
func (h *Hub) LaneSnapshot(ctx context.Context, gateCode, lane string) ([]fanout.Event, error) {
	evs, err := eventrelay.Snapshot(ctx, h.Store, LaneTopic(gateCode, lane), laneSnapshotKeys)
	if err != nil {
		return nil, err
	}
	out := make([]fanout.Event, len(evs))
	for i, e := range evs {
		out[i] = fanout.Event{Topic: e.Topic, Type: e.Type, Data: e.Data, Time: e.CreatedAt}
	}
	return out, nil
}
