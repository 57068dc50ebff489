// Package lanes orchestrates the crossing at the gate: it applies each
// device reading to its lane's state in the store, decides with
// internal/crossing, signs the lane's one OPEN, records checkpoint
// passages in the crossing, logs everything in the audit log and announces
// it on the lane's live stream — all in one transaction of the hub, so
// every instance sees one lane state and a restart loses nothing.
package lanes

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gatehub/gatehub/adapters/gatedevice"
	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/clearance"
	"github.com/gatehub/gatehub/internal/crossing"
	"github.com/gatehub/gatehub/internal/decisions"
	"github.com/gatehub/gatehub/internal/gate"
	"github.com/gatehub/gatehub/internal/hub"
	"github.com/gatehub/gatehub/internal/ids"
	"github.com/gatehub/gatehub/internal/metrics"
	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/txn"
)

// Service handles lanes and crossings. Tx, Decisions and Gates are
// required.
type Service struct {
	Tx        *txn.Runner
	Decisions *decisions.Decider
	Gates     *gate.Registry
	Signer    *LaneSigner      // optional: without it answers carry no token
	Metrics   *metrics.Metrics // optional
}

// LaneSigner signs lane decisions for devices.
type LaneSigner struct {
	Key   ed25519.PrivateKey
	KeyID string
}

// DeviceRef identifies the authenticated device that sent a reading.
type DeviceRef struct{ Gate, Lane, Device string }

// laneMemory bounds how long an unfinished vehicle stays a lane's current
// one without a reading.
const laneMemory = 10 * time.Minute

// defaultTTL is a signed decision's lifetime when the gate sets none.
const defaultTTL = 2 * time.Minute

// Event types on a lane's stream.
const (
	EventLaneDecision  = "lane-decision"
	EventSecurityAlert = "security-alert"
)

// DecisionEntry is the audit payload of a lane.decision entry.
type DecisionEntry struct {
	Device  string  `json:"device"`
	Reading Reading `json:"reading"`
	Answer  *Answer `json:"answer"`
}

// AlertEntry is the audit payload of a lane.security-alert entry.
type AlertEntry struct {
	Gate       string            `json:"gate"`
	Checkpoint string            `json:"checkpoint"`
	Lane       string            `json:"lane"`
	Vehicle    int64             `json:"vehicle"`
	Device     string            `json:"device"`
	Alert      *crossing.Alert   `json:"alert"`
	Readings   crossing.Readings `json:"readings"`
}

// place is a lane resolved against the current gate configuration.
type place struct {
	gate  *gate.Gate
	lane  *gate.Lane
	cp    crossing.Checkpoint
	route crossing.Route
}

func (s *Service) resolve(gateCode, laneID string) (*place, error) {
	g, ok := s.Gates.Current().Gate(gateCode)
	if !ok {
		return nil, fmt.Errorf("%w %q", hub.ErrUnknownGate, gateCode)
	}
	l, ok := g.Lane(laneID)
	if !ok {
		return nil, fmt.Errorf("lane %s/%s: %w", gateCode, laneID, hub.ErrNotFound)
	}
	cp, ok := g.CheckpointOf(l)
	if !ok {
		return nil, fmt.Errorf("lane %s/%s has no checkpoint: %w", gateCode, laneID, hub.ErrNotFound)
	}
	return &place{gate: g, lane: l, cp: domainCheckpoint(cp), route: Route(g, l.Direction)}, nil
}

// Route is the domain form of a gate's route for one direction.
func Route(g *gate.Gate, direction string) crossing.Route {
	var r crossing.Route
	for _, c := range g.Route(direction) {
		r = append(r, domainCheckpoint(c))
	}
	return r
}

func domainCheckpoint(c gate.Checkpoint) crossing.Checkpoint {
	req := crossing.Requirement{AllAgencies: c.NeedsAllAgencies()}
	for _, r := range c.Readings {
		req.Readings = append(req.Readings, crossing.ReadingKind(r))
	}
	if !req.AllAgencies {
		req.Agencies = append(req.Agencies, c.Agencies...)
	}
	return crossing.Checkpoint{ID: c.ID, Name: c.Name, Requires: req}
}

func (p *place) policy() crossing.Policy {
	return crossing.Policy{
		WeightTolerancePercent: p.gate.Policy.WeightTolerancePercent,
		MinPlateConfidence:     p.gate.Policy.MinPlateConfidence,
		Window:                 p.gate.Policy.CrossingWindow,
	}
}

// Topic is the fan-out topic of a lane's devices.
func Topic(gateCode, lane string) string { return hub.LaneTopic(gateCode, lane) }

