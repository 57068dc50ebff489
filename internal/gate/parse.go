package gate

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gatehub/gatehub/internal/agencies"
	"github.com/gatehub/gatehub/internal/yamlfile"
)

// Parse decodes and validates one gate file against the agencies known
// (deploy/agencies): naming any other agency is an error. name is used in
// error messages only. On failure the error is a *ConfigError listing every
// problem found, each with file:line:col.
func Parse(name string, data []byte, known *agencies.Set) (*Gate, error) {
	d := &decoder{is: issues{File: name}, pos: map[string]Pos{}}
	g := &Gate{Source: name, pos: d.pos, known: known}
	root := yamlfile.Document(&d.is, data, "gate")
	if root == nil {
		return nil, d.is.Err()
	}
	d.gate(root, g)
	g.normalize()
	// Semantic checks run even when decoding found problems, so one run
	// lists everything; checks on values that failed to decode are dropped,
	// they would only repeat the decoding problem in other words.
	var ce *ConfigError
	if err := g.validate(name); errors.As(err, &ce) {
		for _, is := range ce.Issues {
			if !d.is.Covers(is.Path) {
				d.is.List = append(d.is.List, is)
			}
		}
	}
	if err := d.is.Err(); err != nil {
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

// LoadFile reads and parses one gate file.
func LoadFile(path string, known *agencies.Set) (*Gate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load gate: %w", err)
	}
	return Parse(path, data, known)
}

type decoder struct {
	is  issues
	pos map[string]Pos
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
	seen := yamlfile.Pairs(&d.is, n, path, func(k, v *yaml.Node, kp string) {
		f, ok := fields[k.Value]
		if !ok {
			d.is.Add(yamlfile.NodePos(k), kp, "unknown key %q (known: %s)", k.Value, knownKeys(fields))
			return
		}
		d.pos[kp] = yamlfile.NodePos(v)
		f.decode(v, kp)
	})
	if seen == nil {
		return
	}
	for _, name := range yamlfile.SortedKeys(fields) {
		if _, ok := seen[name]; !ok && fields[name].required {
			d.is.Add(yamlfile.NodePos(yamlfile.Resolve(n)), yamlfile.Join(path, name), "missing required field %q", name)
		}
	}
}

func (d *decoder) sequence(n *yaml.Node, path string, each func(i int, n *yaml.Node, path string)) {
	yamlfile.Sequence(&d.is, n, path, func(i int, c *yaml.Node, p string) {
		d.pos[p] = yamlfile.NodePos(c)
		each(i, c, p)
	})
}

func (d *decoder) scalar(n *yaml.Node, path string) (string, bool) {
	return yamlfile.Scalar(&d.is, n, path)
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
			d.is.Add(yamlfile.NodePos(n), path, "must be a number, got %q", v)
			return
		}
		f, err := strconv.ParseFloat(strings.ReplaceAll(v, "_", ""), 64)
		if err != nil {
			d.is.Add(yamlfile.NodePos(n), path, "must be a number, got %q", v)
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
			d.is.Add(yamlfile.NodePos(n), path, "must be a Go duration such as 15m or 90s, got %q", v)
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
			n = yamlfile.Resolve(n)
			if n.Kind != yaml.MappingNode {
				d.is.Add(yamlfile.NodePos(n), p, "must be a mapping, got %s", yamlfile.KindName(n))
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

func knownKeys(fields map[string]field) string {
	return strings.Join(yamlfile.SortedKeys(fields), ", ")
}
