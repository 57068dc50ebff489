package lanes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/crossing"
	"github.com/gatehub/gatehub/internal/decisions"
	"github.com/gatehub/gatehub/internal/directive"
	"github.com/gatehub/gatehub/internal/store"
)

// TimelineEvent is one event of a crossing's timeline: one audit entry.
type TimelineEvent struct {
	Seq       int64           `json:"seq"`
	At        time.Time       `json:"at"`
	Kind      string          `json:"kind"`
	Actor     string          `json:"actor"`
	Agency    string          `json:"agency,omitempty"`
	MessageID string          `json:"messageId,omitempty"`
	Summary   string          `json:"summary"`
	Detail    json.RawMessage `json:"detail,omitempty"`
}

// Dwell is how long the truck stood at one checkpoint.
type Dwell struct {
	Checkpoint   string    `json:"checkpoint"`
	Lane         string    `json:"lane"`
	ArrivedAt    time.Time `json:"arrivedAt"`
	PassedAt     time.Time `json:"passedAt"`
	DwellSeconds float64   `json:"dwellSeconds"`
}

// Timeline is everything that happened to one declaration's crossing, in
// the order the audit log holds it.
type Timeline struct {
	DeclarationID string          `json:"declarationId"`
	Gate          string          `json:"gate,omitempty"`
	Plate         string          `json:"plate,omitempty"`
	State         crossing.State  `json:"state,omitempty"`
	Checkpoints   []Dwell         `json:"checkpoints"`
	Events        []TimelineEvent `json:"events"`
}

// maxTimeline bounds one timeline's events; a crossing has a few dozen.
const maxTimeline = 2000

