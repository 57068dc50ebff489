package conformance

import (
	"fmt"
	"github.com/gatehub/gatehub/internal/message"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/beevik/etree"
)

// Vector classes: the directories under an agency's vectors directory.
const (
	ClassValid   = "valid"
	ClassInvalid = "invalid"
)

// vector is one file of conformance-tests/vectors/<agency>/{valid,invalid}.
type vector struct {
	name  string // "valid/submit.xml", as the report names it
	class string
	raw   []byte
	doc   *etree.Document // nil when the file is not well-formed XML
	kind  message.Kind    // the inbound kind its root is (submit, amend, …); "" if none
	id    string          // the message id its envelope names; "" when unreadable
	// signed: the file carries its own ds:Signature (a vector about
	// signature placement); it is sent as it is, never signed again.
	signed bool
}

// Skip is a vector the kit did not send, and why.
type Skip struct {
	Vector string `json:"vector"`
	Reason string `json:"reason"`
}

// loadVectors reads dir/valid/*.xml and dir/invalid/*.xml and orders the
// valid ones as the hub sends them (submit, then amend, then cancel, then
// any other kind by name), so an amendment and a cancellation refer to
// messages the agency has seen in this run. Vectors that are not messages
// to the agency (its ACK/NACK, pre-signed valid documents, roots no
// mapping names) are returned as skips.
func (r *run) loadVectors(dir string) (valid, invalid []*vector, skips []Skip, err error) {
	for _, class := range []string{ClassValid, ClassInvalid} {
		files, err := filepath.Glob(filepath.Join(dir, class, "*.xml"))
		if err != nil {
			return nil, nil, nil, fmt.Errorf("vectors %s: %w", dir, err)
		}
		slices.Sort(files)
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("read vector: %w", err)
			}
			v := &vector{name: class + "/" + filepath.Base(f), class: class, raw: raw}
			if skip := r.classify(v); skip != "" {
				skips = append(skips, Skip{Vector: v.name, Reason: skip})
				continue
			}
			if class == ClassValid {
				valid = append(valid, v)
			} else {
				invalid = append(invalid, v)
			}
		}
	}
	if len(valid) == 0 {
		return nil, nil, nil, fmt.Errorf("vectors %s: no valid message vectors for %s", dir, r.name)
	}
	if !slices.ContainsFunc(valid, func(v *vector) bool { return v.kind == message.Submit }) {
		return nil, nil, nil, fmt.Errorf("vectors %s: no valid submit vector for %s (the duplicate and the probes are made from it)", dir, r.name)
	}
	// Within a kind, the vector named for it (submit.xml) goes first: it is
	// the one later vectors refer to, resent as the duplicate and made
	// into the probes.
	primary := func(v *vector) int {
		if v.name == ClassValid+"/"+string(v.kind)+".xml" {
			return 0
		}
		return 1
	}
	slices.SortStableFunc(valid, func(a, b *vector) int {
		if d := kindRank(a.kind) - kindRank(b.kind); d != 0 {
			return d
		}
		return primary(a) - primary(b)
	})
	return valid, invalid, skips, nil
}

// kindRank orders kinds as a declaration's life does.
func kindRank(kind message.Kind) int {
	switch kind {
	case message.Submit:
		return 0
	case message.Amend:
		return 1
	case message.Cancel:
		return 2
	}
	return 3
}

// classify fills v's parsed fields and says why v is not sent, or "".
func (r *run) classify(v *vector) string {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(v.raw); err != nil || doc.Root() == nil {
		if v.class == ClassValid {
			return "not well-formed XML, yet filed as valid"
		}
		return "" // sent as the bytes it is: the agency must refuse it
	}
	v.doc = doc
	root := doc.Root()
	if r.ackInfo.Root == root.Tag && r.ackInfo.Namespace == root.NamespaceURI() {
		return "an answer of the agency, not a message to it"
	}
	v.signed = hasSignature(root)
	if v.signed && v.class == ClassValid {
		return "already signed by another key: a signature-format vector, not a message to send"
	}
	for _, kind := range r.cfg.Mappings.Kinds(r.name) {
		info, ok := r.cfg.Mappings.Info(r.name, kind)
		if ok && kind != message.Ack && info.Root == root.Tag && info.Namespace == root.NamespaceURI() {
			v.kind = kind
		}
	}
	if v.kind == "" && v.class == ClassValid {
		return fmt.Sprintf("root {%s}%s is none of the message kinds mapped for %s", root.NamespaceURI(), root.Tag, r.name)
	}
	if env, err := r.cfg.Agency.Envelope(root); err == nil {
		v.id = env.MessageID
	}
	return ""
}

func hasSignature(el *etree.Element) bool {
	if el.Tag == "Signature" && el.NamespaceURI() == xmldsigNS {
		return true
	}
	return slices.ContainsFunc(el.ChildElements(), hasSignature)
}

const xmldsigNS = "http://www.w3.org/2000/09/xmldsig#"

// rewriteIDs replaces, in a copy of doc, every text and attribute value
// that equals a key of ids by its value: the vector's own message id by
// this run's fresh one, and the ids of earlier vectors (an amendment's
// previous message) by the ids they were sent under. Format-free: the
// kit needs to know where no id lives, only what it is.
func rewriteIDs(doc *etree.Document, ids map[string]string) *etree.Document {
	out := doc.Copy()
	var walk func(*etree.Element)
	walk = func(el *etree.Element) {
		for i := range el.Attr {
			if to, ok := ids[strings.TrimSpace(el.Attr[i].Value)]; ok {
				el.Attr[i].Value = to
			}
		}
		if len(el.ChildElements()) == 0 {
			if to, ok := ids[strings.TrimSpace(el.Text())]; ok {
				el.SetText(to)
			}
		}
		for _, c := range el.ChildElements() {
			walk(c)
		}
	}
	walk(out.Root())
	return out
}