// Reading applies one device reading to its lane and answers what the
// lane's barrier must do. The lane's state is read and written under the
// store's lane lock, so readings of one lane sent to different instances
// are applied one after the other; a reading that changes the outcome is
// announced once, after commit.
func (s *Service) Reading(ctx context.Context, dev DeviceRef, r Reading) (*Answer, error) {
	p, err := s.resolve(dev.Gate, dev.Lane)
	if err != nil {
		return nil, err
	}
	var ans *Answer
	err = s.Tx.InTx(ctx, func(tx store.Tx, fx *txn.Effects) error {
		ls, err := tx.LockLane(ctx, dev.Gate, p.cp.ID, dev.Lane)
		if err != nil {
			return fmt.Errorf("lock lane: %w", err)
		}
		// The time once the lane is ours: a reading that waited for the
		// lock is decided after the one it waited for.
		now := s.Tx.Clock()
		lane := crossing.Lane{Gate: dev.Gate, Checkpoint: p.cp.ID, Lane: dev.Lane, Rev: ls.Rev}
		if len(ls.State) > 0 {
			if err := json.Unmarshal(ls.State, &lane.Vehicle); err != nil {
				return fmt.Errorf("decode lane %s/%s/%s: %w", dev.Gate, p.cp.ID, dev.Lane, err)
			}
		}
		applied := crossing.Apply(&lane, r.domain(dev.Device), now, laneMemory)
		v := &lane.Vehicle
		switch {
		case applied.Stale:
			// Nothing to act on: the answer names the lane's current
			// vehicle (so the device can catch up) but instructs nothing.
			ans = s.answer(p, v)
			ans.Stale, ans.StaleReason = true, applied.StaleReason
			ans.Action, ans.Token, ans.Alert = clearance.KeepClosed, "", nil
			ans.Reasons = []clearance.Reason{{Code: crossing.CodeStaleReading, EN: "reading not applied: " + applied.StaleReason,
				VI: "kết quả đọc không được áp dụng: thuộc về phương tiện trước"}}
			ans.ReasonEN, ans.ReasonVI = clearance.JoinReasons(ans.Reasons)
		case !applied.Changed && v.Outcome != nil && v.Opened:
			// A repeat: same answer, same token, nothing new to announce.
			// (A repeat for a vehicle still held is decided again below:
			// an agency's RELEASE, or its HOLD, changes the answer without
			// any new reading, and decide answers a repeat when it does not.)
			ans = s.answer(p, v)
			ans.Repeated = true
		default:
			if ans, err = s.decide(ctx, tx, fx, p, dev, v, now); err != nil {
				return err
			}
		}
		if !applied.Stale {
			state, err := json.Marshal(v)
			if err != nil {
				return fmt.Errorf("encode lane state: %w", err)
			}
			ls.Vehicle, ls.State, ls.UpdatedAt = v.Number, state, now
			if err := tx.PutLaneState(ctx, ls); err != nil {
				return fmt.Errorf("store lane state: %w", err)
			}
		}
		return s.Tx.AppendAudit(ctx, tx, store.AuditEntry{
			Kind: audit.KindLaneDecision, Actor: "gate-device:" + dev.Device, DeclarationID: ans.DeclarationID, Plate: ans.Plate,
			Payload: mustJSON(DecisionEntry{Device: dev.Device, Reading: r, Answer: ans}),
		})
	})
	if err != nil {
		return nil, err
	}
	return ans, nil
}

