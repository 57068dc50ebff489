package agencies

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gatehub/gatehub/internal/sign"
)

// Parse decodes and checks one agency file; name is used in errors only.
// On failure the error is a *ConfigError listing every problem, each at
// file:line:col. Checks that need the other agencies (forward targets) are
// NewSet's.
func Parse(name string, data []byte) (*Agency, error) {
	d := &decoder{is: issues{file: name}, pos: map[string]Pos{}}
	a := &Agency{Source: name, pos: d.pos}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		d.is.add(syntaxPos(err), "", "invalid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
		return nil, d.is.err()
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		d.is.add(Pos{1, 1}, "", "empty agency file")
		return nil, d.is.err()
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		d.is.add(Pos{extra.Line, extra.Column}, "", "one agency per file: found a second YAML document")
	}
	d.mapping(doc.Content[0], "", spec(), a)
	a.fill()
	// Cross-field checks, on values that decoded.
	for _, k := range sortedKeys(a.Forward) {
		if !slices.Contains(a.Sends, k) && !d.failed("sends") {
			d.is.add(a.at("forward."+k), "forward."+k, "%s is not among the kinds the agency sends (sends: %s)", k, strings.Join(a.Sends, ", "))
		}
		for i, c := range a.Forward[k] {
			if c == a.Code {
				p := fmt.Sprintf("forward.%s[%d]", k, i)
				d.is.add(a.at(p), p, "an agency does not forward to itself")
			}
		}
	}
	if err := d.is.err(); err != nil {
		return nil, err
	}
	return a, nil
}

// fill sets the defaults of omitted fields.
func (a *Agency) fill() {
	if a.Mappings == "" {
		a.Mappings = string(a.Code)
	}
	if a.Schemas == "" {
		a.Schemas = string(a.Code)
	}
	if a.Endpoint.ContentType == "" {
		a.Endpoint.ContentType = DefaultContentType
	}
	if a.Endpoint.Timeout == 0 {
		a.Endpoint.Timeout = defaultTimeout
	}
	if a.Endpoint.Concurrency == 0 {
		a.Endpoint.Concurrency = defaultConcurrency
	}
	if a.Endpoint.AckMode == "" {
		a.Endpoint.AckMode = AckAny
	}
	if a.Signature.Name == "" {
		a.Signature = sign.DefaultProfile
	}
}

// LoadFile reads and parses one agency file.
func LoadFile(path string) (*Agency, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load agency: %w", err)
	}
	return Parse(path, data)
}

// LoadDir parses every *.yaml of dir into a checked Set. Every file's
// problems are reported together.
func LoadDir(dir string) (*Set, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, fmt.Errorf("list agency files: %w", err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("load agencies: no *.yaml in %s", dir)
	}
	sort.Strings(files)
	var list []*Agency
	var all []Issue
	for _, f := range files {
		a, err := LoadFile(f)
		var ce *ConfigError
		switch {
		case errors.As(err, &ce):
			all = append(all, ce.Issues...)
		case err != nil:
			return nil, err
		default:
			list = append(list, a)
		}
	}
	set, err := NewSet(list)
	var ce *ConfigError
	if errors.As(err, &ce) {
		all = append(all, ce.Issues...)
	}
	if len(all) > 0 {
		return nil, &ConfigError{Issues: all}
	}
	return set, err
}

// Set is a checked set of agencies, in code order. It is immutable: a
// reload builds a new one. A nil *Set is the empty set.
type Set struct {
	list []*Agency
	by   map[Code]*Agency
}

// NewSet checks agencies against one another: unique codes, each file
// named after its code, forward targets known.
func NewSet(list []*Agency) (*Set, error) {
	s := &Set{by: map[Code]*Agency{}}
	var is issues
	for _, a := range list {
		is.file = a.Source
		if first, dup := s.by[a.Code]; dup {
			is.add(a.at("code"), "code", "agency %q is also defined in %s", a.Code, first.Source)
			continue
		}
		if base := strings.TrimSuffix(filepath.Base(a.Source), ".yaml"); strings.HasSuffix(a.Source, ".yaml") && base != string(a.Code) {
			is.add(a.at("code"), "code", "file %s defines agency %q: name it %s.yaml", filepath.Base(a.Source), a.Code, a.Code)
		}
		s.by[a.Code] = a
		s.list = append(s.list, a)
	}
	for _, a := range s.list {
		is.file = a.Source
		for _, k := range sortedKeys(a.Forward) {
			for i, c := range a.Forward[k] {
				if _, ok := s.by[c]; !ok {
					p := fmt.Sprintf("forward.%s[%d]", k, i)
					is.add(a.at(p), p, "unknown agency %q (known: %s)", c, strings.Join(s.Strings(), ", "))
				}
			}
		}
	}
	slices.SortFunc(s.list, func(a, b *Agency) int { return strings.Compare(string(a.Code), string(b.Code)) })
	if err := is.err(); err != nil {
		return nil, err
	}
	return s, nil
}

// Get returns an agency by code.
func (s *Set) Get(c Code) (*Agency, bool) {
	if s == nil {
		return nil, false
	}
	a, ok := s.by[c]
	return a, ok
}

// Lookup returns an agency by its code as a string (store rows, URLs).
func (s *Set) Lookup(code string) (*Agency, bool) { return s.Get(Code(code)) }

// All lists the agencies in code order.
func (s *Set) All() []*Agency {
	if s == nil {
		return nil
	}
	return slices.Clone(s.list)
}

