// Package codelist holds the code lists of mappings/codes: the standard
// lists a declaration is validated against (ISO 3166-1, ISO 4217, UN/ECE
// Recommendations 20 and 21, UNCL 1001, UN/LOCODE, customs offices) and the
// translations from our values to an agency's codes. One set of files feeds
// the declaration validator, the mapping engine's code:<list> transform, the
// XSD enumerations (see GenerateXSD) and the format pages under docs/formats.
//
// A file names its source and version, so a reviewer can check it against
// the publication it was taken from:
//
//	list: country                # must equal the file name
//	kind: enumeration            # enumeration | translation
//	source: ISO 3166-1 alpha-2 ...
//	version: "ISO 3166-1:2020, OBP as of 2026-11"
//	description: ...
//	codes:                       # enumeration: code → name
//	  AD: Andorra
//
// A translation maps our value to the agency's code and may name the list
// its keys come from (from: country); Load then refuses a key that is not a
// code of that list, and complete: true refuses a code of it without a key.
// to: names the list its values must come from (gate → UN/LOCODE).
package codelist

import (
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/gatehub/gatehub/mappings"
)

// Kinds of list.
const (
	Enumeration = "enumeration" // the codes themselves are the values
	Translation = "translation" // our value → the agency's code
)

// List is one code list file.
type List struct {
	Name        string
	File        string // path the list was read from
	Kind        string
	From        string // translation: the list whose codes are the keys
	To          string // translation: the list whose codes are the values
	Complete    bool   // translation: every code of From has a key
	Source      string
	Version     string
	Description string
	keys        []string          // in file order
	values      map[string]string // key → value (enumeration: code → name)
	lines       map[string]int    // key → line, for error messages
}

// Keys returns the codes (enumeration) or our values (translation), in file order.
func (l *List) Keys() []string { return slices.Clone(l.keys) }

// Has reports whether key is a code of the list (a key of a translation).
func (l *List) Has(key string) bool {
	_, ok := l.values[key]
	return ok
}

// Value returns the English name of an enumeration code, the agency code of
// a translation key.
func (l *List) Value(key string) (string, bool) {
	v, ok := l.values[key]
	return v, ok
}

// Translate gives what a mapping writes for key: the code itself for an
// enumeration (after checking it is one), the agency code for a translation.
func (l *List) Translate(key string) (string, bool) {
	v, ok := l.values[key]
	if !ok {
		return "", false
	}
	if l.Kind == Enumeration {
		return key, true
	}
	return v, true
}

