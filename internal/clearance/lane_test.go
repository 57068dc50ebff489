package clearance

import (
	"fmt"
	"slices"
	"testing"

	"github.com/gatehub/gatehub/internal/gate"
)

func TestLaneDecision(t *testing.T) {
	cleared := Decide(names, []string{"customs"}, []AgencyStatus{st("customs", "acked")}, false, now)
	pending := Decide(names, []string{"customs"}, []AgencyStatus{st("customs", "sent")}, false, now)
	plate := func(conf float64) Reading {
		return Reading{Plate: "12C-12345", PlateConfidence: conf, HasPlate: true}
	}
	weigh := func(r Reading, kg float64) Reading { r.WeightKg, r.HasWeight = kg, true; return r }

	tests := []struct {
		name     string
		d        Decision
		declared float64
		r        Reading
		action   string
		codes    []string
	}{
		{"cleared, nothing read", cleared, 28000, Reading{}, Open, nil},
		{"cleared, good plate and weight", cleared, 28000, weigh(plate(0.97), 28400), Open, nil},
		{"weight exactly at +tolerance", cleared, 28000, weigh(plate(0.9), 28560), Open, nil},
		{"weight exactly at -tolerance", cleared, 28000, weigh(Reading{}, 27440), Open, nil},
		{"confidence exactly at minimum", cleared, 28000, plate(0.85), Open, nil},
		{"overweight", cleared, 28000, weigh(Reading{}, 31200), KeepClosed, []string{"WEIGHT_OVER/"}},
		{"underweight", cleared, 28000, weigh(Reading{}, 20000), KeepClosed, []string{"WEIGHT_UNDER/"}},
		{"low confidence", cleared, 28000, plate(0.6), KeepClosed, []string{"PLATE_LOW_CONFIDENCE/"}},
		{"no declared weight", cleared, 0, weigh(Reading{}, 15000), KeepClosed, []string{"NO_DECLARED_WEIGHT/"}},
		{"every reason listed", pending, 28000, weigh(plate(0.5), 31200), KeepClosed,
			[]string{"AWAITING_ACK/customs", "WEIGHT_OVER/", "PLATE_LOW_CONFIDENCE/"}},
		{"status without reasons", Decision{Status: Hold}, 28000, Reading{}, KeepClosed, []string{"NOT_CLEARED/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := LaneDecision(tt.d, tt.declared, 2, 0.85, tt.r)
			if out.Action != tt.action {
				t.Errorf("Action = %s, want %s (%v)", out.Action, tt.action, codes(out.Reasons))
			}
			if got := codes(out.Reasons); !slices.Equal(got, tt.codes) {
				t.Errorf("Reasons = %v, want %v", got, tt.codes)
			}
		})
	}
}

func TestLaneDecisionTexts(t *testing.T) {
	cleared := Decision{Status: Cleared}
	tests := []struct {
		name     string
		declared float64
		tol      float64
		r        Reading
		en, vi   string
	}{
		{"over", 28000, 2, Reading{WeightKg: 31200, HasWeight: true},
			"weight 31,200 kg exceeds declared 28,000 kg ± 2%",
			"khối lượng 31.200 kg vượt khai báo 28.000 kg ± 2%"},
		{"under, fractional tolerance, millions", 1250000, 2.5, Reading{WeightKg: 999999.6, HasWeight: true},
			"weight 1,000,000 kg is below declared 1,250,000 kg ± 2.5%",
			"khối lượng 1.000.000 kg thấp hơn khai báo 1.250.000 kg ± 2,5%"},
		{"plate", 28000, 2, Reading{Plate: "桂A12345", PlateConfidence: 0.72, HasPlate: true},
			"plate 桂A12345 read with confidence 0.72, below 0.85",
			"biển số 桂A12345 đọc với độ tin cậy 0,72, dưới 0,85"},
		{"small weight", 950, 2, Reading{WeightKg: 0, HasWeight: true},
			"weight 0 kg is below declared 950 kg ± 2%",
			"khối lượng 0 kg thấp hơn khai báo 950 kg ± 2%"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := LaneDecision(cleared, tt.declared, tt.tol, 0.85, tt.r)
			if len(out.Reasons) != 1 {
				t.Fatalf("want one reason, got %+v", out.Reasons)
			}
			if r := out.Reasons[0]; r.EN != tt.en || r.VI != tt.vi {
				t.Errorf("got\n %q\n %q\nwant\n %q\n %q", r.EN, r.VI, tt.en, tt.vi)
			}
		})
	}
}

