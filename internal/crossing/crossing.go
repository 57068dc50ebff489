// Package crossing is the domain of one truck's passage through a border
// gate: the gate's ordered checkpoints and what each requires to open, the
// lane state that fuses the readings of one vehicle (camera plate, trailer
// plate, weight, QR) into one outcome, and the crossing's lifecycle from
// submission to exit. It is pure — no I/O, no clock (callers pass now) — so
// the orchestration (internal/lanes) can run it inside a store transaction
// and the audit replay can run it again and get the same states.
package crossing

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// ReadingKind names what a lane device measured.
type ReadingKind string

// Reading kinds. Trailer is a plate camera's read of the trailer plate; it
// arrives in a plate reading, and a checkpoint may require it.
const (
	Plate   ReadingKind = "plate"
	Trailer ReadingKind = "trailer"
	Weight  ReadingKind = "weight"
	QR      ReadingKind = "qr"
)

// ReadingKinds lists every kind a checkpoint may require, in the order
// reasons name missing ones.
var ReadingKinds = []ReadingKind{Plate, Trailer, Weight, QR}

// Requirement is what must hold at a checkpoint before its barrier opens.
type Requirement struct {
	// Readings that must be present (and consistent) for the vehicle.
	Readings []ReadingKind
	// Agencies whose clearance this checkpoint needs. AllAgencies means
	// every agency the gate's policy requires for the declaration; a list
	// is intersected with that set (an agency the declaration was never
	// sent to cannot be waited for).
	Agencies    []string
	AllAgencies bool
}

// Needs reports whether the requirement includes reading kind k.
func (r Requirement) Needs(k ReadingKind) bool { return slices.Contains(r.Readings, k) }

// AgenciesFor returns the agencies this checkpoint waits for, given the
// agencies the declaration's policy requires.
func (r Requirement) AgenciesFor(required []string) []string {
	if r.AllAgencies {
		return slices.Clone(required)
	}
	var out []string
	for _, a := range required {
		if slices.Contains(r.Agencies, a) {
			out = append(out, a)
		}
	}
	return out
}

// Checkpoint is one point of a gate's route where a barrier stands.
type Checkpoint struct {
	ID       string
	Name     string
	Requires Requirement
}

// Route is the ordered checkpoints a truck of one direction passes; the
// last one is the exit (the border marker for exports).
type Route []Checkpoint

// Index returns the position of checkpoint id in the route, or -1.
func (r Route) Index(id string) int {
	return slices.IndexFunc(r, func(c Checkpoint) bool { return c.ID == id })
}

// State is where a crossing stands.
type State string

// Crossing states. Submitted: declared, not yet at the gate. Arrived: at
// least one checkpoint passed, the exit not yet. Exited: passed the last
// checkpoint; the clearance is used. TurnedBack: an operator sent the truck
// back. Cancelled: the declaration was cancelled before exit.
const (
	Submitted  State = "submitted"
	Arrived    State = "arrived"
	Exited     State = "exited"
	TurnedBack State = "turned-back"
	Cancelled  State = "cancelled"
)

// Active reports whether the crossing still holds its plate at the gate:
// a second declaration for the same vehicle is refused while it does.
func (s State) Active() bool { return s == Submitted || s == Arrived }

// Passage records one checkpoint passed.
type Passage struct {
	Checkpoint string    `json:"checkpoint"`
	Lane       string    `json:"lane"`
	Version    int       `json:"version"` // declaration version the barrier opened for
	Vehicle    int64     `json:"vehicle"` // the lane's vehicle number
	ArrivedAt  time.Time `json:"arrivedAt"`
	PassedAt   time.Time `json:"passedAt"`
	Readings   Readings  `json:"readings"`
}

// Dwell is how long the truck stood at the checkpoint: from its first
// reading there to the barrier opening.
func (p Passage) Dwell() time.Duration { return p.PassedAt.Sub(p.ArrivedAt) }

// Crossing is the lifecycle of one declaration at its gate. It is keyed by
// declaration id: an amendment changes the version the next checkpoint
// judges, not the checkpoints already passed (a barrier that opened did
// open; the passage records the version it opened for).
type Crossing struct {
	DeclarationID string
	Version       int
	Gate          string
	Plate         string // the VN plate, or the CN plate when there is none
	State         State
	Passages      []Passage
	Reason        string // why turned back or cancelled
	UpdatedAt     time.Time
}

