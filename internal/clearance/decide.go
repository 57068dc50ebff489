package clearance

import (
	"fmt"
	"github.com/gatehub/gatehub/internal/message"
	"strings"
	"time"
)

// Decide computes the clearance decision for one declaration version.
//
// names gives the agencies' display texts (nil: their codes); required
// are the agencies the gate policy requires (gate.RequiredAgencies);
// statuses holds the latest message per agency for the current version
// (when an agency appears twice the later entry wins). Statuses of agencies
// that are not required are ignored: the gate policy alone says whose word
// counts.
//
// Precedence is REJECTED > HOLD > PENDING > CLEARED; a cancelled
// declaration is CANCELLED whatever the agencies said. Reasons are ordered
// the same way, so the first reason explains the status; Awaiting and
// Overdue are filled whatever the status, since a rejected truck may still
// be waiting on other agencies and operators want to see both.
func Decide(names Names, required []string, statuses []AgencyStatus, cancelled bool, now time.Time) Decision {
	d := Decision{DecidedAt: now}
	if cancelled {
		d.Status = Cancelled
		d.Reasons = []Reason{{
			Code: CodeDeclarationCancelled,
			EN:   "declaration cancelled",
			VI:   "tờ khai đã bị hủy",
		}}
		return d
	}

	latest := map[string]AgencyStatus{}
	for _, s := range statuses {
		latest[s.Agency] = s
	}

	var rejected, held, waiting []Reason
	var acked []string
	seen := map[string]bool{}
	for _, a := range required {
		if seen[a] {
			continue
		}
		seen[a] = true
		en, vi := AgencyName(names, a)
		s, ok := latest[a]
		if !ok {
			d.Awaiting = append(d.Awaiting, a)
			waiting = append(waiting, Reason{Code: CodeAwaitingDelivery, Agency: a,
				EN: "waiting on " + en + " (no message yet)",
				VI: "đang chờ " + vi + " (chưa có thông điệp)"})
			continue
		}
		switch s.State {
		case message.Acked:
			acked = append(acked, a)
		case message.Nacked:
			rejected = append(rejected, nackReason(names, a, en, vi, s))
		case message.Dead:
			r := Reason{Code: CodeDeliveryFailed, Agency: a,
				EN: fmt.Sprintf("delivery to %s failed after %d attempts; an operator must act", en, s.Attempts),
				VI: fmt.Sprintf("gửi tới %s thất bại sau %d lần; cần cán bộ xử lý", vi, s.Attempts)}
			if s.LastError != "" {
				r.EN += " (last error: " + s.LastError + ")"
				r.VI += " (lỗi cuối: " + s.LastError + ")"
			}
			held = append(held, r)
		case message.Cancelled:
			held = append(held, Reason{Code: CodeMessageCancelled, Agency: a,
				EN: "message to " + en + " cancelled by an operator; an operator must act",
				VI: "thông điệp gửi " + vi + " đã bị cán bộ hủy; cần cán bộ xử lý"})
		case message.Superseded:
			// The caller should have passed the replacing message; a
			// superseded one as the latest means the replacement is
			// missing, which no amount of waiting fixes.
			held = append(held, Reason{Code: CodeMessageSuperseded, Agency: a,
				EN: "message to " + en + " was superseded but no replacement exists; an operator must act",
				VI: "thông điệp gửi " + vi + " đã bị thay thế nhưng không có thông điệp mới; cần cán bộ xử lý"})
		case message.Pending, message.Sent:
			d.Awaiting = append(d.Awaiting, a)
			waiting = append(waiting, waitReason(a, en, vi, s, now, &d))
		default:
			held = append(held, Reason{Code: CodeUnknownState, Agency: a,
				EN: fmt.Sprintf("message to %s is in unknown state %q; an operator must act", en, s.State),
				VI: fmt.Sprintf("thông điệp gửi %s ở trạng thái không xác định %q; cần cán bộ xử lý", vi, s.State)})
		}
	}
	if len(seen) == 0 {
		// Clearing with nobody's ACK would open the barrier on no
		// evidence at all.
		held = append(held, Reason{Code: CodeNoPolicy,
			EN: "no agency is required for this crossing; check the gate policy",
			VI: "không có cơ quan nào được yêu cầu cho lượt qua này; kiểm tra chính sách cửa khẩu"})
	}

	switch {
	case len(rejected) > 0:
		d.Status = Rejected
	case len(held) > 0:
		d.Status = Hold
	case len(waiting) > 0:
		d.Status = Pending
	default:
		d.Status = Cleared
		ens, vis := make([]string, len(acked)), make([]string, len(acked))
		for i, a := range acked {
			ens[i], vis[i] = AgencyName(names, a)
		}
		waiting = []Reason{{Code: CodeCleared,
			EN: "cleared by " + strings.Join(ens, ", "),
			VI: "đã được thông quan bởi " + strings.Join(vis, ", ")}}
	}
	d.Reasons = append(append(append(d.Reasons, rejected...), held...), waiting...)
	return d
}

