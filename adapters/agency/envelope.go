package agency

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/beevik/etree"
)

// Envelope is the routing part of an incoming agency message, read from the
// verified element. Each format stores it differently (a Header element in
// the schemas/common formats, root attributes and a Head in Guangxi's), so
// every adapter supplies its reader.
type Envelope struct {
	MessageID         string
	Sender            string
	Receiver          string
	DeclarationID     string
	Version           int
	PreviousMessageID string // amend and cancel only
}

// EnvelopeReader reads the envelope of one agency's messages.
type EnvelopeReader func(root *etree.Element) (Envelope, error)

// ReadHeader reads the envelope of the formats built on
// schemas/common/types-1.0.xsd: a Header child of the root.
func ReadHeader(root *etree.Element) (Envelope, error) {
	hdr := root.SelectElement("Header")
	if hdr == nil {
		return Envelope{}, fmt.Errorf("%s: no Header", root.Tag)
	}
	return envelopeFrom(hdr, headerFields{
		messageID: Text(hdr, "MessageID"), sender: "Sender", receiver: "Receiver",
		declaration: "DeclarationReference", version: "DeclarationVersion", previous: "PreviousMessageID",
	})
}

// headerFields names the header children of one format.
type headerFields struct {
	messageID                                        string // the value, not a name: it may come from an attribute
	sender, receiver, declaration, version, previous string
}

// NewHeaderReader builds a reader for formats whose message id sits in a
// root attribute and whose routing fields are children of a head element.
func NewHeaderReader(head, idAttr, sender, receiver, declaration, version, previous string) EnvelopeReader {
	return func(root *etree.Element) (Envelope, error) {
		h := root.SelectElement(head)
		if h == nil {
			return Envelope{}, fmt.Errorf("%s: no %s", root.Tag, head)
		}
		return envelopeFrom(h, headerFields{
			messageID: strings.TrimSpace(root.SelectAttrValue(idAttr, "")),
			sender:    sender, receiver: receiver, declaration: declaration, version: version, previous: previous,
		})
	}
}

func envelopeFrom(h *etree.Element, f headerFields) (Envelope, error) {
	env := Envelope{
		MessageID:         f.messageID,
		Sender:            Text(h, f.sender),
		Receiver:          Text(h, f.receiver),
		DeclarationID:     Text(h, f.declaration),
		PreviousMessageID: Text(h, f.previous),
	}
	if env.MessageID == "" {
		return Envelope{}, errors.New("envelope has no message id")
	}
	if v := Text(h, f.version); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return Envelope{}, fmt.Errorf("envelope version %q: %w", v, err)
		}
		env.Version = n
	}
	return env, nil
}

// Text is the trimmed text of the first element at path under el, or "".
// Paths are etree paths without prefixes, which match any namespace: the
// verified element is already known to be of the agency's namespace.
func Text(el *etree.Element, path string) string {
	if el == nil || path == "" {
		return ""
	}
	if c := el.FindElement(path); c != nil {
		return strings.TrimSpace(c.Text())
	}
	return ""
}
