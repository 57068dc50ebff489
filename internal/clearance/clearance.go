// Package clearance turns per-agency message states into a clearance
// decision for one truck, and a clearance decision plus what the lane's
// devices measured into an OPEN/KEEP-CLOSED outcome for the barrier. It is
// pure: no I/O, no clock (callers pass now), so every decision can be
// replayed from the audit log and gets the same answer.
package clearance

import (
	"time"

	"github.com/gatehub/gatehub/internal/message"
)

// Status is a clearance decision's verdict. The strings are what the
// stores, the API, lane devices and archives carry; they never change.
type Status string

// Decision statuses.
const (
	Cleared   Status = "CLEARED"
	Rejected  Status = "REJECTED"
	Hold      Status = "HOLD"
	Pending   Status = "PENDING"
	Cancelled Status = "CANCELLED"
)

// Statuses lists every decision status.
var Statuses = []Status{Cleared, Rejected, Hold, Pending, Cancelled}

// Lane actions.
const (
	Open       = "OPEN"
	KeepClosed = "KEEP-CLOSED"
)

// Reason codes. They are stable identifiers for devices and dashboards;
// the EN/VI texts may change.
const (
	CodeCleared              = "CLEARED"
	CodeRejected             = "AGENCY_REJECTED"
	CodeDeliveryFailed       = "DELIVERY_FAILED"
	CodeMessageCancelled     = "MESSAGE_CANCELLED"
	CodeMessageSuperseded    = "MESSAGE_SUPERSEDED"
	CodeUnknownState         = "UNKNOWN_STATE"
	CodeNoPolicy             = "NO_POLICY"
	CodeAwaitingDelivery     = "AWAITING_DELIVERY"
	CodeAwaitingAck          = "AWAITING_ACK"
	CodeAckOverdue           = "ACK_OVERDUE"
	CodeDeclarationCancelled = "DECLARATION_CANCELLED"
	CodeNotCleared           = "NOT_CLEARED"
	CodeWeightOver           = "WEIGHT_OVER"
	CodeWeightUnder          = "WEIGHT_UNDER"
	CodeNoDeclaredWeight     = "NO_DECLARED_WEIGHT"
	CodePlateLowConfidence   = "PLATE_LOW_CONFIDENCE"
)

// AgencyStatus is where one agency's latest message for the current
// declaration version stands.
type AgencyStatus struct {
	Agency      string
	MessageID   string
	State       message.State
	Attempts    int
	LastError   string
	AckDeadline time.Time // zero until delivered
	ReasonCode  string    // from a NACK
	ReasonText  string    // from a NACK
}

// Reason explains a decision in English and Vietnamese.
type Reason struct {
	Code   string `json:"code"`
	Agency string `json:"agency,omitempty"`
	EN     string `json:"en"`
	VI     string `json:"vi"`
}

// Decision is the clearance decision for one declaration version.
type Decision struct {
	Status    Status    `json:"status"`
	Awaiting  []string  `json:"awaiting,omitempty"`
	Overdue   []string  `json:"overdue,omitempty"`
	Reasons   []Reason  `json:"reasons,omitempty"`
	DecidedAt time.Time `json:"decidedAt"`
}

// Reading is what the lane's devices measured for the truck in front of
// the barrier.
type Reading struct {
	Plate           string
	PlateConfidence float64
	HasPlate        bool
	WeightKg        float64
	HasWeight       bool
	QRCode          string
}

// LaneOutcome is what the barrier should do.
type LaneOutcome struct {
	Action  string   `json:"action"`
	Reasons []Reason `json:"reasons,omitempty"`
}

// Names gives agencies' display texts (the agency files, agencies.Set):
// an agency's name in English and Vietnamese, and what one of its reason
// codes means in Vietnamese. A nil Names shows codes as they are.
type Names interface {
	Name(agency string) (en, vi string)
	ReasonVI(agency, code string) (string, bool)
}

// AgencyName is names' display name of agency; an unknown agency (or no
// names) is shown by its code rather than hidden.
func AgencyName(names Names, agency string) (en, vi string) {
	if names == nil {
		return agency, agency
	}
	return names.Name(agency)
}

// JoinReasons renders reasons as one EN and one VI line, for displays and
// signed lane decisions that carry a single text per language.
func JoinReasons(rs []Reason) (en, vi string) {
	for i, r := range rs {
		if i > 0 {
			en += "; "
			vi += "; "
		}
		en += r.EN
		vi += r.VI
	}
	return en, vi
}
