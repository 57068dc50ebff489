package crossing

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/clearance"
)

var t0 = time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)

var route = Route{
	{ID: "B1", Requires: Requirement{Readings: []ReadingKind{Plate}, Agencies: []string{"borderguard"}}},
	{ID: "WB", Requires: Requirement{Readings: []ReadingKind{Plate, Weight}, AllAgencies: true}},
	{ID: "B0", Requires: Requirement{Readings: []ReadingKind{Plate, Weight, QR}, AllAgencies: true}},
}

func cleared() clearance.Decision { return clearance.Decision{Status: clearance.Cleared} }

func declared(id, plate string) *Declared {
	return &Declared{ID: id, Version: 1, PlateVN: plate, GrossWeightKg: 38500, Clearance: cleared(),
		PlannedCrossing: t0, Crossing: &Crossing{DeclarationID: id, State: Submitted}}
}

var pol = Policy{WeightTolerancePercent: 2, MinPlateConfidence: 0.85, Window: 12 * time.Hour}

// lookup plays the orchestration's part: which declarations a vehicle's
// readings name.
func lookup(v Vehicle, decls []*Declared, cp Checkpoint) Facts {
	f := Facts{Route: Route{cp}, Checkpoint: cp, Policy: pol}
	for _, d := range decls {
		if v.Readings.HasPlate && d.hasPlate(v.Readings.Plate) {
			f.ByPlate = d
		}
		if len(v.Readings.Codes) > 0 && slices.Contains(v.Readings.Codes, d.ID) {
			f.ByQR = d
		}
	}
	return f
}

// play applies readings in order and decides after each, as the hub does,
// returning every outcome and the lane.
func play(rs []Reading, decls []*Declared, cp Checkpoint) ([]Outcome, Lane) {
	var l Lane
	var outs []Outcome
	for i, r := range rs {
		now := t0.Add(time.Duration(i) * time.Second)
		a := Apply(&l, r, now, 10*time.Minute)
		if a.Stale {
			continue
		}
		o := Decide(l.Vehicle, lookup(l.Vehicle, decls, cp), now)
		outs = append(outs, o)
		if o.Action == clearance.Open {
			l.Vehicle.Opened = true
		}
	}
	return outs, l
}

func permutations(rs []Reading) [][]Reading {
	if len(rs) <= 1 {
		return [][]Reading{slices.Clone(rs)}
	}
	var out [][]Reading
	for i := range rs {
		rest := append(slices.Clone(rs[:i]), rs[i+1:]...)
		for _, p := range permutations(rest) {
			out = append(out, append([]Reading{rs[i]}, p...))
		}
	}
	return out
}

func codes(o Outcome) []string {
	var cs []string
	for _, r := range o.Reasons {
		cs = append(cs, r.Code)
	}
	return cs
}

