// Package agencies holds the border agencies the hub talks to as data: one
// deploy/agencies/<code>.yaml per agency, parsed and validated against one
// field spec (spec.go) that also prints the reference (deploy/agencies/
// README.md). The hub, the gate policies, the console and the simulators
// read the agency list from here; no agency is named in Go.
package agencies

import (
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/gatehub/gatehub/internal/sign"
)

// Code is an agency's id: its file name, its directory under mappings/ and
// schemas/, its callback path (/v1/acks/{code}) and its participant name in
// the trust store, so one string ties them together.
type Code string

func (c Code) String() string { return string(c) }

// codePattern: lower-case letters and digits, a letter first, so the code
// can be a directory, a URL path segment and an environment variable part.
var codePattern = regexp.MustCompile(`^[a-z][a-z0-9]{1,31}$`)

// ValidCode reports whether s can be an agency code.
func ValidCode(s string) bool { return codePattern.MatchString(s) }

// Kinds of message the hub sends an agency (receives:) and ACK modes.
const (
	KindSubmit = "submit"
	KindAmend  = "amend"
	KindCancel = "cancel"
)

// ReceiveKinds are the message kinds an agency may receive from the hub.
var receiveKinds = []string{KindSubmit, KindAmend, KindCancel}

// Agency-initiated message kinds an agency may send (sends:) and that other
// agencies may subscribe to (forward:).
const (
	SendHold              = "HOLD"
	SendRelease           = "RELEASE"
	SendRevoke            = "REVOKE"
	SendCrossingConfirmed = "CROSSING-CONFIRMED"
)

var sendKinds = []string{SendHold, SendRelease, SendRevoke, SendCrossingConfirmed}

// SendKinds lists every agency-initiated kind, in a fixed order.
func SendKinds() []string { return slices.Clone(sendKinds) }

// ACK modes: how the agency answers a delivered message.
const (
	AckAny   = "any"   // 200 with the ACK, or 202 and the ACK on the callback
	AckSync  = "sync"  // always 200 with the ACK in the body
	AckAsync = "async" // always 202, the ACK on the callback
)

var ackModes = []string{AckAny, AckSync, AckAsync}

// Names are an agency's display names.
type Names struct {
	VI, EN, ZH string
}

// Text is a display text in Vietnamese and English.
type Text struct {
	VI, EN string
}

// Endpoint is how the hub reaches the agency.
type Endpoint struct {
	// URL of the agency's message endpoint; empty when the deployment sets
	// it (GATEHUB_AGENCY_<CODE>_URL, agencyURLs in the hub configuration).
	URL         string
	ContentType string
	Headers     map[string]string
	// Timeout bounds one POST; per agency because the slow ones (behind a
	// cross-border link) must not set the budget for the fast ones.
	Timeout time.Duration
	// Concurrency is how many deliveries to this agency may be in flight at
	// once (its delivery lane's width).
	Concurrency int
	AckMode     string
}

// Agency is one loaded agency file.
type Agency struct {
	Code  Code
	Names Names
	// Mappings and Schemas are directories relative to the hub's mappings/
	// and schemas/ directories.
	Mappings, Schemas string
	Endpoint          Endpoint
	// AckDeadline is how long the agency has to answer a delivered message
	// where a gate sets no deadline of its own.
	AckDeadline time.Duration
	// Signature is the profile our messages to it are signed with and its
	// answers must be signed with.
	Signature sign.Profile
	// Certificates are PEM files (relative to the agency file's directory,
	// or absolute) trusted for the agency's participant.
	Certificates []string
	Receives     []string
	// Sends are the agency-initiated kinds it may send; Forward names, per
	// kind, the agencies the hub re-envelopes such a message to.
	Sends   []string
	Forward map[string][]Code
	// Reasons are display texts of its NACK/HOLD reason codes.
	Reasons map[string]Text

	Source string // the file it was read from
	pos    map[string]Pos
}

// Name is the display name in English then Vietnamese, the pair the
// decision texts use.
func (a *Agency) Name() (en, vi string) { return a.Names.EN, a.Names.VI }

// MaySend reports whether the agency may send kind.
func (a *Agency) MaySend(kind string) bool { return slices.Contains(a.Sends, kind) }

// Subscribers are the agencies a message of kind from a is forwarded to.
func (a *Agency) Subscribers(kind string) []Code { return slices.Clone(a.Forward[kind]) }

// Reason returns the display text of a reason code, and whether it is known.
func (a *Agency) Reason(code string) (Text, bool) {
	t, ok := a.Reasons[code]
	return t, ok
}

func (a *Agency) at(path string) Pos { return a.pos[path] }

func (a *Agency) String() string { return fmt.Sprintf("agency %s (%s)", a.Code, a.Source) }
