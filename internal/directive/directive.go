// Package directive holds the messages an agency sends on its own, after
// (or instead of) answering the hub: HOLD (stop the truck, at a checkpoint
// or everywhere), RELEASE (lift one's hold), REVOKE (refuse the crossing:
// a permit revoked, a driver barred) and CROSSING-CONFIRMED (the Chinese
// side recorded the truck at its gate). It reads them from the element
// that signature verification returned, says which agency may send which
// kind and who subscribes to it (Rules), works out which orders stand
// (InForce), and builds the hub's forward of a message to its subscribers.
// It is pure: no I/O, no clock.
package directive

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"

	"github.com/gatehub/gatehub/internal/clearance"
)

// Kind is the kind of an agency's own message.
type Kind string

// The kinds.
const (
	Hold              Kind = "HOLD"
	Release           Kind = "RELEASE"
	Revoke            Kind = "REVOKE"
	CrossingConfirmed Kind = "CROSSING-CONFIRMED"
)

// Kinds lists every kind, in documentation order.
var Kinds = []Kind{Hold, Release, Revoke, CrossingConfirmed}

// Namespace is the namespace of the agency messages and of their forward.
const Namespace = "urn:gatehub:agency-message:1"

// Format is how one kind is written.
type Format struct {
	Root       string // root element in Namespace
	Function   string // Header/MessageFunction
	SchemaFile string // relative to schemas/
}

var formats = map[Kind]Format{
	Hold:              {"HoldOrder", "hold", "agency-message/hold-1.0.xsd"},
	Release:           {"ReleaseOrder", "release", "agency-message/release-1.0.xsd"},
	Revoke:            {"Revocation", "revoke", "agency-message/revoke-1.0.xsd"},
	CrossingConfirmed: {"CrossingConfirmation", "crossing-confirmed", "agency-message/crossing-confirmed-1.0.xsd"},
}

// FormatOf returns the format of k.
func FormatOf(k Kind) (Format, bool) {
	f, ok := formats[k]
	return f, ok
}

// The hub's forward of an agency message.
const (
	ForwardRoot       = "ForwardedMessage"
	ForwardFunction   = "forward"
	ForwardSchemaFile = "agency-message/forward-1.0.xsd"
)

// ErrUnreadable marks a verified element that is not an agency message
// this package reads (wrong root, missing or repeated field).
var ErrUnreadable = errors.New("agency message unreadable")

// KindOf tells which kind root is, by its name and namespace.
func KindOf(root *etree.Element) (Kind, bool) {
	if root == nil || root.NamespaceURI() != Namespace {
		return "", false
	}
	for _, k := range Kinds {
		if formats[k].Root == root.Tag {
			return k, true
		}
	}
	return "", false
}

// Message is an agency's message as read from its verified element.
type Message struct {
	ID            string
	Kind          Kind
	Sender        string
	Receiver      string
	DeclarationID string
	Version       int
	CreatedAt     time.Time
	// HOLD: where the truck must stop ("" = at every checkpoint).
	Checkpoint string
	ReasonCode string
	ReasonText string
	// RELEASE: the hold it lifts ("" = every hold of the sender).
	HoldMessageID string
	// REVOKE: what is revoked (PERMIT, DRIVER, VEHICLE, CLEARANCE).
	Subject        string
	DocumentNumber string
	// CROSSING-CONFIRMED: the Chinese port, when and which plate.
	PortCode string
	PassedAt time.Time
	Plate    string
}

// Detail is the stored JSON of the fields Message keeps beside its
// indexed ones.
type Detail struct {
	HoldMessageID  string    `json:"holdMessageId,omitempty"`
	Subject        string    `json:"subject,omitempty"`
	DocumentNumber string    `json:"documentNumber,omitempty"`
	PortCode       string    `json:"portCode,omitempty"`
	PassedAt       time.Time `json:"passedAt,omitzero"`
	Plate          string    `json:"plate,omitempty"`
	CreatedAt      time.Time `json:"createdAt,omitzero"`
}

// Detail returns m's detail.
func (m *Message) Detail() Detail {
	return Detail{HoldMessageID: m.HoldMessageID, Subject: m.Subject, DocumentNumber: m.DocumentNumber,
		PortCode: m.PortCode, PassedAt: m.PassedAt, Plate: m.Plate, CreatedAt: m.CreatedAt}
}