// TestEveryOrderSameOutcome: camera, weight and QR in all six orders give
// the same final outcome, and at most one OPEN, issued only once every
// reading is in.
func TestEveryOrderSameOutcome(t *testing.T) {
	b0 := Checkpoint{ID: "B0", Requires: Requirement{Readings: []ReadingKind{Plate, Weight, QR}, AllAgencies: true}}
	truck := declared("D1", "12C-12345")
	other := declared("D2", "29C-99999")
	other.PlateVN = "15C-00001"
	cases := []struct {
		name     string
		readings []Reading
		decls    []*Declared
		action   string
		codes    []string
		alert    bool
	}{
		{"all consistent", []Reading{
			{Kind: Plate, Plate: "12C-12345", Confidence: 0.97},
			{Kind: Weight, WeightKg: 38600},
			{Kind: QR, Code: "D1"},
		}, []*Declared{truck}, clearance.Open, nil, false},
		{"overweight", []Reading{
			{Kind: Plate, Plate: "12C-12345", Confidence: 0.97},
			{Kind: Weight, WeightKg: 41000},
			{Kind: QR, Code: "D1"},
		}, []*Declared{truck}, clearance.KeepClosed, []string{clearance.CodeWeightOver}, false},
		{"QR of another cleared truck", []Reading{
			{Kind: Plate, Plate: "29C-99999", Confidence: 0.97},
			{Kind: Weight, WeightKg: 59000},
			{Kind: QR, Code: "D2"},
		}, []*Declared{truck, other}, clearance.KeepClosed, []string{CodeQRMismatch, CodeNoDeclaration}, true},
		{"QR of another truck, camera plate declared", []Reading{
			{Kind: Plate, Plate: "12C-12345", Confidence: 0.97},
			{Kind: Weight, WeightKg: 38600},
			{Kind: QR, Code: "D2"},
		}, []*Declared{truck, other}, clearance.KeepClosed, []string{CodeQRMismatch}, true},
		{"unknown QR", []Reading{
			{Kind: Plate, Plate: "12C-12345", Confidence: 0.97},
			{Kind: Weight, WeightKg: 38600},
			{Kind: QR, Code: "DNOPE"},
		}, []*Declared{truck}, clearance.KeepClosed, []string{CodeQRUnknown}, false},
		{"low confidence", []Reading{
			{Kind: Plate, Plate: "12C-12345", Confidence: 0.5},
			{Kind: Weight, WeightKg: 38600},
			{Kind: QR, Code: "D1"},
		}, []*Declared{truck}, clearance.KeepClosed, []string{clearance.CodePlateLowConfidence}, false},
		{"weighed for another plate", []Reading{
			{Kind: Plate, Plate: "12C-12345", Confidence: 0.97},
			{Kind: Weight, WeightKg: 38600, Plate: "99C-11111"},
			{Kind: QR, Code: "D1"},
		}, []*Declared{truck}, clearance.KeepClosed, []string{CodeWaiting}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var first *Outcome
			for _, order := range permutations(tc.readings) {
				outs, _ := play(order, tc.decls, b0)
				if len(outs) == 0 {
					t.Fatalf("order %v: no outcome", order)
				}
				final := outs[len(outs)-1]
				opens := 0
				for i, o := range outs {
					if o.Action == clearance.Open {
						opens++
						if i != len(outs)-1 {
							t.Errorf("order %v: OPEN before the last reading", order)
						}
					}
				}
				if opens > 1 {
					t.Errorf("order %v: %d OPENs", order, opens)
				}
				if final.Action != tc.action {
					t.Errorf("order %v: action %s (%v), want %s", order, final.Action, final.Reasons, tc.action)
				}
				if tc.codes != nil && !slices.Equal(codes(final), tc.codes) {
					t.Errorf("order %v: reasons %v, want %v", order, codes(final), tc.codes)
				}
				if (final.Alert != nil) != tc.alert {
					t.Errorf("order %v: alert %v, want %v", order, final.Alert, tc.alert)
				}
				if first == nil {
					first = &final
				} else if !first.Same(&final) {
					t.Errorf("order %v: outcome %+v differs from %+v", order, final, *first)
				}
				if final.Alert != nil && final.Plate != "29C-99999" && final.Plate != "12C-12345" {
					t.Errorf("alert outcome names plate %q: the QR's plate must never replace the camera's", final.Plate)
				}
			}
		})
	}
}

// TestNoOpenBeforeWeighing: the camera read of a cleared truck alone is
// KEEP-CLOSED, waiting for the weight.
func TestNoOpenBeforeWeighing(t *testing.T) {
	outs, _ := play([]Reading{{Kind: Plate, Plate: "12C-12345", Confidence: 0.97}}, []*Declared{declared("D1", "12C-12345")}, route[2])
	if o := outs[0]; o.Action != clearance.KeepClosed || o.Complete || !slices.Equal(codes(o), []string{CodeWaiting, CodeWaiting}) {
		t.Fatalf("camera alone: %+v", o)
	}
}

func TestOverweightNeverOverridden(t *testing.T) {
	outs, _ := play([]Reading{
		{Kind: Plate, Plate: "12C-12345", Confidence: 0.97},
		{Kind: Weight, WeightKg: 41000},
		{Kind: Weight, WeightKg: 38500},
		{Kind: Plate, Plate: "12C-12345", Confidence: 0.99},
	}, []*Declared{declared("D1", "12C-12345")}, route[1])
	for _, o := range outs {
		if o.Action == clearance.Open {
			t.Fatalf("opened after an overweight reading: %+v", outs)
		}
	}
}

