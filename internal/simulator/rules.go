package simulator

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"
	"go.yaml.in/yaml/v3"

	"github.com/gatehub/gatehub/adapters/agency"
)

// Rule is one agency business check run on the incoming message: a pure
// function of the verified XML root and the agency clock. ok=false carries
// the NACK reason code and a human text.
type Rule struct {
	Name  string
	Check func(root *etree.Element, now time.Time) (ok bool, code, text string)
}

// RuleFile is one agency's simulator data (simulators/<code>.yaml): how its
// messages carry the envelope and the business rules it checks. The rules
// are declarative checks on element paths, so a new agency's simulator is
// a data file too.
type RuleFile struct {
	Agency   string        `yaml:"agency"`
	Envelope *EnvelopeSpec `yaml:"envelope"`
	Rules    []RuleSpec    `yaml:"rules"`
	// RedChannel is how this agency holds a truck when the demo sends a
	// share of the trucks to the red channel (simulatorRedChannel); an
	// agency without one never holds. It is data so that which agency
	// inspects, where and with which reason is no Go code.
	RedChannel *RedChannelSpec `yaml:"redChannel"`
}

// RedChannelSpec is where and why a simulated agency holds a truck, and how
// long after its ACK the HOLD comes.
type RedChannelSpec struct {
	Checkpoint string        `yaml:"checkpoint"`
	Code       string        `yaml:"code"`
	Text       string        `yaml:"text"`
	HoldAfter  time.Duration `yaml:"holdAfter"`
}

// EnvelopeSpec locates the routing fields of a format whose message id is
// a root attribute and whose other fields are children of a head element
// (the China e-port layout). Omitted: the schemas/common Header.
type EnvelopeSpec struct {
	Head        string `yaml:"head"`
	IDAttribute string `yaml:"idAttribute"`
	Sender      string `yaml:"sender"`
	Receiver    string `yaml:"receiver"`
	Declaration string `yaml:"declaration"`
	Version     string `yaml:"version"`
	Previous    string `yaml:"previous"`
}

// RuleSpec is one rule: its checks run on the root, or on every element at
// Each in document order (None fails a message without any); the first
// failing check is the NACK. Texts may use {name} for a Vars entry read
// from the element, {value} for the checked value, {n} for the element's
// 1-based position, {today}, and per check {reason}, {sum}, {total}.
type RuleSpec struct {
	Name     string            `yaml:"name"`
	Each     string            `yaml:"each"`
	None     *Failure          `yaml:"none"`
	Vars     map[string]string `yaml:"vars"`
	Defaults map[string]string `yaml:"defaults"`
	Checks   []CheckSpec       `yaml:"checks"`
}

// Failure is a NACK reason: code and text template.
type Failure struct {
	Code string `yaml:"code"`
	Text string `yaml:"text"`
}

// CheckSpec is one check; exactly one of its kinds is set.
type CheckSpec struct {
	// Required: the element's text must not be empty.
	Required string `yaml:"required"`
	// Date: a readable date; NotBefore: a date not before the agency's
	// today (a document is valid through its expiry date); unreadable fails.
	Date      string `yaml:"date"`
	NotBefore string `yaml:"notBefore"`
	// Pattern: Path's text must match Regexp.
	Pattern *struct {
		Path   string `yaml:"path"`
		Regexp string `yaml:"regexp"`
	} `yaml:"pattern"`
	// Prefixes: the longest entry prefixing Path's text fails with its own
	// code and text ({reason} is the entry's reason).
	Prefixes *struct {
		Path    string `yaml:"path"`
		Entries []struct {
			Prefix string `yaml:"prefix"`
			Code   string `yaml:"code"`
			Reason string `yaml:"reason"`
		} `yaml:"entries"`
		Text string `yaml:"text"`
	} `yaml:"prefixes"`
	// SumAtMost: the values at Items may add up to Total plus Tolerance;
	// each value is a number with the unitCode attribute Unit, if set.
	// Unreadable values fail with Unreadable's text.
	SumAtMost *struct {
		Items      string  `yaml:"items"`
		Total      string  `yaml:"total"`
		Tolerance  float64 `yaml:"tolerance"`
		Unit       string  `yaml:"unit"`
		Unreadable string  `yaml:"unreadable"`
	} `yaml:"sumAtMost"`
	Failure `yaml:",inline"`
}

