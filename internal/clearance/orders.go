package clearance

import (
	"slices"
	"strings"
)

// Order kinds: what an agency's own message orders about a truck.
const (
	OrderHold   = "HOLD"
	OrderRevoke = "REVOKE"
)

// Reason codes of orders.
const (
	CodeHeldByAgency    = "HELD_BY_AGENCY"
	CodeRevokedByAgency = "REVOKED_BY_AGENCY"
)

// Order is an agency's standing order about one declaration (see
// internal/directive.InForce): a hold until it is released, or a
// revocation.
type Order struct {
	Kind       string `json:"kind"`
	Agency     string `json:"agency"`
	MessageID  string `json:"messageId"`
	Checkpoint string `json:"checkpoint,omitempty"` // HOLD: where the truck must stop; "" = everywhere
	ReasonCode string `json:"reasonCode,omitempty"`
	ReasonText string `json:"reasonText,omitempty"`
}

// AppliesAt reports whether the order keeps checkpoint cp closed on a
// route (the gate's checkpoint ids in order): a hold at a checkpoint
// stops the truck there and at every checkpoint after it; a hold naming
// none, or one the route does not know, and every revocation, stop it
// everywhere.
func (o Order) AppliesAt(route []string, cp string) bool {
	if o.Kind != OrderHold || o.Checkpoint == "" {
		return true
	}
	at, here := slices.Index(route, o.Checkpoint), slices.Index(route, cp)
	return at < 0 || here < 0 || here >= at
}

// WithOrders applies the standing orders to a decision taken from the
// agencies' answers: a revocation rejects the truck, a hold holds it
// (unless it is rejected anyway), each with the agency's reason first. A
// cancelled declaration stays cancelled.
func WithOrders(names Names, d Decision, orders []Order) Decision {
	if len(orders) == 0 || d.Status == Cancelled {
		return d
	}
	var revoked, held []Reason
	for _, o := range orders {
		en, vi := AgencyName(names, o.Agency)
		detail := strings.TrimSpace(o.ReasonCode + " " + o.ReasonText)
		switch o.Kind {
		case OrderRevoke:
			r := Reason{Code: CodeRevokedByAgency, Agency: o.Agency, EN: "revoked by " + en, VI: "bị " + vi + " thu hồi"}
			if detail != "" {
				r.EN += ": " + detail
			}
			if o.ReasonCode != "" {
				r.VI += ": " + o.ReasonCode
			}
			revoked = append(revoked, r)
		case OrderHold:
			r := Reason{Code: CodeHeldByAgency, Agency: o.Agency, EN: "held by " + en, VI: "bị " + vi + " tạm giữ"}
			if o.Checkpoint != "" {
				r.EN += " at checkpoint " + o.Checkpoint
				r.VI += " tại trạm " + o.Checkpoint
			}
			if detail != "" {
				r.EN += ": " + detail
			}
			if o.ReasonCode != "" {
				r.VI += ": " + o.ReasonCode
			}
			held = append(held, r)
		}
	}
	reasons := d.Reasons
	if d.Status == Cleared {
		// "cleared by ..." no longer explains the status.
		reasons = nil
	}
	switch {
	case len(revoked) > 0:
		d.Status = Rejected
	case len(held) > 0 && d.Status != Rejected:
		d.Status = Hold
	}
	switch {
	case len(revoked) > 0 || d.Status != Rejected:
		d.Reasons = append(append(append([]Reason{}, revoked...), held...), reasons...)
	default:
		// Rejected by an agency's NACK: that explains the status first.
		d.Reasons = append(append([]Reason{}, reasons...), held...)
	}
	return d
}
