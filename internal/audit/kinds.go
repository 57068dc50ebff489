package audit

// Entry kinds. Kinds are dotted strings so that related events sort and
// filter together. Payloads are JSON unless said otherwise; the types named
// are in payloads.go.
const (
	KindDeclarationAccepted  = "declaration.accepted"  // Payload: the declaration JSON of version 1
	KindDeclarationAmended   = "declaration.amended"   // Payload: DeclarationAmended
	KindDeclarationCancelled = "declaration.cancelled" // Payload: DeclarationCancelled
	KindDeclarationRefused   = "declaration.refused"
	KindMessageBuilt         = "message.built"      // Payload: MessageBuilt, how the next message.outbound was built
	KindMessageOutbound      = "message.outbound"   // Payload: the signed XML sent, signer "hub"
	KindMessageSuperseded    = "message.superseded" // Payload: MessageSuperseded; an amendment replaced the message
	KindMessageWithdrawn     = "message.withdrawn"  // Payload: MessageWithdrawn; cancelled before it ever left the hub
	KindMessageResent        = "message.resent"     // Payload: MessageResent; re-queued because its ACK is overdue; same id, same bytes
	KindAckInbound           = "ack.inbound"        // Payload: the signed XML received, signer Agency
	KindAckRefused           = "ack.refused"
	// KindAgencyMessage is a message an agency sent on its own (HOLD,
	// RELEASE, REVOKE, CROSSING-CONFIRMED: internal/directive), accepted.
	// Payload: the signed XML received, signer Agency.
	KindAgencyMessage        = "agency.message"
	KindAgencyMessageRefused = "agency.message-refused"
	KindDecision             = "decision"         // Payload: Decision
	KindDeliveryAttempt      = "delivery.attempt" // Payload: DeliveryAttempt
	KindOperatorRedrive      = "operator.redrive" // Payload: OperatorChange
	KindOperatorCancel       = "operator.cancel"  // Payload: OperatorChange
	KindConfigApply          = "config.apply"     // Payload: ConfigApplied
	KindConfigRefused        = "config.refused"
	KindAuthRefused          = "auth.refused"
	KindLaneDecision         = "lane.decision"       // Payload: lanes.DecisionEntry (device, reading, answer)
	KindLaneSecurityAlert    = "lane.security-alert" // Payload: lanes.AlertEntry
	// Crossing lifecycle; Payload: crossing.Event (the transition and the state after it).
	KindCrossingOpened     = "crossing.opened"
	KindCrossingPassed     = "crossing.checkpoint-passed"
	KindCrossingExited     = "crossing.exited"
	KindCrossingTurnedBack = "crossing.turned-back"
	KindCrossingCancelled  = "crossing.cancelled"
	KindCrossingAmended    = "crossing.amended"
	KindAuditArchived      = "audit.archived" // Payload: Archived
)

// HubParticipant is the participant name of the hub itself: it signs
// checkpoints and outbound messages.
const HubParticipant = "hub"

// Kinds lists every entry kind, for filters that must refuse a kind that
// does not exist rather than answer an empty list.
var Kinds = []string{
	KindDeclarationAccepted, KindDeclarationAmended, KindDeclarationCancelled, KindDeclarationRefused,
	KindMessageBuilt, KindMessageOutbound, KindMessageSuperseded, KindMessageWithdrawn, KindMessageResent,
	KindAckInbound, KindAckRefused, KindAgencyMessage, KindAgencyMessageRefused, KindDecision, KindDeliveryAttempt, KindOperatorRedrive, KindOperatorCancel,
	KindConfigApply, KindConfigRefused, KindAuthRefused, KindLaneDecision, KindLaneSecurityAlert,
	KindCrossingOpened, KindCrossingPassed, KindCrossingExited, KindCrossingTurnedBack, KindCrossingCancelled,
	KindCrossingAmended, KindAuditArchived,
}