// Codes returns what Translate can produce, sorted and without repeats:
// the values an XSD enumeration of this list allows.
func (l *List) Codes() []string {
	var out []string
	for _, k := range l.keys {
		v, _ := l.Translate(k)
		out = append(out, v)
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// Inverse maps an agency code back to our value, or is nil when two keys
// share a code (the list is then not reversible).
func (l *List) Inverse() map[string]string {
	inv := make(map[string]string, len(l.keys))
	for _, k := range l.keys {
		v, _ := l.Translate(k)
		if _, clash := inv[v]; clash {
			return nil
		}
		inv[v] = k
	}
	return inv
}

// Set is every list of one directory, by name. It is read-only after Load.
type Set struct {
	lists map[string]*List
}

// Lookup returns the list called name.
func (s *Set) Lookup(name string) (*List, bool) {
	l, ok := s.lists[name]
	return l, ok
}

// Has reports whether code is in the list called list; an unknown list has
// no codes.
func (s *Set) Has(list, code string) bool {
	l, ok := s.lists[list]
	return ok && l.Has(code)
}

// Names returns the list names, sorted.
func (s *Set) Names() []string {
	out := make([]string, 0, len(s.lists))
	for n := range s.lists {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Load reads every dir/*.yaml of fsys (none is an empty set). Errors name
// file:line.
func Load(fsys fs.FS, dir string) (*Set, error) {
	files, err := fs.Glob(fsys, path.Join(dir, "*.yaml"))
	if err != nil {
		return nil, fmt.Errorf("list code lists: %w", err)
	}
	s := &Set{lists: map[string]*List{}}
	var errs []string
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", f, err)
		}
		l, err := Parse(f, b)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		s.lists[l.Name] = l
	}
	for _, n := range s.Names() {
		if err := s.checkFrom(s.lists[n]); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("code lists: %s", strings.Join(errs, "; "))
	}
	return s, nil
}

func (s *Set) checkFrom(l *List) error {
	if l.To != "" {
		to, ok := s.lists[l.To]
		if !ok {
			return fmt.Errorf("%s: to: unknown list %q", l.File, l.To)
		}
		for _, k := range l.keys {
			if !to.Has(l.values[k]) {
				return fmt.Errorf("%s:%d: %q is not a code of list %s", l.File, l.lines[k], l.values[k], l.To)
			}
		}
	}
	if l.From == "" {
		return nil
	}
	from, ok := s.lists[l.From]
	if !ok {
		return fmt.Errorf("%s: from: unknown list %q", l.File, l.From)
	}
	for _, k := range l.keys {
		if !from.Has(k) {
			return fmt.Errorf("%s:%d: %q is not a code of list %s", l.File, l.lines[k], k, l.From)
		}
	}
	if l.Complete {
		for _, k := range from.keys {
			if !l.Has(k) {
				return fmt.Errorf("%s: complete: code %s of list %s has no translation", l.File, k, l.From)
			}
		}
	}
	return nil
}

var topKeys = map[string]bool{"list": true, "kind": true, "from": true, "to": true, "complete": true, "source": true, "version": true, "description": true, "codes": true}

// Parse reads one code list file; file names it in errors and must be
// called after the list (list: country in country.yaml).
func Parse(file string, b []byte) (*List, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: expected a YAML mapping at top level", file, doc.Line)
	}
	top := doc.Content[0]
	l := &List{File: file, Kind: Translation, values: map[string]string{}, lines: map[string]int{}}
	var codes *yaml.Node
	seen := map[string]bool{}
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		if !topKeys[k.Value] {
			return nil, fmt.Errorf("%s:%d: unknown key %q (allowed: codes, complete, description, from, kind, list, source, to, version)", file, k.Line, k.Value)
		}
		if seen[k.Value] {
			return nil, fmt.Errorf("%s:%d: duplicate key %q", file, k.Line, k.Value)
		}
		seen[k.Value] = true
		if k.Value == "codes" {
			codes = v
			continue
		}
		if v.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("%s:%d: %s must be a scalar", file, v.Line, k.Value)
		}
		switch k.Value {
		case "list":
			l.Name = v.Value
		case "kind":
			l.Kind = v.Value
		case "from":
			l.From = v.Value
		case "to":
			l.To = v.Value
		case "complete":
			l.Complete = v.Value == "true"
			if v.Value != "true" && v.Value != "false" {
				return nil, fmt.Errorf("%s:%d: complete must be true or false", file, v.Line)
			}
		case "source":
			l.Source = strings.TrimSpace(v.Value)
		case "version":
			l.Version = strings.TrimSpace(v.Value)
		case "description":
			l.Description = strings.TrimSpace(v.Value)
		}
	}
	for _, req := range []struct{ key, val string }{{"list", l.Name}, {"source", l.Source}, {"version", l.Version}} {
		if req.val == "" {
			return nil, fmt.Errorf("%s:%d: missing required key %q: every list names where its codes come from and which edition", file, top.Line, req.key)
		}
	}
	if want := strings.TrimSuffix(path.Base(file), ".yaml"); l.Name != want {
		return nil, fmt.Errorf("%s:%d: list %q must match the file name %q", file, top.Line, l.Name, want)
	}
	if l.Kind != Enumeration && l.Kind != Translation {
		return nil, fmt.Errorf("%s:%d: kind must be %s or %s, got %q", file, top.Line, Enumeration, Translation, l.Kind)
	}
	if l.Kind == Enumeration && (l.From != "" || l.To != "" || l.Complete) {
		return nil, fmt.Errorf("%s:%d: from, to and complete are for translations", file, top.Line)
	}
	if codes == nil || codes.Kind != yaml.MappingNode || len(codes.Content) == 0 {
		return nil, fmt.Errorf("%s:%d: codes must be a non-empty mapping", file, top.Line)
	}
	for i := 0; i+1 < len(codes.Content); i += 2 {
		k, v := codes.Content[i], codes.Content[i+1]
		if k.Value == "" {
			return nil, fmt.Errorf("%s:%d: empty code", file, k.Line)
		}
		if v.Kind != yaml.ScalarNode || v.Value == "" {
			return nil, fmt.Errorf("%s:%d: value for %q must be a non-empty scalar", file, v.Line, k.Value)
		}
		if _, dup := l.values[k.Value]; dup {
			return nil, fmt.Errorf("%s:%d: duplicate code %q", file, k.Line, k.Value)
		}
		l.keys = append(l.keys, k.Value)
		l.values[k.Value] = v.Value
		l.lines[k.Value] = k.Line
	}
	return l, nil
}

var (
	shippedOnce sync.Once
	shipped     *Set
	shippedErr  error
)

// Shipped returns the lists compiled into the binary from mappings/codes,
// for callers that are given no directory (tests, tools). The hub itself
// loads the configured mappings directory so that the validator and the
// mappings read the same files.
func Shipped() (*Set, error) {
	shippedOnce.Do(func() { shipped, shippedErr = Load(mappings.Codes, "codes") })
	return shipped, shippedErr
}
