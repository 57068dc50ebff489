package audit

// Entry kinds. Kinds are dotted strings so that related events sort and
// filter together.
const (
	KindDeclarationAccepted = "declaration.accepted"
	KindDeclarationRefused  = "declaration.refused"
	KindMessageOutbound     = "message.outbound" // Payload: the signed XML sent, signer "hub"
	KindAckInbound          = "ack.inbound"      // Payload: the signed XML received, signer Agency
	KindAckRefused          = "ack.refused"
	KindDecision            = "decision"
	KindDeliveryAttempt     = "delivery.attempt"
	KindOperatorRedrive     = "operator.redrive"
	KindOperatorCancel      = "operator.cancel"
	KindConfigApply         = "config.apply"
	KindAuthRefused         = "auth.refused"
)

// HubParticipant is the participant name of the hub itself: it signs
// checkpoints and outbound messages.
const HubParticipant = "hub"
