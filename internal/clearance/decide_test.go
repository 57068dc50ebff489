package clearance

import (
	"encoding/json"
	"github.com/gatehub/gatehub/internal/message"
	"slices"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

var all4 = []string{"customs", "borderguard", "vehicleregistry", "guangxi"}

func st(agency, state string) AgencyStatus {
	return AgencyStatus{Agency: agency, MessageID: "m-" + agency, State: message.State(state)}
}

func codes(rs []Reason) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Code+"/"+r.Agency)
	}
	return out
}

func TestDecide(t *testing.T) {
	overdue := st("guangxi", "sent")
	overdue.AckDeadline = now.Add(-12 * time.Minute)
	notYet := st("customs", "sent")
	notYet.AckDeadline = now.Add(time.Minute)
	nack := st("customs", "nacked")
	nack.ReasonCode, nack.ReasonText = "E102", "HS code 0804.50 not allowed"
	dead := st("borderguard", "dead")
	dead.Attempts, dead.LastError = 8, "connection refused"
	retrying := st("vehicleregistry", "pending")
	retrying.Attempts = 3

	tests := []struct {
		name      string
		required  []string
		statuses  []AgencyStatus
		cancelled bool
		status    Status
		awaiting  []string
		overdue   []string
		reasons   []string
	}{
		{"all acked", all4, []AgencyStatus{st("customs", "acked"), st("borderguard", "acked"), st("vehicleregistry", "acked"), st("guangxi", "acked")},
			false, Cleared, nil, nil, []string{"CLEARED/"}},
		{"no statuses at all", all4, nil, false, Pending, all4, nil,
			[]string{"AWAITING_DELIVERY/customs", "AWAITING_DELIVERY/borderguard", "AWAITING_DELIVERY/vehicleregistry", "AWAITING_DELIVERY/guangxi"}},
		{"one overdue stays awaited", []string{"customs", "guangxi"}, []AgencyStatus{notYet, overdue}, false, Pending,
			[]string{"customs", "guangxi"}, []string{"guangxi"}, []string{"AWAITING_ACK/customs", "ACK_OVERDUE/guangxi"}},
		{"nack beats everything", all4, []AgencyStatus{nack, dead, st("vehicleregistry", "sent"), st("guangxi", "acked")}, false, Rejected,
			[]string{"vehicleregistry"}, nil, []string{"AGENCY_REJECTED/customs", "DELIVERY_FAILED/borderguard", "AWAITING_ACK/vehicleregistry"}},
		{"dead letter holds", []string{"borderguard", "vehicleregistry"}, []AgencyStatus{dead, retrying}, false, Hold,
			[]string{"vehicleregistry"}, nil, []string{"DELIVERY_FAILED/borderguard", "AWAITING_DELIVERY/vehicleregistry"}},
		{"operator-cancelled message holds", []string{"customs"}, []AgencyStatus{st("customs", "cancelled")}, false, Hold,
			nil, nil, []string{"MESSAGE_CANCELLED/customs"}},
		{"superseded without replacement holds", []string{"customs"}, []AgencyStatus{st("customs", "superseded")}, false, Hold,
			nil, nil, []string{"MESSAGE_SUPERSEDED/customs"}},
		{"unknown state holds", []string{"customs"}, []AgencyStatus{st("customs", "lost")}, false, Hold,
			nil, nil, []string{"UNKNOWN_STATE/customs"}},
		{"nack of agency not required is ignored", []string{"customs"}, []AgencyStatus{st("customs", "acked"), st("guangxi", "nacked")}, false, Cleared,
			nil, nil, []string{"CLEARED/"}},
		{"later status for an agency wins", []string{"customs"}, []AgencyStatus{st("customs", "nacked"), st("customs", "acked")}, false, Cleared,
			nil, nil, []string{"CLEARED/"}},
		{"no required agency never clears", nil, []AgencyStatus{st("customs", "acked")}, false, Hold,
			nil, nil, []string{"NO_POLICY/"}},
		{"cancelled declaration", all4, []AgencyStatus{nack}, true, Cancelled,
			nil, nil, []string{"DECLARATION_CANCELLED/"}},
		{"duplicate required agency counted once", []string{"customs", "customs"}, nil, false, Pending,
			[]string{"customs"}, nil, []string{"AWAITING_DELIVERY/customs"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(names, tt.required, tt.statuses, tt.cancelled, now)
			if d.Status != tt.status {
				t.Errorf("Status = %s, want %s (%v)", d.Status, tt.status, codes(d.Reasons))
			}
			if !slices.Equal(d.Awaiting, tt.awaiting) {
				t.Errorf("Awaiting = %v, want %v", d.Awaiting, tt.awaiting)
			}
			if !slices.Equal(d.Overdue, tt.overdue) {
				t.Errorf("Overdue = %v, want %v", d.Overdue, tt.overdue)
			}
			if got := codes(d.Reasons); !slices.Equal(got, tt.reasons) {
				t.Errorf("Reasons = %v, want %v", got, tt.reasons)
			}
			if !d.DecidedAt.Equal(now) {
				t.Errorf("DecidedAt = %v", d.DecidedAt)
			}
			for _, r := range d.Reasons {
				if r.EN == "" || r.VI == "" {
					t.Errorf("reason %s lacks a language: %+v", r.Code, r)
				}
			}
		})
	}
}

