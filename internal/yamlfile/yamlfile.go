// Package yamlfile holds what the configuration files decoded from YAML
// with positions share (gate files, agency files): a problem at a
// file:line:col, the error listing every problem of a run, and the node
// walks that report unknown shapes and duplicate keys where they are
// written.
package yamlfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Pos is a 1-based position in a file.
type Pos struct{ Line, Col int }

// Issue is one problem found in a configuration file. Line and Col are
// zero for values built in Go rather than parsed, in which case Path alone
// locates the problem.
type Issue struct {
	File string
	Line int
	Col  int
	Path string // e.g. lanes[1].devices[0].tokenSHA256
	Msg  string
}

func (i Issue) String() string {
	where := i.File
	if where == "" {
		where = "<config>"
	}
	if i.Line > 0 {
		where = fmt.Sprintf("%s:%d:%d", where, i.Line, i.Col)
	}
	if i.Path != "" {
		return fmt.Sprintf("%s: %s: %s", where, i.Path, i.Msg)
	}
	return fmt.Sprintf("%s: %s", where, i.Msg)
}

// ConfigError carries every issue found, not just the first, so whoever
// fixes a file sees the whole list in one validation run.
type ConfigError struct {
	Issues []Issue
}

func (e *ConfigError) Error() string {
	lines := make([]string, len(e.Issues))
	for i, is := range e.Issues {
		lines[i] = is.String()
	}
	return strings.Join(lines, "\n")
}

// Issues collects problems while decoding and validating one file.
type Issues struct {
	File string
	List []Issue
}

// Add records a problem at p.
func (is *Issues) Add(p Pos, path, format string, args ...any) {
	is.List = append(is.List, Issue{File: is.File, Line: p.Line, Col: p.Col, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// Covers reports whether a problem was already recorded at path or at one
// of its parents, so checks on a value that failed to decode are dropped
// rather than restating the problem in other words.
func (is *Issues) Covers(path string) bool {
	for _, i := range is.List {
		p := i.Path
		if p == "" || path == p || strings.HasPrefix(path, p+".") || strings.HasPrefix(path, p+"[") {
			return true
		}
	}
	return false
}

// Err is nil when nothing was found, otherwise a *ConfigError with the
// issues in file order, so the output reads top to bottom.
func (is *Issues) Err() error {
	if len(is.List) == 0 {
		return nil
	}
	return Sorted(is.List)
}

// Sorted is a *ConfigError of list in file, line and column order.
func Sorted(list []Issue) *ConfigError {
	out := append([]Issue(nil), list...)
	sort.SliceStable(out, func(a, b int) bool {
		if out[a].File != out[b].File {
			return out[a].File < out[b].File
		}
		if out[a].Line != out[b].Line {
			return out[a].Line < out[b].Line
		}
		return out[a].Col < out[b].Col
	})
	return &ConfigError{Issues: out}
}

// NodePos is where n is written.
func NodePos(n *yaml.Node) Pos { return Pos{n.Line, n.Column} }

// Resolve follows aliases to the node they name.
func Resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// Join is the path of key under path.
func Join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// KindName says what n is, for "must be a mapping, got …".
func KindName(n *yaml.Node) string {
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

// SyntaxPos digs the line out of a yaml syntax error; the library reports
// no column for those.
func SyntaxPos(err error) Pos {
	if m := syntaxLine.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return Pos{n, 1}
	}
	return Pos{1, 1}
}

// Pairs calls each for every key of the mapping n, in file order, after
// reporting a node that is not a mapping and every duplicate key (the
// duplicate itself is skipped). It returns the keys seen, nil when n is no
// mapping.
func Pairs(is *Issues, n *yaml.Node, path string, each func(k, v *yaml.Node, path string)) map[string]Pos {
	n = Resolve(n)
	if n.Kind != yaml.MappingNode {
		is.Add(NodePos(n), path, "must be a mapping, got %s", KindName(n))
		return nil
	}
	seen := map[string]Pos{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], Resolve(n.Content[i+1])
		kp := Join(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			is.Add(NodePos(k), kp, "duplicate key (first at %d:%d)", first.Line, first.Col)
			continue
		}
		seen[k.Value] = NodePos(k)
		each(k, v, kp)
	}
	return seen
}

// SortedKeys are m's keys in order.
func SortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Sequence calls each for every item of the list n, in order, after
// reporting a node that is not a list (it then returns false).
func Sequence(is *Issues, n *yaml.Node, path string, each func(i int, c *yaml.Node, path string)) bool {
	n = Resolve(n)
	if n.Kind != yaml.SequenceNode {
		is.Add(NodePos(n), path, "must be a list, got %s", KindName(n))
		return false
	}
	for i, c := range n.Content {
		each(i, Resolve(c), fmt.Sprintf("%s[%d]", path, i))
	}
	return true
}

// Scalar is the value of a single, non-empty value node; anything else is
// reported.
func Scalar(is *Issues, n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		is.Add(NodePos(n), path, "must be a single value, got %s", KindName(n))
		return "", false
	}
	if n.Tag == "!!null" {
		is.Add(NodePos(n), path, "must not be empty")
		return "", false
	}
	return n.Value, true
}

// Document decodes the one YAML document of a file holding one what (gate,
// agency) and returns its root node, nil when there is none (a syntax
// error, an empty file: both recorded in is). A second document is
// recorded too, since it would otherwise be ignored without a word.
func Document(is *Issues, data []byte, what string) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		is.Add(SyntaxPos(err), "", "invalid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		is.Add(Pos{Line: 1, Col: 1}, "", "empty %s file", what)
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		p := NodePos(&extra)
		if err != nil {
			p = SyntaxPos(err)
		}
		is.Add(p, "", "one %s per file: found a second YAML document", what)
	}
	return doc.Content[0]
}