// Parse reads an agency message from root, the element signature
// verification returned (never the raw document). A field that occurs
// more than once is refused, so a smuggled second copy is never read.
func Parse(root *etree.Element) (Message, error) {
	k, ok := KindOf(root)
	if !ok {
		if root == nil {
			return Message{}, fmt.Errorf("%w: no root element", ErrUnreadable)
		}
		return Message{}, fmt.Errorf("%w: {%s}%s is not an agency message", ErrUnreadable, root.NamespaceURI(), root.Tag)
	}
	f := formats[k]
	r := reader{}
	hdr := r.one(root, "Header", true)
	dir := r.one(root, "Directive", true)
	m := Message{
		Kind:          k,
		ID:            r.text(hdr, "MessageID", true),
		Sender:        r.text(hdr, "Sender", true),
		Receiver:      r.text(hdr, "Receiver", true),
		DeclarationID: r.text(hdr, "DeclarationReference", true),
	}
	if fn := r.text(hdr, "MessageFunction", true); r.err == nil && fn != f.Function {
		r.fail("message function %q, want %q", fn, f.Function)
	}
	m.CreatedAt = r.time(hdr, "CreatedAt", true)
	if v := r.text(hdr, "DeclarationVersion", true); r.err == nil {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			r.fail("declaration version %q", v)
		}
		m.Version = n
	}
	reason := r.one(dir, "Reason", k == Hold || k == Revoke)
	m.ReasonCode = r.text(reason, "Code", reason != nil)
	m.ReasonText = r.text(reason, "Text", false)
	switch k {
	case Hold:
		m.Checkpoint = r.text(dir, "Checkpoint", false)
	case Release:
		m.HoldMessageID = r.text(dir, "HoldMessageID", false)
	case Revoke:
		m.Subject = r.text(dir, "Subject", true)
		m.DocumentNumber = r.text(dir, "DocumentNumber", false)
	case CrossingConfirmed:
		m.PortCode = r.text(dir, "PortCode", true)
		m.PassedAt = r.time(dir, "PassedAt", true)
		m.Plate = r.text(dir, "Plate", false)
	}
	if r.err != nil {
		return Message{}, fmt.Errorf("%w: %s: %w", ErrUnreadable, f.Root, r.err)
	}
	return m, nil
}

// reader reads children, keeping the first problem.
type reader struct{ err error }

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, args...)
	}
}

func (r *reader) one(parent *etree.Element, tag string, required bool) *etree.Element {
	if parent == nil {
		return nil
	}
	var found []*etree.Element
	for _, c := range parent.ChildElements() {
		if c.Tag == tag && c.NamespaceURI() == Namespace {
			found = append(found, c)
		}
	}
	switch {
	case len(found) > 1:
		r.fail("%s occurs %d times", tag, len(found))
		return nil
	case len(found) == 0 && required:
		r.fail("%s is required", tag)
		return nil
	case len(found) == 0:
		return nil
	}
	return found[0]
}

func (r *reader) text(parent *etree.Element, tag string, required bool) string {
	el := r.one(parent, tag, required)
	if el == nil {
		return ""
	}
	if len(el.ChildElements()) > 0 {
		r.fail("%s has child elements", tag)
		return ""
	}
	s := strings.TrimSpace(el.Text())
	if s == "" && required {
		r.fail("%s is empty", tag)
	}
	return s
}

func (r *reader) time(parent *etree.Element, tag string, required bool) time.Time {
	s := r.text(parent, tag, required)
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		r.fail("%s %q is not a zoned date-time", tag, s)
	}
	return t
}

// AgencyRules are what one agency may send and who receives a forward of
// each kind.
type AgencyRules struct {
	Sends   []Kind
	Forward map[Kind][]string
}

// Rules are every agency's, by agency code.
type Rules map[string]AgencyRules

// MaySend reports whether agency may send kind k.
func (r Rules) MaySend(agency string, k Kind) bool {
	return slices.Contains(r[agency].Sends, k)
}

// Subscribers lists the agencies that receive a forward of agency's
// messages of kind k, in the order configured.
func (r Rules) Subscribers(agency string, k Kind) []string {
	return r[agency].Forward[k]
}

