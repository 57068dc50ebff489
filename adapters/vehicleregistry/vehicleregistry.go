// Package vehicleregistry knows the vehicle registry: how to reach it and
// what its simulator checks in a VehicleCrossing message
// (schemas/vehicleregistry/vehicle-crossing-1.0.xsd): the technical
// inspection certificate and the cross-border transport permit must not have
// expired on the registry's current date.
package vehicleregistry

import (
	"fmt"
	"time"

	"github.com/beevik/etree"

	"github.com/gatehub/gatehub/adapters/agency"
)

// Name is the agency id (mappings/, schemas/, trust store, callback path).
const Name = "vehicleregistry"

// NACK reason codes.
const (
	CodeInspectionExpired = "VR-INSPECTION-EXPIRED"
	CodePermitExpired     = "VR-PERMIT-EXPIRED"
)

// Spec describes the registry endpoint.
func Spec() agency.Spec {
	return agency.Spec{
		Name:        Name,
		DisplayName: "Vehicle registry (technical inspection and cross-border permits)",
		ContentType: agency.DefaultContentType,
		Timeout:     20 * time.Second,
	}
}

// ReadEnvelope reads the common Header of the registry's messages.
func ReadEnvelope(root *etree.Element) (agency.Envelope, error) { return agency.ReadHeader(root) }

// Rules are the registry's checks on submit and amend messages.
func Rules() []agency.Rule {
	return []agency.Rule{
		expiryRule("inspection-certificate", "Crossing/Vehicle/InspectionCertificate", "inspection certificate", CodeInspectionExpired),
		expiryRule("cross-border-permit", "Crossing/Vehicle/CrossBorderPermit", "cross-border permit", CodePermitExpired),
	}
}

// expiryRule NACKs when the certificate at path expired before today. A
// document is valid through its expiry date. A missing or unreadable date
// counts as expired: the registry cannot vouch for what it cannot read.
func expiryRule(name, path, what, code string) agency.Rule {
	return agency.Rule{Name: name, Check: func(root *etree.Element, now time.Time) (bool, string, string) {
		cert := root.FindElement(path)
		number := agency.Text(cert, "Number")
		raw := agency.Text(cert, "ExpiryDate")
		expiry, err := agency.ParseDate(raw)
		if err != nil {
			return false, code, fmt.Sprintf("%s %s has no readable expiry date", what, number)
		}
		if today := agency.Today(now); expiry.Before(today) {
			return false, code, fmt.Sprintf("%s %s expired on %s (today is %s)", what, number,
				expiry.Format(time.DateOnly), today.Format(time.DateOnly))
		}
		return true, "", ""
	}}
}
