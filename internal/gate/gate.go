// Package gate loads and validates border-gate configuration
// (deploy/gates/<gate>.yaml): lanes, the devices on each lane and how they
// authenticate, and the clearance policy of the gate. A province onboards a
// gate by writing one such file; the hub picks it up without a restart
// through Registry.
//
// Values returned by this package are shared between goroutines and must be
// treated as read-only; a changed gate is a new *Gate applied to a Registry.
package gate

import (
	"slices"
	"strings"
	"time"

	"github.com/gatehub/gatehub/internal/agencies"
	"github.com/gatehub/gatehub/internal/yamlfile"
)

// Directions, cargo kinds and device kinds a gate file may use. They are
// closed lists: a typo in a gate file must fail validation rather than
// silently create a lane nobody can clear. The agencies it may name are the
// agency set it is parsed against (deploy/agencies).
var (
	Directions  = []string{"export", "import", "transit"}
	CargoKinds  = []string{"general", "perishable", "dangerous", "empty"}
	DeviceKinds = []string{"barrier", "weighbridge", "plate-camera", "qr-scanner", "display"}
)

// Pos is a position in a gate file.
type Pos = yamlfile.Pos

// Gate is one border gate as configured.
type Gate struct {
	Code        string
	Name        string
	Province    string
	Counterpart Counterpart
	Lanes       []Lane
	// Checkpoints are listed in the order a truck of their direction
	// passes them; the last of a direction is its exit. A gate file
	// without checkpoints has one per direction (see Route).
	Checkpoints []Checkpoint
	Policy      Policy
	// known is the agency set the file was checked against.
	known *agencies.Set

	// Source is the file the gate was parsed from; empty for gates built in Go.
	Source string
	// pos maps a field path to where it was written, so semantic checks
	// can point at a line.
	pos map[string]Pos
}

// Counterpart is the gate facing this one on the Chinese side.
type Counterpart struct {
	Name     string
	NameCN   string
	PortCode string // CN customs port code (关区代码)
}

// Lane is one physical lane through the gate.
type Lane struct {
	ID         string
	Direction  string
	CargoKinds []string
	Devices    []Device
	// Checkpoint is the id of the checkpoint the lane's barrier stands at;
	// empty in a gate file without checkpoints.
	Checkpoint string
}

// Checkpoint is one barrier point of a gate's route and what must hold
// there before the barrier opens.
type Checkpoint struct {
	ID        string
	Name      string
	Direction string
	// Readings the lane must have for the vehicle: plate, trailer,
	// weight, qr.
	Readings []string
	// Agencies whose clearance the checkpoint needs; ["all"] (the
	// default) means every agency the policy requires for the truck.
	Agencies []string
}

// AllAgencies is the Checkpoint.Agencies entry meaning every agency the
// policy requires.
const AllAgencies = "all"

// ReadingKinds a checkpoint may require (internal/crossing's kinds; this
// package stays free of the domain so the domain's tests may use gates).
var ReadingKinds = []string{"plate", "trailer", "weight", "qr"}

// defaultReadings is what the one implicit checkpoint of a gate file
// without checkpoints requires: the camera names the truck and the
// weighbridge weighs it before the barrier opens.
var defaultReadings = []string{"plate", "weight"}

// NeedsAllAgencies reports whether the checkpoint waits for every agency
// the policy requires.
func (c Checkpoint) NeedsAllAgencies() bool {
	return len(c.Agencies) == 0 || slices.Contains(c.Agencies, AllAgencies)
}

// checkpoints returns the gate's checkpoints, or the implicit one per
// direction (id = the direction in capitals) of a file without any.
func (g *Gate) checkpoints() []Checkpoint {
	if len(g.Checkpoints) > 0 {
		return g.Checkpoints
	}
	var out []Checkpoint
	for _, d := range Directions {
		if slices.ContainsFunc(g.Lanes, func(l Lane) bool { return l.Direction == d }) {
			out = append(out, Checkpoint{ID: strings.ToUpper(d), Name: d, Direction: d, Readings: defaultReadings, Agencies: []string{AllAgencies}})
		}
	}
	return out
}

// Route returns the checkpoints a truck of the given direction passes, in
// order.
func (g *Gate) Route(direction string) []Checkpoint {
	var r []Checkpoint
	for _, c := range g.checkpoints() {
		if c.Direction == direction {
			r = append(r, c)
		}
	}
	return r
}

