// Package borderguard knows the border guard's electronic portal: how to
// reach it and what its simulator checks in a CrossingNotice message
// (schemas/borderguard/crossing-notice-1.0.xsd): every crew member needs a
// border pass that has not expired on the portal's current date.
package borderguard

import (
	"fmt"
	"time"

	"github.com/beevik/etree"

	"github.com/gatehub/gatehub/adapters/agency"
)

// Name is the agency id (mappings/, schemas/, trust store, callback path).
const Name = "borderguard"

// NACK reason codes.
const (
	CodePassMissing = "BG-PASS-MISSING"
	CodePassExpired = "BG-PASS-EXPIRED"
)

// Spec describes the portal endpoint.
func Spec() agency.Spec {
	return agency.Spec{
		Name:        Name,
		DisplayName: "Border guard electronic portal",
		ContentType: agency.DefaultContentType,
		Timeout:     20 * time.Second,
	}
}

// ReadEnvelope reads the common Header of the portal's messages.
func ReadEnvelope(root *etree.Element) (agency.Envelope, error) { return agency.ReadHeader(root) }

// Rules are the portal's checks on submit and amend messages.
func Rules() []agency.Rule {
	return []agency.Rule{{Name: "border-pass", Check: checkBorderPasses}}
}

// checkBorderPasses looks at every person of the crew, in document order,
// and reports the first one without a usable pass. A crew with nobody in it
// is a missing pass too: the truck has no driver the guard can admit.
func checkBorderPasses(root *etree.Element, now time.Time) (bool, string, string) {
	crew := root.FindElements("Crossing/Crew/Person")
	if len(crew) == 0 {
		return false, CodePassMissing, "the crew lists nobody, so no border pass is presented"
	}
	today := agency.Today(now)
	for i, p := range crew {
		who := agency.Text(p, "FullName")
		if who == "" {
			who = fmt.Sprintf("crew member %d", i+1)
		}
		pass := p.SelectElement("BorderPass")
		number := agency.Text(pass, "Number")
		if pass == nil || number == "" {
			return false, CodePassMissing, fmt.Sprintf("%s has no border pass", who)
		}
		expiry, err := agency.ParseDate(agency.Text(pass, "ExpiryDate"))
		if err != nil {
			return false, CodePassMissing, fmt.Sprintf("border pass %s of %s has no readable expiry date", number, who)
		}
		if expiry.Before(today) {
			return false, CodePassExpired, fmt.Sprintf("border pass %s of %s expired on %s (today is %s)",
				number, who, expiry.Format(time.DateOnly), today.Format(time.DateOnly))
		}
	}
	return true, "", ""
}
