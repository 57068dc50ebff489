package mapping

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/gatehub/gatehub/internal/message"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"
)

// Build produces the message of kind for agency. decl is read through its
// JSON field names; gate carries code, name, province, counterpartName and
// counterpartPortCode. The result is byte-identical for identical input.
func (r *Registry) Build(agency string, kind message.Kind, decl any, env Envelope, gate map[string]any) (*etree.Document, Info, error) {
	m, err := r.mapping(agency, kind)
	if err != nil {
		return nil, Info{}, err
	}
	if env.Kind == "" {
		env.Kind = kind
	}
	if env.Kind != kind {
		return nil, Info{}, fmt.Errorf("build %s %s: envelope kind is %q", agency, kind, env.Kind)
	}
	if (kind == message.Amend || kind == message.Cancel) && env.PreviousMessageID == "" {
		return nil, Info{}, fmt.Errorf("build %s %s: previous message id is required", agency, kind)
	}
	in, err := newInput(decl, env, gate, nil)
	if err != nil {
		return nil, Info{}, fmt.Errorf("build %s %s: %w", agency, kind, err)
	}
	doc, err := m.build(in)
	if err != nil {
		return nil, Info{}, err
	}
	return doc, m.info(), nil
}

// BuildAck produces the agency's ACK/NACK from its ack.yaml mapping. env is
// the envelope of the ACK message itself; an empty MessageID defaults to
// the AckID and a zero CreatedAt to IssuedAt.
func (r *Registry) BuildAck(agency string, a AckFields, env Envelope) (*etree.Document, Info, error) {
	m, err := r.mapping(agency, message.Ack)
	if err != nil {
		return nil, Info{}, err
	}
	switch a.Status {
	case "ACK":
	case "NACK":
		if a.ReasonCode == "" {
			return nil, Info{}, fmt.Errorf("build %s ack: a NACK needs a reason code", agency)
		}
	default:
		return nil, Info{}, fmt.Errorf("build %s ack: status %q must be ACK or NACK", agency, a.Status)
	}
	if a.IssuedAt.IsZero() {
		return nil, Info{}, fmt.Errorf("build %s ack: issued time is required", agency)
	}
	if env.MessageID == "" {
		env.MessageID = a.AckID
	}
	if env.CreatedAt.IsZero() {
		env.CreatedAt = a.IssuedAt
	}
	if env.Kind == "" {
		env.Kind = message.Ack
	}
	ack := map[string]any{
		"ackId":        a.AckID,
		"refMessageId": a.RefMessageID,
		"status":       a.Status,
		"reasonCode":   a.ReasonCode,
		"reasonText":   a.ReasonText,
		"issuedAt":     a.IssuedAt.UTC().Format(time.RFC3339Nano),
	}
	in, err := newInput(nil, env, nil, ack)
	if err != nil {
		return nil, Info{}, fmt.Errorf("build %s ack: %w", agency, err)
	}
	doc, err := m.build(in)
	if err != nil {
		return nil, Info{}, err
	}
	return doc, m.info(), nil
}

func (r *Registry) mapping(agency string, kind message.Kind) (*mappingFile, error) {
	byKind, ok := r.mappings[agency]
	if !ok {
		return nil, fmt.Errorf("no mappings for agency %q", agency)
	}
	m, ok := byKind[string(kind)]
	if !ok {
		return nil, fmt.Errorf("agency %q has no %q mapping", agency, kind)
	}
	return m, nil
}

// input is the context that source paths are resolved against.
type input map[string]any

func newInput(decl any, env Envelope, gate map[string]any, ack map[string]any) (input, error) {
	d, err := toGeneric(decl)
	if err != nil {
		return nil, fmt.Errorf("declaration: %w", err)
	}
	g, err := genericContext(gate)
	if err != nil {
		return nil, fmt.Errorf("gate: %w", err)
	}
	msg := map[string]any{
		"id":            env.MessageID,
		"kind":          string(env.Kind), // the engine reads plain JSON-like values
		"previousId":    env.PreviousMessageID,
		"sender":        env.Sender,
		"receiver":      env.Receiver,
		"declarationId": env.DeclarationID,
		"version":       "",
		"createdAt":     "",
		"reason":        env.Reason,
	}
	if env.Version != 0 {
		msg["version"] = strconv.Itoa(env.Version)
	}
	if !env.CreatedAt.IsZero() {
		msg["createdAt"] = env.CreatedAt.UTC().Format(time.RFC3339Nano)
	}
	in := input{"declaration": d, "message": msg, "gate": g}
	if ack != nil {
		in["ack"] = ack
	}
	return in, nil
}

// Prepared is a declaration already converted to the form Build reads; see
// Prepare.
type Prepared struct{ v any }

// Prepare converts decl (a struct, a map or raw JSON) once for several
// Build calls: Build(…, p, …) gives what Build(…, decl, …) gives, without
// converting the declaration again for every agency. Build does not modify
// it, so one Prepared may be used concurrently.
func Prepare(decl any) (Prepared, error) {
	v, err := toGeneric(decl)
	if err != nil {
		return Prepared{}, fmt.Errorf("declaration: %w", err)
	}
	return Prepared{v}, nil
}