// CheckpointOf returns the checkpoint lane l stands at.
func (g *Gate) CheckpointOf(l *Lane) (Checkpoint, bool) {
	id := l.Checkpoint
	if id == "" {
		id = strings.ToUpper(l.Direction)
	}
	for _, c := range g.checkpoints() {
		if c.ID == id {
			return c, true
		}
	}
	return Checkpoint{}, false
}

// Device is one gate device and the credentials it authenticates with.
type Device struct {
	ID   string
	Kind string
	// TokenSHA256 is the lowercase hex SHA-256 of the device's bearer token;
	// gate files never hold the token itself.
	TokenSHA256 string
	// CertFingerprint is the lowercase hex SHA-256 of the device's mTLS
	// certificate (DER), without separators; empty when the device has none.
	CertFingerprint string
}

// Policy is the clearance policy of a gate.
type Policy struct {
	// Rules are evaluated in order and the first rule matching the
	// declaration's direction and cargo kind decides (first match wins),
	// because an ordered list reads the same way to a reviewer as it runs.
	Rules                  []Rule
	AckDeadlines           map[string]time.Duration
	WeightTolerancePercent float64
	MinPlateConfidence     float64
	DecisionTTL            time.Duration
	// CrossingWindow is how far from its declared planned crossing time a
	// truck may pass a checkpoint; 0 means at any time.
	CrossingWindow time.Duration
}

// Rule names the agencies whose ACK is required for one direction and a set
// of cargo kinds. Empty CargoKinds matches every cargo kind. HSChapters,
// when set, narrows the rule to trucks carrying goods of one of those HS
// chapters (two digits: "08" edible fruit and nuts).
type Rule struct {
	Direction  string
	CargoKinds []string
	HSChapters []string
	Agencies   []string
}

func (r Rule) matches(direction, cargoKind string, hsCodes []string) bool {
	if r.Direction != direction {
		return false
	}
	if len(r.CargoKinds) > 0 && !slices.Contains(r.CargoKinds, cargoKind) {
		return false
	}
	if len(r.HSChapters) == 0 {
		return true
	}
	for _, c := range hsCodes {
		for _, ch := range r.HSChapters {
			if strings.HasPrefix(c, ch) {
				return true
			}
		}
	}
	return false
}

// Lane returns the lane with the given id.
func (g *Gate) Lane(id string) (*Lane, bool) {
	for i := range g.Lanes {
		if g.Lanes[i].ID == id {
			return &g.Lanes[i], true
		}
	}
	return nil, false
}

// Device returns the device with the given id and its lane.
func (g *Gate) Device(id string) (*Device, *Lane, bool) {
	for i := range g.Lanes {
		l := &g.Lanes[i]
		for j := range l.Devices {
			if l.Devices[j].ID == id {
				return &l.Devices[j], l, true
			}
		}
	}
	return nil, nil, false
}

// Accepts reports whether the lane handles the given cargo kind.
func (l *Lane) Accepts(cargoKind string) bool {
	return slices.Contains(l.CargoKinds, cargoKind)
}

// RequiredAgencies returns the agencies whose ACK clears a truck of the
// given direction and cargo kind carrying goods of hsCodes (first matching
// rule). When no rule matches it returns every known agency: an unforeseen
// combination must wait for all agencies rather than clear with none. The
// slice is a fresh copy.
func (g *Gate) RequiredAgencies(direction, cargoKind string, hsCodes ...string) []string {
	for _, r := range g.Policy.Rules {
		if r.matches(direction, cargoKind, hsCodes) {
			return slices.Clone(r.Agencies)
		}
	}
	return g.known.Strings()
}

// Agencies is the agency set the gate was checked against.
func (g *Gate) Agencies() *agencies.Set { return g.known }

// AckDeadline returns how long an agency has to answer a delivered message
// at this gate, or 0 when the gate sets no deadline for that agency.
func (g *Gate) AckDeadline(agency string) time.Duration {
	return g.Policy.AckDeadlines[agency]
}

// Context returns the gate fields that agency XML mappings may refer to.
func (g *Gate) Context() map[string]any {
	return map[string]any{
		"code":                g.Code,
		"name":                g.Name,
		"province":            g.Province,
		"counterpartName":     g.Counterpart.Name,
		"counterpartNameCN":   g.Counterpart.NameCN,
		"counterpartPortCode": g.Counterpart.PortCode,
	}
}

func (g *Gate) at(path string) Pos {
	return g.pos[path]
}
