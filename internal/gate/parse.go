package gate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gatehub/gatehub/internal/agencies"
)

// Parse decodes and validates one gate file against the agencies known
// (deploy/agencies): naming any other agency is an error. name is used in
// error messages only. On failure the error is a *ConfigError listing every
// problem found, each with file:line:col.
func Parse(name string, data []byte, known *agencies.Set) (*Gate, error) {
	d := &decoder{is: issues{file: name}, pos: map[string]Pos{}}
	g := &Gate{Source: name, pos: d.pos, known: known}

	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		d.is.add(syntaxPos(err), "", "invalid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
		return nil, d.is.err()
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		d.is.add(Pos{1, 1}, "", "empty gate file")
		return nil, d.is.err()
	}
	// A second document would otherwise be ignored without a word.
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		p := Pos{extra.Line, extra.Column}
		if err != nil {
			p = syntaxPos(err)
		}
		d.is.add(p, "", "one gate per file: found a second YAML document")
	}
	d.gate(doc.Content[0], g)
	g.normalize()
	// Semantic checks run even when decoding found problems, so one run
	// lists everything; checks on values that failed to decode are dropped,
	// they would only repeat the decoding problem in other words.
	var ce *ConfigError
	if err := g.validate(name); errors.As(err, &ce) {
		for _, is := range ce.Issues {
			if !d.covers(is.Path) {
				d.is.list = append(d.is.list, is)
			}
		}
	}
	if err := d.is.err(); err != nil {
		return nil, err
	}
	g.defaultDeadlines()
	return g, nil
}

// defaultDeadlines gives every agency a rule requires the agency file's
// ACK deadline where the gate sets none of its own.
func (g *Gate) defaultDeadlines() {
	if g.Policy.AckDeadlines == nil {
		g.Policy.AckDeadlines = map[string]time.Duration{}
	}
	for _, r := range g.Policy.Rules {
		for _, a := range r.Agencies {
			if _, set := g.Policy.AckDeadlines[a]; set {
				continue
			}
			if ag, ok := g.known.Lookup(a); ok {
				g.Policy.AckDeadlines[a] = ag.AckDeadline
			}
		}
	}
}

// covers reports whether a decoding issue already concerns path or one of
// its parents.
func (d *decoder) covers(path string) bool {
	for _, is := range d.is.list {
		p := is.Path
		if p == "" || path == p || strings.HasPrefix(path, p+".") || strings.HasPrefix(path, p+"[") {
			return true
		}
	}
	return false
}

// LoadFile reads and parses one gate file.
func LoadFile(path string, known *agencies.Set) (*Gate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load gate: %w", err)
	}
	return Parse(path, data, known)
}

var syntaxLine = regexp.MustCompile(`line (\d+)`)

// syntaxPos digs the line out of a yaml syntax error; the library reports
// no column for those.
func syntaxPos(err error) Pos {
	if m := syntaxLine.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return Pos{n, 1}
	}
	return Pos{1, 1}
}

type decoder struct {
	is  issues
	pos map[string]Pos
}

func nodePos(n *yaml.Node) Pos { return Pos{n.Line, n.Column} }

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// field describes one key of a mapping: whether it must be present and how
// to decode its value.
type field struct {
	required bool
	decode   func(n *yaml.Node, path string)
}

// mapping decodes a mapping node key by key, reporting unknown, duplicate
// and missing keys; every decoded value's position is recorded under its
// path so later checks can point at it.
func (d *decoder) mapping(n *yaml.Node, path string, fields map[string]field) {
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
		f, ok := fields[k.Value]
		if !ok {
			d.is.add(nodePos(k), kp, "unknown key %q (known: %s)", k.Value, knownKeys(fields))
			continue
		}
		d.pos[kp] = nodePos(v)
		f.decode(v, kp)
	}
	for _, name := range sortedKeys(fields) {
		if _, ok := seen[name]; !ok && fields[name].required {
			d.is.add(nodePos(n), join(path, name), "missing required field %q", name)
		}
	}
}

func (d *decoder) sequence(n *yaml.Node, path string, each func(i int, n *yaml.Node, path string)) {
	n = resolve(n)
	if n.Kind != yaml.SequenceNode {
		d.is.add(nodePos(n), path, "must be a list, got %s", kindName(n))
		return
	}
	for i, c := range n.Content {
		c = resolve(c)
		p := fmt.Sprintf("%s[%d]", path, i)
		d.pos[p] = nodePos(c)
		each(i, c, p)
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
	return n.Value, true
}

func (d *decoder) str(dst *string) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		if v, ok := d.scalar(n, path); ok {
			*dst = strings.TrimSpace(v)
		}
	}
}

func (d *decoder) strs(dst *[]string) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		out := []string{}
		d.sequence(n, path, func(_ int, c *yaml.Node, p string) {
			if v, ok := d.scalar(c, p); ok {
				out = append(out, strings.TrimSpace(v))
			}
		})
		*dst = out
	}
}

func (d *decoder) number(dst *float64) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		v, ok := d.scalar(n, path)
		if !ok {
			return
		}
		if n.Tag != "!!int" && n.Tag != "!!float" {
			d.is.add(nodePos(n), path, "must be a number, got %q", v)
			return
		}
		f, err := strconv.ParseFloat(strings.ReplaceAll(v, "_", ""), 64)
		if err != nil {
			d.is.add(nodePos(n), path, "must be a number, got %q", v)
			return
		}
		*dst = f
	}
}

