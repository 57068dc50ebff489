package agencies

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gatehub/gatehub/internal/sign"
	"github.com/gatehub/gatehub/internal/yamlfile"
)

// Parse decodes and checks one agency file; name is used in errors only.
// On failure the error is a *ConfigError listing every problem, each at
// file:line:col. Checks that need the other agencies (forward targets) are
// NewSet's.
func Parse(name string, data []byte) (*Agency, error) {
	d := &decoder{is: yamlfile.Issues{File: name}, pos: map[string]Pos{}}
	a := &Agency{Source: name, pos: d.pos}
	root := yamlfile.Document(&d.is, data, "agency")
	if root == nil {
		return nil, d.is.Err()
	}
	d.mapping(root, "", spec(), a)
	a.fill()
	// Cross-field checks, on values that decoded.
	for _, k := range yamlfile.SortedKeys(a.Forward) {
		if !slices.Contains(a.Sends, k) && !d.failed("sends") {
			d.is.Add(a.at("forward."+k), "forward."+k, "%s is not among the kinds the agency sends (sends: %s)", k, strings.Join(a.Sends, ", "))
		}
		for i, c := range a.Forward[k] {
			if c == a.Code {
				p := fmt.Sprintf("forward.%s[%d]", k, i)
				d.is.Add(a.at(p), p, "an agency does not forward to itself")
			}
		}
	}
	if err := d.is.Err(); err != nil {
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
		return nil, yamlfile.Sorted(all)
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
	var is yamlfile.Issues
	for _, a := range list {
		is.File = a.Source
		if first, dup := s.by[a.Code]; dup {
			is.Add(a.at("code"), "code", "agency %q is also defined in %s", a.Code, first.Source)
			continue
		}
		if base := strings.TrimSuffix(filepath.Base(a.Source), ".yaml"); strings.HasSuffix(a.Source, ".yaml") && base != string(a.Code) {
			is.Add(a.at("code"), "code", "file %s defines agency %q: name it %s.yaml", filepath.Base(a.Source), a.Code, a.Code)
		}
		s.by[a.Code] = a
		s.list = append(s.list, a)
	}
	for _, a := range s.list {
		is.File = a.Source
		for _, k := range yamlfile.SortedKeys(a.Forward) {
			for i, c := range a.Forward[k] {
				if _, ok := s.by[c]; !ok {
					p := fmt.Sprintf("forward.%s[%d]", k, i)
					is.Add(a.at(p), p, "unknown agency %q (known: %s)", c, strings.Join(s.Strings(), ", "))
				}
			}
		}
	}
	slices.SortFunc(s.list, func(a, b *Agency) int { return strings.Compare(string(a.Code), string(b.Code)) })
	if err := is.Err(); err != nil {
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
	is  yamlfile.Issues
	pos map[string]Pos
}

// failed reports whether a problem was already found at path or under it.
func (d *decoder) failed(path string) bool { return d.is.Covers(path) }

// mapping decodes n by the field spec: unknown, duplicate and missing keys
// are reported; every value's position is kept under its path.
func (d *decoder) mapping(n *yaml.Node, path string, fields []field, a *Agency) {
	seen := yamlfile.Pairs(&d.is, n, path, func(k, v *yaml.Node, kp string) {
		j := slices.IndexFunc(fields, func(f field) bool { return f.key == k.Value })
		if j < 0 {
			keys := make([]string, len(fields))
			for i, f := range fields {
				keys[i] = f.key
			}
			d.is.Add(yamlfile.NodePos(k), kp, "unknown key %q (known: %s)", k.Value, strings.Join(keys, ", "))
			return
		}
		d.pos[kp] = yamlfile.NodePos(v)
		if f := fields[j]; f.fields != nil {
			d.mapping(v, kp, f.fields, a)
		} else {
			f.decode(d, v, kp, a)
		}
	})
	if seen == nil {
		return
	}
	for _, f := range fields {
		if _, ok := seen[f.key]; !ok && f.required {
			d.is.Add(yamlfile.NodePos(yamlfile.Resolve(n)), yamlfile.Join(path, f.key), "missing required field %q", f.key)
		}
	}
}

// pairs calls each for every key of a mapping whose keys are data (codes,
// kinds, header names), reporting duplicates.
func (d *decoder) pairs(n *yaml.Node, path string, each func(k, v *yaml.Node, path string)) {
	yamlfile.Pairs(&d.is, n, path, func(k, v *yaml.Node, kp string) {
		d.pos[kp] = yamlfile.NodePos(v)
		each(k, v, kp)
	})
}

func (d *decoder) scalar(n *yaml.Node, path string) (string, bool) {
	v, ok := yamlfile.Scalar(&d.is, n, path)
	return strings.TrimSpace(v), ok
}

// strs decodes a list of strings, keeping those check accepts.
func (d *decoder) strs(n *yaml.Node, path string, check func(v string, n *yaml.Node, path string) bool) []string {
	out := []string{}
	if !yamlfile.Sequence(&d.is, n, path, func(_ int, c *yaml.Node, p string) {
		d.pos[p] = yamlfile.NodePos(c)
		if v, ok := d.scalar(c, p); ok && check(v, c, p) {
			out = append(out, v)
		}
	}) {
		return nil
	}
	return out
}

// kinds decodes a list of distinct values of allowed.
func (d *decoder) kinds(n *yaml.Node, path string, allowed []string) []string {
	var seen []string
	return d.strs(n, path, func(v string, c *yaml.Node, p string) bool {
		switch {
		case !slices.Contains(allowed, v):
			d.is.Add(yamlfile.NodePos(c), p, "unknown kind %q (allowed: %s)", v, strings.Join(allowed, ", "))
		case slices.Contains(seen, v):
			d.is.Add(yamlfile.NodePos(c), p, "kind %q listed twice", v)
		default:
			seen = append(seen, v)
			return true
		}
		return false
	})
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
