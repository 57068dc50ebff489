package crossing

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatehub/gatehub/internal/clearance"
)

// Reason codes of lane outcomes, beside those of internal/clearance.
// Stable identifiers for devices and dashboards.
const (
	CodeWaiting            = "WAITING_FOR_READING"
	CodeNoDeclaration      = "NO_DECLARATION"
	CodeQRUnknown          = "QR_UNKNOWN"
	CodeQRMismatch         = "QR_PLATE_MISMATCH"
	CodeQRConflict         = "QR_CONFLICT"
	CodeTrailerMismatch    = "TRAILER_MISMATCH"
	CodeWeightOtherVehicle = "WEIGHT_OTHER_VEHICLE"
	CodeClearanceUsed      = "CLEARANCE_USED"
	CodeTurnedBack         = "TURNED_BACK"
	CodeCrossingCancelled  = "CROSSING_CANCELLED"
	CodeCheckpointPassed   = "CHECKPOINT_PASSED"
	CodeCheckpointOrder    = "CHECKPOINT_ORDER"
	CodeOutsideWindow      = "OUTSIDE_CROSSING_WINDOW"
	CodeStaleReading       = "STALE_READING"
)

// Declared is a declaration as a lane needs to know it.
type Declared struct {
	ID              string
	Version         int
	PlateVN         string
	PlateCN         string
	TrailerPlate    string
	GrossWeightKg   float64
	PlannedCrossing time.Time // zero: not stated
	// Clearance is the clearance decision for the agencies this
	// checkpoint waits for (see Requirement.AgenciesFor).
	Clearance clearance.Decision
	// Crossing is the declaration's crossing; nil is read as Submitted
	// with nothing passed.
	Crossing *Crossing
}

// Plate returns the plate a token names: the VN plate, else the CN one.
func (d *Declared) Plate() string {
	if d.PlateVN != "" {
		return d.PlateVN
	}
	return d.PlateCN
}

func (d *Declared) hasPlate(p string) bool {
	return p != "" && (p == d.PlateVN || p == d.PlateCN)
}

// Policy is the part of a gate's policy a lane applies.
type Policy struct {
	WeightTolerancePercent float64
	MinPlateConfidence     float64
	// Window is how far from the declared planned crossing time a truck
	// may pass; 0 means any time.
	Window time.Duration
}

// Facts are what the orchestration looked up for a vehicle's readings.
type Facts struct {
	// ByPlate is the active declaration at this gate and direction whose
	// plate the camera read; nil when none (or no plate was read).
	ByPlate *Declared
	// ByQR is the declaration the scanned QR code names, when it is one
	// at this gate and direction; nil otherwise.
	ByQR       *Declared
	Route      Route
	Checkpoint Checkpoint
	Policy     Policy
}

// Alert is a security alert raised by a lane outcome.
type Alert struct {
	Code          string `json:"code"`
	CameraPlate   string `json:"cameraPlate,omitempty"`
	QRCode        string `json:"qrCode,omitempty"`
	QRPlate       string `json:"qrPlate,omitempty"`
	DeclarationID string `json:"declarationId,omitempty"` // the declaration the QR names
}

// Outcome is what the barrier of a checkpoint lane must do for a vehicle.
type Outcome struct {
	Action string `json:"action"` // OPEN | KEEP-CLOSED
	// Complete: every reading the checkpoint requires is present. An
	// incomplete outcome is always KEEP-CLOSED and lists what is awaited.
	Complete      bool               `json:"complete"`
	DeclarationID string             `json:"declarationId,omitempty"`
	Version       int                `json:"version,omitempty"`
	Plate         string             `json:"plate,omitempty"`
	Decision      clearance.Status   `json:"decision,omitempty"` // clearance status of the checkpoint's agencies
	Reasons       []clearance.Reason `json:"reasons,omitempty"`
	Alert         *Alert             `json:"alert,omitempty"`
}

// Same reports whether two outcomes tell the barrier the same thing, so a
// repeated reading publishes nothing new.
func (o *Outcome) Same(p *Outcome) bool {
	if o == nil || p == nil {
		return o == p
	}
	return o.Action == p.Action && o.Complete == p.Complete && o.DeclarationID == p.DeclarationID &&
		o.Version == p.Version && o.Plate == p.Plate && o.Decision == p.Decision &&
		slices.Equal(o.Reasons, p.Reasons) && (o.Alert == nil) == (p.Alert == nil)
}