func TestDecideTexts(t *testing.T) {
	nack := st("customs", "nacked")
	nack.ReasonCode, nack.ReasonText = "E102", "HS code not allowed"
	vrNack := st("vehicleregistry", "nacked")
	vrNack.ReasonCode, vrNack.ReasonText = "VR-INSPECTION-EXPIRED", "inspection certificate expired"
	overdue := st("guangxi", "sent")
	overdue.AckDeadline = now.Add(-12*time.Minute - 30*time.Second)

	tests := []struct {
		name   string
		d      Decision
		en, vi string
	}{
		{"awaiting", Decide(names, []string{"vehicleregistry"}, []AgencyStatus{st("vehicleregistry", "sent")}, false, now),
			"waiting on Vehicle Registry", "đang chờ Đăng kiểm"},
		{"nack", Decide(names, []string{"customs"}, []AgencyStatus{nack}, false, now),
			"rejected by Customs: E102 HS code not allowed", "bị Hải quan từ chối: E102"},
		{"nack with a published code", Decide(names, []string{"vehicleregistry"}, []AgencyStatus{vrNack}, false, now),
			"rejected by Vehicle Registry: VR-INSPECTION-EXPIRED inspection certificate expired",
			"bị Đăng kiểm từ chối: VR-INSPECTION-EXPIRED (giấy chứng nhận kiểm định đã hết hạn)"},
		{"overdue", Decide(names, []string{"guangxi"}, []AgencyStatus{overdue}, false, now),
			"waiting on Guangxi Single Window, overdue by 12 min", "đang chờ Cửa sổ một cửa Quảng Tây, quá hạn 12 phút"},
		{"cleared", Decide(names, []string{"customs", "borderguard"}, []AgencyStatus{st("customs", "acked"), st("borderguard", "acked")}, false, now),
			"cleared by Customs, Border Guard", "đã được thông quan bởi Hải quan, Bộ đội Biên phòng"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r := tt.d.Reasons[0]; r.EN != tt.en || r.VI != tt.vi {
				t.Errorf("got %q / %q, want %q / %q", r.EN, r.VI, tt.en, tt.vi)
			}
		})
	}
}

func TestDecisionJSON(t *testing.T) {
	d := Decide(names, []string{"customs"}, nil, false, now)
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"status":"PENDING","awaiting":["customs"],"reasons":[{"code":"AWAITING_DELIVERY","agency":"customs","en":"waiting on Customs (no message yet)","vi":"đang chờ Hải quan (chưa có thông điệp)"}],"decidedAt":"2026-11-25T10:00:00Z"}`
	if string(b) != want {
		t.Errorf("JSON =\n%s\nwant\n%s", b, want)
	}
}

func TestJoinReasons(t *testing.T) {
	en, vi := JoinReasons([]Reason{{EN: "a", VI: "á"}, {EN: "b", VI: "ƀ"}})
	if en != "a; b" || vi != "á; ƀ" {
		t.Errorf("JoinReasons = %q, %q", en, vi)
	}
	if en, _ := AgencyName(names, "police"); !strings.EqualFold(en, "police") {
		t.Errorf("unknown agency name = %q", en)
	}
}
