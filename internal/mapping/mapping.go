// Package mapping turns a declaration into an agency's XML message by
// interpreting the declarative mapping files under mappings/ (see
// mappings/README.md for the file format). One engine serves every agency;
// adding a field to a message is a change to data, not code.
package mapping

import (
	"github.com/gatehub/gatehub/internal/message"
	"slices"
	"sort"
	"time"

	"github.com/gatehub/gatehub/internal/codelist"
)

// Envelope is what the hub knows about one outbound message besides the
// declaration: it becomes the "message" input context.
type Envelope struct {
	MessageID         string
	Kind              message.Kind
	PreviousMessageID string
	Sender            string
	Receiver          string
	DeclarationID     string
	Version           int
	CreatedAt         time.Time
	// Reason explains a cancellation (message.reason); other kinds ignore it.
	Reason string
}

// Info describes the mapping and schema that produced a document, so the
// caller can validate against the right XSD and store the versions.
type Info struct {
	Agency         string
	Kind           message.Kind
	MappingVersion string
	SchemaFile     string // relative to the schemas/ directory
	SchemaVersion  string
	Namespace      string
	Root           string
}

// AckFields is the content of an agency ACK/NACK, independent of its format.
type AckFields struct {
	AckID        string
	RefMessageID string
	Status       string // "ACK" | "NACK"
	ReasonCode   string
	ReasonText   string
	IssuedAt     time.Time
}

// Registry holds every loaded mapping and code list. It is read-only after
// Load and therefore safe for concurrent use.
type Registry struct {
	mappings map[string]map[string]*mappingFile // agency → kind → mapping
	codes    *codelist.Set
}

// Agencies returns the agencies that have at least one mapping, sorted.
func (r *Registry) Agencies() []string {
	out := make([]string, 0, len(r.mappings))
	for a := range r.mappings {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// Kinds returns the message kinds mapped for agency, sorted.
func (r *Registry) Kinds(agency string) []message.Kind {
	var out []message.Kind
	for k := range r.mappings[agency] {
		out = append(out, message.Kind(k))
	}
	slices.Sort(out)
	return out
}

// Info returns the mapping metadata for agency and kind.
func (r *Registry) Info(agency string, kind message.Kind) (Info, bool) {
	m, ok := r.mappings[agency][string(kind)]
	if !ok {
		return Info{}, false
	}
	return m.info(), true
}

// mappingFile is one resolved mapping (after extends).
type mappingFile struct {
	file           string
	agency         string
	kind           string
	mappingVersion string
	schema         string
	schemaVersion  string
	root           string
	namespace      string
	envelope       string
	rules          []*rule
}

func (m *mappingFile) info() Info {
	return Info{
		Agency:         m.agency,
		Kind:           message.Kind(m.kind),
		MappingVersion: m.mappingVersion,
		SchemaFile:     m.schema,
		SchemaVersion:  m.schemaVersion,
		Namespace:      m.namespace,
		Root:           m.root,
	}
}

// rule is one field rule. Exactly one of source, constant or each is set,
// or none of them when the rule only groups child rules.
type rule struct {
	file       string
	line       int
	rawPath    string
	elems      []string // element segments of path
	attr       string   // set when path ends in @attr
	source     string
	constant   *string
	def        string
	transforms []transform
	optional   bool
	each       string
	children   []*rule
}

func (r *rule) hasValue() bool { return r.source != "" || r.constant != nil }

// Codes returns the code lists the mappings were loaded with, so that the
// declaration validator checks against the very lists the mappings use.
func (r *Registry) Codes() *codelist.Set { return r.codes }