// Codes lists the agency codes in order.
func (s *Set) Codes() []Code {
	if s == nil {
		return nil
	}
	out := make([]Code, len(s.list))
	for i, a := range s.list {
		out[i] = a.Code
	}
	return out
}

// Strings lists the agency codes as strings, in order.
func (s *Set) Strings() []string {
	if s == nil {
		return nil
	}
	out := make([]string, len(s.list))
	for i, a := range s.list {
		out[i] = string(a.Code)
	}
	return out
}

// AckDeadlines maps each code to its default ACK deadline (gate files fall
// back to it).
func (s *Set) AckDeadlines() map[string]time.Duration {
	if s == nil {
		return nil
	}
	out := make(map[string]time.Duration, len(s.list))
	for _, a := range s.list {
		out[string(a.Code)] = a.AckDeadline
	}
	return out
}

// Name returns an agency's display name in English and Vietnamese; an
// unknown agency is shown by its code rather than hidden.
func (s *Set) Name(code string) (en, vi string) {
	if s != nil {
		if a, ok := s.by[Code(code)]; ok {
			return a.Name()
		}
	}
	return code, code
}

type decoder struct {
	is  issues
	pos map[string]Pos
}

func nodePos(n *yaml.Node) Pos { return Pos{n.Line, n.Column} }

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// failed reports whether a problem was already found at path or under it.
func (d *decoder) failed(path string) bool {
	for _, is := range d.is.list {
		if is.Path == path || strings.HasPrefix(is.Path, path+".") || strings.HasPrefix(is.Path, path+"[") {
			return true
		}
	}
	return false
}

// mapping decodes n by the field spec: unknown, duplicate and missing keys
// are reported; every value's position is kept under its path.
func (d *decoder) mapping(n *yaml.Node, path string, fields []field, a *Agency) {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		d.is.add(nodePos(n), path, "must be a mapping, got %s", kindName(n))
		return
	}
	seen := map[string]Pos{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		kp := join(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			d.is.add(nodePos(k), kp, "duplicate key (first at %d:%d)", first.Line, first.Col)
			continue
		}
		seen[k.Value] = nodePos(k)
		j := slices.IndexFunc(fields, func(f field) bool { return f.key == k.Value })
		if j < 0 {
			keys := make([]string, len(fields))
			for i, f := range fields {
				keys[i] = f.key
			}
			d.is.add(nodePos(k), kp, "unknown key %q (known: %s)", k.Value, strings.Join(keys, ", "))
			continue
		}
		d.pos[kp] = nodePos(v)
		if f := fields[j]; f.fields != nil {
			d.mapping(v, kp, f.fields, a)
		} else {
			f.decode(d, v, kp, a)
		}
	}
	for _, f := range fields {
		if _, ok := seen[f.key]; !ok && f.required {
			d.is.add(nodePos(n), join(path, f.key), "missing required field %q", f.key)
		}
	}
}

// pairs calls each for every key of a mapping whose keys are data (codes,
// kinds, header names), reporting duplicates.
func (d *decoder) pairs(n *yaml.Node, path string, each func(k, v *yaml.Node, path string)) {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		d.is.add(nodePos(n), path, "must be a mapping, got %s", kindName(n))
		return
	}
	seen := map[string]Pos{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		kp := join(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			d.is.add(nodePos(k), kp, "duplicate key (first at %d:%d)", first.Line, first.Col)
			continue
		}
		seen[k.Value] = nodePos(k)
		d.pos[kp] = nodePos(v)
		each(k, v, kp)
	}
}

func (d *decoder) scalar(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.is.add(nodePos(n), path, "must be a single value, got %s", kindName(n))
		return "", false
	}
	if n.Tag == "!!null" {
		d.is.add(nodePos(n), path, "must not be empty")
		return "", false
	}
	return strings.TrimSpace(n.Value), true
}

// strs decodes a list of strings, keeping those check accepts.
func (d *decoder) strs(n *yaml.Node, path string, check func(v string, n *yaml.Node, path string) bool) []string {
	n = resolve(n)
	if n.Kind != yaml.SequenceNode {
		d.is.add(nodePos(n), path, "must be a list, got %s", kindName(n))
		return nil
	}
	out := []string{}
	for i, c := range n.Content {
		c = resolve(c)
		p := fmt.Sprintf("%s[%d]", path, i)
		d.pos[p] = nodePos(c)
		if v, ok := d.scalar(c, p); ok && check(v, c, p) {
			out = append(out, v)
		}
	}
	return out
}

// kinds decodes a list of distinct values of allowed.
func (d *decoder) kinds(n *yaml.Node, path string, allowed []string) []string {
	var seen []string
	return d.strs(n, path, func(v string, c *yaml.Node, p string) bool {
		switch {
		case !slices.Contains(allowed, v):
			d.is.add(nodePos(c), p, "unknown kind %q (allowed: %s)", v, strings.Join(allowed, ", "))
		case slices.Contains(seen, v):
			d.is.add(nodePos(c), p, "kind %q listed twice", v)
		default:
			seen = append(seen, v)
			return true
		}
		return false
	})
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

var syntaxLine = regexp.MustCompile(`line (\d+)`)

// syntaxPos digs the line out of a yaml syntax error (no column there).
func syntaxPos(err error) Pos {
	if m := syntaxLine.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return Pos{n, 1}
	}
	return Pos{1, 1}
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// ReasonVI is what an agency's reason code means in Vietnamese, when its
// file says (clearance.Names).
func (s *Set) ReasonVI(agency, code string) (string, bool) {
	a, ok := s.Lookup(agency)
	if !ok {
		return "", false
	}
	t, ok := a.Reasons[code]
	return t.VI, ok
}