// Decide derives the outcome for vehicle v at time now. It depends only on
// the vehicle's fused readings and the facts — never on the order the
// readings arrived in — and it opens only when every required reading is
// present and consistent, the checkpoint's agencies cleared the truck and
// its crossing is at this checkpoint, within the window. Every reason is
// listed, not only the first, so the officer at the lane sees all that
// needs fixing at once.
func Decide(v Vehicle, f Facts, now time.Time) Outcome {
	rd := v.Readings
	var reasons []clearance.Reason
	add := func(code, en, vi string) {
		reasons = append(reasons, clearance.Reason{Code: code, EN: en, VI: vi})
	}
	out := Outcome{Action: clearance.KeepClosed, Complete: true}

	// Who is this? The camera's plate names the vehicle; a QR code may
	// only confirm it, never replace it.
	decl := f.ByPlate
	if len(rd.Codes) > 1 {
		add(CodeQRConflict, "different QR codes scanned for one vehicle: "+strings.Join(rd.Codes, ", "),
			"quét nhiều mã QR khác nhau cho một phương tiện: "+strings.Join(rd.Codes, ", "))
		out.Alert = &Alert{Code: CodeQRConflict, CameraPlate: rd.Plate, QRCode: strings.Join(rd.Codes, ",")}
	}
	if len(rd.Codes) == 1 {
		switch q := f.ByQR; {
		case q == nil:
			add(CodeQRUnknown, "QR code "+rd.Codes[0]+" names no declaration for this lane",
				"mã QR "+rd.Codes[0]+" không ứng với tờ khai nào của làn này")
		case rd.HasPlate && !q.hasPlate(rd.Plate):
			add(CodeQRMismatch,
				fmt.Sprintf("QR code names declaration %s of plate %s, but the camera read %s", q.ID, q.Plate(), rd.Plate),
				fmt.Sprintf("mã QR ứng với tờ khai %s của biển số %s, nhưng camera đọc %s", q.ID, q.Plate(), rd.Plate))
			out.Alert = &Alert{Code: CodeQRMismatch, CameraPlate: rd.Plate, QRCode: rd.Codes[0], QRPlate: q.Plate(), DeclarationID: q.ID}
		case decl == nil || decl.ID == q.ID || !rd.HasPlate:
			decl = q
		}
	}
	if decl == nil && rd.HasPlate {
		add(CodeNoDeclaration, "no declaration found for this vehicle at this gate",
			"không tìm thấy tờ khai cho phương tiện này tại cửa khẩu")
	}

	// What is still awaited.
	for _, k := range ReadingKinds {
		if f.Checkpoint.Requires.Needs(k) && !rd.Has(k) {
			out.Complete = false
			add(CodeWaiting, "waiting for the "+string(k)+" reading", "đang chờ kết quả đọc "+readingVI[k])
		}
	}

	if decl != nil {
		out.DeclarationID, out.Version, out.Plate = decl.ID, decl.Version, decl.Plate()
		if rd.HasPlate {
			out.Plate = rd.Plate
		}
		reasons = append(reasons, consistency(rd, decl, f.Policy)...)
		out.Decision = decl.Clearance.Status
		if decl.Clearance.Status != clearance.Cleared {
			if len(decl.Clearance.Reasons) == 0 {
				add(clearance.CodeNotCleared, "not cleared ("+string(decl.Clearance.Status)+")", "chưa được thông quan ("+string(decl.Clearance.Status)+")")
			}
			reasons = append(reasons, decl.Clearance.Reasons...)
		}
		reasons = append(reasons, lifecycle(decl, f)...)
		if w := f.Policy.Window; w > 0 && !decl.PlannedCrossing.IsZero() {
			if d := now.Sub(decl.PlannedCrossing); d > w || d < -w {
				add(CodeOutsideWindow,
					fmt.Sprintf("outside the crossing window: planned %s, gate allows ± %s", decl.PlannedCrossing.UTC().Format(time.RFC3339), w),
					fmt.Sprintf("ngoài khung giờ qua cửa khẩu: dự kiến %s, cửa khẩu cho phép ± %s", decl.PlannedCrossing.UTC().Format(time.RFC3339), w))
			}
		}
	} else if rd.HasPlate {
		out.Plate = rd.Plate
	}
	out.Reasons = reasons
	if out.Complete && decl != nil && len(reasons) == 0 {
		out.Action = clearance.Open
	}
	return out
}

