package gate

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const checkpointGate = `code: TESTGATE
name: Test
province: Lạng Sơn
counterpart: {name: Test CN, nameCN: 测试, portCode: "7299"}
checkpoints:
  - id: B1
    name: gate-in
    direction: export
    requires: {readings: [plate], agencies: [borderguard]}
  - id: B0
    name: exit
    direction: export
    requires: {readings: [plate, weight, qr], agencies: all}
lanes:
  - id: L1
    checkpoint: B1
    direction: export
    cargoKinds: [general]
    devices:
      - {id: b1, kind: barrier, tokenSHA256: 1111111111111111111111111111111111111111111111111111111111111111}
  - id: L0
    checkpoint: B0
    direction: export
    cargoKinds: [general]
    devices:
      - {id: b0, kind: barrier, tokenSHA256: 2222222222222222222222222222222222222222222222222222222222222222}
policy:
  rules:
    - direction: export
      agencies: [customs, borderguard]
  ackDeadlines: {customs: 15m, borderguard: 10m}
  weightTolerancePercent: 2
  minPlateConfidence: 0.85
  decisionTTL: 2m
  crossingWindow: 12h
`

func TestCheckpointsParse(t *testing.T) {
	g, err := Parse("t.yaml", []byte(checkpointGate), known)
	if err != nil {
		t.Fatal(err)
	}
	r := g.Route("export")
	if len(r) != 2 || r[0].ID != "B1" || r[1].ID != "B0" {
		t.Fatalf("route %+v", r)
	}
	if !slices.Equal(r[0].Readings, []string{"plate"}) || r[0].NeedsAllAgencies() ||
		!slices.Equal(r[0].Agencies, []string{"borderguard"}) {
		t.Errorf("B1 requires %+v", r[0])
	}
	if !r[1].NeedsAllAgencies() || !slices.Contains(r[1].Readings, "qr") {
		t.Errorf("B0 requires %+v", r[1])
	}
	l, _ := g.Lane("L0")
	if cp, ok := g.CheckpointOf(l); !ok || cp.ID != "B0" {
		t.Errorf("checkpoint of L0: %+v %v", cp, ok)
	}
	if len(g.Route("import")) != 0 {
		t.Error("import route without import lanes")
	}
}

// A gate file without checkpoints has one per direction, which waits for
// plate and weight and every required agency.
func TestImplicitCheckpoint(t *testing.T) {
	g, err := LoadFile(filepath.Join(shipped, "tanthanh.yaml"), known)
	if err != nil {
		t.Fatal(err)
	}
	l, _ := g.Lane("EXP-1")
	cp, ok := g.CheckpointOf(l)
	if !ok || cp.ID != "EXPORT" || !cp.NeedsAllAgencies() || !slices.Equal(cp.Readings, []string{"plate", "weight"}) {
		t.Fatalf("implicit checkpoint %+v %v", cp, ok)
	}
	if r := g.Route("export"); len(r) != 1 || r[0].ID != "EXPORT" {
		t.Fatalf("route %+v", r)
	}
}

func TestCheckpointsInvalid(t *testing.T) {
	tests := []struct {
		name string
		edit func(string) string
		want []string
	}{
		{"unknown reading and agency", func(s string) string {
			s = strings.Replace(s, "readings: [plate], agencies: [borderguard]", "readings: [plate, iris], agencies: [borderguard, police]", 1)
			return s
		}, []string{
			`t.yaml:9:34: checkpoints[0].requires.readings[1]: unknown reading "iris"`,
			`t.yaml:9:65: checkpoints[0].requires.agencies[1]: unknown agency "police"`,
		}},
		{"nothing names the truck", func(s string) string {
			return strings.Replace(s, "readings: [plate], agencies", "readings: [weight], agencies", 1)
		}, []string{`t.yaml:9:26: checkpoints[0].requires.readings: a checkpoint must require a plate or a qr reading`}},
		{"exit must need every agency", func(s string) string {
			return strings.Replace(s, "readings: [plate, weight, qr], agencies: all", "readings: [plate, weight, qr], agencies: [customs]", 1)
		}, []string{`t.yaml:13:57: checkpoints[1].requires.agencies: the last export checkpoint is the exit`}},
		{"lane at an unknown checkpoint, duplicate id", func(s string) string {
			s = strings.Replace(s, "checkpoint: B0", "checkpoint: B9", 1)
			return strings.Replace(s, "  - id: B0\n", "  - id: B1\n", 1)
		}, []string{
			`t.yaml:10:9: checkpoints[1].id: duplicate checkpoint id "B1" (first at 6:9)`,
			`t.yaml:22:17: lanes[1].checkpoint: unknown checkpoint "B9"`,
		}},
		{"lane without checkpoint", func(s string) string {
			return strings.Replace(s, "    checkpoint: B1\n", "", 1)
		}, []string{`t.yaml:6:9: checkpoints[0].id: checkpoint "B1" has no lane`, `lanes[0]: lane "L1" needs a checkpoint`}},
		{"window too long", func(s string) string {
			return strings.Replace(s, "crossingWindow: 12h", "crossingWindow: 900h", 1)
		}, []string{`policy.crossingWindow: must be between 0 (no window) and 168h0m0s, got 900h0m0s`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tc.edit(checkpointGate)), known)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}
