package console

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/gatehub/gatehub/internal/message"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/decisions"
	"github.com/gatehub/gatehub/internal/gate"
	"github.com/gatehub/gatehub/internal/httpapi"
	"github.com/gatehub/gatehub/internal/hub"
	"github.com/gatehub/gatehub/internal/lanes"
	"github.com/gatehub/gatehub/internal/problem"
	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/views"
)

type gatesData struct {
	Gates []*gate.Gate
}

// gateList mirrors GET /v1/gates, with each gate's configuration.
func (s *Server) gateList(w http.ResponseWriter, r *http.Request, c *call) error {
	set := s.Gates.Current()
	var gs []*gate.Gate
	for _, code := range set.Codes() {
		if g, ok := set.Gate(code); ok {
			gs = append(gs, g)
		}
	}
	s.render(w, r, c, http.StatusOK, "gates", translate(c.Lang, "nav.gates"), gatesData{Gates: gs})
	return nil
}

// laneState is what a lane card shows.
type laneState struct {
	ID, Direction string
	Devices       []gate.Device
	Current       *laneAnswer
	At            time.Time
	Events        []laneEvent
}

// laneAnswer is a lane's answer as the card shows it.
type laneAnswer struct{ lanes.Answer }

// WeightKg is the last weight the lane measured for the vehicle (0: none).
func (a laneAnswer) WeightKg() float64 {
	if w := a.Readings.Weights; len(w) > 0 {
		return w[len(w)-1]
	}
	return 0
}

type laneEvent struct {
	Time    time.Time
	Type    string
	Plate   string
	Action  string
	Status  string
	Detail  string
	DeclID  string
	Reasons string
}

const laneEventsShown = 8

func (l *laneState) add(ev laneEvent) {
	l.Events = append([]laneEvent{ev}, l.Events...)
	if len(l.Events) > laneEventsShown {
		l.Events = l.Events[:laneEventsShown]
	}
}

// waiting is a truck at this gate not yet cleared.
type waiting struct {
	V *views.DeclarationView
}

type boardData struct {
	Gate    *gate.Gate
	Lanes   []*laneState
	Waiting []waiting
}

// board is one gate's live board: each lane's current vehicle with its
// readings and decision, the last events, and the trucks still held or
// waiting, with who is awaited. The live part rides on the lanes' event
// stream (GET /v1/gates/{gate}/lanes/{lane}/events), authorised alike.
func (s *Server) board(w http.ResponseWriter, r *http.Request, c *call) error {
	d, err := s.boardData(r.Context(), c, r.PathValue("code"))
	if err != nil {
		return err
	}
	s.render(w, r, c, http.StatusOK, "board", d.Gate.Name, d)
	return nil
}

func (s *Server) boardData(ctx context.Context, c *call, code string) (*boardData, error) {
	g, ok := s.Gates.Current().Gate(code)
	if !ok {
		return nil, problem.NotFound("no gate " + code)
	}
	d := &boardData{Gate: g}
	byLane := map[string]*laneState{}
	for _, l := range g.Lanes {
		ls := &laneState{ID: l.ID, Direction: l.Direction, Devices: l.Devices}
		d.Lanes = append(d.Lanes, ls)
		byLane[l.ID] = ls
	}
	// The lanes' recent history from the log (the last two hours), so a
	// board opened mid-shift is not blank until the next truck.
	now := s.API.Tx.Clock()
	entries, err := s.API.Views.AuditFind(ctx, store.AuditFilter{Kind: audit.KindLaneDecision, From: now.Add(-2 * time.Hour), Limit: 2000})
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		var p struct {
			Reading lanes.Reading `json:"reading"`
			Answer  lanes.Answer  `json:"answer"`
		}
		if json.Unmarshal(e.Payload, &p) != nil || p.Answer.Gate != code {
			continue
		}
		if ls := byLane[p.Answer.Lane]; ls != nil {
			ans := laneAnswer{p.Answer}
			ls.Current, ls.At = &ans, e.Time
			ls.add(answerEvent(e.Time, p.Reading.Kind, &ans))
		}
	}
	d.Waiting, err = s.waitingAt(ctx, code)
	return d, err
}