// Timeline reads a declaration's crossing and its audit entries. Callers
// check the caller may see the declaration first.
func (s *Service) Timeline(ctx context.Context, id string) (*Timeline, error) {
	t := &Timeline{DeclarationID: id, Checkpoints: []Dwell{}, Events: []TimelineEvent{}}
	err := s.Tx.ReadTx(ctx, func(tx store.Tx) error {
		if _, err := decisions.LatestDeclaration(ctx, tx, id); err != nil {
			return err
		}
		sc, err := tx.GetCrossing(ctx, id)
		switch {
		case err == nil:
			c, err := FromStore(sc)
			if err != nil {
				return err
			}
			t.Gate, t.Plate, t.State = c.Gate, c.Plate, c.State
			for _, p := range c.Passages {
				t.Checkpoints = append(t.Checkpoints, Dwell{Checkpoint: p.Checkpoint, Lane: p.Lane, ArrivedAt: p.ArrivedAt,
					PassedAt: p.PassedAt, DwellSeconds: p.Dwell().Seconds()})
			}
		case !errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("load crossing %s: %w", id, err)
		}
		es, err := tx.ListAudit(ctx, store.AuditFilter{DeclarationID: id, Limit: maxTimeline})
		if err != nil {
			return fmt.Errorf("read audit of %s: %w", id, err)
		}
		t.Events = t.Events[:0]
		for i := range es {
			t.Events = append(t.Events, timelineEvent(&es[i]))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// timelineEvent renders an audit entry; signed XML stays in the audit log
// and behind /v1/messages, only JSON payloads are shown.
func timelineEvent(e *store.AuditEntry) TimelineEvent {
	ev := TimelineEvent{Seq: e.Seq, At: e.Time, Kind: e.Kind, Actor: e.Actor, Agency: e.Agency, MessageID: e.MessageID, Summary: e.Kind}
	switch e.Kind {
	case audit.KindDeclarationAccepted:
		ev.Summary = "declaration submitted"
	case audit.KindDeclarationAmended:
		ev.Summary = "declaration amended"
	case audit.KindDeclarationCancelled:
		ev.Summary, ev.Detail = "declaration cancelled", e.Payload
	case audit.KindMessageOutbound:
		ev.Summary = "signed message to " + e.Agency
		if s, ok := directive.ForwardSummary(e.Agency, e.Payload); ok {
			ev.Summary = s
		}
	case audit.KindAckInbound:
		ev.Summary = "answer from " + e.Agency
	case audit.KindAgencyMessage:
		ev.Summary = "signed message from " + e.Agency
		if s, ok := directive.Summary(e.Agency, e.Payload); ok {
			ev.Summary = s
		}
	case audit.KindDecision:
		var p audit.Decision
		status := ""
		if audit.UnmarshalPayload(e.Payload, &p) == nil && p.Decision != nil {
			status = string(p.Decision.Status)
		}
		ev.Summary, ev.Detail = "decision changed to "+status, e.Payload
	case audit.KindLaneDecision:
		var p DecisionEntry
		if json.Unmarshal(e.Payload, &p) == nil && p.Answer != nil {
			a := *p.Answer
			a.Token = "" // the signed token is in the audit log; a timeline is no place to copy it from
			ev.Summary = fmt.Sprintf("%s reading at %s/%s: %s", p.Reading.Kind, a.Checkpoint, a.Lane, a.Action)
			ev.Detail = mustJSON(DecisionEntry{Device: p.Device, Reading: p.Reading, Answer: &a})
		}
	case audit.KindLaneSecurityAlert:
		ev.Summary, ev.Detail = "security alert: this declaration's QR code shown for another vehicle", e.Payload
	case audit.KindCrossingOpened, audit.KindCrossingPassed, audit.KindCrossingExited,
		audit.KindCrossingTurnedBack, audit.KindCrossingCancelled, audit.KindCrossingAmended:
		var c crossing.Event
		if json.Unmarshal(e.Payload, &c) == nil && c.Passage != nil {
			ev.Summary = "passed checkpoint " + c.Passage.Checkpoint + " at lane " + c.Passage.Lane
			if e.Kind == audit.KindCrossingExited {
				ev.Summary += " (exit)"
			}
		} else {
			ev.Summary = "crossing " + string(c.State)
		}
		ev.Detail = e.Payload
	}
	return ev
}

// Alerts lists the security alerts raised since a time, oldest first.
func (s *Service) Alerts(ctx context.Context, since time.Time, limit int) ([]TimelineEvent, error) {
	var out []TimelineEvent
	err := s.Tx.ReadTx(ctx, func(tx store.Tx) error {
		es, err := tx.ListAudit(ctx, store.AuditFilter{Kind: audit.KindLaneSecurityAlert, From: since, Limit: limit})
		if err != nil {
			return fmt.Errorf("list security alerts: %w", err)
		}
		out = make([]TimelineEvent, 0, len(es))
		for i := range es {
			out = append(out, timelineEvent(&es[i]))
		}
		return nil
	})
	return out, err
}

// LaneState is a lane's current vehicle and its last outcome, as a device
// that (re)connects receives it first. A lane that has seen no vehicle
// answers a KEEP-CLOSED with vehicle 0.
func (s *Service) LaneState(ctx context.Context, gateCode, laneID string) (*Answer, error) {
	p, err := s.resolve(gateCode, laneID)
	if err != nil {
		return nil, err
	}
	var v crossing.Vehicle
	err = s.Tx.ReadTx(ctx, func(tx store.Tx) error {
		ls, err := tx.GetLaneState(ctx, gateCode, p.cp.ID, laneID)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read lane %s/%s: %w", gateCode, laneID, err)
		}
		if len(ls.State) == 0 {
			return nil
		}
		return json.Unmarshal(ls.State, &v)
	})
	if err != nil {
		return nil, err
	}
	return s.answer(p, &v), nil
}

// CurrentEvent is LaneState as the lane stream's first event: its type
// and JSON body.
func (s *Service) CurrentEvent(ctx context.Context, gateCode, laneID string) (string, []byte, error) {
	a, err := s.LaneState(ctx, gateCode, laneID)
	if err != nil {
		return "", nil, err
	}
	b, err := json.Marshal(a)
	if err != nil {
		return "", nil, fmt.Errorf("encode lane state: %w", err)
	}
	return EventLaneDecision, b, nil
}
