package vehicleregistry

import (
	"fmt"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/gatehub/gatehub/adapters/agency"
)

// message is a trimmed VehicleCrossingSubmit: only what the rules read.
func message(t *testing.T, inspection, permit string) *etree.Element {
	t.Helper()
	doc := etree.NewDocument()
	err := doc.ReadFromString(fmt.Sprintf(`<VehicleCrossingSubmit xmlns="urn:gatehub:vehicleregistry:vehicle-crossing:1">
  <Crossing><Vehicle>
    <InspectionCertificate><Number>KD-1</Number>%s</InspectionCertificate>
    <CrossBorderPermit><Number>GP-2</Number>%s</CrossBorderPermit>
  </Vehicle></Crossing></VehicleCrossingSubmit>`, inspection, permit))
	if err != nil {
		t.Fatal(err)
	}
	return doc.Root()
}

func exp(d string) string { return "<ExpiryDate>" + d + "</ExpiryDate>" }

func TestRules(t *testing.T) {
	// 20:00 UTC on the 24th is the 25th in Viet Nam.
	now := time.Date(2026, 11, 24, 20, 0, 0, 0, time.UTC)
	tests := []struct {
		name               string
		inspection, permit string
		wantCode           string
	}{
		{"both valid", exp("2027-01-01"), exp("2026-12-31"), ""},
		{"expiring today is still valid", exp("2026-11-25"), exp("2026-11-25+07:00"), ""},
		{"inspection expired yesterday (VN date)", exp("2026-11-24"), exp("2027-01-01"), CodeInspectionExpired},
		{"permit expired", exp("2027-01-01"), exp("2025-06-30"), CodePermitExpired},
		{"both expired: inspection reported first", exp("2020-01-01"), exp("2020-01-01"), CodeInspectionExpired},
		{"unreadable date counts as expired", exp("soon"), exp("2027-01-01"), CodeInspectionExpired},
		{"missing permit date", exp("2027-01-01"), "", CodePermitExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := evaluate(Rules(), message(t, tt.inspection, tt.permit), now)
			if v != tt.wantCode {
				t.Fatalf("code = %q, want %q", v, tt.wantCode)
			}
		})
	}
}

func evaluate(rules []agency.Rule, root *etree.Element, now time.Time) string {
	for _, r := range rules {
		if ok, code, text := r.Check(root, now); !ok {
			if text == "" {
				return code + " (no text)"
			}
			return code
		}
	}
	return ""
}

func TestSpec(t *testing.T) {
	if s := Spec(); s.Name != Name || s.Timeout <= 0 || s.ContentType == "" {
		t.Fatalf("spec = %+v", s)
	}
}