// decide derives the vehicle's outcome afresh and, when it changed,
// signs, records and announces it; an OPEN also passes the checkpoint.
func (s *Service) decide(ctx context.Context, tx store.Tx, fx *txn.Effects, p *place, dev DeviceRef, v *crossing.Vehicle, now time.Time) (*Answer, error) {
	facts := crossing.Facts{Route: p.route, Checkpoint: p.cp, Policy: p.policy()}
	rd := v.Readings
	var err error
	var byPlate, byQR *store.Declaration
	if rd.HasPlate {
		if byPlate, err = s.byPlate(ctx, tx, p, rd.Plate); err != nil {
			return nil, err
		}
	}
	if len(rd.Codes) == 1 {
		if byQR, err = s.byID(ctx, tx, p, rd.Codes[0]); err != nil {
			return nil, err
		}
	}
	crossings := map[string]*crossing.Crossing{}
	if byPlate != nil {
		if facts.ByPlate, err = s.declared(ctx, tx, p, byPlate, crossings); err != nil {
			return nil, err
		}
	}
	if byQR != nil {
		if byPlate != nil && byQR.ID == byPlate.ID {
			facts.ByQR = facts.ByPlate
		} else if facts.ByQR, err = s.declared(ctx, tx, p, byQR, crossings); err != nil {
			return nil, err
		}
	}
	out := crossing.Decide(*v, facts, now)
	if v.Outcome != nil && v.Outcome.Same(&out) {
		ans := s.answer(p, v)
		ans.Repeated = true
		return ans, nil
	}
	v.Outcome, v.DecidedAt, v.Token, v.ExpiresAt = &out, now, "", time.Time{}
	ttl := p.gate.Policy.DecisionTTL
	if ttl <= 0 {
		ttl = defaultTTL
	}
	if out.DeclarationID != "" {
		v.ExpiresAt = now.Add(ttl)
		if s.Signer != nil {
			en, vi := clearance.JoinReasons(out.Reasons)
			tok, err := gatedevice.Sign(s.Signer.Key, s.Signer.KeyID, gatedevice.Decision{
				Gate: dev.Gate, Checkpoint: p.cp.ID, Lane: dev.Lane, DeclarationID: out.DeclarationID, Version: out.Version,
				Plate: out.Plate, Action: out.Action, ReasonEN: en, ReasonVI: vi, IssuedAt: now, ExpiresAt: v.ExpiresAt,
				Nonce: ids.Message(),
			})
			if err != nil {
				return nil, fmt.Errorf("sign lane decision: %w", err)
			}
			v.Token = tok
		}
	}
	if out.Action == clearance.Open {
		v.Opened = true
		if err := s.pass(ctx, tx, p, dev, v, crossings[out.DeclarationID], now); err != nil {
			return nil, err
		}
	}
	ans := s.answer(p, v)
	topic := Topic(dev.Gate, dev.Lane)
	if err := s.emit(fx, topic, EventLaneDecision, ans); err != nil {
		return nil, err
	}
	if out.Alert != nil {
		if err := s.Tx.AppendAudit(ctx, tx, store.AuditEntry{
			Kind: audit.KindLaneSecurityAlert, Actor: "gate-device:" + dev.Device, DeclarationID: out.Alert.DeclarationID, Plate: rd.Plate,
			Payload: mustJSON(AlertEntry{Gate: dev.Gate, Checkpoint: p.cp.ID, Lane: dev.Lane, Vehicle: v.Number, Device: dev.Device, Alert: out.Alert, Readings: rd}),
		}); err != nil {
			return nil, err
		}
		if err := s.emit(fx, topic, EventSecurityAlert, AlertEntry{Gate: dev.Gate, Checkpoint: p.cp.ID, Lane: dev.Lane, Vehicle: v.Number, Device: dev.Device, Alert: out.Alert, Readings: rd}); err != nil {
			return nil, err
		}
		if s.Metrics != nil {
			code := out.Alert.Code
			fx.Observe(func() { s.Metrics.LaneSecurityAlert(dev.Gate, code) })
		}
	}
	if s.Metrics != nil {
		action := out.Action
		fx.Observe(func() { s.Metrics.LaneDecision(dev.Gate, action) })
	}
	return ans, nil
}

// emit is the one way lane events leave this package: written as durable
// events in the reading's own transaction (so the stored lane state, the
// audit entry and the event commit or vanish together) and published by
// the event relay after commit. The key is the event type: a lane has one
// current answer (and one last alert), which is what a device that
// connects is sent first.
func (s *Service) emit(fx *txn.Effects, topic, typ string, v any) error {
	return fx.Publish(topic, typ, typ, v)
}

func (s *Service) answer(p *place, v *crossing.Vehicle) *Answer {
	a := &Answer{Gate: p.gate.Code, Checkpoint: p.cp.ID, Lane: p.lane.ID, Vehicle: v.Number, Readings: v.Readings,
		Action: clearance.KeepClosed, DecidedAt: v.DecidedAt, ExpiresAt: v.ExpiresAt, Token: v.Token}
	if o := v.Outcome; o != nil {
		a.DeclarationID, a.Version, a.Plate, a.Action, a.Complete, a.Decision, a.Reasons, a.Alert =
			o.DeclarationID, o.Version, o.Plate, o.Action, o.Complete, o.Decision, o.Reasons, o.Alert
		a.ReasonEN, a.ReasonVI = clearance.JoinReasons(o.Reasons)
	}
	return a
}

