package hub

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gatehub/gatehub/adapters/gatedevice"
	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/clearance"
	"github.com/gatehub/gatehub/internal/declaration"
	"github.com/gatehub/gatehub/internal/ids"
	"github.com/gatehub/gatehub/internal/problem"
	"github.com/gatehub/gatehub/internal/store"
)

// Reading kinds sent by lane devices.
const (
	ReadingPlate  = "plate"
	ReadingWeight = "weight"
	ReadingQR     = "qr"
)

// Reading is one measurement from a lane device.
type Reading struct {
	Kind       string  `json:"kind"`                 // plate | weight | qr
	Plate      string  `json:"plate,omitempty"`      // plate camera; optional on weight readings
	Confidence float64 `json:"confidence,omitempty"` // plate camera, 0..1
	ImageRef   string  `json:"imageRef,omitempty"`   // plate camera evidence, kept in the audit log
	WeightKg   float64 `json:"weightKg,omitempty"`   // weighbridge
	Code       string  `json:"code,omitempty"`       // QR scanner: the declaration id printed on the trader's QR
}

// Validate reports malformed readings field by field.
func (r Reading) Validate() []problem.FieldError {
	var errs []problem.FieldError
	add := func(ptr, code, detail string) {
		errs = append(errs, problem.FieldError{Pointer: ptr, Code: code, Detail: detail})
	}
	switch r.Kind {
	case ReadingPlate:
		if r.Plate == "" {
			add("/plate", "required", "a plate reading needs the plate")
		}
		if r.Confidence < 0 || r.Confidence > 1 {
			add("/confidence", "range", "confidence must be between 0 and 1")
		}
	case ReadingWeight:
		if r.WeightKg <= 0 || r.WeightKg > 100000 {
			add("/weightKg", "range", "weightKg must be above 0 and at most 100000")
		}
	case ReadingQR:
		if r.Code == "" || len(r.Code) > 64 {
			add("/code", "required", "a QR reading needs the scanned code (at most 64 characters)")
		}
	default:
		add("/kind", "enum", "kind must be plate, weight or qr")
	}
	if len(r.ImageRef) > 512 {
		add("/imageRef", "too_long", "imageRef exceeds 512 characters")
	}
	return errs
}

// DeviceRef identifies the authenticated device that sent a reading.
type DeviceRef struct{ Gate, Lane, Device string }

// LaneAnswer is the hub's instruction to a lane after a reading.
type LaneAnswer struct {
	Gate          string             `json:"gate"`
	Lane          string             `json:"lane"`
	DeclarationID string             `json:"declarationId,omitempty"`
	Version       int                `json:"version,omitempty"`
	Plate         string             `json:"plate,omitempty"`
	Action        string             `json:"action"` // OPEN | KEEP-CLOSED
	Decision      string             `json:"decision,omitempty"`
	Reasons       []clearance.Reason `json:"reasons,omitempty"`
	ReasonEN      string             `json:"reasonEN,omitempty"`
	ReasonVI      string             `json:"reasonVI,omitempty"`
	WeightKg      float64            `json:"weightKg,omitempty"`
	ExpiresAt     time.Time          `json:"expiresAt"`
	// Token is the signed form of this answer (see adapters/gatedevice):
	// the barrier controller opens only on a token it verified itself.
	// Answers that match no declaration carry none.
	Token string `json:"token,omitempty"`
}

// LaneSigner signs lane decisions for devices.
type LaneSigner struct {
	Key   ed25519.PrivateKey
	KeyID string
}

// laneVehicle is the truck a lane is currently dealing with: the last
// identified declaration and the last weight measured.
type laneVehicle struct {
	declID   string
	plate    string
	weightKg float64
	hasWt    bool
	conf     float64
	hasPlate bool
	at       time.Time
}

// lanes remembers the current vehicle of each lane so that a weighbridge
// reading without a plate is attributed to the truck the camera just saw.
// This is per instance: devices of one lane should talk to one instance
// (sticky routing) or send the plate with the weight, which always works.
type lanes struct {
	mu  sync.Mutex
	cur map[string]*laneVehicle
}

// laneMemory bounds how long a plate read stays attributed to a lane.
const laneMemory = 10 * time.Minute

func (l *lanes) get(key string, now time.Time) *laneVehicle {
	l.mu.Lock()
	defer l.mu.Unlock()
	v := l.cur[key]
	if v == nil || now.Sub(v.at) > laneMemory {
		return nil
	}
	c := *v
	return &c
}

func (l *lanes) put(key string, v laneVehicle) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cur == nil {
		l.cur = map[string]*laneVehicle{}
	}
	l.cur[key] = &v
}