func answerEvent(t time.Time, reading string, a *laneAnswer) laneEvent {
	detail := strings.TrimSpace(a.Checkpoint + " " + reading)
	ev := laneEvent{Time: t, Type: "lane-decision", Plate: a.Plate, Action: a.Action, Status: string(a.Decision), DeclID: a.DeclarationID, Detail: detail}
	ev.Reasons = a.ReasonEN
	if w := a.WeightKg(); w > 0 {
		ev.Detail = fmt.Sprintf("%s %.0f kg", detail, w)
	}
	return ev
}

// waitingAt lists the newest declarations of a gate that are held,
// pending or overdue (at most 30 looked at, newest first).
func (s *Server) waitingAt(ctx context.Context, code string) ([]waiting, error) {
	list, err := s.API.Views.ListDeclarations(ctx, "", 300)
	if err != nil {
		return nil, err
	}
	var out []waiting
	looked := 0
	for _, d := range list {
		if d.Gate != code || d.Status == hub.StatusCancelled {
			continue
		}
		if looked++; looked > 30 {
			break
		}
		v, err := s.API.Views.View(ctx, d.ID)
		if err != nil {
			continue
		}
		if st := v.Decision.Status; st == "HOLD" || st == "PENDING" || len(v.Decision.Overdue) > 0 {
			out = append(out, waiting{V: v})
		}
	}
	return out, nil
}

// boardLive streams a gate's lane events: each re-rendered lane card, and
// the waiting list after a decision changed.
func (s *Server) boardLive(w http.ResponseWriter, r *http.Request, c *call) error {
	code := r.PathValue("code")
	d, err := s.boardData(r.Context(), c, code)
	if err != nil {
		return err
	}
	ctx, cancel := s.streamContext(r)
	defer cancel()
	type laneMsg struct {
		lane string
		typ  string
		data []byte
		at   time.Time
	}
	msgs := make(chan laneMsg, 64)
	var wg sync.WaitGroup
	for _, l := range d.Lanes {
		ch, err := s.Bus.Subscribe(ctx, hub.LaneTopic(code, l.ID), "")
		if err != nil {
			return fmt.Errorf("subscribe to lane %s: %w", l.ID, err)
		}
		wg.Add(1)
		go func(lane string) {
			defer wg.Done()
			for ev := range ch {
				select {
				case msgs <- laneMsg{lane: lane, typ: ev.Type, data: ev.Data, at: ev.Time}:
				case <-ctx.Done():
					return
				}
			}
		}(l.ID)
	}
	defer wg.Wait()
	defer cancel()
	sse, err := startSSE(w)
	if err != nil {
		return err
	}
	byLane := map[string]*laneState{}
	for _, l := range d.Lanes {
		byLane[l.ID] = l
	}
	heartbeat := time.NewTicker(15 * time.Second)
	defer heartbeat.Stop()
	waitingTick := time.NewTicker(2 * time.Second)
	defer waitingTick.Stop()
	waitingDirty := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-heartbeat.C:
			if err := sse.comment(); err != nil {
				return nil
			}
		case <-waitingTick.C:
			if !waitingDirty {
				continue
			}
			waitingDirty = false
			wt, err := s.waitingAt(ctx, code)
			if err != nil {
				continue
			}
			d.Waiting = wt
			html, err := s.fragment(c, r, "board", "board-waiting", d)
			if err != nil {
				return err
			}
			if err := sse.send("waiting", html); err != nil {
				return nil
			}
		case m := <-msgs:
			ls := byLane[m.lane]
			at := m.at
			if at.IsZero() {
				at = s.API.Tx.Clock()
			}
			switch m.typ {
			case "lane-decision":
				var a laneAnswer
				if json.Unmarshal(m.data, &a.Answer) != nil {
					continue
				}
				ls.Current, ls.At = &a, at
				ls.add(answerEvent(at, "", &a))
			case "decision":
				var e decisions.DecisionEvent
				if json.Unmarshal(m.data, &e) != nil {
					continue
				}
				ls.add(laneEvent{Time: at, Type: "decision", Plate: firstNonEmpty(e.PlateVN, e.PlateCN), Status: string(e.Decision.Status), DeclID: e.DeclarationID,
					Detail: strings.Join(e.Decision.Awaiting, ", ")})
				// The waiting list costs a view per truck: refreshed at most
				// every two seconds, however busy the gate.
				waitingDirty = true
			default:
				continue
			}
			html, err := s.fragment(c, r, "board", "lane-card", ls)
			if err != nil {
				return err
			}
			payload, _ := json.Marshal(map[string]string{"lane": ls.ID, "html": html})
			if err := sse.send("lane", string(payload)); err != nil {
				return nil
			}
		}
	}
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

