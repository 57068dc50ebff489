// Package guangxi knows the Guangxi international-trade single window: how
// to reach it, how its China e-port style envelope is laid out (message id
// in the root guid attribute, routing in Head), and what its simulator
// checks in a GXBT message (schemas/guangxi/gxbt-1.0.xsd): a truck entering
// the Chinese side must carry its Chinese plate.
package guangxi

import (
	"time"

	"github.com/beevik/etree"

	"github.com/gatehub/gatehub/adapters/agency"
	"github.com/gatehub/gatehub/internal/sign"
)

// Name is the agency id (mappings/, schemas/, trust store, callback path).
const Name = "guangxi"

// CodeCNPlateMissing is the NACK reason for a truck without a CN plate.
const CodeCNPlateMissing = "GX-CN-PLATE-MISSING"

// Spec describes the single-window endpoint. Its timeout is the longest of
// the four because it sits behind the cross-border link; it signs under
// the SM2-SM3 profile.
func Spec() agency.Spec {
	return agency.Spec{
		Name:        Name,
		DisplayName: "Guangxi international trade single window (广西国际贸易单一窗口)",
		ContentType: agency.DefaultContentType,
		Timeout:     60 * time.Second,
		// The China e-port profile: our messages to it are signed with the
		// hub's SM2 key and its ACKs must be signed SM2-SM3.
		Signature: sign.SM2Profile,
	}
}

// ReadEnvelope reads a GXBT envelope: guid attribute and Head children.
func ReadEnvelope(root *etree.Element) (agency.Envelope, error) {
	return agency.NewHeaderReader("Head", "guid", "SenderID", "ReceiverID", "DeclRef", "DeclVersion", "OrigGuid")(root)
}

// Rules are the single window's checks on declare (GXBT101) and amend
// (GXBT102) messages.
func Rules() []agency.Rule {
	return []agency.Rule{{Name: "cn-plate", Check: checkCNPlate}}
}

func checkCNPlate(root *etree.Element, _ time.Time) (bool, string, string) {
	if agency.Text(root, "BorderTransport/Vehicle/VehicleNo") == "" {
		return false, CodeCNPlateMissing, "车辆无中国车牌号 / the vehicle has no Chinese registration plate"
	}
	return true, "", ""
}