// LaneReading matches a device reading to a declaration and answers what
// the lane's barrier must do. The answer is logged, signed and published to
// the lane's live stream.
func (h *Hub) LaneReading(ctx context.Context, dev DeviceRef, r Reading) (*LaneAnswer, error) {
	g, ok := h.Gates.Current().Gate(dev.Gate)
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownGate, dev.Gate)
	}
	lane, ok := g.Lane(dev.Lane)
	if !ok {
		return nil, fmt.Errorf("lane %s/%s: %w", dev.Gate, dev.Lane, ErrNotFound)
	}
	now := h.now()
	key := LaneTopic(dev.Gate, dev.Lane)
	veh := h.lanes.get(key, now)
	if veh == nil {
		veh = &laneVehicle{}
	}
	veh.at = now
	switch r.Kind {
	case ReadingPlate:
		plate := declaration.NormalizePlate(r.Plate)
		if plate != veh.plate {
			*veh = laneVehicle{at: now} // a different truck: forget the old weight
		}
		veh.plate, veh.conf, veh.hasPlate, veh.declID = plate, r.Confidence, true, ""
	case ReadingWeight:
		if r.Plate != "" {
			plate := declaration.NormalizePlate(r.Plate)
			if plate != veh.plate {
				*veh = laneVehicle{at: now, plate: plate, conf: 1, hasPlate: true}
			}
		}
		veh.weightKg, veh.hasWt = r.WeightKg, true
	case ReadingQR:
		veh.declID = r.Code
	}

	ans := &LaneAnswer{Gate: dev.Gate, Lane: dev.Lane, Plate: veh.plate, WeightKg: veh.weightKg}
	var body declaration.Declaration
	err := h.inTx(ctx, func(tx store.Tx, fx *effects) error {
		d, err := h.matchDeclaration(ctx, tx, dev.Gate, lane.Direction, veh)
		if err != nil {
			return err
		}
		var outcome clearance.LaneOutcome
		if d == nil {
			outcome = clearance.LaneOutcome{Action: "KEEP-CLOSED", Reasons: []clearance.Reason{{
				Code: "NO_DECLARATION", EN: "no declaration found for this vehicle at this gate",
				VI: "không tìm thấy tờ khai cho phương tiện này tại cửa khẩu",
			}}}
		} else {
			if veh.plate != d.PlateVN && veh.plate != d.PlateCN {
				// The QR code names another truck than the one the camera saw
				// last: the driver presenting it is the truck now in the lane.
				*veh = laneVehicle{at: now, plate: plateOf(d)}
				ans.WeightKg = 0
			}
			veh.declID = d.ID
			in, err := h.clearanceOf(ctx, tx, d)
			if err != nil {
				return err
			}
			body = in.body
			dec := clearance.Decide(in.required, in.statuses, d.Status == StatusCancelled, now)
			outcome = clearance.LaneDecision(dec, body.Vehicle.GrossWeightKg, g.Policy.WeightTolerancePercent, g.Policy.MinPlateConfidence,
				clearance.Reading{Plate: veh.plate, PlateConfidence: veh.conf, HasPlate: veh.hasPlate && r.Kind != ReadingQR, WeightKg: veh.weightKg, HasWeight: veh.hasWt, QRCode: r.Code})
			ans.DeclarationID, ans.Version, ans.Decision, ans.Plate = d.ID, d.Version, dec.Status, veh.plate
		}
		ans.Action, ans.Reasons = outcome.Action, outcome.Reasons
		ans.ReasonEN, ans.ReasonVI = clearance.JoinReasons(outcome.Reasons)
		ttl := g.Policy.DecisionTTL
		if ttl <= 0 {
			ttl = 2 * time.Minute
		}
		ans.ExpiresAt = now.Add(ttl)
		// Only an answer about a declaration is signed: a barrier stays
		// closed without a token anyway, and the token format binds every
		// decision to a declaration version.
		if h.LaneSigner != nil && ans.DeclarationID != "" {
			tok, err := gatedevice.Sign(h.LaneSigner.Key, h.LaneSigner.KeyID, gatedevice.Decision{
				Gate: dev.Gate, Lane: dev.Lane, DeclarationID: ans.DeclarationID, Version: ans.Version, Plate: ans.Plate,
				Action: ans.Action, ReasonEN: ans.ReasonEN, ReasonVI: ans.ReasonVI, IssuedAt: now, ExpiresAt: ans.ExpiresAt,
				Nonce: ids.Message(),
			})
			if err != nil {
				return fmt.Errorf("sign lane decision: %w", err)
			}
			ans.Token = tok
		}
		payload, err := json.Marshal(map[string]any{"device": dev.Device, "reading": r, "answer": ans})
		if err != nil {
			return fmt.Errorf("encode lane decision: %w", err)
		}
		if err := h.appendAudit(ctx, tx, store.AuditEntry{
			Kind: audit.KindLaneDecision, Actor: "gate-device:" + dev.Device, DeclarationID: ans.DeclarationID, Plate: ans.Plate, Payload: payload,
		}); err != nil {
			return err
		}
		// One key for the lane: its current answer is the last one given.
		if err := fx.publish(key, "lane-decision", "lane-decision", ans); err != nil {
			return err
		}
		if h.Metrics != nil {
			action := ans.Action
			fx.observed = append(fx.observed, func() { h.Metrics.LaneDecision(dev.Gate, action) })
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	h.lanes.put(key, *veh)
	return ans, nil
}

// matchDeclaration finds the active declaration the lane's vehicle belongs
// to: by QR code (the declaration id) first, then by plate; only at this
// gate and for this lane's direction.
func (h *Hub) matchDeclaration(ctx context.Context, tx store.Tx, gateCode, direction string, veh *laneVehicle) (*store.Declaration, error) {
	fits := func(d *store.Declaration) bool {
		if d.Gate != gateCode || d.Status != StatusActive {
			return false
		}
		var body struct {
			Direction string `json:"direction"`
		}
		return json.Unmarshal(d.Body, &body) == nil && body.Direction == direction
	}
	if veh.declID != "" {
		d, err := tx.LatestDeclaration(ctx, veh.declID)
		switch {
		case err == nil && fits(d):
			return d, nil
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return nil, fmt.Errorf("look up declaration %s: %w", veh.declID, err)
		}
	}
	if veh.plate == "" {
		return nil, nil
	}
	ds, err := tx.DeclarationsByPlate(ctx, veh.plate, 10)
	if err != nil {
		return nil, fmt.Errorf("look up plate %s: %w", veh.plate, err)
	}
	for i := range ds {
		if fits(&ds[i]) {
			return &ds[i], nil
		}
	}
	return nil, nil
}
