package clearance

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// weightEpsilonKg absorbs float noise at the exact tolerance boundary, so a
// reading of exactly declared+tolerance counts as within it.
const weightEpsilonKg = 1e-6

// LaneDecision decides what the barrier does for a truck whose clearance
// decision is d, given what the lane's devices read. It opens only when the
// truck is CLEARED, the weighbridge reading (if any) is within
// tolerancePercent of declaredGrossKg either way, and the plate read (if
// any) has at least minPlateConfidence. Otherwise it keeps the barrier
// closed and lists every reason, not only the first, so the officer at the
// lane sees everything that needs fixing at once.
func LaneDecision(d Decision, declaredGrossKg, tolerancePercent, minPlateConfidence float64, r Reading) LaneOutcome {
	var reasons []Reason
	if d.Status != Cleared {
		reasons = append(reasons, d.Reasons...)
		if len(d.Reasons) == 0 {
			reasons = append(reasons, Reason{Code: CodeNotCleared,
				EN: "not cleared (" + string(d.Status) + ")",
				VI: "chưa được thông quan (" + statusVI(d.Status) + ")"})
		}
	}
	if r.HasWeight {
		reasons = append(reasons, weightReasons(declaredGrossKg, tolerancePercent, r.WeightKg)...)
	}
	if r.HasPlate && r.PlateConfidence < minPlateConfidence {
		reasons = append(reasons, Reason{Code: CodePlateLowConfidence,
			EN: fmt.Sprintf("plate %s read with confidence %s, below %s", r.Plate,
				decimal(r.PlateConfidence, en), decimal(minPlateConfidence, en)),
			VI: fmt.Sprintf("biển số %s đọc với độ tin cậy %s, dưới %s", r.Plate,
				decimal(r.PlateConfidence, vi), decimal(minPlateConfidence, vi)),
		})
	}
	if len(reasons) > 0 {
		return LaneOutcome{Action: KeepClosed, Reasons: reasons}
	}
	return LaneOutcome{Action: Open}
}

// statusVI names a decision status in Vietnamese.
func statusVI(status Status) string {
	switch status {
	case Cleared:
		return "đã thông quan"
	case Rejected:
		return "bị từ chối"
	case Hold:
		return "tạm giữ"
	case Pending:
		return "đang chờ"
	case Cancelled:
		return "đã hủy"
	}
	return "trạng thái " + string(status)
}

func weightReasons(declared, tolPct, measured float64) []Reason {
	if declared <= 0 {
		return []Reason{{Code: CodeNoDeclaredWeight,
			EN: fmt.Sprintf("weighbridge read %s kg but no gross weight was declared", kg(measured, en)),
			VI: fmt.Sprintf("cân đọc %s kg nhưng không có khối lượng toàn bộ khai báo", kg(measured, vi)),
		}}
	}
	limit := declared * tolPct / 100
	diff := measured - declared
	if math.Abs(diff) <= limit+weightEpsilonKg {
		return nil
	}
	code, verbEN, verbVI := CodeWeightOver, "exceeds", "vượt"
	if diff < 0 {
		code, verbEN, verbVI = CodeWeightUnder, "is below", "thấp hơn"
	}
	return []Reason{{Code: code,
		EN: fmt.Sprintf("weight %s kg %s declared %s kg ± %s%%", kg(measured, en), verbEN, kg(declared, en), decimal(tolPct, en)),
		VI: fmt.Sprintf("khối lượng %s kg %s khai báo %s kg ± %s%%", kg(measured, vi), verbVI, kg(declared, vi), decimal(tolPct, vi)),
	}}
}

// Number formats. English groups thousands with ',' and uses '.' for
// decimals; Vietnamese the other way round.
type lang struct{ group, point string }

var (
	en = lang{group: ",", point: "."}
	vi = lang{group: ".", point: ","}
)

// kg renders a weight rounded to the whole kilogram with thousands
// separators: weighbridges at the gate resolve 10–20 kg, so decimals would
// only suggest precision nobody has.
func kg(v float64, l lang) string {
	n := int64(math.Round(v))
	sign := ""
	if n < 0 {
		sign, n = "-", -n
	}
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString(l.group)
		}
		b.WriteRune(c)
	}
	return sign + b.String()
}

// decimal renders a small number (percentages, confidences) with the
// shortest exact representation and the language's decimal mark.
func decimal(v float64, l lang) string {
	return strings.Replace(strconv.FormatFloat(v, 'f', -1, 64), ".", l.point, 1)
}
