package mapping

import (
	"errors"
	"fmt"
	"github.com/gatehub/gatehub/internal/message"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/gatehub/gatehub/internal/codelist"
	"github.com/gatehub/gatehub/internal/declaration"
)

// Allowed keys of the non-declaration input contexts. A typo in a mapping
// file is caught at load time instead of producing a silently empty field.
var (
	messageKeys = set("id", "kind", "previousId", "sender", "receiver", "declarationId", "version", "createdAt", "reason")
	gateKeys    = set("code", "name", "province", "counterpartName", "counterpartNameCN", "counterpartPortCode")
	ackKeys     = set("ackId", "refMessageId", "status", "reasonCode", "reasonText", "issuedAt")
	// volatileKeys differ between two messages about the same content; they
	// must live in the envelope element or in root attributes so that
	// Canonical can drop them (see canonical.go).
	volatileKeys = set("id", "kind", "previousId", "createdAt", "version")
	kinds        = set(string(message.Submit), string(message.Amend), string(message.Cancel), string(message.Ack))

	ncName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9._-]*$`)
)

func set(keys ...string) map[string]bool {
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m
}

// loadError points at the mapping file and line that is wrong.
type loadError struct {
	file string
	line int
	msg  string
}

func (e *loadError) Error() string { return fmt.Sprintf("%s:%d: %s", e.file, e.line, e.msg) }

func errAt(file string, n *yaml.Node, format string, args ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &loadError{file: file, line: line, msg: fmt.Sprintf(format, args...)}
}

// Load reads dir/codes/*.yaml and dir/<agency>/*.yaml. Every error found is
// reported (joined), each as file:line: message.
func Load(dir string) (*Registry, error) {
	r := &Registry{mappings: map[string]map[string]*mappingFile{}}
	codes, err := codelist.Load(os.DirFS(dir), "codes")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	r.codes = codes
	var errs []error

	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read mappings dir: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() || e.Name() == "codes" || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if err := r.loadAgency(filepath.Join(dir, e.Name()), e.Name()); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(r.mappings) == 0 {
		return nil, fmt.Errorf("no mappings found under %s", dir)
	}
	return r, nil
}

func parseYAML(file string) (*yaml.Node, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errAt(file, &doc, "expected a YAML mapping at top level")
	}
	return doc.Content[0], nil
}

// fields splits a mapping node into key → value node, refusing unknown and
// duplicate keys.
func fields(file string, n *yaml.Node, allowed map[string]bool) (map[string]*yaml.Node, error) {
	if n.Kind != yaml.MappingNode {
		return nil, errAt(file, n, "expected a mapping")
	}
	out := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !allowed[k.Value] {
			keys := make([]string, 0, len(allowed))
			for a := range allowed {
				keys = append(keys, a)
			}
			sort.Strings(keys)
			return nil, errAt(file, k, "unknown key %q (allowed: %s)", k.Value, strings.Join(keys, ", "))
		}
		if _, dup := out[k.Value]; dup {
			return nil, errAt(file, k, "duplicate key %q", k.Value)
		}
		out[k.Value] = v
	}
	return out, nil
}

func scalar(file string, f map[string]*yaml.Node, key string, required bool, parent *yaml.Node) (string, error) {
	v, ok := f[key]
	if !ok {
		if required {
			return "", errAt(file, parent, "missing required key %q", key)
		}
		return "", nil
	}
	if v.Kind != yaml.ScalarNode {
		return "", errAt(file, v, "%q must be a scalar", key)
	}
	if required && v.Value == "" {
		return "", errAt(file, v, "%q must not be empty", key)
	}
	return v.Value, nil
}

// rawMapping is one mapping file before extends is resolved.
type rawMapping struct {
	file    string
	top     *yaml.Node
	f       map[string]*yaml.Node
	extends string
}

var mappingKeys = set("agency", "kind", "mappingVersion", "schema", "schemaVersion", "root", "namespace", "envelope", "extends", "override", "rules", "description")

func (r *Registry) loadAgency(dir, agency string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return fmt.Errorf("list %s: %w", dir, err)
	}
	raws := map[string]*rawMapping{}
	var errs []error
	for _, file := range files {
		top, err := parseYAML(file)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		f, err := fields(file, top, mappingKeys)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ext, err := scalar(file, f, "extends", false, top)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		raws[filepath.Base(file)] = &rawMapping{file: file, top: top, f: f, extends: ext}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	resolved := map[string]*mappingFile{}
	names := make([]string, 0, len(raws))
	for n := range raws {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		m, err := r.resolve(raws, name, resolved, map[string]bool{})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if m.agency != agency {
			errs = append(errs, errAt(m.file, raws[name].f["agency"], "agency %q does not match directory %q", m.agency, agency))
			continue
		}
		if r.mappings[agency] == nil {
			r.mappings[agency] = map[string]*mappingFile{}
		}
		if prev, dup := r.mappings[agency][m.kind]; dup {
			errs = append(errs, errAt(m.file, raws[name].top, "kind %q already mapped by %s", m.kind, prev.file))
			continue
		}
		r.mappings[agency][m.kind] = m
	}
	return errors.Join(errs...)
}

// resolve builds the mapping for one file, first resolving its parent.
// extends copies the parent's header fields and rules; override replaces
// top-level parent rules with the same path in place (keeping element
// order); rules are appended after the inherited ones.
func (r *Registry) resolve(raws map[string]*rawMapping, name string, done map[string]*mappingFile, visiting map[string]bool) (*mappingFile, error) {
	if m, ok := done[name]; ok {
		return m, nil
	}
	raw := raws[name]
	if visiting[name] {
		return nil, errAt(raw.file, raw.f["extends"], "extends cycle through %s", name)
	}
	visiting[name] = true
	m := &mappingFile{file: raw.file}
	if raw.extends != "" {
		if _, ok := raws[raw.extends]; !ok {
			return nil, errAt(raw.file, raw.f["extends"], "extends %q: no such mapping file in this agency directory", raw.extends)
		}
		parent, err := r.resolve(raws, raw.extends, done, visiting)
		if err != nil {
			return nil, err
		}
		*m = *parent
		m.file = raw.file
		m.rules = append([]*rule(nil), parent.rules...)
	} else if _, ok := raw.f["override"]; ok {
		return nil, errAt(raw.file, raw.f["override"], "override needs extends")
	}
	for _, kv := range []struct {
		key string
		dst *string
	}{
		{"agency", &m.agency}, {"kind", &m.kind}, {"mappingVersion", &m.mappingVersion},
		{"schema", &m.schema}, {"schemaVersion", &m.schemaVersion}, {"root", &m.root},
		{"namespace", &m.namespace}, {"envelope", &m.envelope},
	} {
		v, err := scalar(raw.file, raw.f, kv.key, false, raw.top)
		if err != nil {
			return nil, err
		}
		if v != "" {
			*kv.dst = v
		}
	}
	for _, req := range []struct{ key, val string }{
		{"agency", m.agency}, {"kind", m.kind}, {"mappingVersion", m.mappingVersion}, {"schema", m.schema},
		{"schemaVersion", m.schemaVersion}, {"root", m.root}, {"namespace", m.namespace}, {"envelope", m.envelope},
	} {
		if req.val == "" {
			return nil, errAt(raw.file, raw.top, "missing required key %q (directly or through extends)", req.key)
		}
	}
	if !kinds[m.kind] {
		return nil, errAt(raw.file, raw.f["kind"], "kind %q must be one of submit, amend, cancel, ack", m.kind)
	}
	if !ncName.MatchString(m.root) {
		return nil, errAt(raw.file, raw.f["root"], "root %q is not an XML name", m.root)
	}
	if !ncName.MatchString(m.envelope) {
		return nil, errAt(raw.file, raw.f["envelope"], "envelope %q is not an XML name", m.envelope)
	}
	if filepath.IsAbs(m.schema) || strings.Contains(m.schema, "..") || !strings.HasSuffix(m.schema, ".xsd") {
		return nil, errAt(raw.file, raw.f["schema"], "schema %q must be a .xsd path relative to schemas/", m.schema)
	}

	root := scope{declType: reflect.TypeOf(declaration.Declaration{})}
	if ov, ok := raw.f["override"]; ok {
		rules, err := r.parseRules(raw.file, ov, root)
		if err != nil {
			return nil, err
		}
		for _, o := range rules {
			found := false
			for i, p := range m.rules {
				if p.rawPath == o.rawPath {
					m.rules[i] = o
					found = true
					break
				}
			}
			if !found {
				return nil, &loadError{file: o.file, line: o.line, msg: fmt.Sprintf("override %q: no inherited rule has this path", o.rawPath)}
			}
		}
	}
	if rn, ok := raw.f["rules"]; ok {
		rules, err := r.parseRules(raw.file, rn, root)
		if err != nil {
			return nil, err
		}
		m.rules = append(m.rules, rules...)
	}
	if len(m.rules) == 0 {
		return nil, errAt(raw.file, raw.top, "no rules")
	}
	if err := checkEnvelope(m); err != nil {
		return nil, err
	}
	if m.kind == string(message.Ack) {
		if err := checkAckReversible(m.rules); err != nil {
			return nil, err
		}
	}
	delete(visiting, name)
	done[name] = m
	return m, nil
}

// checkEnvelope enforces the convention Canonical relies on: the first
// element under the root is the envelope, and every volatile message field
// is written into it or into a root attribute.
func checkEnvelope(m *mappingFile) error {
	for _, ru := range m.rules {
		if len(ru.elems) == 0 {
			continue
		}
		if ru.elems[0] != m.envelope {
			return &loadError{file: ru.file, line: ru.line, msg: fmt.Sprintf("first element rule %q must create the envelope element %q", ru.rawPath, m.envelope)}
		}
		break
	}
	var walk func(rules []*rule, top bool) error
	walk = func(rules []*rule, top bool) error {
		for _, ru := range rules {
			for _, alt := range strings.Split(ru.source, "|") {
				if root, key, _ := strings.Cut(alt, "."); root == "message" && volatileKeys[key] {
					inEnvelope := top && len(ru.elems) > 0 && ru.elems[0] == m.envelope
					rootAttr := top && len(ru.elems) == 0
					if !inEnvelope && !rootAttr {
						return &loadError{file: ru.file, line: ru.line, msg: fmt.Sprintf("%s changes with every message and must be mapped inside %s or to a root attribute", alt, m.envelope)}
					}
				}
			}
			if err := walk(ru.children, false); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(m.rules, true)
}

func checkAckReversible(rules []*rule) error {
	for _, ru := range rules {
		if strings.Contains(ru.source, "ack.") {
			if strings.Contains(ru.source, "|") {
				return &loadError{file: ru.file, line: ru.line, msg: "ack fields cannot use alternative sources"}
			}
			if ru.each != "" {
				return &loadError{file: ru.file, line: ru.line, msg: "ack fields cannot be inside a repeating group"}
			}
			for _, t := range ru.transforms {
				if t.reverse == nil {
					return &loadError{file: ru.file, line: ru.line, msg: fmt.Sprintf("transform %q cannot be read back by ParseAck", t.name)}
				}
			}
		}
		if err := checkAckReversible(ru.children); err != nil {
			return err
		}
	}
	return nil
}

// scope is what a source path may refer to at one nesting level: the
// declaration model type, and inside each the item's type (nil = unknown).
type scope struct {
	declType reflect.Type
	inEach   bool
	itemType reflect.Type
}

var ruleKeys = set("path", "source", "const", "default", "transform", "optional", "each", "rules")

func (r *Registry) parseRules(file string, n *yaml.Node, sc scope) ([]*rule, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, errAt(file, n, "rules must be a list")
	}
	out := make([]*rule, 0, len(n.Content))
	for _, rn := range n.Content {
		ru, err := r.parseRule(file, rn, sc)
		if err != nil {
			return nil, err
		}
		out = append(out, ru)
	}
	return out, nil
}

func (r *Registry) parseRule(file string, n *yaml.Node, sc scope) (*rule, error) {
	f, err := fields(file, n, ruleKeys)
	if err != nil {
		return nil, err
	}
	ru := &rule{file: file, line: n.Line}
	if ru.rawPath, err = scalar(file, f, "path", true, n); err != nil {
		return nil, err
	}
	if err := ru.parsePath(); err != nil {
		return nil, errAt(file, f["path"], "%v", err)
	}
	if ru.source, err = scalar(file, f, "source", false, n); err != nil {
		return nil, err
	}
	if cn, ok := f["const"]; ok {
		if cn.Kind != yaml.ScalarNode {
			return nil, errAt(file, cn, "const must be a scalar")
		}
		v := cn.Value
		ru.constant = &v
	}
	if ru.def, err = scalar(file, f, "default", false, n); err != nil {
		return nil, err
	}
	if ru.each, err = scalar(file, f, "each", false, n); err != nil {
		return nil, err
	}
	if on, ok := f["optional"]; ok {
		if err := on.Decode(&ru.optional); err != nil {
			return nil, errAt(file, on, "optional must be true or false")
		}
	}
	set := 0
	for _, b := range []bool{ru.source != "", ru.constant != nil, ru.each != ""} {
		if b {
			set++
		}
	}
	_, hasRules := f["rules"]
	switch {
	case set > 1:
		return nil, errAt(file, n, "rule %q: use only one of source, const, each", ru.rawPath)
	case set == 0 && !hasRules:
		return nil, errAt(file, n, "rule %q: needs source, const, each or rules", ru.rawPath)
	case ru.each != "" && !hasRules:
		return nil, errAt(file, n, "rule %q: each needs rules", ru.rawPath)
	case (ru.each != "" || hasRules) && ru.attr != "":
		return nil, errAt(file, n, "rule %q: an attribute cannot have child rules", ru.rawPath)
	case ru.def != "" && ru.source == "":
		return nil, errAt(file, f["default"], "rule %q: default needs source", ru.rawPath)
	}
	if tn, ok := f["transform"]; ok {
		if ru.source == "" && ru.constant == nil {
			return nil, errAt(file, tn, "rule %q: transform needs source or const", ru.rawPath)
		}
		if tn.Kind != yaml.ScalarNode || tn.Value == "" {
			return nil, errAt(file, tn, "transform must be a name or names joined by |")
		}
		for _, spec := range strings.Split(tn.Value, "|") {
			t, err := parseTransform(strings.TrimSpace(spec), r.codes)
			if err != nil {
				return nil, errAt(file, tn, "%v", err)
			}
			ru.transforms = append(ru.transforms, t)
		}
	}
	childScope := sc
	if ru.source != "" {
		// "a|b": the first non-empty of several sources.
		for _, alt := range strings.Split(ru.source, "|") {
			if _, err := checkSource(alt, sc); err != nil {
				return nil, errAt(file, f["source"], "%v", err)
			}
		}
	}
	if ru.each != "" {
		// "list|single": iterate the list, or when it is empty take the
		// single value as the one item (a consignment's goodsItems, or the
		// consignment itself in the single-item form).
		alts := strings.Split(ru.each, "|")
		childScope = scope{declType: sc.declType, inEach: true}
		for i, alt := range alts {
			t, err := checkSource(alt, sc)
			if err != nil {
				return nil, errAt(file, f["each"], "%v", err)
			}
			if t == nil {
				continue
			}
			switch {
			case i == 0 && t.Kind() != reflect.Slice:
				return nil, errAt(file, f["each"], "each %q is not a list in the declaration model", alt)
			case i == 0:
				childScope.itemType = t.Elem()
			case childScope.itemType != nil && !carries(t, childScope.itemType):
				return nil, errAt(file, f["each"], "each %q: %s does not carry the fields of %s", alt, t.Name(), childScope.itemType.Name())
			}
		}
	}
	if hasRules {
		if ru.children, err = r.parseRules(file, f["rules"], childScope); err != nil {
			return nil, err
		}
	}
	return ru, nil
}

// parsePath splits "A/B/@c" into element segments and an attribute.
func (ru *rule) parsePath() error {
	if ru.rawPath == "" {
		return errors.New("empty path")
	}
	if ru.rawPath == "." {
		// The current element itself: the text of each element of a
		// repeating group over plain values (a container's seals).
		return nil
	}
	segs := strings.Split(ru.rawPath, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, "@") {
			if i != len(segs)-1 {
				return fmt.Errorf("path %q: attribute must be the last segment", ru.rawPath)
			}
			if !ncName.MatchString(s[1:]) || s[1:] == "xmlns" {
				return fmt.Errorf("path %q: %q is not an attribute name", ru.rawPath, s)
			}
			ru.attr = s[1:]
			continue
		}
		if !ncName.MatchString(s) {
			return fmt.Errorf("path %q: segment %q is not an XML element name", ru.rawPath, s)
		}
		ru.elems = append(ru.elems, s)
	}
	return nil
}

// checkSource validates a dot path and returns the declaration-model type it
// reaches (nil when not in the declaration or not knowable).
func checkSource(src string, sc scope) (reflect.Type, error) {
	if src == "#index" {
		if !sc.inEach {
			return nil, errors.New("#index is only valid inside each")
		}
		return nil, nil
	}
	segs := strings.Split(src, ".")
	for _, s := range segs {
		if s == "" {
			return nil, fmt.Errorf("malformed source path %q", src)
		}
	}
	switch segs[0] {
	case "declaration":
		return walkType(sc.declType, segs[1:], src)
	case "item":
		if !sc.inEach {
			return nil, fmt.Errorf("source %q: item is only valid inside each", src)
		}
		if sc.itemType == nil {
			return nil, nil
		}
		return walkType(sc.itemType, segs[1:], src)
	case "message", "gate", "ack":
		keys := map[string]map[string]bool{"message": messageKeys, "gate": gateKeys, "ack": ackKeys}[segs[0]]
		if len(segs) != 2 || !keys[segs[1]] {
			known := make([]string, 0, len(keys))
			for k := range keys {
				known = append(known, k)
			}
			sort.Strings(known)
			return nil, fmt.Errorf("source %q: %s has fields %s", src, segs[0], strings.Join(known, ", "))
		}
		return nil, nil
	default:
		return nil, fmt.Errorf("source %q must start with declaration, message, gate, ack, item or be #index", src)
	}
}

// walkType follows JSON field names through the declaration model, so a
// misspelt declaration path fails at load time.
func walkType(t reflect.Type, segs []string, src string) (reflect.Type, error) {
	for _, s := range segs {
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch t.Kind() {
		case reflect.Struct:
			f, ok := jsonField(t, s)
			if !ok {
				return nil, fmt.Errorf("source %q: %s has no field %q", src, t.Name(), s)
			}
			t = f
		case reflect.Slice:
			if strings.Trim(s, "0123456789") != "" {
				return nil, fmt.Errorf("source %q: %q indexes a list and must be a number", src, s)
			}
			t = t.Elem()
		default:
			return nil, fmt.Errorf("source %q: cannot descend into %s with %q", src, t.Kind(), s)
		}
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t, nil
}

// jsonField finds the field JSON calls name, looking into embedded structs
// as encoding/json promotes their fields.
func jsonField(t reflect.Type, name string) (reflect.Type, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct && f.Tag.Get("json") == "" {
			if ft, ok := jsonField(f.Type, name); ok {
				return ft, true
			}
			continue
		}
		if n, _, _ := strings.Cut(f.Tag.Get("json"), ","); n == name {
			return f.Type, true
		}
	}
	return nil, false
}

// carries reports whether struct t is item or embeds it, so the fields
// read from an item are there.
func carries(t, item reflect.Type) bool {
	if t == item {
		return true
	}
	if t.Kind() != reflect.Struct {
		return false
	}
	for i := 0; i < t.NumField(); i++ {
		if f := t.Field(i); f.Anonymous && f.Type == item {
			return true
		}
	}
	return false
}
