package simulator

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/gatehub/gatehub/internal/declaration"
)

// TestAgencyRulesOnMappedMessages drives each agency rule with messages
// built by the real mapping engine from the conformance declarations, so a
// rule reading the wrong element path fails here even when its own unit
// test (on a hand-written fragment) passes.
func TestAgencyRulesOnMappedMessages(t *testing.T) {
	tests := []struct {
		agency   string
		decl     string
		mutate   func(*declaration.Declaration)
		wantCode string // "" means ACK
	}{
		{"customs", "huu-nghi-export.json", nil, ""},
		{"customs", "tan-thanh-import.json", nil, ""},
		{"customs", "huu-nghi-export.json", func(d *declaration.Declaration) { d.Vehicle.GrossWeightKg = 20000 }, "CUS-WEIGHT-MISMATCH"},
		{"customs", "huu-nghi-export.json", func(d *declaration.Declaration) { d.Consignments[1].HSCodeVN = "93019010" }, "CUS-HS-PROHIBITED"},
		{"customs", "huu-nghi-export.json", func(d *declaration.Declaration) { d.Consignments[0].HSCodeVN = "77000000" }, "CUS-HS-INVALID"},

		{"vehicleregistry", "huu-nghi-export.json", nil, ""},
		{"vehicleregistry", "tan-thanh-import.json", nil, ""},
		{"vehicleregistry", "huu-nghi-export.json", func(d *declaration.Declaration) { d.Vehicle.InspectionCertificate.ExpiresOn = "2025-11-24" }, "VR-INSPECTION-EXPIRED"},
		{"vehicleregistry", "huu-nghi-export.json", func(d *declaration.Declaration) { d.Vehicle.CrossBorderPermit.ExpiresOn = "2025-01-31" }, "VR-PERMIT-EXPIRED"},
		{"vehicleregistry", "huu-nghi-export.json", func(d *declaration.Declaration) { d.Vehicle.InspectionCertificate.ExpiresOn = "2025-11-25" }, ""},

		{"borderguard", "huu-nghi-export.json", nil, ""},
		{"borderguard", "tan-thanh-import.json", nil, ""},
		{"borderguard", "huu-nghi-export.json", func(d *declaration.Declaration) { d.Drivers[0].BorderPass.ExpiresOn = "2025-10-01" }, "BG-PASS-EXPIRED"},

		{"guangxi", "huu-nghi-export.json", nil, ""},
		{"guangxi", "tan-thanh-import.json", nil, ""},
		{"guangxi", "huu-nghi-export.json", func(d *declaration.Declaration) { d.Vehicle.PlateCN = "" }, "GX-CN-PLATE-MISSING"},
	}
	for i, tt := range tests {
		want := tt.wantCode
		if want == "" {
			want = "ACK"
		}
		t.Run(fmt.Sprintf("%s/%s/%s", tt.agency, tt.decl, want), func(t *testing.T) {
			r := newRig(t, tt.agency, nil)
			d := loadDeclaration(t, tt.decl)
			if tt.mutate != nil {
				tt.mutate(d)
			}
			msgID := fmt.Sprintf("M-%02d", i)
			resp := r.post(msgID, r.build("submit", msgID, d, nil))
			if resp.Status != http.StatusOK {
				t.Fatalf("status %d: %s", resp.Status, resp.Body)
			}
			a := r.readAck(resp.Body)
			if a.RefMessageID != msgID || a.AckID != AckID(tt.agency, msgID) {
				t.Fatalf("ack %+v does not answer %s", a, msgID)
			}
			wantStatus := "ACK"
			if tt.wantCode != "" {
				wantStatus = "NACK"
			}
			if a.Status != wantStatus || a.ReasonCode != tt.wantCode {
				t.Fatalf("got %s %s (%s), want %s %s", a.Status, a.ReasonCode, a.ReasonText, wantStatus, tt.wantCode)
			}
			if tt.wantCode != "" && a.ReasonText == "" {
				t.Fatal("NACK without reason text")
			}
			st := r.sim.Stats()[msgID]
			if st.Status != wantStatus || st.ReasonCode != tt.wantCode || st.Kind != "submit" || st.Attempts != 1 {
				t.Fatalf("stats = %+v", st)
			}
		})
	}
}