// toGeneric round-trips v through JSON so structs, maps and raw JSON are all
// read the same way, by JSON field name; numbers stay exact as json.Number.
func toGeneric(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	var b []byte
	switch x := v.(type) {
	case Prepared:
		return x.v, nil
	case json.RawMessage:
		b = x
	case []byte:
		b = x
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			return nil, err
		}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		return nil, err
	}
	return out, nil
}

// genericContext is toGeneric for a gate context. A flat map of strings
// (what gate.Gate.Context gives) already is in generic form and is used as
// it is, since Build only reads it: the JSON round trip would otherwise run
// for every message built.
func genericContext(m map[string]any) (any, error) {
	if m == nil {
		return nil, nil
	}
	for _, v := range m {
		if _, ok := v.(string); !ok {
			return toGeneric(m)
		}
	}
	return m, nil
}

// frame is the per-item state inside each.
type frame struct {
	item  any
	index int
	ptr   string // JSON pointer of item in the declaration, when it comes from one
}

func (m *mappingFile) build(in input) (*etree.Document, error) {
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	root := doc.CreateElement(m.root)
	root.CreateAttr("xmlns", m.namespace)
	if _, err := m.apply(root, m.rules, in, nil); err != nil {
		return nil, err
	}
	doc.Indent(2)
	return doc, nil
}