func TestStaleReadings(t *testing.T) {
	d1, d2 := declared("D1", "12C-12345"), declared("D2", "12C-22222")
	var l Lane
	mem := 10 * time.Minute
	Apply(&l, Reading{Kind: Plate, Plate: "12C-12345", Confidence: 0.97}, t0, mem)
	if o := Decide(l.Vehicle, lookup(l.Vehicle, []*Declared{d1, d2}, route[0]), t0); o.Action != clearance.Open {
		t.Fatalf("B1 needs only the plate: %+v", o)
	}
	l.Vehicle.Opened = true
	first := l.Vehicle.Number
	a := Apply(&l, Reading{Kind: Plate, Plate: "12C-22222", Confidence: 0.97}, t0.Add(time.Minute), mem)
	if !a.NewVehicle || l.Vehicle.Number != first+1 {
		t.Fatalf("next truck: %+v, lane %+v", a, l.Vehicle)
	}
	for name, r := range map[string]Reading{
		"older vehicle number":   {Kind: Weight, WeightKg: 38500, Vehicle: first},
		"measured before":        {Kind: Weight, WeightKg: 38500, ReadAt: t0.Add(30 * time.Second)},
		"weighed the other":      {Kind: Weight, WeightKg: 38500, Plate: "12C-12345"},
		"unknown vehicle number": {Kind: QR, Code: "D1", Vehicle: first + 5},
	} {
		before := l.Vehicle
		if a := Apply(&l, r, t0.Add(2*time.Minute), mem); !a.Stale {
			t.Errorf("%s: applied (%+v)", name, a)
		}
		if !slices.Equal(before.Readings.Weights, l.Vehicle.Readings.Weights) || !slices.Equal(before.Readings.Codes, l.Vehicle.Readings.Codes) {
			t.Errorf("%s: a stale reading changed the lane", name)
		}
	}
	// After the barrier opened, a repeat of a reading it has changes
	// nothing; another reading for the passed vehicle is stale.
	l.Vehicle.Opened, l.Vehicle.ExpiresAt = true, t0.Add(3*time.Minute)
	before := l.Vehicle
	if a := Apply(&l, Reading{Kind: Plate, Plate: "12C-22222", Confidence: 0.97}, t0.Add(2*time.Minute), mem); a.Changed || a.NewVehicle || a.Stale || l.Vehicle.Number != before.Number {
		t.Errorf("repeat after OPEN: %+v", a)
	}
	if a := Apply(&l, Reading{Kind: Weight, WeightKg: 1, Vehicle: l.Vehicle.Number}, t0.Add(3*time.Minute), mem); !a.Stale {
		t.Errorf("reading for a passed vehicle applied: %+v", a)
	}
	// A vehicle gone quiet for longer than memory is forgotten.
	a = Apply(&l, Reading{Kind: Weight, WeightKg: 30000}, t0.Add(time.Hour), mem)
	if !a.NewVehicle || l.Vehicle.Readings.HasPlate {
		t.Errorf("after an hour: %+v %+v", a, l.Vehicle)
	}
}

func TestBounded(t *testing.T) {
	var l Lane
	for i := range 100 {
		Apply(&l, Reading{Kind: Weight, WeightKg: float64(30000 + i)}, t0, time.Minute)
		Apply(&l, Reading{Kind: QR, Code: fmt.Sprint("D", i)}, t0, time.Minute)
		Apply(&l, Reading{Kind: Plate, Plate: "12C-12345", TrailerPlate: fmt.Sprint("T", i)}, t0, time.Minute)
	}
	if r := l.Vehicle.Readings; len(r.Weights) > maxWeights || len(r.Codes) > maxCodes || len(r.Trailers) > maxCodes {
		t.Fatalf("readings grew: %+v", r)
	}
}

