package guangxi

import (
	"testing"
	"time"

	"github.com/beevik/etree"
)

func TestRules(t *testing.T) {
	tests := []struct {
		name     string
		vehicle  string
		wantCode string
	}{
		{"CN plate present", "<VehicleNo>桂A12345</VehicleNo><Vin>LFV3A23C0J3012345</Vin>", ""},
		{"only VN plate", "<ForeignVehicleNo>12C-12345</ForeignVehicleNo><Vin>LFV3A23C0J3012345</Vin>", CodeCNPlateMissing},
		{"blank CN plate", "<VehicleNo>  </VehicleNo>", CodeCNPlateMissing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := etree.NewDocument()
			if err := doc.ReadFromString(`<GXBT101Message xmlns="urn:chinaport.gov.cn:gxbt:1" guid="m1" version="1.0"><BorderTransport><Vehicle>` +
				tt.vehicle + `</Vehicle></BorderTransport></GXBT101Message>`); err != nil {
				t.Fatal(err)
			}
			code := ""
			for _, r := range Rules() {
				if ok, c, _ := r.Check(doc.Root(), time.Time{}); !ok {
					code = c
					break
				}
			}
			if code != tt.wantCode {
				t.Fatalf("code = %q, want %q", code, tt.wantCode)
			}
		})
	}
}

func TestReadEnvelope(t *testing.T) {
	doc := etree.NewDocument()
	if err := doc.ReadFromString(`<GXBT102Message xmlns="urn:chinaport.gov.cn:gxbt:1" guid="msg-2" version="1.0"><Head>
<MessageType>GXBT102</MessageType><SenderID>hub</SenderID><ReceiverID>guangxi</ReceiverID><SendTime>20261125100000</SendTime>
<DeclRef>decl-1</DeclRef><DeclVersion>2</DeclVersion><OrigGuid>msg-1</OrigGuid></Head></GXBT102Message>`); err != nil {
		t.Fatal(err)
	}
	env, err := ReadEnvelope(doc.Root())
	if err != nil {
		t.Fatal(err)
	}
	if env.MessageID != "msg-2" || env.Sender != "hub" || env.Receiver != "guangxi" || env.DeclarationID != "decl-1" ||
		env.Version != 2 || env.PreviousMessageID != "msg-1" {
		t.Fatalf("envelope = %+v", env)
	}
}
