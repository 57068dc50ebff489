package crossing

import (
	"slices"
	"strconv"
	"time"
)

// Reading is one measurement from a lane device, as the lane fuses it.
// Plates arrive normalised (declaration.NormalizePlate) by the caller.
type Reading struct {
	Kind         ReadingKind // plate | weight | qr (a trailer plate arrives in a plate reading)
	Device       string
	Plate        string  // plate camera; on a weight reading, the plate the weighbridge was told
	TrailerPlate string  // plate camera, where it reads trailers
	Confidence   float64 // plate camera, 0..1
	WeightKg     float64
	Code         string // QR: the declaration id printed on the trader's QR
	// Vehicle is the lane's vehicle number the device last saw (in an
	// answer or a lane event); 0 when it does not know. A reading naming
	// another vehicle than the lane's current one is stale.
	Vehicle int64
	// ReadAt is when the device measured; zero means on receipt. A reading
	// measured before the lane's current vehicle began is stale. Only a
	// stated ReadAt is compared: the receipt times of two hub instances
	// are not ordered finely enough to judge by.
	ReadAt time.Time
}

// Readings are the fused readings of one vehicle. Only the plate camera
// names a vehicle; the other readings attach to the lane's current one.
type Readings struct {
	Plate           string    `json:"plate,omitempty"`
	PlateConfidence float64   `json:"plateConfidence,omitempty"`
	HasPlate        bool      `json:"hasPlate,omitempty"`
	Trailers        []string  `json:"trailers,omitempty"` // distinct trailer plates read
	Weights         []float64 `json:"weights,omitempty"`  // every weight measured: one outside tolerance keeps the barrier closed
	WeighedPlate    string    `json:"weighedPlate,omitempty"`
	Codes           []string  `json:"codes,omitempty"` // distinct QR codes scanned
}

// Has reports whether kind k was read.
func (r Readings) Has(k ReadingKind) bool {
	switch k {
	case Plate:
		return r.HasPlate
	case Trailer:
		return len(r.Trailers) > 0
	case Weight:
		return len(r.Weights) > 0
	case QR:
		return len(r.Codes) > 0
	}
	return false
}

// Bounds on what one vehicle keeps: a device that repeats itself must not
// grow a lane's row without limit.
const (
	maxWeights = 8
	maxCodes   = 4
)

