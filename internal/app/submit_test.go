package app_test

import (
	"github.com/gatehub/gatehub/internal/message"
	"reflect"
	"testing"

	"github.com/gatehub/gatehub/internal/views"
)

// The 201 answer to a submit is built from the records its transaction
// wrote, not read back: it must say what a GET of the new declaration says,
// apart from what delivery has changed since (message states, the decision).
func TestSubmitAnswerIsWhatTheStoreHolds(t *testing.T) {
	h := start(t, nil)
	tests := []struct {
		name     string
		edit     func(map[string]any)
		agencies int
	}{
		// One truck each: a plate has one active crossing per gate.
		{"as filed", nil, 4},
		{"no lane", func(m map[string]any) { withSerial("62001")(m); delete(m, "lane") }, 4},
		{"empty truck: no customs", func(m map[string]any) {
			withSerial("62002")(m)
			m["cargoKind"], m["lane"] = "empty", "EXP-2"
			delete(m, "consignments")
		}, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			created := h.submit(sample(t, tc.edit))
			for _, m := range created.Messages {
				if m.State != message.Pending || m.Attempts != 0 || m.Ack != nil {
					t.Errorf("message %s in the 201 answer: state %s, %d attempts, ack %v; want pending, 0, none", m.Agency, m.State, m.Attempts, m.Ack)
				}
			}
			if len(created.Messages) != tc.agencies || len(created.Required) != tc.agencies {
				t.Errorf("%d messages for %d required agencies, want %d", len(created.Messages), len(created.Required), tc.agencies)
			}
			stored := h.view(created.ID)
			if got, want := withoutDelivery(created), withoutDelivery(stored); !reflect.DeepEqual(got, want) {
				t.Errorf("201 answer differs from GET:\n 201 %+v\n GET %+v", got, want)
			}
		})
	}
}

// withoutDelivery blanks what delivery and ACKs change after a commit.
func withoutDelivery(v views.DeclarationView) views.DeclarationView {
	v.Decision = views.DeclarationView{}.Decision
	msgs := make([]views.MessageView, len(v.Messages))
	for i, m := range v.Messages {
		m.State, m.Attempts, m.LastError, m.Ack, m.Overdue = "", 0, "", nil, false
		m.SentAt, m.AckDeadline, m.NextAttemptAt = v.CreatedAt, v.CreatedAt, v.CreatedAt
		msgs[i] = m
	}
	v.Messages = msgs
	return v
}
