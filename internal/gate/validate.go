package gate

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gatehub/gatehub/internal/yamlfile"
)

var (
	reGateCode  = regexp.MustCompile(`^[A-Z][A-Z0-9]{1,15}$`)
	reLaneID    = regexp.MustCompile(`^[A-Z0-9][A-Z0-9-]{0,15}$`)
	reDeviceID  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	rePortCode  = regexp.MustCompile(`^[0-9]{4}$`)
	reHSChapter = regexp.MustCompile(`^(0[1-9]|[1-8][0-9]|9[0-7])$`)
	reSHA256    = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// Limits on policy values. They are deliberately loose; they exist to catch
// unit mistakes (0.02 vs 2 percent, 85 vs 0.85, 2h vs 2m) rather than to
// second-guess a province.
const (
	maxTolerancePercent = 50
	maxAckDeadline      = 72 * time.Hour
	// A signed lane decision lives this long at most, so a copied token
	// cannot open a barrier much later.
	maxDecisionTTL = time.Hour
	// A crossing window longer than a week is no window.
	maxCrossingWindow = 7 * 24 * time.Hour
)

// Validate checks a gate built in Go against the same rules a parsed gate
// file passes. Hex digests must already be lowercase without separators.
func (g *Gate) Validate() error {
	return g.validate(g.Source)
}

// normalize puts digests into the canonical form that lookups compare:
// lowercase hex, no separators (openssl prints "AB:CD:…").
func (g *Gate) normalize() {
	for i := range g.Lanes {
		for j := range g.Lanes[i].Devices {
			dev := &g.Lanes[i].Devices[j]
			dev.TokenSHA256 = strings.ToLower(dev.TokenSHA256)
			dev.CertFingerprint = strings.ToLower(strings.ReplaceAll(dev.CertFingerprint, ":", ""))
		}
	}
}

func (g *Gate) validate(file string) error {
	is := &issues{File: file}
	add := func(path, format string, args ...any) { is.Add(g.at(path), path, format, args...) }
	oneOf := func(path, v, what string, allowed []string) bool {
		if !slices.Contains(allowed, v) {
			add(path, "unknown %s %q (allowed: %s)", what, v, strings.Join(allowed, ", "))
			return false
		}
		return true
	}
	nonEmpty := func(path, v string) {
		if v == "" {
			add(path, "must not be empty")
		}
	}

	if !reGateCode.MatchString(g.Code) {
		add("code", "gate code %q must be 2-16 uppercase letters or digits, starting with a letter", g.Code)
	}
	nonEmpty("name", g.Name)
	nonEmpty("province", g.Province)
	nonEmpty("counterpart.name", g.Counterpart.Name)
	nonEmpty("counterpart.nameCN", g.Counterpart.NameCN)
	if !rePortCode.MatchString(g.Counterpart.PortCode) {
		add("counterpart.portCode", "CN customs port code must be 4 digits, got %q", g.Counterpart.PortCode)
	}

	if len(g.Lanes) == 0 {
		add("lanes", "a gate needs at least one lane")
	}
	laneSeen := map[string]string{}
	devSeen := map[string]string{}
	tokenSeen := map[string]string{}
	certSeen := map[string]string{}
	firstAt := func(path string) string {
		p := g.at(path)
		if p.Line == 0 {
			return path
		}
		return fmt.Sprintf("%d:%d", p.Line, p.Col)
	}
	for i, l := range g.Lanes {
		lp := fmt.Sprintf("lanes[%d]", i)
		if !reLaneID.MatchString(l.ID) {
			add(lp+".id", "lane id %q must be 1-16 uppercase letters, digits or '-'", l.ID)
		} else if first, dup := laneSeen[l.ID]; dup {
			add(lp+".id", "duplicate lane id %q (first at %s)", l.ID, firstAt(first))
		} else {
			laneSeen[l.ID] = lp + ".id"
		}
		oneOf(lp+".direction", l.Direction, "direction", Directions)
		kindList(add, oneOf, lp+".cargoKinds", l.CargoKinds, "cargo kind", CargoKinds)
		if len(l.Devices) == 0 {
			add(lp+".devices", "a lane needs at least one device")
		}
		barrier, kindsOK := false, true
		for j, dev := range l.Devices {
			dp := fmt.Sprintf("%s.devices[%d]", lp, j)
			if !reDeviceID.MatchString(dev.ID) {
				add(dp+".id", "device id %q must be letters, digits, '.', '_' or '-'", dev.ID)
			} else if first, dup := devSeen[dev.ID]; dup {
				add(dp+".id", "duplicate device id %q (first at %s)", dev.ID, firstAt(first))
			} else {
				devSeen[dev.ID] = dp + ".id"
			}
			kindsOK = oneOf(dp+".kind", dev.Kind, "device kind", DeviceKinds) && kindsOK
			barrier = barrier || dev.Kind == "barrier"
			if !reSHA256.MatchString(dev.TokenSHA256) {
				add(dp+".tokenSHA256", "must be the 64-hex-digit SHA-256 of the device token, never the token itself")
			} else if first, dup := tokenSeen[dev.TokenSHA256]; dup {
				add(dp+".tokenSHA256", "token hash already used by another device (first at %s); every device needs its own token", firstAt(first))
			} else {
				tokenSeen[dev.TokenSHA256] = dp + ".tokenSHA256"
			}
			if dev.CertFingerprint != "" {
				if !reSHA256.MatchString(dev.CertFingerprint) {
					add(dp+".certFingerprint", "must be the SHA-256 fingerprint of the device certificate (64 hex digits, colons allowed)")
				} else if first, dup := certSeen[dev.CertFingerprint]; dup {
					add(dp+".certFingerprint", "certificate already used by another device (first at %s)", firstAt(first))
				} else {
					certSeen[dev.CertFingerprint] = dp + ".certFingerprint"
				}
			}
		}
		if len(l.Devices) > 0 && kindsOK && !barrier {
			add(lp+".devices", "lane %q has no barrier; nothing could act on its decisions", l.ID)
		}
	}

	g.validateCheckpoints(add, oneOf, firstAt)
	g.validatePolicy(add, oneOf)
	return is.Err()
}

// validateCheckpoints checks the route: unique checkpoints with known
// readings and agencies, each with lanes of its direction, and every lane
// at one checkpoint when the file declares any.
func (g *Gate) validateCheckpoints(add addFunc, oneOf oneOfFunc, firstAt func(string) string) {
	seen := map[string]int{}
	for i, c := range g.Checkpoints {
		cp := fmt.Sprintf("checkpoints[%d]", i)
		if !reLaneID.MatchString(c.ID) {
			add(cp+".id", "checkpoint id %q must be 1-16 uppercase letters, digits or '-'", c.ID)
		} else if first, dup := seen[c.ID]; dup {
			add(cp+".id", "duplicate checkpoint id %q (first at %s)", c.ID, firstAt(fmt.Sprintf("checkpoints[%d].id", first)))
		} else {
			seen[c.ID] = i
		}
		if c.Name == "" {
			add(cp+".name", "must not be empty")
		}
		oneOf(cp+".direction", c.Direction, "direction", Directions)
		rp := cp + ".requires.readings"
		kindList(add, oneOf, rp, c.Readings, "reading", ReadingKinds)
		if !slices.Contains(c.Readings, "plate") && !slices.Contains(c.Readings, "qr") {
			add(rp, "a checkpoint must require a plate or a qr reading: something has to name the truck")
		}
		ap := cp + ".requires.agencies"
		if slices.Contains(c.Agencies, AllAgencies) {
			if len(c.Agencies) > 1 {
				add(ap, "%q stands alone: every agency the policy requires", AllAgencies)
			}
		} else {
			if len(c.Agencies) == 0 {
				add(ap, "list the agencies whose clearance this checkpoint needs, or write %q", AllAgencies)
			}
			kindList(add, oneOf, ap, c.Agencies, "agency", g.known.Strings())
		}
		if !slices.ContainsFunc(g.Lanes, func(l Lane) bool { return l.Checkpoint == c.ID }) {
			add(cp+".id", "checkpoint %q has no lane (set checkpoint: %s on its lanes)", c.ID, c.ID)
		}
	}
	for _, d := range Directions {
		var last int = -1
		for i, c := range g.Checkpoints {
			if c.Direction == d {
				last = i
			}
		}
		if last >= 0 && !slices.Contains(g.Checkpoints[last].Agencies, AllAgencies) {
			add(fmt.Sprintf("checkpoints[%d].requires.agencies", last), "the last %s checkpoint is the exit: it must require %q agencies", d, AllAgencies)
		}
	}
	for i, l := range g.Lanes {
		lp := fmt.Sprintf("lanes[%d].checkpoint", i)
		switch {
		case len(g.Checkpoints) == 0 && l.Checkpoint != "":
			add(lp, "lane names checkpoint %q but the gate lists no checkpoints", l.Checkpoint)
		case len(g.Checkpoints) == 0:
		case l.Checkpoint == "":
			add(fmt.Sprintf("lanes[%d]", i), "lane %q needs a checkpoint: the gate lists checkpoints", l.ID)
		default:
			j, ok := seen[l.Checkpoint]
			if !ok {
				add(lp, "unknown checkpoint %q", l.Checkpoint)
			} else if d := g.Checkpoints[j].Direction; d != l.Direction {
				add(lp, "checkpoint %q serves %s trucks, lane %q is %s", l.Checkpoint, d, l.ID, l.Direction)
			}
		}
	}
	if w := g.Policy.CrossingWindow; w < 0 || w > maxCrossingWindow {
		add("policy.crossingWindow", "must be between 0 (no window) and %s, got %s", maxCrossingWindow, w)
	}
}

type addFunc func(path, format string, args ...any)
type oneOfFunc func(path, v, what string, allowed []string) bool

// kindList checks a list of closed-vocabulary values: known, no repeats.
func kindList(add addFunc, oneOf oneOfFunc, path string, vs []string, what string, allowed []string) {
	seen := map[string]bool{}
	for i, v := range vs {
		p := fmt.Sprintf("%s[%d]", path, i)
		if oneOf(p, v, what, allowed) && seen[v] {
			add(p, "%s %q listed twice", what, v)
		}
		seen[v] = true
	}
}

func (g *Gate) validatePolicy(add addFunc, oneOf oneOfFunc) {
	pol := g.Policy
	known := g.known.Strings()
	if len(pol.Rules) == 0 {
		add("policy.rules", "at least one rule is needed")
	}
	// covered tracks which direction/cargo pairs earlier rules already
	// decide, to catch rules that first-match makes unreachable.
	covered := map[[2]string]int{}
	needDeadline := map[string]string{}
	for i, r := range pol.Rules {
		rp := fmt.Sprintf("policy.rules[%d]", i)
		dirOK := oneOf(rp+".direction", r.Direction, "direction", Directions)
		if r.CargoKinds != nil && len(r.CargoKinds) == 0 {
			add(rp+".cargoKinds", "empty list matches nothing; omit cargoKinds to match every cargo kind")
		}
		kindList(add, oneOf, rp+".cargoKinds", r.CargoKinds, "cargo kind", CargoKinds)
		if r.HSChapters != nil && len(r.HSChapters) == 0 {
			add(rp+".hsChapters", "empty list matches nothing; omit hsChapters to match every truck")
		}
		for j, ch := range r.HSChapters {
			if !reHSChapter.MatchString(ch) {
				add(fmt.Sprintf("%s.hsChapters[%d]", rp, j), "%q is not an HS chapter (two digits, 01 to 97)", ch)
			}
		}
		if len(r.Agencies) == 0 {
			add(rp+".agencies", "a rule must require at least one agency")
		}
		kindList(add, oneOf, rp+".agencies", r.Agencies, "agency", known)
		for j, a := range r.Agencies {
			if _, ok := needDeadline[a]; !ok && slices.Contains(known, a) {
				needDeadline[a] = fmt.Sprintf("%s.agencies[%d]", rp, j)
			}
		}
		if !dirOK {
			continue
		}
		if r.HSChapters != nil {
			// A rule narrowed to some goods decides only the trucks that
			// carry them: it never makes a later rule unreachable, and it is
			// unreachable itself only behind a rule for all its cargo kinds.
			kinds := r.CargoKinds
			if kinds == nil {
				kinds = CargoKinds
			}
			if !slices.ContainsFunc(kinds, func(k string) bool { _, done := covered[[2]string{r.Direction, k}]; return !done }) {
				add(rp, "rule never applies: earlier rules already match every %s cargo kind it lists (first match wins)", r.Direction)
			}
			continue
		}
		kinds := r.CargoKinds
		if r.CargoKinds == nil {
			kinds = CargoKinds
		}
		fresh := false
		for _, k := range kinds {
			key := [2]string{r.Direction, k}
			if _, done := covered[key]; !done && slices.Contains(CargoKinds, k) {
				covered[key] = i
				fresh = true
			}
		}
		if !fresh && len(kinds) > 0 {
			add(rp, "rule never applies: earlier rules already match every %s cargo kind it lists (first match wins)", r.Direction)
		}
	}
	// Without any rules (or deadlines) at all, the coverage checks below
	// would only restate "rules missing" once per lane (or agency).
	for i, l := range g.Lanes {
		if pol.Rules == nil {
			break
		}
		for _, k := range l.CargoKinds {
			if !slices.Contains(Directions, l.Direction) || !slices.Contains(CargoKinds, k) {
				continue
			}
			if _, ok := covered[[2]string{l.Direction, k}]; !ok {
				add(fmt.Sprintf("lanes[%d].cargoKinds", i), "no policy rule for %s %s cargo on lane %q", l.Direction, k, l.ID)
			}
		}
	}

	for _, a := range yamlfile.SortedKeys(pol.AckDeadlines) {
		p := "policy.ackDeadlines." + a
		switch d := pol.AckDeadlines[a]; {
		case !slices.Contains(known, a):
			add(p, "unknown agency %q (allowed: %s)", a, strings.Join(known, ", "))
		case d <= 0:
			add(p, "deadline must be positive, got %s", d)
		case d > maxAckDeadline:
			add(p, "deadline %s is longer than %s", d, maxAckDeadline)
		}
	}
	for _, a := range yamlfile.SortedKeys(needDeadline) {
		if _, ok := pol.AckDeadlines[a]; ok {
			continue
		}
		if ag, ok := g.known.Lookup(a); !ok || ag.AckDeadline <= 0 {
			add(needDeadline[a], "agency %q is required by a rule but has no ACK deadline (policy.ackDeadlines or its agency file)", a)
		}
	}
	if t := pol.WeightTolerancePercent; t < 0 || t > maxTolerancePercent {
		add("policy.weightTolerancePercent", "must be a percentage between 0 and %d, got %g", maxTolerancePercent, t)
	}
	if c := pol.MinPlateConfidence; c <= 0 || c > 1 {
		add("policy.minPlateConfidence", "must be in (0, 1], got %g", c)
	}
	if t := pol.DecisionTTL; t <= 0 || t > maxDecisionTTL {
		add("policy.decisionTTL", "must be positive and at most %s, got %s", maxDecisionTTL, t)
	}
}