// TestPolicyMatrix runs the shipped HUUNGHI policy end to end: direction ×
// cargo kind picks the required agencies, a set of ACKs gives the
// clearance decision, and the weighbridge reading gives the barrier action.
func TestPolicyMatrix(t *testing.T) {
	g, err := gate.LoadFile("../../deploy/gates/huunghi.yaml", names)
	if err != nil {
		t.Fatal(err)
	}
	const declared = 28000.0
	within, over := 28300.0, 31200.0
	allFour := []string{"customs", "borderguard", "vehicleregistry", "guangxi"}
	vnOnly := []string{"customs", "borderguard", "vehicleregistry"}
	noCustoms := []string{"borderguard", "vehicleregistry", "guangxi"}
	every := g.Agencies().Strings()

	tests := []struct {
		dir, cargo string
		acked      []string
		nacked     string
		weight     float64
		status     Status
		action     string
	}{
		{"export", "general", allFour, "", within, Cleared, Open},
		{"export", "general", allFour, "", over, Cleared, KeepClosed},
		{"export", "general", vnOnly, "", within, Pending, KeepClosed},
		{"export", "perishable", noCustoms, "customs", within, Rejected, KeepClosed},
		{"export", "dangerous", allFour, "", within, Cleared, Open},
		{"export", "empty", noCustoms, "", within, Cleared, Open},
		{"export", "empty", vnOnly, "", within, Pending, KeepClosed},
		{"import", "general", vnOnly, "", within, Cleared, Open},
		{"import", "general", vnOnly, "", over, Cleared, KeepClosed},
		{"import", "perishable", []string{"customs", "borderguard"}, "", within, Pending, KeepClosed},
		{"import", "empty", []string{"borderguard", "vehicleregistry"}, "", within, Cleared, Open},
		// guangxi is not required on import, so its NACK does not block.
		{"import", "general", vnOnly, "guangxi", within, Cleared, Open},
		{"import", "empty", []string{"borderguard"}, "vehicleregistry", within, Rejected, KeepClosed},
		// No transit rule at this gate: every agency is required.
		{"transit", "general", vnOnly, "", within, Pending, KeepClosed},
		{"transit", "general", allFour, "", within, Pending, KeepClosed},
		{"transit", "general", every, "", within, Cleared, Open},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("%s/%s/acked=%v/nacked=%s/%gkg", tt.dir, tt.cargo, tt.acked, tt.nacked, tt.weight)
		t.Run(name, func(t *testing.T) {
			var statuses []AgencyStatus
			for _, a := range tt.acked {
				statuses = append(statuses, st(a, "acked"))
			}
			if tt.nacked != "" {
				statuses = append(statuses, st(tt.nacked, "nacked"))
			}
			d := Decide(names, g.RequiredAgencies(tt.dir, tt.cargo), statuses, false, now)
			if d.Status != tt.status {
				t.Fatalf("Status = %s, want %s (%v)", d.Status, tt.status, codes(d.Reasons))
			}
			out := LaneDecision(d, declared, g.Policy.WeightTolerancePercent, g.Policy.MinPlateConfidence,
				Reading{Plate: "12C-12345", PlateConfidence: 0.95, HasPlate: true, WeightKg: tt.weight, HasWeight: true})
			if out.Action != tt.action {
				t.Errorf("Action = %s, want %s (%v)", out.Action, tt.action, codes(out.Reasons))
			}
		})
	}
}
