package console

import (
	"context"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/clearance"
	"github.com/gatehub/gatehub/internal/views"
)

type fixedSource []TimelineEvent

func (f fixedSource) Timeline(context.Context, *views.DeclarationView) ([]TimelineEvent, error) {
	return f, nil
}

// The view's steps in time order, and a second source (the crossings, once
// recorded) merged into the same order.
func TestTimelineFromViewAndMerged(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	v := &views.DeclarationView{ID: "D1", Version: 1, CreatedAt: at(0),
		Decision: clearance.Decision{Status: "CLEARED", DecidedAt: at(5)},
		Messages: []views.MessageView{
			{Agency: "customs", Kind: "submit", Version: 1, CreatedAt: at(0), SentAt: at(2), Ack: &views.AckView{Status: "ACK", ReceivedAt: at(3)}},
			{Agency: "vehicleregistry", Kind: "submit", Version: 1, CreatedAt: at(0), SentAt: at(1), Ack: &views.AckView{Status: "NACK", ReasonCode: "VR-X", ReasonText: "why", ReceivedAt: at(4)}},
		}}
	got, err := Merged{ViewTimeline{}, fixedSource{{Time: at(9), Kind: "crossing", Detail: "B0"}}}.Timeline(context.Background(), v)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"declared", "queued", "queued", "sent", "sent", "ack", "nack", "decision", "crossing"}
	if len(got) != len(want) {
		t.Fatalf("got %d steps: %+v", len(got), got)
	}
	for i, w := range want {
		if got[i].Kind != w {
			t.Errorf("step %d: %s, want %s (%+v)", i, got[i].Kind, w, got)
		}
		if i > 0 && got[i].Time.Before(got[i-1].Time) {
			t.Errorf("step %d out of order", i)
		}
	}
	if got[6].Detail != "VR-X why" || got[6].Agency != "vehicleregistry" {
		t.Errorf("NACK step %+v", got[6])
	}
}