func (d *decoder) duration(dst *time.Duration) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		v, ok := d.scalar(n, path)
		if !ok {
			return
		}
		dur, err := time.ParseDuration(v)
		if err != nil {
			d.is.add(nodePos(n), path, "must be a Go duration such as 15m or 90s, got %q", v)
			return
		}
		*dst = dur
	}
}

func (d *decoder) gate(n *yaml.Node, g *Gate) {
	d.mapping(n, "", map[string]field{
		"code":     {true, d.str(&g.Code)},
		"name":     {true, d.str(&g.Name)},
		"province": {true, d.str(&g.Province)},
		"counterpart": {true, func(n *yaml.Node, p string) {
			d.mapping(n, p, map[string]field{
				"name":     {true, d.str(&g.Counterpart.Name)},
				"nameCN":   {true, d.str(&g.Counterpart.NameCN)},
				"portCode": {true, d.str(&g.Counterpart.PortCode)},
			})
		}},
		"lanes": {true, func(n *yaml.Node, p string) {
			g.Lanes = []Lane{}
			d.sequence(n, p, func(_ int, n *yaml.Node, p string) {
				g.Lanes = append(g.Lanes, d.lane(n, p))
			})
		}},
		"checkpoints": {false, func(n *yaml.Node, p string) {
			g.Checkpoints = []Checkpoint{}
			d.sequence(n, p, func(_ int, n *yaml.Node, p string) {
				g.Checkpoints = append(g.Checkpoints, d.checkpoint(n, p))
			})
		}},
		"policy": {true, func(n *yaml.Node, p string) { d.policy(n, p, &g.Policy) }},
	})
}

func (d *decoder) checkpoint(n *yaml.Node, path string) Checkpoint {
	var c Checkpoint
	d.mapping(n, path, map[string]field{
		"id":        {true, d.str(&c.ID)},
		"name":      {true, d.str(&c.Name)},
		"direction": {true, d.str(&c.Direction)},
		"requires": {true, func(n *yaml.Node, p string) {
			d.mapping(n, p, map[string]field{
				"readings": {true, d.strs(&c.Readings)},
				"agencies": {true, func(n *yaml.Node, p string) {
					// "all" or a list of agencies.
					if n.Kind == yaml.ScalarNode {
						var v string
						d.str(&v)(n, p)
						c.Agencies = []string{v}
						return
					}
					d.strs(&c.Agencies)(n, p)
				}},
			})
		}},
	})
	return c
}

func (d *decoder) lane(n *yaml.Node, path string) Lane {
	var l Lane
	d.mapping(n, path, map[string]field{
		"id":         {true, d.str(&l.ID)},
		"checkpoint": {false, d.str(&l.Checkpoint)},
		"direction":  {true, d.str(&l.Direction)},
		"cargoKinds": {true, d.strs(&l.CargoKinds)},
		"devices": {true, func(n *yaml.Node, p string) {
			l.Devices = []Device{}
			d.sequence(n, p, func(_ int, n *yaml.Node, p string) {
				var dev Device
				d.mapping(n, p, map[string]field{
					"id":              {true, d.str(&dev.ID)},
					"kind":            {true, d.str(&dev.Kind)},
					"tokenSHA256":     {true, d.str(&dev.TokenSHA256)},
					"certFingerprint": {false, d.str(&dev.CertFingerprint)},
				})
				l.Devices = append(l.Devices, dev)
			})
		}},
	})
	return l
}

func (d *decoder) policy(n *yaml.Node, path string, pol *Policy) {
	d.mapping(n, path, map[string]field{
		"rules": {true, func(n *yaml.Node, p string) {
			pol.Rules = []Rule{}
			d.sequence(n, p, func(_ int, n *yaml.Node, p string) {
				var r Rule
				d.mapping(n, p, map[string]field{
					"direction":  {true, d.str(&r.Direction)},
					"cargoKinds": {false, d.strs(&r.CargoKinds)},
					"hsChapters": {false, d.strs(&r.HSChapters)},
					"agencies":   {true, d.strs(&r.Agencies)},
				})
				pol.Rules = append(pol.Rules, r)
			})
		}},
		"ackDeadlines": {false, func(n *yaml.Node, p string) {
			pol.AckDeadlines = map[string]time.Duration{}
			// Keys are agency codes, checked against the known agencies by
			// validatePolicy; any key decodes here so that check names it.
			n = resolve(n)
			if n.Kind != yaml.MappingNode {
				d.is.add(nodePos(n), p, "must be a mapping, got %s", kindName(n))
				return
			}
			fields := map[string]field{}
			for i := 0; i+1 < len(n.Content); i += 2 {
				a := n.Content[i].Value
				fields[a] = field{false, func(n *yaml.Node, p string) {
					var v time.Duration
					d.duration(&v)(n, p)
					pol.AckDeadlines[a] = v
				}}
			}
			d.mapping(n, p, fields)
		}},
		"weightTolerancePercent": {true, d.number(&pol.WeightTolerancePercent)},
		"minPlateConfidence":     {true, d.number(&pol.MinPlateConfidence)},
		"decisionTTL":            {true, d.duration(&pol.DecisionTTL)},
		"crossingWindow":         {false, d.duration(&pol.CrossingWindow)},
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

func knownKeys(fields map[string]field) string {
	return strings.Join(sortedKeys(fields), ", ")
}