type outboxData struct {
	Tab      string
	Tabs     []string
	Messages []views.MessageView
}

var outboxTabs = []string{"dead", "overdue", "retrying", "pending", "sent"}

// outbox mirrors GET /v1/admin/outbox and /v1/admin/overdue.
func (s *Server) outbox(w http.ResponseWriter, r *http.Request, c *call) error {
	tab := r.URL.Query().Get("tab")
	if !slices.Contains(outboxTabs, tab) {
		tab = "dead"
	}
	var (
		msgs []store.Message
		err  error
	)
	switch tab {
	case "overdue":
		msgs, err = s.API.Operator.Overdue(r.Context(), 500)
	case "retrying":
		msgs, err = s.API.Operator.Outbox(r.Context(), store.MessageFilter{State: message.Pending, Limit: 1000})
		msgs = slices.DeleteFunc(msgs, func(m store.Message) bool { return m.Attempts == 0 })
	default:
		msgs, err = s.API.Operator.Outbox(r.Context(), store.MessageFilter{State: message.State(tab), Limit: 500})
	}
	if err != nil {
		return err
	}
	s.render(w, r, c, http.StatusOK, "outbox", translate(c.Lang, "nav.outbox"),
		outboxData{Tab: tab, Tabs: outboxTabs, Messages: views.MessageViews(msgs, s.API.Tx.Clock())})
	return nil
}

type confirmData struct {
	Op string
	M  views.MessageView
}

func outboxOp(op string) error {
	if op != "redrive" && op != "cancel" {
		return problem.NotFound("no operation " + op)
	}
	return nil
}

// outboxConfirm asks before a redrive or cancel: both change what an
// agency receives, and a confirmation page works without script and with
// the keyboard alone.
func (s *Server) outboxConfirm(w http.ResponseWriter, r *http.Request, c *call) error {
	op := r.PathValue("op")
	if err := outboxOp(op); err != nil {
		return err
	}
	m, err := s.API.Views.Message(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	s.render(w, r, c, http.StatusOK, "confirm", translate(c.Lang, "outbox."+op), confirmData{Op: op, M: views.MessageViews([]store.Message{*m}, s.API.Tx.Clock())[0]})
	return nil
}

// outboxOperate mirrors POST /v1/admin/outbox/{id}/redrive and /cancel.
func (s *Server) outboxOperate(w http.ResponseWriter, r *http.Request, c *call) error {
	op := r.PathValue("op")
	if err := outboxOp(op); err != nil {
		return err
	}
	if !slices.Contains(s.API.RouteRoles("POST /v1/admin/outbox/{id}/"+op), c.P.Role) {
		return problem.Forbidden("role " + c.P.Role + " may not " + op)
	}
	var err error
	if op == "redrive" {
		_, err = s.API.Operator.Redrive(r.Context(), httpapi.Actor(c.P), r.PathValue("id"))
	} else {
		_, err = s.API.Operator.CancelMessage(r.Context(), httpapi.Actor(c.P), r.PathValue("id"))
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/outbox?tab=dead&done="+op, http.StatusSeeOther)
	return nil
}