var readingVI = map[ReadingKind]string{Plate: "biển số", Trailer: "biển số rơ-moóc", Weight: "cân", QR: "mã QR"}

// consistency checks the readings against the declaration.
func consistency(rd Readings, d *Declared, pol Policy) []clearance.Reason {
	var rs []clearance.Reason
	if rd.HasPlate {
		rs = append(rs, clearance.LaneDecision(clearance.Decision{Status: clearance.Cleared}, 0, 0, pol.MinPlateConfidence,
			clearance.Reading{Plate: rd.Plate, PlateConfidence: rd.PlateConfidence, HasPlate: true}).Reasons...)
	}
	for _, t := range rd.Trailers {
		if t != d.TrailerPlate {
			declared, declaredVI := d.TrailerPlate, d.TrailerPlate
			if declared == "" {
				declared, declaredVI = "none", "không có"
			}
			rs = append(rs, clearance.Reason{Code: CodeTrailerMismatch,
				EN: fmt.Sprintf("trailer plate %s read, declared %s", t, declared),
				VI: fmt.Sprintf("đọc biển số rơ-moóc %s, khai báo %s", t, declaredVI)})
		}
	}
	if rd.WeighedPlate != "" && rd.HasPlate && rd.WeighedPlate != rd.Plate {
		rs = append(rs, clearance.Reason{Code: CodeWeightOtherVehicle,
			EN: fmt.Sprintf("the weighbridge weighed plate %s, the camera read %s", rd.WeighedPlate, rd.Plate),
			VI: fmt.Sprintf("cân ghi biển số %s, camera đọc %s", rd.WeighedPlate, rd.Plate)})
	}
	// Sorted, so the reasons do not depend on which weight came first.
	ws := slices.Clone(rd.Weights)
	slices.Sort(ws)
	ws = slices.Compact(ws)
	for _, w := range ws {
		rs = append(rs, clearance.LaneDecision(clearance.Decision{Status: clearance.Cleared}, d.GrossWeightKg, pol.WeightTolerancePercent, 0,
			clearance.Reading{WeightKg: w, HasWeight: true}).Reasons...)
	}
	return rs
}

// lifecycle checks the crossing is at this checkpoint.
func lifecycle(d *Declared, f Facts) []clearance.Reason {
	c := d.Crossing
	if c == nil {
		c = &Crossing{DeclarationID: d.ID, State: Submitted}
	}
	one := func(code, en, vi string) []clearance.Reason {
		return []clearance.Reason{{Code: code, EN: en, VI: vi}}
	}
	switch c.State {
	case Exited:
		last := c.Passages[len(c.Passages)-1]
		return one(CodeClearanceUsed,
			fmt.Sprintf("clearance already used: the truck exited at %s on %s", last.Checkpoint, last.PassedAt.UTC().Format(time.RFC3339)),
			fmt.Sprintf("thông quan đã được sử dụng: xe đã xuất tại %s lúc %s", last.Checkpoint, last.PassedAt.UTC().Format(time.RFC3339)))
	case TurnedBack:
		return one(CodeTurnedBack, "the truck was turned back: "+c.Reason, "xe đã bị cho quay đầu: "+c.Reason)
	case Cancelled:
		return one(CodeCrossingCancelled, "the crossing was cancelled", "chuyến qua cửa khẩu đã bị huỷ")
	}
	cp := f.Checkpoint.ID
	if c.Passed(cp) {
		return one(CodeCheckpointPassed, "already passed checkpoint "+cp, "đã qua trạm "+cp)
	}
	if next, ok := c.Next(f.Route); ok && next.ID != cp {
		return one(CodeCheckpointOrder, "checkpoint "+next.ID+" must be passed before "+cp,
			"phải qua trạm "+next.ID+" trước trạm "+cp)
	}
	return nil
}