func TestTrailer(t *testing.T) {
	cp := Checkpoint{ID: "B1", Requires: Requirement{Readings: []ReadingKind{Plate, Trailer}}}
	d := declared("D1", "12C-12345")
	d.TrailerPlate = "12R-00001"
	for _, tc := range []struct {
		name     string
		readings []Reading
		want     []string
	}{
		{"match", []Reading{{Kind: Plate, Plate: "12C-12345", TrailerPlate: "12R-00001", Confidence: 1}}, nil},
		{"mismatch", []Reading{{Kind: Plate, Plate: "12C-12345", TrailerPlate: "12R-99999", Confidence: 1}}, []string{CodeTrailerMismatch}},
		{"not read", []Reading{{Kind: Plate, Plate: "12C-12345", Confidence: 1}}, []string{CodeWaiting}},
		{"second read cannot fix", []Reading{
			{Kind: Plate, Plate: "12C-12345", TrailerPlate: "12R-99999", Confidence: 1},
			{Kind: Plate, Plate: "12C-12345", TrailerPlate: "12R-00001", Confidence: 1},
		}, []string{CodeTrailerMismatch}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, order := range permutations(tc.readings) {
				outs, _ := play(order, []*Declared{d}, cp)
				if got := codes(outs[len(outs)-1]); !slices.Equal(got, tc.want) {
					t.Errorf("reasons %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestLifecycle(t *testing.T) {
	ready := Readings{Plate: "12C-12345", PlateConfidence: 1, HasPlate: true, Weights: []float64{38500}, Codes: []string{"D1"}}
	v := Vehicle{Number: 1, Readings: ready}
	passage := func(cp string) Passage { return Passage{Checkpoint: cp, Lane: "L", PassedAt: t0} }
	cases := []struct {
		name  string
		setup func(c *Crossing)
		cp    int
		now   time.Time
		want  []string
	}{
		{"first checkpoint", func(*Crossing) {}, 0, t0, nil},
		{"skipping B1", func(*Crossing) {}, 2, t0, []string{CodeCheckpointOrder}},
		{"B1 again", func(c *Crossing) { _ = c.Pass(route, passage("B1")) }, 0, t0, []string{CodeCheckpointPassed}},
		{"next checkpoint", func(c *Crossing) { _ = c.Pass(route, passage("B1")) }, 1, t0, nil},
		{"after exit", func(c *Crossing) {
			for _, cp := range route {
				_ = c.Pass(route, passage(cp.ID))
			}
		}, 2, t0, []string{CodeClearanceUsed}},
		{"turned back", func(c *Crossing) { _ = c.End(TurnedBack, "seal broken", t0) }, 0, t0, []string{CodeTurnedBack}},
		{"cancelled", func(c *Crossing) { _ = c.End(Cancelled, "", t0) }, 0, t0, []string{CodeCrossingCancelled}},
		{"too early", func(*Crossing) {}, 0, t0.Add(-13 * time.Hour), []string{CodeOutsideWindow}},
		{"too late", func(*Crossing) {}, 0, t0.Add(13 * time.Hour), []string{CodeOutsideWindow}},
		{"edge of window", func(*Crossing) {}, 0, t0.Add(12 * time.Hour), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := declared("D1", "12C-12345")
			tc.setup(d.Crossing)
			o := Decide(v, Facts{ByPlate: d, ByQR: d, Route: route, Checkpoint: route[tc.cp], Policy: pol}, tc.now)
			if got := codes(o); !slices.Equal(got, tc.want) {
				t.Fatalf("reasons %v, want %v", got, tc.want)
			}
			if (o.Action == clearance.Open) != (tc.want == nil) {
				t.Fatalf("action %s", o.Action)
			}
		})
	}
}

func TestPassTransitions(t *testing.T) {
	c := &Crossing{DeclarationID: "D1", State: Submitted}
	if err := c.Pass(route, Passage{Checkpoint: "WB"}); !errors.Is(err, ErrOrder) {
		t.Fatalf("out of order: %v", err)
	}
	for i, cp := range route {
		if err := c.Pass(route, Passage{Checkpoint: cp.ID}); err != nil {
			t.Fatal(err)
		}
		want := Arrived
		if i == len(route)-1 {
			want = Exited
		}
		if c.State != want {
			t.Fatalf("after %s: %s, want %s", cp.ID, c.State, want)
		}
	}
	if err := c.Pass(route, Passage{Checkpoint: "B0"}); !errors.Is(err, ErrNotActive) {
		t.Fatalf("after exit: %v", err)
	}
	if err := c.End(TurnedBack, "x", t0); !errors.Is(err, ErrNotActive) {
		t.Fatalf("end after exit: %v", err)
	}
	if err := (&Crossing{State: Arrived}).End(Exited, "", t0); err == nil {
		t.Fatal("End(Exited) accepted")
	}
}

func TestAgenciesFor(t *testing.T) {
	req := []string{"customs", "borderguard", "vehicleregistry"}
	if got := (Requirement{Agencies: []string{"borderguard", "guangxi"}}).AgenciesFor(req); !slices.Equal(got, []string{"borderguard"}) {
		t.Fatal(got)
	}
	if got := (Requirement{AllAgencies: true}).AgenciesFor(req); !slices.Equal(got, req) {
		t.Fatal(got)
	}
}

// TestClearanceSubset: B1 opens on the border guard's pass alone while the
// exit still waits for customs.
func TestClearanceSubset(t *testing.T) {
	d := declared("D1", "12C-12345")
	d.Clearance = clearance.Decision{Status: clearance.Pending, Reasons: []clearance.Reason{{Code: clearance.CodeAwaitingAck}}}
	v := Vehicle{Number: 1, Readings: Readings{Plate: "12C-12345", PlateConfidence: 1, HasPlate: true}}
	o := Decide(v, Facts{ByPlate: d, Route: route, Checkpoint: route[0], Policy: pol}, t0)
	if o.Action != clearance.KeepClosed || o.Decision != clearance.Pending {
		t.Fatalf("%+v", o)
	}
}