// fits says whether a declaration can be judged at this lane: its gate,
// its direction, not cancelled (a cancelled one is still judged, and
// refused, when its QR is shown).
func fits(p *place, d *store.Declaration, body []byte) bool {
	if d.Gate != p.gate.Code {
		return false
	}
	var b struct {
		Direction string `json:"direction"`
	}
	return json.Unmarshal(body, &b) == nil && b.Direction == p.lane.Direction
}

// byPlate finds the declaration of the plate the camera read at this lane:
// the one with an active crossing at the gate, else the newest that fits.
func (s *Service) byPlate(ctx context.Context, tx store.Tx, p *place, plate string) (*store.Declaration, error) {
	c, err := tx.ActiveCrossing(ctx, p.gate.Code, plate)
	switch {
	case err == nil:
		d, err := decisions.LatestDeclaration(ctx, tx, c.DeclarationID)
		if err != nil {
			return nil, err
		}
		if fits(p, d, d.Body) {
			return d, nil
		}
	case !errors.Is(err, store.ErrNotFound):
		return nil, fmt.Errorf("look up crossing of %s: %w", plate, err)
	}
	ds, err := tx.DeclarationsByPlate(ctx, plate, 10)
	if err != nil {
		return nil, fmt.Errorf("look up plate %s: %w", plate, err)
	}
	for i := range ds {
		if fits(p, &ds[i], ds[i].Body) {
			return &ds[i], nil
		}
	}
	return nil, nil
}

func (s *Service) byID(ctx context.Context, tx store.Tx, p *place, id string) (*store.Declaration, error) {
	d, err := tx.LatestDeclaration(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up declaration %s: %w", id, err)
	}
	if !fits(p, d, d.Body) {
		return nil, nil
	}
	return d, nil
}

// declared gathers what the domain needs to judge declaration d at this
// checkpoint; its crossing is read (and locked) into crossings.
func (s *Service) declared(ctx context.Context, tx store.Tx, p *place, d *store.Declaration, crossings map[string]*crossing.Crossing) (*crossing.Declared, error) {
	cl, err := s.Decisions.ClearanceOf(ctx, tx, d)
	if err != nil {
		return nil, err
	}
	c, err := loadCrossing(ctx, tx, d.ID)
	if err != nil {
		return nil, err
	}
	crossings[d.ID] = c
	out := &crossing.Declared{
		ID: d.ID, Version: d.Version, PlateVN: d.PlateVN, PlateCN: d.PlateCN,
		TrailerPlate: cl.Body.Vehicle.TrailerPlate, GrossWeightKg: cl.Body.Vehicle.GrossWeightKg,
		Clearance: clearance.WithOrders(cl.Names, cl.Decide(p.cp.Requires.AgenciesFor(cl.Required)), ordersAt(cl.Orders, p)),
		Crossing:  c,
	}
	if t, err := time.Parse(time.RFC3339, cl.Body.PlannedCrossing); err == nil {
		out.PlannedCrossing = t
	}
	return out, nil
}

// ordersAt keeps the agencies' standing orders that close this
// checkpoint: a hold at B1 closes B1 and what follows it, not what the
// truck passed before.
func ordersAt(orders []clearance.Order, p *place) []clearance.Order {
	route := make([]string, len(p.route))
	for i, c := range p.route {
		route[i] = c.ID
	}
	var out []clearance.Order
	for _, o := range orders {
		if o.AppliesAt(route, p.cp.ID) {
			out = append(out, o)
		}
	}
	return out
}

// pass records the checkpoint passage of an OPEN in the crossing.
func (s *Service) pass(ctx context.Context, tx store.Tx, p *place, dev DeviceRef, v *crossing.Vehicle, c *crossing.Crossing, now time.Time) error {
	if c == nil {
		return fmt.Errorf("pass checkpoint %s: declaration %s has no crossing", p.cp.ID, v.Outcome.DeclarationID)
	}
	passage := crossing.Passage{Checkpoint: p.cp.ID, Lane: dev.Lane, Version: v.Outcome.Version, Vehicle: v.Number,
		ArrivedAt: v.StartedAt, PassedAt: now, Readings: v.Readings}
	if err := c.Pass(p.route, passage); err != nil {
		// Decide opened only for the next checkpoint of an active crossing.
		return fmt.Errorf("pass checkpoint: %w", err)
	}
	c.Version = v.Outcome.Version
	kind := audit.KindCrossingPassed
	if c.State == crossing.Exited {
		kind = audit.KindCrossingExited
	}
	return saveCrossing(ctx, tx, s.Tx, c, kind, "gate-device:"+dev.Device, crossing.Event{Passage: &passage}, now)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return []byte(`{"error":"unencodable audit payload"}`)
	}
	return b
}
