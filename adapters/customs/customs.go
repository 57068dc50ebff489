// Package customs knows the customs road cargo manifest system: how to
// reach it and what its simulator checks in a RoadManifest message
// (schemas/customs/road-manifest-1.0.xsd): declared masses must add up and
// every HS code must pass the screening list in hscodes.txt.
package customs

import (
	"bufio"
	"bytes"
	_ "embed"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"

	"github.com/gatehub/gatehub/adapters/agency"
)

// Name is the agency id (mappings/, schemas/, trust store, callback path).
const Name = "customs"

// NACK reason codes.
const (
	CodeWeightMismatch = "CUS-WEIGHT-MISMATCH"
	CodeHSInvalid      = "CUS-HS-INVALID"
	CodeHSProhibited   = "CUS-HS-PROHIBITED"
)

// Spec describes the manifest system endpoint.
func Spec() agency.Spec {
	return agency.Spec{
		Name:        Name,
		DisplayName: "Customs road cargo manifest system",
		ContentType: agency.DefaultContentType,
		Timeout:     30 * time.Second,
	}
}

// ReadEnvelope reads the common Header of the manifest messages.
func ReadEnvelope(root *etree.Element) (agency.Envelope, error) { return agency.ReadHeader(root) }

// Rules are the manifest system's checks on submit and amend messages.
// Screening comes first: a prohibited good is the more serious finding.
func Rules() []agency.Rule {
	list := mustParseScreening(screeningFile)
	return []agency.Rule{
		{Name: "hs-screening", Check: list.check},
		{Name: "gross-mass", Check: checkMass},
	}
}

//go:embed hscodes.txt
var screeningFile []byte

type screenEntry struct {
	prefix, verdict, reason string
}

type screening []screenEntry

// mustParseScreening panics on a malformed embedded list: it is compiled
// into the binary, so a bad line is a build defect every test catches.
func mustParseScreening(data []byte) screening {
	s, err := parseScreening(data)
	if err != nil {
		panic(err)
	}
	return s
}

func parseScreening(data []byte) (screening, error) {
	var out screening
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 || (f[1] != "PROHIBITED" && f[1] != "INVALID") {
			return nil, fmt.Errorf("hscodes.txt:%d: want <prefix> PROHIBITED|INVALID <reason>", n)
		}
		if _, err := strconv.ParseUint(f[0], 10, 64); err != nil {
			return nil, fmt.Errorf("hscodes.txt:%d: prefix %q is not digits", n, f[0])
		}
		out = append(out, screenEntry{prefix: f[0], verdict: f[1], reason: strings.Join(f[2:], " ")})
	}
	return out, sc.Err()
}

// lookup returns the longest entry that prefixes code.
func (s screening) lookup(code string) (screenEntry, bool) {
	var best screenEntry
	for _, e := range s {
		if strings.HasPrefix(code, e.prefix) && len(e.prefix) > len(best.prefix) {
			best = e
		}
	}
	return best, best.prefix != ""
}

func (s screening) check(root *etree.Element, _ time.Time) (bool, string, string) {
	for _, item := range root.FindElements("Declaration/Consignment/GoodsItem") {
		code := agency.Text(item, "Commodity/Classification/ID")
		seq := agency.Text(item, "../SequenceNumeric")
		if len(code) < 6 || len(code) > 10 || strings.Trim(code, "0123456789") != "" {
			return false, CodeHSInvalid, fmt.Sprintf("consignment %s: HS code %q is not 6 to 10 digits", seq, code)
		}
		e, ok := s.lookup(code)
		if !ok {
			continue
		}
		if e.verdict == "PROHIBITED" {
			return false, CodeHSProhibited, fmt.Sprintf("consignment %s: HS %s (%s) may not cross the border", seq, code, e.reason)
		}
		return false, CodeHSInvalid, fmt.Sprintf("consignment %s: HS %s: %s", seq, code, e.reason)
	}
	return true, "", ""
}

// massTolerance absorbs rounding when a trader's per-line kilograms are
// summed; the schema carries three decimals.
const massTolerance = 0.5

// checkMass NACKs when the goods lines weigh more than the manifest's total
// gross mass, which mappings/customs fills from the vehicle's declared gross
// weight. The manifest carries no tare, so the check cannot subtract it: the
// vehicle gross mass is the ceiling the goods must fit under.
func checkMass(root *etree.Element, _ time.Time) (bool, string, string) {
	total, err := kilograms(root.FindElement("Declaration/TotalGrossMassMeasure"))
	if err != nil {
		return false, CodeWeightMismatch, "total gross mass: " + err.Error()
	}
	var sum float64
	for _, m := range root.FindElements("Declaration/Consignment/GoodsItem/GoodsMeasure/GrossMassMeasure") {
		kg, err := kilograms(m)
		if err != nil {
			return false, CodeWeightMismatch, "goods gross mass: " + err.Error()
		}
		sum += kg
	}
	if sum > total+massTolerance {
		return false, CodeWeightMismatch, fmt.Sprintf("goods weigh %.3f kg, more than the declared total gross mass %.3f kg", sum, total)
	}
	return true, "", ""
}

// kilograms reads a MeasureType value; the schema allows only KGM.
func kilograms(el *etree.Element) (float64, error) {
	if el == nil {
		return 0, fmt.Errorf("missing")
	}
	if u := el.SelectAttrValue("unitCode", "KGM"); u != "KGM" {
		return 0, fmt.Errorf("unit %q, want KGM", u)
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(el.Text()), 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%q is not a mass", el.Text())
	}
	return v, nil
}
