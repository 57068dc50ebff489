package lanes

import (
	"time"

	"github.com/gatehub/gatehub/internal/clearance"
	"github.com/gatehub/gatehub/internal/crossing"
	"github.com/gatehub/gatehub/internal/declaration"
	"github.com/gatehub/gatehub/internal/problem"
)

// Reading is one measurement from a lane device, as posted to
// /v1/devices/readings.
type Reading struct {
	Kind         string  `json:"kind"`                   // plate | weight | qr
	Plate        string  `json:"plate,omitempty"`        // plate camera; optional on weight readings
	TrailerPlate string  `json:"trailerPlate,omitempty"` // plate camera, where it reads trailers
	Confidence   float64 `json:"confidence,omitempty"`   // plate camera, 0..1
	ImageRef     string  `json:"imageRef,omitempty"`     // plate camera evidence, kept in the audit log
	WeightKg     float64 `json:"weightKg,omitempty"`     // weighbridge
	Code         string  `json:"code,omitempty"`         // QR scanner: the declaration id printed on the trader's QR
	// Vehicle is the lane's vehicle number from the answer or lane event
	// the device last saw; a reading for another vehicle is stale.
	Vehicle int64 `json:"vehicle,omitempty"`
	// ReadAt is when the device measured (RFC 3339); a reading measured
	// before the lane's current vehicle arrived is stale.
	ReadAt *time.Time `json:"readAt,omitempty"`
}

// Validate reports malformed readings field by field.
func (r Reading) Validate() []problem.FieldError {
	var errs []problem.FieldError
	add := func(ptr, code, detail string) {
		errs = append(errs, problem.FieldError{Pointer: ptr, Code: code, Detail: detail})
	}
	switch crossing.ReadingKind(r.Kind) {
	case crossing.Plate:
		if r.Plate == "" {
			add("/plate", "required", "a plate reading needs the plate")
		}
		if r.Confidence < 0 || r.Confidence > 1 {
			add("/confidence", "range", "confidence must be between 0 and 1")
		}
	case crossing.Weight:
		if r.WeightKg <= 0 || r.WeightKg > 100000 {
			add("/weightKg", "range", "weightKg must be above 0 and at most 100000")
		}
	case crossing.QR:
		if r.Code == "" || len(r.Code) > 64 {
			add("/code", "required", "a QR reading needs the scanned code (at most 64 characters)")
		}
	default:
		add("/kind", "enum", "kind must be plate, weight or qr")
	}
	if r.TrailerPlate != "" && r.Kind != string(crossing.Plate) {
		add("/trailerPlate", "unexpected", "only a plate camera reading carries a trailer plate")
	}
	if len(r.Plate) > 32 || len(r.TrailerPlate) > 32 {
		add("/plate", "too_long", "plates have at most 32 characters")
	}
	if len(r.ImageRef) > 512 {
		add("/imageRef", "too_long", "imageRef exceeds 512 characters")
	}
	if r.Vehicle < 0 {
		add("/vehicle", "range", "vehicle is a lane's vehicle number, 1 or more")
	}
	return errs
}

// domain converts the reading for internal/crossing.
func (r Reading) domain(device string) crossing.Reading {
	d := crossing.Reading{
		Kind: crossing.ReadingKind(r.Kind), Device: device,
		Plate: declaration.NormalizePlate(r.Plate), TrailerPlate: declaration.NormalizePlate(r.TrailerPlate),
		Confidence: r.Confidence, WeightKg: r.WeightKg, Code: r.Code, Vehicle: r.Vehicle,
	}
	if r.ReadAt != nil {
		d.ReadAt = r.ReadAt.UTC()
	}
	return d
}

// Answer is the hub's instruction to a lane after a reading, and the body
// of its lane events.
type Answer struct {
	Gate       string `json:"gate"`
	Checkpoint string `json:"checkpoint"`
	Lane       string `json:"lane"`
	// Vehicle is the lane's number for the truck this answer is about;
	// devices send it back with their next reading.
	Vehicle       int64              `json:"vehicle"`
	DeclarationID string             `json:"declarationId,omitempty"`
	Version       int                `json:"version,omitempty"`
	Plate         string             `json:"plate,omitempty"`
	Action        string             `json:"action"` // OPEN | KEEP-CLOSED
	Complete      bool               `json:"complete"`
	Decision      clearance.Status   `json:"decision,omitempty"`
	Reasons       []clearance.Reason `json:"reasons,omitempty"`
	ReasonEN      string             `json:"reasonEN,omitempty"`
	ReasonVI      string             `json:"reasonVI,omitempty"`
	Readings      crossing.Readings  `json:"readings"`
	// DecidedAt is when this outcome was decided: a repeated reading that
	// changes nothing gets the same answer with the same time.
	DecidedAt time.Time `json:"decidedAt"`
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
	// Token is the signed form (adapters/gatedevice): the barrier opens
	// only on a token it verified itself. Answers that name no
	// declaration carry none.
	Token string          `json:"token,omitempty"`
	Alert *crossing.Alert `json:"alert,omitempty"`
	// Stale: the reading was for a vehicle the lane no longer deals with
	// and was not applied; the answer describes the lane's current vehicle.
	Stale       bool   `json:"stale,omitempty"`
	StaleReason string `json:"staleReason,omitempty"`
	// Repeated: the reading changed nothing; no new event was published.
	Repeated bool `json:"repeated,omitempty"`
}
