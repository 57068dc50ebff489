package agencymsg_test

import (
	"slices"
	"testing"

	"github.com/gatehub/gatehub/internal/agencymsg"
	"github.com/gatehub/gatehub/internal/app"
	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/clearance"
	"github.com/gatehub/gatehub/internal/directive"
	"github.com/gatehub/gatehub/internal/hubtest"
	"github.com/gatehub/gatehub/internal/message"
	"github.com/gatehub/gatehub/internal/store"
)

func service(h *hubtest.Hub) *agencymsg.Service {
	return &agencymsg.Service{Tx: h.Tx, Decisions: h.Decisions, Sign: h.Submission.SignFor,
		Verifier: h.Acks.Acks.Verifier, Schemas: h.Submission.Schemas, Rules: app.DirectiveRules(h.Decisions.Agencies.Current())}
}

func signed(t *testing.T, h *hubtest.Hub, m directive.Message) []byte {
	t.Helper()
	m.CreatedAt = h.Clock.Now()
	doc, err := directive.Build(m)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := h.Signer(m.Sender).Sign(doc)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestReceive on both stores: a HOLD holds the truck and queues one
// forward in the outbox, logged after the original and before the
// decision; its resend changes nothing; the RELEASE lifts it.
func TestReceive(t *testing.T) {
	for _, st := range hubtest.Stores {
		t.Run(st.Name, func(t *testing.T) {
			h := hubtest.New(t, st.Open(t))
			h.Decisions.Orders = agencymsg.Orders
			s := service(h)
			v := h.Submit(t, 1)
			origin := agencymsg.Origin{Authenticated: true}
			hold := signed(t, h, directive.Message{ID: "H-1", Kind: directive.Hold, Sender: "customs", DeclarationID: v.ID,
				Version: 1, Checkpoint: "B1", ReasonCode: "CUS-RED"})
			wakes := h.Wakes.Load()
			ans, err := s.Receive(t.Context(), "customs", hold, origin)
			if err != nil {
				t.Fatal(err)
			}
			if len(ans.Forwarded) != 1 || ans.Forwarded[0].Agency != "borderguard" || ans.Duplicate {
				t.Fatalf("answer %+v", ans)
			}
			if h.Wakes.Load() == wakes {
				t.Error("the dispatcher was not woken for the forward")
			}
			got, err := h.Views.View(t.Context(), v.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Decision.Status != clearance.Hold || got.Decision.Reasons[0].Code != clearance.CodeHeldByAgency {
				t.Fatalf("decision %+v", got.Decision)
			}
			var fwd *store.Message
			for i := range got.Messages {
				if got.Messages[i].Kind == message.Forward {
					m := got.Messages[i]
					fwd = &store.Message{ID: m.ID, Agency: m.Agency, State: m.State, PreviousID: m.PreviousID}
				}
			}
			if fwd == nil || fwd.ID != ans.Forwarded[0].MessageID || fwd.State != message.Pending || fwd.PreviousID != "H-1" {
				t.Fatalf("forward row %+v", fwd)
			}
			kinds := hubtest.Kinds(h.Audit(t, v.ID))
			i := slices.Index(kinds, audit.KindAgencyMessage)
			if i < 0 || !slices.Equal(kinds[i:i+4], []string{audit.KindAgencyMessage, audit.KindMessageBuilt, audit.KindMessageOutbound, audit.KindDecision}) {
				t.Errorf("audit kinds %v", kinds)
			}

			again, err := s.Receive(t.Context(), "customs", hold, origin)
			if err != nil || !again.Duplicate || again.Forwarded[0] != ans.Forwarded[0] {
				t.Fatalf("resend: %+v %v", again, err)
			}
			if n := len(h.Audit(t, v.ID)); n != len(kinds) {
				t.Errorf("resend logged %d entries", n-len(kinds))
			}

			release := signed(t, h, directive.Message{ID: "R-1", Kind: directive.Release, Sender: "customs", DeclarationID: v.ID, Version: 1})
			if _, err := s.Receive(t.Context(), "customs", release, origin); err != nil {
				t.Fatal(err)
			}
			got, err = h.Views.View(t.Context(), v.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Decision.Status != clearance.Pending {
				t.Fatalf("after release: %+v", got.Decision)
			}
		})
	}
}