func nackReason(names Names, a, en, vi string, s AgencyStatus) Reason {
	detail := strings.TrimSpace(strings.TrimSpace(s.ReasonCode) + " " + strings.TrimSpace(s.ReasonText))
	r := Reason{Code: CodeRejected, Agency: a, EN: "rejected by " + en, VI: "bị " + vi + " từ chối"}
	if detail != "" {
		// The agency's own code and text are passed through untranslated in
		// English: they are what the trader quotes when contesting the
		// rejection. Vietnamese carries the code (language-neutral) and, for
		// codes the agencies publish, what it means; never the English text.
		r.EN += ": " + detail
	}
	if code := strings.TrimSpace(s.ReasonCode); code != "" {
		r.VI += ": " + code
		if meaning, ok := reasonVI(names, a, code); ok {
			r.VI += " (" + meaning + ")"
		}
	}
	return r
}

func waitReason(a, en, vi string, s AgencyStatus, now time.Time, d *Decision) Reason {
	if !s.AckDeadline.IsZero() && now.After(s.AckDeadline) {
		d.Overdue = append(d.Overdue, a)
		late := now.Sub(s.AckDeadline)
		return Reason{Code: CodeAckOverdue, Agency: a,
			EN: fmt.Sprintf("waiting on %s, overdue by %s", en, durationEN(late)),
			VI: fmt.Sprintf("đang chờ %s, quá hạn %s", vi, durationVI(late))}
	}
	if s.State == message.Pending {
		r := Reason{Code: CodeAwaitingDelivery, Agency: a,
			EN: "waiting on " + en + " (message not yet delivered)",
			VI: "đang chờ " + vi + " (thông điệp chưa được gửi tới)"}
		if s.Attempts > 0 {
			r.EN = fmt.Sprintf("waiting on %s (delivery retrying, %d attempts)", en, s.Attempts)
			r.VI = fmt.Sprintf("đang chờ %s (đang gửi lại, %d lần)", vi, s.Attempts)
		}
		return r
	}
	return Reason{Code: CodeAwaitingAck, Agency: a, EN: "waiting on " + en, VI: "đang chờ " + vi}
}

// durationEN and durationVI render how late an answer is, in whole minutes
// (seconds below one minute), which is the precision a gate officer needs.
func durationEN(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%d s", int(d/time.Second))
	}
	return fmt.Sprintf("%d min", int(d/time.Minute))
}

func durationVI(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%d giây", int(d/time.Second))
	}
	return fmt.Sprintf("%d phút", int(d/time.Minute))
}

// reasonVI is what an agency's reason code means in Vietnamese, when its
// agency file says.
func reasonVI(names Names, agency, code string) (string, bool) {
	if names == nil {
		return "", false
	}
	return names.ReasonVI(agency, code)
}
