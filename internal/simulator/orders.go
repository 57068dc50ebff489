package simulator

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/beevik/etree"

	"github.com/gatehub/gatehub/adapters/agency"
	"github.com/gatehub/gatehub/internal/directive"
	"github.com/gatehub/gatehub/internal/mapping"
)

// Orders makes a simulated agency speak first about some of the trucks it
// acknowledged, as a real one does: customs sends a share of them to the
// red channel (a HOLD at a checkpoint) and releases them once inspected; a
// registry revokes a permit now and then. The trucks are chosen by their
// order among those the agency acknowledged (with a share of 1/4, the
// 4th, 8th, ...), so a demo knows which truck will be held; a resend is
// not a new truck. Messages go to {CallbackURL}/v1/agencies/{agency}/messages,
// in any mode.
type Orders struct {
	// HoldShare of the acknowledged submits are held (0..1).
	HoldShare float64
	// HoldCheckpoint is where a held truck must stop ("" = everywhere).
	HoldCheckpoint string
	// HoldCode and HoldText are the hold's reason (defaults SIM-RED-CHANNEL
	// and "physical inspection").
	HoldCode, HoldText string
	// HoldAfter is the wait from the ACK to the HOLD.
	HoldAfter time.Duration
	// ReleaseAfter is the wait from the HOLD to its RELEASE; 0: never.
	ReleaseAfter time.Duration
	// RevokeShare of the acknowledged submits that are not held get a
	// REVOKE (0..1).
	RevokeShare float64
}

func (o Orders) validate() error {
	if o.HoldShare < 0 || o.HoldShare > 1 || o.RevokeShare < 0 || o.RevokeShare > 1 {
		return fmt.Errorf("order shares %v, %v outside [0,1]", o.HoldShare, o.RevokeShare)
	}
	return nil
}

// picked reports whether the nth truck (from 1) falls in a share: the
// trucks where n × share passes a whole number.
func picked(n int, share float64) bool {
	return share > 0 && math.Floor(float64(n)*share) > math.Floor(float64(n-1)*share)
}

// scheduleOrders posts the orders o gives for the nth truck acknowledged,
// in the background, bound to the server's lifetime.
func (s *Server) scheduleOrders(o Orders, n int, env envelope, cfg runtimeConfig) {
	hold := picked(n, o.HoldShare)
	revoke := !hold && picked(n, o.RevokeShare)
	if !hold && !revoke {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if !sleep(s.ctx, o.HoldAfter) {
			return
		}
		base := directive.Message{Sender: s.agency, DeclarationID: env.DeclarationID, Version: env.Version}
		if revoke {
			m := base
			m.ID, m.Kind, m.Subject, m.ReasonCode, m.ReasonText = OrderID(s.agency, "revoke", env.MessageID), directive.Revoke,
				"PERMIT", "SIM-PERMIT-REVOKED", "cross-border permit revoked"
			s.postOrder(m, cfg)
			return
		}
		m := base
		m.ID, m.Kind, m.Checkpoint = OrderID(s.agency, "hold", env.MessageID), directive.Hold, o.HoldCheckpoint
		m.ReasonCode, m.ReasonText = o.HoldCode, o.HoldText
		if m.ReasonCode == "" {
			m.ReasonCode, m.ReasonText = "SIM-RED-CHANNEL", "physical inspection"
		}
		if !s.postOrder(m, cfg) || o.ReleaseAfter <= 0 || !sleep(s.ctx, o.ReleaseAfter) {
			return
		}
		r := base
		r.ID, r.Kind, r.HoldMessageID = OrderID(s.agency, "release", env.MessageID), directive.Release, m.ID
		r.ReasonCode, r.ReasonText = "SIM-INSPECTED", "inspection done"
		s.postOrder(r, cfg)
	}()
}

// OrderID is the id the simulator gives an order about the truck of
// messageID: derived, so a restarted simulator resends the same id.
func OrderID(agencyName, what, messageID string) string {
	return strings.ToUpper(what[:1]) + "-" + AckID(agencyName, messageID)[4:]
}

func (s *Server) postOrder(m directive.Message, cfg runtimeConfig) bool {
	m.CreatedAt = s.now()
	signed, err := s.SignOrder(m)
	if err == nil {
		err = s.post(s.ctx, "/v1/agencies/"+s.agency+"/messages", signed, cfg)
	}
	s.mu.Lock()
	if err != nil {
		s.orderErrs++
	} else {
		s.ordersSent = append(s.ordersSent, m.ID)
	}
	s.mu.Unlock()
	return err == nil
}

// SignOrder builds and signs one of the agency's own messages with its
// key, as the agency would send it.
func (s *Server) SignOrder(m directive.Message) ([]byte, error) {
	if m.Sender == "" {
		m.Sender = s.agency
	}
	if m.CreatedAt.IsZero() {
		m.CreatedAt = s.now()
	}
	doc, err := directive.Build(m)
	if err != nil {
		return nil, err
	}
	signed, err := s.signer.Sign(doc)
	if err != nil {
		return nil, fmt.Errorf("sign %s %s: %w", s.agency, m.Kind, err)
	}
	return signed, nil
}

// OrdersSent lists the ids of the orders the hub accepted, in order.
func (s *Server) OrdersSent() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ordersSent...)
}

// forwardInfo recognises the hub's forward of another agency's message,
// which every simulated agency accepts (and acknowledges) whatever its
// own format.
func forwardInfo(root *etree.Element) (mapping.Info, bool) {
	if root.Tag != directive.ForwardRoot || root.NamespaceURI() != directive.Namespace {
		return mapping.Info{}, false
	}
	return mapping.Info{Kind: KindForward, SchemaFile: directive.ForwardSchemaFile, Root: root.Tag, Namespace: directive.Namespace}, true
}

// KindForward is the kind the simulator records for a forward.
const KindForward = "forward"

// readForward reads a forward's envelope (the common Header) and checks
// the original it carries is one of the agency messages.
func readForward(root *etree.Element) (agency.Envelope, error) {
	env, err := agency.ReadHeader(root)
	if err != nil {
		return env, err
	}
	if _, _, _, _, err := directive.ReadForward(root); err != nil {
		return env, err
	}
	return env, nil
}