// Errors of lifecycle transitions.
var (
	ErrNotActive = errors.New("crossing is not active")
	ErrOrder     = errors.New("checkpoint out of order")
)

// Passed reports whether the crossing passed checkpoint id.
func (c *Crossing) Passed(id string) bool {
	return slices.ContainsFunc(c.Passages, func(p Passage) bool { return p.Checkpoint == id })
}

// Next returns the checkpoint the crossing must pass next on route, or
// false once every checkpoint is passed.
func (c *Crossing) Next(route Route) (Checkpoint, bool) {
	for _, cp := range route {
		if !c.Passed(cp.ID) {
			return cp, true
		}
	}
	return Checkpoint{}, false
}

// Pass is the one transition that records a checkpoint passage. It refuses
// a crossing that is not active and a checkpoint that is not the next one
// on the route; passing the route's last checkpoint is the exit.
func (c *Crossing) Pass(route Route, p Passage) error {
	if !c.State.Active() {
		return fmt.Errorf("pass %s: %w (%s)", p.Checkpoint, ErrNotActive, c.State)
	}
	next, ok := c.Next(route)
	if !ok || next.ID != p.Checkpoint {
		return fmt.Errorf("pass %s: %w (next is %q)", p.Checkpoint, ErrOrder, next.ID)
	}
	c.Passages = append(c.Passages, p)
	c.State = Arrived
	if _, more := c.Next(route); !more {
		c.State = Exited
	}
	c.UpdatedAt = p.PassedAt
	return nil
}

// End moves an active crossing to TurnedBack or Cancelled.
func (c *Crossing) End(to State, reason string, now time.Time) error {
	if to != TurnedBack && to != Cancelled {
		return fmt.Errorf("end crossing: %q is not an end state", to)
	}
	if !c.State.Active() {
		return fmt.Errorf("end crossing %s: %w (%s)", c.DeclarationID, ErrNotActive, c.State)
	}
	c.State, c.Reason, c.UpdatedAt = to, reason, now
	return nil
}

// Event is one transition of a crossing as the audit log records it: what
// happened and the state after it, so a replay of the log can fold the
// events through Replay and compare its states with the store's.
type Event struct {
	DeclarationID string    `json:"declarationId"`
	Gate          string    `json:"gate"`
	Plate         string    `json:"plate"`
	Version       int       `json:"version"`
	State         State     `json:"state"` // after the transition
	Passage       *Passage  `json:"passage,omitempty"`
	Reason        string    `json:"reason,omitempty"`
	At            time.Time `json:"at"`
}

// Replay folds event e into c (nil before the crossing's first event)
// with the checks of the live transitions that do not need the gate's
// route: a passage only while active and of a checkpoint not yet passed,
// an end only while active.
func Replay(c *Crossing, e Event) (*Crossing, error) {
	if c == nil {
		if e.State != Submitted {
			return nil, fmt.Errorf("crossing %s: first event is %s, want %s", e.DeclarationID, e.State, Submitted)
		}
		return &Crossing{DeclarationID: e.DeclarationID, Version: e.Version, Gate: e.Gate, Plate: e.Plate, State: Submitted, UpdatedAt: e.At}, nil
	}
	switch {
	case e.Passage != nil:
		if !c.State.Active() {
			return c, fmt.Errorf("crossing %s: passage at %s while %s: %w", c.DeclarationID, e.Passage.Checkpoint, c.State, ErrNotActive)
		}
		if c.Passed(e.Passage.Checkpoint) {
			return c, fmt.Errorf("crossing %s: %s passed twice: %w", c.DeclarationID, e.Passage.Checkpoint, ErrOrder)
		}
		if e.State != Arrived && e.State != Exited {
			return c, fmt.Errorf("crossing %s: passage leads to %s", c.DeclarationID, e.State)
		}
		c.Passages = append(c.Passages, *e.Passage)
		c.State = e.State
	case e.State == TurnedBack || e.State == Cancelled:
		if err := c.End(e.State, e.Reason, e.At); err != nil {
			return c, err
		}
	case e.State == c.State:
		// An amendment: the version (and maybe the plate) changes.
	default:
		return c, fmt.Errorf("crossing %s: no transition %s → %s", c.DeclarationID, c.State, e.State)
	}
	c.Version, c.Plate, c.UpdatedAt = e.Version, e.Plate, e.At
	return c, nil
}