// LoadRules reads dir/<code>.yaml for one agency.
func LoadRules(dir, code string) (RuleFile, error) {
	path := filepath.Join(dir, code+".yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		return RuleFile{}, fmt.Errorf("simulator rules of %s: %w", code, err)
	}
	var f RuleFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return RuleFile{}, fmt.Errorf("%s: %w", path, err)
	}
	if f.Agency != code {
		return RuleFile{}, fmt.Errorf("%s: agency %q, want %q", path, f.Agency, code)
	}
	if _, err := f.Compile(); err != nil {
		return RuleFile{}, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// EnvelopeReader reads the envelope of the agency's messages.
func (f RuleFile) EnvelopeReader() agency.EnvelopeReader {
	e := f.Envelope
	if e == nil {
		return agency.ReadHeader
	}
	return agency.NewHeaderReader(e.Head, e.IDAttribute, e.Sender, e.Receiver, e.Declaration, e.Version, e.Previous)
}

// Compile turns the rule specs into Rules, refusing a spec that cannot run.
func (f RuleFile) Compile() ([]Rule, error) {
	var out []Rule
	var errs []error
	for i, rs := range f.Rules {
		r, err := rs.compile()
		if err != nil {
			errs = append(errs, fmt.Errorf("rules[%d] (%s): %w", i, rs.Name, err))
			continue
		}
		out = append(out, r)
	}
	return out, errors.Join(errs...)
}

var placeholder = regexp.MustCompile(`\{[a-z]+\}`)

// render fills a text template; unknown names stay as written.
func render(tmpl string, vals map[string]string) string {
	return placeholder.ReplaceAllStringFunc(tmpl, func(m string) string {
		if v, ok := vals[m[1:len(m)-1]]; ok {
			return v
		}
		return m
	})
}

type check func(el *etree.Element, vals map[string]string, today time.Time) (ok bool, code, text string)

func (rs RuleSpec) compile() (Rule, error) {
	if rs.Name == "" {
		return Rule{}, errors.New("a rule needs a name")
	}
	if rs.None != nil && rs.Each == "" {
		return Rule{}, errors.New("none needs each")
	}
	var checks []check
	for j, cs := range rs.Checks {
		c, err := cs.compile()
		if err != nil {
			return Rule{}, fmt.Errorf("checks[%d]: %w", j, err)
		}
		checks = append(checks, c)
	}
	if len(checks) == 0 && rs.None == nil {
		return Rule{}, errors.New("a rule needs checks")
	}
	return Rule{Name: rs.Name, Check: func(root *etree.Element, now time.Time) (bool, string, string) {
		today := agency.Today(now)
		els := []*etree.Element{root}
		if rs.Each != "" {
			els = root.FindElements(rs.Each)
		}
		if len(els) == 0 && rs.None != nil {
			return false, rs.None.Code, render(rs.None.Text, map[string]string{"today": today.Format(time.DateOnly)})
		}
		for i, el := range els {
			vals := map[string]string{"n": strconv.Itoa(i + 1), "today": today.Format(time.DateOnly)}
			for k, p := range rs.Vars {
				vals[k] = agency.Text(el, p)
				if vals[k] == "" && rs.Defaults[k] != "" {
					vals[k] = render(rs.Defaults[k], vals)
				}
			}
			for _, c := range checks {
				if ok, code, text := c(el, vals, today); !ok {
					return false, code, text
				}
			}
		}
		return true, "", ""
	}}, nil
}

func (cs CheckSpec) compile() (check, error) {
	kinds := 0
	for _, set := range []bool{cs.Required != "", cs.Date != "", cs.NotBefore != "", cs.Pattern != nil, cs.Prefixes != nil, cs.SumAtMost != nil} {
		if set {
			kinds++
		}
	}
	if kinds != 1 {
		return nil, errors.New("a check is exactly one of required, date, notBefore, pattern, prefixes, sumAtMost")
	}
	if cs.Prefixes == nil && cs.Code == "" {
		return nil, errors.New("a check needs a code")
	}
	fail := func(vals map[string]string, value string) (bool, string, string) {
		vals["value"] = value
		return false, cs.Code, render(cs.Text, vals)
	}
	switch {
	case cs.Required != "":
		return func(el *etree.Element, vals map[string]string, _ time.Time) (bool, string, string) {
			if agency.Text(el, cs.Required) == "" {
				return fail(vals, "")
			}
			return true, "", ""
		}, nil
	case cs.Date != "", cs.NotBefore != "":
		p, strict := cs.Date, false
		if p == "" {
			p, strict = cs.NotBefore, true
		}
		return func(el *etree.Element, vals map[string]string, today time.Time) (bool, string, string) {
			raw := agency.Text(el, p)
			d, err := agency.ParseDate(raw)
			if err != nil || (strict && d.Before(today)) {
				if err == nil {
					raw = d.Format(time.DateOnly)
				}
				return fail(vals, raw)
			}
			return true, "", ""
		}, nil
	case cs.Pattern != nil:
		re, err := regexp.Compile(cs.Pattern.Regexp)
		if err != nil {
			return nil, fmt.Errorf("pattern: %w", err)
		}
		return func(el *etree.Element, vals map[string]string, _ time.Time) (bool, string, string) {
			if v := agency.Text(el, cs.Pattern.Path); !re.MatchString(v) {
				return fail(vals, v)
			}
			return true, "", ""
		}, nil
	case cs.Prefixes != nil:
		px := cs.Prefixes
		for _, e := range px.Entries {
			if e.Prefix == "" || e.Code == "" {
				return nil, errors.New("prefixes: every entry needs a prefix and a code")
			}
		}
		return func(el *etree.Element, vals map[string]string, _ time.Time) (bool, string, string) {
			v := agency.Text(el, px.Path)
			best := -1
			for i, e := range px.Entries {
				if strings.HasPrefix(v, e.Prefix) && (best < 0 || len(e.Prefix) > len(px.Entries[best].Prefix)) {
					best = i
				}
			}
			if best < 0 {
				return true, "", ""
			}
			vals["value"], vals["reason"] = v, px.Entries[best].Reason
			return false, px.Entries[best].Code, render(px.Text, vals)
		}, nil
	default:
		s := cs.SumAtMost
		if s.Items == "" || s.Total == "" {
			return nil, errors.New("sumAtMost needs items and total")
		}
		num := func(el *etree.Element) (float64, string, bool) {
			if el == nil {
				return 0, "missing", false
			}
			if s.Unit != "" {
				if u := el.SelectAttrValue("unitCode", s.Unit); u != s.Unit {
					return 0, fmt.Sprintf("unit %q, want %s", u, s.Unit), false
				}
			}
			v, err := strconv.ParseFloat(strings.TrimSpace(el.Text()), 64)
			if err != nil || v < 0 {
				return 0, fmt.Sprintf("%q is not a number", el.Text()), false
			}
			return v, "", true
		}
		return func(el *etree.Element, vals map[string]string, _ time.Time) (bool, string, string) {
			total, why, ok := num(el.FindElement(s.Total))
			if !ok {
				vals["value"] = why
				return false, cs.Code, render(s.Unreadable, vals)
			}
			var sum float64
			for _, item := range el.FindElements(s.Items) {
				v, why, ok := num(item)
				if !ok {
					vals["value"] = why
					return false, cs.Code, render(s.Unreadable, vals)
				}
				sum += v
			}
			if sum > total+s.Tolerance {
				vals["sum"], vals["total"] = strconv.FormatFloat(sum, 'f', 3, 64), strconv.FormatFloat(total, 'f', 3, 64)
				return false, cs.Code, render(cs.Text, vals)
			}
			return true, "", ""
		}, nil
	}
}