// Validate refuses rules that name an unknown agency or kind, forward a
// kind the agency may not send, or forward to the sender itself.
func (r Rules) Validate(known func(agency string) bool) error {
	var errs []error
	agencies := make([]string, 0, len(r))
	for a := range r {
		agencies = append(agencies, a)
	}
	slices.Sort(agencies)
	for _, a := range agencies {
		ar := r[a]
		if !known(a) {
			errs = append(errs, fmt.Errorf("agency %q: unknown", a))
		}
		for _, k := range ar.Sends {
			if _, ok := formats[k]; !ok {
				errs = append(errs, fmt.Errorf("agency %s sends %q: unknown kind", a, k))
			}
		}
		for k, subs := range ar.Forward {
			if !slices.Contains(ar.Sends, k) {
				errs = append(errs, fmt.Errorf("agency %s forwards %s, which it may not send", a, k))
			}
			for _, s := range subs {
				if s == a || !known(s) {
					errs = append(errs, fmt.Errorf("agency %s forwards %s to %q: not another known agency", a, k, s))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// Record is an accepted message as InForce needs it, in the order the hub
// accepted them.
type Record struct {
	ID, Agency    string
	Kind          Kind
	Checkpoint    string
	ReasonCode    string
	ReasonText    string
	HoldMessageID string
}

// InForce returns the orders that stand after records: every HOLD not
// lifted by a later RELEASE of the same agency (one naming it, or one
// naming none), then every REVOKE, which nothing lifts: a revoked crossing
// needs a new declaration. CROSSING-CONFIRMED orders nothing.
func InForce(records []Record) []clearance.Order {
	var holds, revokes []clearance.Order
	for _, r := range records {
		switch r.Kind {
		case Hold:
			holds = append(holds, clearance.Order{Kind: clearance.OrderHold, Agency: r.Agency, MessageID: r.ID,
				Checkpoint: r.Checkpoint, ReasonCode: r.ReasonCode, ReasonText: r.ReasonText})
		case Release:
			holds = slices.DeleteFunc(holds, func(o clearance.Order) bool {
				return o.Agency == r.Agency && (r.HoldMessageID == "" || r.HoldMessageID == o.MessageID)
			})
		case Revoke:
			revokes = append(revokes, clearance.Order{Kind: clearance.OrderRevoke, Agency: r.Agency, MessageID: r.ID,
				ReasonCode: r.ReasonCode, ReasonText: r.ReasonText})
		}
	}
	return append(holds, revokes...)
}

// Forward is what the hub's forward of one message says.
type Forward struct {
	MessageID     string // the forward's own id (one per subscriber)
	Receiver      string
	DeclarationID string
	Version       int
	CreatedAt     time.Time
	Original      Message
	OriginalRaw   []byte // the sender's signed bytes, carried whole
	ReceivedAt    time.Time
}

// BuildForward writes the unsigned forward document; the hub signs it.
func BuildForward(f Forward) *etree.Document {
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	root := doc.CreateElement(ForwardRoot)
	root.CreateAttr("xmlns", Namespace)
	hdr := root.CreateElement("Header")
	hdr.CreateElement("MessageID").SetText(f.MessageID)
	hdr.CreateElement("Sender").SetText("hub")
	hdr.CreateElement("Receiver").SetText(f.Receiver)
	hdr.CreateElement("MessageFunction").SetText(ForwardFunction)
	hdr.CreateElement("CreatedAt").SetText(f.CreatedAt.UTC().Format(time.RFC3339Nano))
	hdr.CreateElement("DeclarationReference").SetText(f.DeclarationID)
	hdr.CreateElement("DeclarationVersion").SetText(strconv.Itoa(f.Version))
	fw := root.CreateElement("Forwarded")
	fw.CreateElement("OriginalMessageID").SetText(f.Original.ID)
	fw.CreateElement("OriginalSender").SetText(f.Original.Sender)
	fw.CreateElement("Kind").SetText(string(f.Original.Kind))
	fw.CreateElement("ReceivedAt").SetText(f.ReceivedAt.UTC().Format(time.RFC3339Nano))
	fw.CreateElement("Original").SetText(base64.StdEncoding.EncodeToString(f.OriginalRaw))
	return doc
}

// ReadForward reads a forward from its verified element: the original
// message's id, sender and kind, and its signed bytes.
func ReadForward(root *etree.Element) (id, sender string, kind Kind, original []byte, err error) {
	if root == nil || root.Tag != ForwardRoot || root.NamespaceURI() != Namespace {
		return "", "", "", nil, fmt.Errorf("%w: not a forwarded message", ErrUnreadable)
	}
	r := reader{}
	fw := r.one(root, "Forwarded", true)
	id = r.text(fw, "OriginalMessageID", true)
	sender = r.text(fw, "OriginalSender", true)
	kind = Kind(r.text(fw, "Kind", true))
	b64 := r.text(fw, "Original", true)
	if r.err != nil {
		return "", "", "", nil, fmt.Errorf("%w: %w", ErrUnreadable, r.err)
	}
	if original, err = base64.StdEncoding.DecodeString(b64); err != nil {
		return "", "", "", nil, fmt.Errorf("%w: original bytes: %w", ErrUnreadable, err)
	}
	return id, sender, kind, original, nil
}

// Summary renders an agency message logged in the audit log for a
// crossing's timeline: "HOLD by customs at B1: CUS-RED inspection".
func Summary(agency string, raw []byte) (string, bool) {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		return "", false
	}
	// The entry was verified when it was accepted; this is display only.
	m, err := Parse(doc.Root())
	if err != nil {
		return "", false
	}
	s := string(m.Kind) + " by " + agency
	if m.Checkpoint != "" {
		s += " at checkpoint " + m.Checkpoint
	}
	if m.Kind == CrossingConfirmed {
		s += " at port " + m.PortCode
	}
	if r := m.ReasonCode + " " + m.ReasonText; len(r) > 1 {
		s += ": " + r
	}
	return s, true
}

// Build writes m, unsigned, in its kind's format: what an agency (or its
// simulator) signs and posts.
func Build(m Message) (*etree.Document, error) {
	f, ok := formats[m.Kind]
	if !ok {
		return nil, fmt.Errorf("build agency message: unknown kind %q", m.Kind)
	}
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	root := doc.CreateElement(f.Root)
	root.CreateAttr("xmlns", Namespace)
	hdr := root.CreateElement("Header")
	hdr.CreateElement("MessageID").SetText(m.ID)
	hdr.CreateElement("Sender").SetText(m.Sender)
	receiver := m.Receiver
	if receiver == "" {
		receiver = "hub"
	}
	hdr.CreateElement("Receiver").SetText(receiver)
	hdr.CreateElement("MessageFunction").SetText(f.Function)
	hdr.CreateElement("CreatedAt").SetText(m.CreatedAt.UTC().Format(time.RFC3339Nano))
	hdr.CreateElement("DeclarationReference").SetText(m.DeclarationID)
	hdr.CreateElement("DeclarationVersion").SetText(strconv.Itoa(m.Version))
	dir := root.CreateElement("Directive")
	reason := func() {
		if m.ReasonCode == "" {
			return
		}
		r := dir.CreateElement("Reason")
		r.CreateElement("Code").SetText(m.ReasonCode)
		if m.ReasonText != "" {
			r.CreateElement("Text").SetText(m.ReasonText)
		}
	}
	switch m.Kind {
	case Hold:
		if m.Checkpoint != "" {
			dir.CreateElement("Checkpoint").SetText(m.Checkpoint)
		}
		reason()
	case Release:
		if m.HoldMessageID != "" {
			dir.CreateElement("HoldMessageID").SetText(m.HoldMessageID)
		}
		reason()
	case Revoke:
		dir.CreateElement("Subject").SetText(m.Subject)
		if m.DocumentNumber != "" {
			dir.CreateElement("DocumentNumber").SetText(m.DocumentNumber)
		}
		reason()
	case CrossingConfirmed:
		dir.CreateElement("PortCode").SetText(m.PortCode)
		dir.CreateElement("PassedAt").SetText(m.PassedAt.UTC().Format(time.RFC3339Nano))
		if m.Plate != "" {
			dir.CreateElement("Plate").SetText(m.Plate)
		}
	}
	return doc, nil
}

// ForwardSummary renders a forward logged in the audit log for a
// timeline: "forward of HOLD CUS-1 from customs to borderguard"; false
// for any other message.
func ForwardSummary(receiver string, raw []byte) (string, bool) {
	if !bytes.Contains(raw, []byte(ForwardRoot)) {
		return "", false
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		return "", false
	}
	id, sender, kind, _, err := ReadForward(doc.Root())
	if err != nil {
		return "", false
	}
	return "forward of " + string(kind) + " " + id + " from " + sender + " to " + receiver, true
}
