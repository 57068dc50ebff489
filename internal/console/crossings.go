package console

import (
	"context"
	"errors"
	"strings"

	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/hub"
	"github.com/gatehub/gatehub/internal/lanes"
	"github.com/gatehub/gatehub/internal/views"
)

// CrossingTimeline adds the crossing's own steps — arrival, each checkpoint
// passed, exit or turn-back, the lane devices' decisions and security
// alerts — from the crossing records the lanes keep (the same source as
// GET /v1/declarations/{id}/timeline). Use it with ViewTimeline in Merged.
type CrossingTimeline struct{ Lanes *lanes.Service }

// Timeline implements TimelineSource.
func (c CrossingTimeline) Timeline(ctx context.Context, v *views.DeclarationView) ([]TimelineEvent, error) {
	if c.Lanes == nil {
		return nil, nil
	}
	t, err := c.Lanes.Timeline(ctx, v.ID)
	if errors.Is(err, hub.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []TimelineEvent
	for _, e := range t.Events {
		kind := ""
		switch {
		case e.Kind == audit.KindLaneSecurityAlert:
			kind = "alert"
		case e.Kind == audit.KindLaneDecision:
			kind = "lane"
		case strings.HasPrefix(e.Kind, "crossing."):
			kind = "crossing"
		default:
			continue // messages, ACKs and decisions come from ViewTimeline
		}
		out = append(out, TimelineEvent{Time: e.At, Kind: kind, Agency: e.Agency, Detail: e.Summary})
	}
	return out, nil
}
