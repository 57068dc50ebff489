package audit

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/gatehub/gatehub/internal/clearance"
	"github.com/gatehub/gatehub/internal/message"
)

// The JSON payloads of the entry kinds, written by the hub and read by
// replay, timelines, statistics and auditors' tools through these types
// only, so that a renamed field is a compile error or a failing golden
// test rather than an archive that silently stops replaying. Kinds whose
// payload belongs to another domain keep it there: declaration.accepted is
// the declaration JSON itself, message.outbound and ack.inbound the signed
// XML, crossing.* a crossing.Event, lane.* the lanes package's entries,
// refusals a refusal digest.

// PayloadVersion is the version the hub writes, in each payload's "v". An
// entry logged before payloads were versioned has no "v" (0) and the
// fields of version 1, so it reads as version 1; a payload newer than this
// build knows is refused rather than misread.
const PayloadVersion = 1

// Versioned carries a payload's version; every payload type embeds it.
type Versioned struct {
	V int `json:"v,omitempty"`
}

func (v *Versioned) stamp()       { v.V = PayloadVersion }
func (v *Versioned) version() int { return v.V }

// Payload is one of the payload types below.
type Payload interface {
	stamp()
	version() int
}

// MarshalPayload encodes p stamped with PayloadVersion.
func MarshalPayload(p Payload) ([]byte, error) {
	p.stamp()
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode %T payload: %w", p, err)
	}
	return b, nil
}

// UnmarshalPayload decodes b into p. Unknown fields are allowed, so that a
// reader older than the writer still replays what it knows; a version it
// does not know is an error.
func UnmarshalPayload(b []byte, p Payload) error {
	if err := json.Unmarshal(b, p); err != nil {
		return fmt.Errorf("payload: %w", err)
	}
	if v := p.version(); v < 0 || v > PayloadVersion {
		return fmt.Errorf("payload version %d: this build reads up to %d", v, PayloadVersion)
	}
	return nil
}

// NewPayload returns a zero payload of kind's type, false for a kind whose
// payload is not one of these types.
func NewPayload(kind string) (Payload, bool) {
	switch kind {
	case KindDeclarationAmended:
		return &DeclarationAmended{}, true
	case KindDeclarationCancelled:
		return &DeclarationCancelled{}, true
	case KindMessageBuilt:
		return &MessageBuilt{}, true
	case KindMessageSuperseded:
		return &MessageSuperseded{}, true
	case KindMessageWithdrawn:
		return &MessageWithdrawn{}, true
	case KindMessageResent:
		return &MessageResent{}, true
	case KindDeliveryAttempt:
		return &DeliveryAttempt{}, true
	case KindOperatorRedrive, KindOperatorCancel:
		return &OperatorChange{}, true
	case KindDecision:
		return &Decision{}, true
	case KindConfigApply:
		return &ConfigApplied{}, true
	case KindAuditArchived:
		return &Archived{}, true
	}
	return nil, false
}

// DeclarationAmended is the payload of declaration.amended.
type DeclarationAmended struct {
	Versioned
	Version         int             `json:"version"`
	ChangedAgencies []string        `json:"changedAgencies"`
	Declaration     json.RawMessage `json:"declaration"` // the declaration JSON of Version
}

// DeclarationCancelled is the payload of declaration.cancelled.
type DeclarationCancelled struct {
	Versioned
	Version int    `json:"version"` // the latest version, the one cancelled
	Reason  string `json:"reason"`
}

// MessageBuilt is the payload of message.built: how the message.outbound
// that follows was built, enough to build it again byte for byte.
type MessageBuilt struct {
	Versioned
	Agency             string         `json:"agency"`
	Kind               message.Kind   `json:"kind"`
	DeclarationVersion int            `json:"declarationVersion"`
	PreviousMessageID  string         `json:"previousMessageId,omitempty"`
	Sender             string         `json:"sender"`
	Receiver           string         `json:"receiver"`
	CreatedAt          time.Time      `json:"createdAt"`
	Reason             string         `json:"reason,omitempty"`
	MappingVersion     string         `json:"mappingVersion"`
	SchemaFile         string         `json:"schemaFile"`
	SchemaVersion      string         `json:"schemaVersion"`
	ContentHash        string         `json:"contentHash,omitempty"`
	Gate               map[string]any `json:"gate"`
	// Inputs is the id (SHA-256 of the manifest) of the content-addressed
	// mapping files, code lists and XSDs the message was built with
	// (internal/inputs); audit archives carry them. Empty in entries
	// logged before inputs were recorded.
	Inputs string `json:"inputs,omitempty"`
}

// MessageSuperseded is the payload of message.superseded.
type MessageSuperseded struct {
	Versioned
	ByVersion int `json:"byVersion"` // the declaration version that replaced the message
}

// MessageWithdrawn is the payload of message.withdrawn.
type MessageWithdrawn struct {
	Versioned
	Reason string `json:"reason"`
}

// MessageResent is the payload of message.resent.
type MessageResent struct {
	Versioned
	AckDeadline time.Time `json:"ackDeadline"`
	LastSentAt  time.Time `json:"lastSentAt"`
}

// DeliveryAttempt is the payload of delivery.attempt: one attempt and the
// state it left the message in.
type DeliveryAttempt struct {
	Versioned
	Attempt int           `json:"attempt"`
	Outcome string        `json:"outcome"` // delivered | temporary | permanent
	Status  int           `json:"status"`  // HTTP status, 0 for a transport error
	State   message.State `json:"state"`
	Error   string        `json:"error"`
}

// OperatorChange is the payload of operator.redrive and operator.cancel.
type OperatorChange struct {
	Versioned
	From message.State `json:"from"`
	To   message.State `json:"to"`
}

// Decision is the payload of decision.
type Decision struct {
	Versioned
	Version  int                 `json:"version"` // the declaration version decided
	Decision *clearance.Decision `json:"decision"`
}

// ConfigApplied is the payload of config.apply.
type ConfigApplied struct {
	Versioned
	Gate string `json:"gate"`
	YAML string `json:"yaml"` // the gate file as applied
}

// Archived is the payload of audit.archived: entries moved out of the hot
// store into an archive.
type Archived struct {
	Versioned
	FromSeq       int64  `json:"fromSeq"`
	ToSeq         int64  `json:"toSeq"`
	HeadHash      string `json:"headHash"`      // hex
	ArchiveSHA256 string `json:"archiveSHA256"` // hex
}