// apply runs rules under ctx and returns how many values taken from a
// source (not const) it wrote, which decides whether an optional group is kept.
func (m *mappingFile) apply(ctx *etree.Element, rules []*rule, in input, fr *frame) (int, error) {
	total := 0
	for _, ru := range rules {
		n, err := m.applyRule(ctx, ru, in, fr)
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

func (m *mappingFile) ruleErr(ru *rule, format string, args ...any) error {
	return fmt.Errorf("mapping %s:%d rule %q: %s", ru.file, ru.line, ru.rawPath, fmt.Sprintf(format, args...))
}

func (m *mappingFile) applyRule(ctx *etree.Element, ru *rule, in input, fr *frame) (int, error) {
	if ru.each != "" {
		var items []any
		src := ru.each
		for i, alt := range strings.Split(ru.each, "|") {
			v, err := resolve(in, fr, alt)
			if err != nil {
				return 0, m.ruleErr(ru, "%v", err)
			}
			l, isList := v.([]any)
			switch {
			case v == nil:
			case i == 0 && isList:
				items = l
			case i == 0:
				return 0, &ValueError{
					Agency: m.agency, Kind: m.kind, File: ru.file, Line: ru.line, Rule: ru.rawPath,
					Source: alt, Pointer: pointerOf(alt, fr), Reason: "not a list",
				}
			default:
				// A single value standing for a one-item list.
				items = []any{v}
			}
			if len(items) > 0 {
				src = alt
				break
			}
		}
		// The pointer of items from a single value is that value's own.
		itemPtr := func(i int) string { return pointerOf(src, fr) + "/" + strconv.Itoa(i) }
		if src != strings.Split(ru.each, "|")[0] {
			itemPtr = func(int) string { return pointerOf(src, fr) }
		}
		if len(items) == 0 && !ru.optional {
			// The trader can fix this: it is a field the agency needs.
			return 0, &ValueError{
				Agency: m.agency, Kind: m.kind, File: ru.file, Line: ru.line, Rule: ru.rawPath,
				Source: ru.each, Pointer: pointerOf(strings.Split(ru.each, "|")[0], fr), Missing: true,
			}
		}
		total := 0
		for i, it := range items {
			el := createElem(ctx, ru.elems)
			n, err := m.apply(el, ru.children, in, &frame{item: it, index: i + 1, ptr: itemPtr(i)})
			if err != nil {
				return 0, err
			}
			total += n
		}
		return total, nil
	}

	if !ru.hasValue() {
		// A grouping element. An optional group in which no source-backed
		// rule produced a value is removed again, constants included.
		el := createElem(ctx, ru.elems)
		n, err := m.apply(el, ru.children, in, fr)
		if err != nil {
			return 0, err
		}
		if ru.optional && n == 0 {
			el.Parent().RemoveChild(el)
		}
		return n, nil
	}

	val, err := m.value(ru, in, fr)
	if err != nil {
		return 0, err
	}
	if val == "" {
		if ru.optional {
			return 0, nil
		}
		src := ru.source
		if src == "" {
			src = "const"
		}
		return 0, &ValueError{
			Agency: m.agency, Kind: m.kind, File: ru.file, Line: ru.line, Rule: ru.rawPath,
			Source: src, Pointer: pointerOf(strings.Split(src, "|")[0], fr), Missing: true,
		}
	}
	written := 0
	if ru.source != "" {
		written = 1
	}
	if ru.attr != "" {
		target := ctx
		if len(ru.elems) > 0 {
			target = findOrCreate(ctx, ru.elems)
		}
		target.CreateAttr(ru.attr, val)
		return written, nil
	}
	el := createElem(ctx, ru.elems)
	el.SetText(val)
	n, err := m.apply(el, ru.children, in, fr)
	return written + n, err
}

func (m *mappingFile) value(ru *rule, in input, fr *frame) (string, error) {
	var s string
	if ru.constant != nil {
		s = *ru.constant
	} else {
		for _, alt := range strings.Split(ru.source, "|") {
			v, err := resolve(in, fr, alt)
			if err != nil {
				return "", m.ruleErr(ru, "%v", err)
			}
			if s, err = scalarString(v); err != nil {
				return "", m.ruleErr(ru, "source %s: %v", alt, err)
			}
			if s != "" {
				break
			}
		}
		if s == "" {
			s = ru.def
		}
	}
	if s == "" {
		return "", nil
	}
	for _, t := range ru.transforms {
		var err error
		if s, err = t.forward(s); err != nil {
			return "", &ValueError{
				Agency: m.agency, Kind: m.kind, File: ru.file, Line: ru.line, Rule: ru.rawPath,
				Source: ru.source, Pointer: pointerOf(strings.Split(ru.source, "|")[0], fr),
				Reason: fmt.Sprintf("transform %s: %v", t.name, err), List: t.list,
			}
		}
	}
	return s, nil
}

func scalarString(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	case json.Number:
		return x.String(), nil
	case bool:
		return strconv.FormatBool(x), nil
	default:
		return "", fmt.Errorf("is a %T, not a single value", v)
	}
}

// resolve follows a dot path; a missing key is an empty value, not an
// error, so optional fields may simply be absent from the declaration.
func resolve(in input, fr *frame, src string) (any, error) {
	if src == "#index" {
		if fr == nil {
			return nil, errors.New("#index outside each")
		}
		return json.Number(strconv.Itoa(fr.index)), nil
	}
	segs := strings.Split(src, ".")
	var cur any
	if segs[0] == "item" {
		if fr == nil {
			return nil, errors.New("item outside each")
		}
		cur = fr.item
	} else {
		cur = in[segs[0]]
	}
	for _, s := range segs[1:] {
		switch c := cur.(type) {
		case nil:
			return nil, nil
		case map[string]any:
			cur = c[s]
		case []any:
			i, err := strconv.Atoi(s)
			if err != nil {
				return nil, fmt.Errorf("%s: %q indexes a list", src, s)
			}
			if i < 0 || i >= len(c) {
				return nil, nil
			}
			cur = c[i]
		default:
			return nil, fmt.Errorf("%s: cannot descend into a %T at %q", src, cur, s)
		}
	}
	return cur, nil
}

// createElem creates the last segment anew under the found-or-created
// intermediate elements: repeated rules with the same path make siblings,
// while shared parents are reused.
func createElem(ctx *etree.Element, elems []string) *etree.Element {
	if len(elems) == 0 {
		return ctx
	}
	parent := findOrCreate(ctx, elems[:len(elems)-1])
	return parent.CreateElement(elems[len(elems)-1])
}

// findOrCreate walks to the last existing child of each name, creating
// missing ones, so later rules extend the element an earlier rule started.
func findOrCreate(ctx *etree.Element, elems []string) *etree.Element {
	cur := ctx
	for _, name := range elems {
		var found *etree.Element
		for _, c := range cur.ChildElements() {
			if c.Tag == name && c.Space == "" {
				found = c
			}
		}
		if found == nil {
			found = cur.CreateElement(name)
		}
		cur = found
	}
	return cur
}

// ValueError is a rule that could not use its source value: a required
// value is empty (Missing), or a transform refused it (an unknown code, a
// malformed date). The declaration passed validation, but this agency's
// format cannot carry the value; when Pointer names a declaration field the
// trader can fix it, so callers turn it into a field error there.
type ValueError struct {
	Agency, Kind string
	File         string
	Line         int
	Rule         string
	Source       string
	Pointer      string // RFC 6901 pointer into the declaration JSON; empty when not from it
	Missing      bool
	Reason       string // why a present value was refused
	List         string // the code list that has no code for the value, if that is why
}

func (e *ValueError) Error() string {
	if e.Missing {
		return fmt.Sprintf("mapping %s:%d rule %q: required value %s is empty", e.File, e.Line, e.Rule, e.Source)
	}
	return fmt.Sprintf("mapping %s:%d rule %q: %s", e.File, e.Line, e.Rule, e.Reason)
}

// pointerOf turns a source path into a JSON pointer into the declaration:
// "declaration.vehicle.plateCN" → "/vehicle/plateCN", "item.hsCode" inside
// an each over consignments → "/consignments/0/hsCode". Sources that are
// not the declaration (message, gate, ack) have no pointer.
func pointerOf(src string, fr *frame) string {
	switch {
	case strings.HasPrefix(src, "declaration."):
		return "/" + strings.ReplaceAll(strings.TrimPrefix(src, "declaration."), ".", "/")
	case src == "item" && fr != nil && fr.ptr != "":
		return fr.ptr
	case strings.HasPrefix(src, "item.") && fr != nil && fr.ptr != "":
		return fr.ptr + "/" + strings.ReplaceAll(strings.TrimPrefix(src, "item."), ".", "/")
	}
	return ""
}
