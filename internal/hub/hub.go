// Package hub holds the words every orchestration package of the hub
// shares: who asks for a change (Actor), the hub's own participant id, the
// errors an action fails with (which the HTTP layer maps to status codes),
// declaration statuses, and the lane topics decisions are announced on
// (message kinds and states are internal/message's). The orchestration itself lives in the packages named
// for each concept: submission, acknowledgements, operator, views,
// gateconfig, refusallog, decisions, on the transaction of txn.
package hub

import (
	"errors"

	"github.com/gatehub/gatehub/internal/store"
)

// Participant is the hub's own participant id in envelopes and the trust store.
const Participant = "hub"

// Errors the HTTP layer maps to status codes.
var (
	ErrNotFound = errors.New("not found")
	// ErrConflict: the request collides with current state (a concurrent
	// amendment, an Idempotency-Key reused for a different body).
	ErrConflict = errors.New("conflict")
	// ErrInvalidState: the operation does not apply in the current state
	// (amending a cancelled declaration, redriving a delivered message).
	ErrInvalidState = errors.New("invalid state")
	ErrUnknownGate  = errors.New("unknown gate")
)

// Declaration statuses.
const (
	StatusActive    = "active"
	StatusCancelled = "cancelled"
)

// Actor says who asked for a change; it goes into the audit log.
type Actor struct {
	Role        string // trader | operator | admin | …
	Participant string // token subject
	TaxCode     string // traders only
}

func (a Actor) String() string {
	if a.Participant == "" {
		return a.Role
	}
	return a.Role + ":" + a.Participant
}

// PlateOf is the plate a declaration's audit entries are found by: the VN
// plate, else the CN one.
func PlateOf(d *store.Declaration) string {
	if d.PlateVN != "" {
		return d.PlateVN
	}
	return d.PlateCN
}

// LaneTopic is the fan-out topic a lane's devices subscribe to.
func LaneTopic(gateCode, lane string) string { return "lane/" + gateCode + "/" + lane }