// Vehicle is the truck a lane is dealing with.
type Vehicle struct {
	Number    int64     `json:"number"` // 1, 2, 3 … per lane; 0: the lane has seen none
	StartedAt time.Time `json:"startedAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	Readings  Readings  `json:"readings"`
	// Outcome is the last outcome decided for this vehicle (nil before
	// the first); Opened is set once the barrier was told OPEN, after which
	// the next reading begins another vehicle and no second OPEN is issued.
	Outcome *Outcome `json:"outcome,omitempty"`
	Opened  bool     `json:"opened,omitempty"`
	// Token is the signed form of Outcome, kept so a repeated reading gets
	// the same answer instead of a second signed decision.
	Token     string    `json:"token,omitempty"`
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
	DecidedAt time.Time `json:"decidedAt,omitzero"` // when Outcome last changed
}

// Lane is the state of one lane at one checkpoint, kept in the store.
type Lane struct {
	Gate       string
	Checkpoint string
	Lane       string
	Vehicle    Vehicle
	// Rev counts the row's writes (store-managed).
	Rev int64
}

// Applied says what a reading did to a lane.
type Applied struct {
	// Stale: the reading belongs to a vehicle the lane no longer deals
	// with and was not applied; StaleReason says why.
	Stale       bool
	StaleReason string
	// NewVehicle: the reading began a new vehicle (Lane.Vehicle.Number
	// was incremented).
	NewVehicle bool
	// Changed: the vehicle's readings changed, so its outcome must be
	// decided again. A repeat of a reading already held changes nothing.
	Changed bool
}

// Apply fuses reading r into the lane at time now. memory bounds how long
// an unfinished vehicle stays the lane's current one without readings.
// The rules, which make the outcome independent of the order the readings
// of one vehicle arrive in:
//   - only a plate camera read of another plate begins a new vehicle while
//     one is current; a weight or QR reading attaches to the current one;
//   - after the barrier opened for a vehicle, or when it went quiet for
//     longer than memory, any reading begins the next vehicle;
//   - a reading naming another vehicle number, measured before the current
//     vehicle began, or weighed for another plate is stale: never applied.
func Apply(l *Lane, r Reading, now time.Time, memory time.Duration) Applied {
	at := r.ReadAt
	if at.IsZero() || at.After(now) {
		at = now
	}
	cur := &l.Vehicle
	live := cur.Number > 0 && !cur.Opened && now.Sub(cur.UpdatedAt) <= memory
	if cur.Number > 0 && cur.Opened && (r.Vehicle == 0 || r.Vehicle == cur.Number) && now.Before(cur.ExpiresAt) && cur.Readings.holds(r) {
		// A device repeating a reading of the vehicle the barrier just
		// opened for (a network retry, a second scan) while the OPEN is
		// still valid (a camera reads a moving truck more than once): the
		// same vehicle, nothing changed, the same answer — not the
		// beginning of the next one, which would announce a KEEP-CLOSED
		// for the truck passing under the open barrier.
		return Applied{}
	}
	if cur.Number > 0 {
		switch {
		case r.Vehicle != 0 && r.Vehicle != cur.Number:
			return Applied{Stale: true, StaleReason: "reading for vehicle " + strconv.FormatInt(r.Vehicle, 10) + ", lane is at vehicle " + strconv.FormatInt(cur.Number, 10)}
		case !r.ReadAt.IsZero() && at.Before(cur.StartedAt):
			return Applied{Stale: true, StaleReason: "reading measured before the lane's current vehicle arrived"}
		case r.Vehicle == cur.Number && cur.Opened:
			return Applied{Stale: true, StaleReason: "reading for vehicle " + strconv.FormatInt(r.Vehicle, 10) + ", which has passed"}
		}
	}
	begin := func() {
		*cur = Vehicle{Number: cur.Number + 1, StartedAt: at, UpdatedAt: now}
	}
	out := Applied{}
	if !live {
		begin()
		out.NewVehicle = true
	}
	rd := &cur.Readings
	switch r.Kind {
	case Plate:
		if rd.HasPlate && rd.Plate != r.Plate && !out.NewVehicle {
			begin()
			out.NewVehicle = true
			rd = &cur.Readings
		}
		if !rd.HasPlate && rd.WeighedPlate != "" && rd.WeighedPlate != r.Plate {
			// The weighbridge weighed another plate than the one now in
			// front of the camera: that weight is stale, exactly as it
			// would have been had the camera read first.
			rd.Weights, rd.WeighedPlate = nil, ""
		}
		if !rd.HasPlate || r.Confidence > rd.PlateConfidence {
			rd.Plate, rd.PlateConfidence, rd.HasPlate = r.Plate, r.Confidence, true
			out.Changed = true
		}
		// Every distinct trailer read is kept: a mismatch cannot be read
		// away by a second pass of the camera.
		if r.TrailerPlate != "" && !slices.Contains(rd.Trailers, r.TrailerPlate) && len(rd.Trailers) < maxCodes {
			rd.Trailers = append(rd.Trailers, r.TrailerPlate)
			slices.Sort(rd.Trailers)
			out.Changed = true
		}
	case Weight:
		if r.Plate != "" && rd.HasPlate && r.Plate != rd.Plate {
			if out.NewVehicle {
				// Cannot happen: a new vehicle has no plate yet.
				break
			}
			return Applied{Stale: true, StaleReason: "weight for plate " + r.Plate + ", lane's vehicle is " + rd.Plate}
		}
		if r.Plate != "" && rd.WeighedPlate == "" {
			rd.WeighedPlate = r.Plate
		}
		if len(rd.Weights) < maxWeights {
			rd.Weights = append(rd.Weights, r.WeightKg)
			out.Changed = true
		}
	case QR:
		if !slices.Contains(rd.Codes, r.Code) && len(rd.Codes) < maxCodes {
			rd.Codes = append(rd.Codes, r.Code)
			slices.Sort(rd.Codes)
			out.Changed = true
		}
	}
	cur.UpdatedAt = now
	if out.NewVehicle {
		out.Changed = true
	}
	return out
}

// holds reports whether reading r repeats one the vehicle already has.
func (rd Readings) holds(r Reading) bool {
	switch r.Kind {
	case Plate:
		return rd.HasPlate && rd.Plate == r.Plate && (r.TrailerPlate == "" || slices.Contains(rd.Trailers, r.TrailerPlate))
	case Weight:
		return slices.Contains(rd.Weights, r.WeightKg) && (r.Plate == "" || r.Plate == rd.Plate || r.Plate == rd.WeighedPlate)
	case QR:
		return slices.Contains(rd.Codes, r.Code)
	}
	return false
}
