package declaration

import (
	"cmp"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gatehub/gatehub/internal/problem"
)

// Limits of the rules; see the package comment.
const (
	maxDrivers            = 3
	maxConsignments       = 200
	maxCustomsNumbers     = 20
	maxContainers         = 10 // per consignment; a truck carries two or three
	maxGoodsItems         = 99 // per consignment, as on a customs declaration
	maxSeals              = 4  // per container: shipper, carrier, customs, spare
	minReeferC            = -40
	maxReeferC            = 30
	maxVehicleGrossKg     = 60000
	consignmentTolerance  = 1.02 // weighbridge and packaging slack
	crossingPastWindow    = 30 * 24 * time.Hour
	crossingFutureWindow  = 90 * 24 * time.Hour
	defaultMaxStringRunes = 64
)

// maxRunes are per JSON field name; every other string is a code or a
// document number and gets defaultMaxStringRunes.
// listLimits bound how many elements of each list are examined: beyond
// the limit the list itself is reported as too_many, and examining the
// rest would let one oversized body cost tens of thousands of errors.
var listLimits = map[string]int{
	"customsDeclarationNumbers": maxCustomsNumbers,
	"drivers":                   maxDrivers,
	"consignments":              maxConsignments,
	"containers":                maxContainers,
	"goodsItems":                maxGoodsItems,
	"seals":                     maxSeals,
}

// firstN returns s cut to the examined prefix of the list called name.
func firstN[T any](s []T, name string) []T {
	if n := listLimits[name]; len(s) > n {
		return s[:n]
	}
	return s
}

var maxRunes = map[string]int{
	"name": 256, "nameCN": 255,
	"description": 512, "descriptionCN": 255, "address": 512,
}

// chineseText are the fields written in Chinese for the Chinese side: the
// GXBT format (ChineseTextType) requires at least one ideograph of the
// CJK Unified Ideographs block U+4E00–U+9FA5 and at most 255 characters,
// so a declaration is refused here, naming the field, rather than
// accepted and then failing its Guangxi message.
var chineseText = map[string]bool{"nameCN": true, "descriptionCN": true}

func hasIdeograph(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return r >= 0x4E00 && r <= 0x9FA5 }) >= 0
}

var (
	reVNTaxCode     = regexp.MustCompile(`^[0-9]{10}(-[0-9]{3})?$`)
	reCNCreditCode  = regexp.MustCompile(`^[0-9A-HJ-NPQRTUWXY]{18}$`)
	reCustomsNumber = regexp.MustCompile(`^[0-9]{12}$`)
	rePlateVN       = regexp.MustCompile(`^[0-9]{2}[A-Z]{1,2}[0-9]?-[0-9]{4,5}$`)
	rePlateCN       = regexp.MustCompile(`^[` + cnProvinces + `][A-Z][A-HJ-NP-Z0-9]{5,6}$`)
	reTrailerCN     = regexp.MustCompile(`^[` + cnProvinces + `][A-Z][A-HJ-NP-Z0-9]{4}挂$`)
	reVIN           = regexp.MustCompile(`^[A-HJ-NPR-Z0-9]{17}$`)
	reHSCodeVN      = regexp.MustCompile(`^[0-9]{8}$`)
	reHSCodeCN      = regexp.MustCompile(`^[0-9]{10}$`)
	reDocument      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9/\-.]{0,34}$`)
	reSizeType      = regexp.MustCompile(`^[0-9A-Z]{4}$`)
	rePackageKind   = regexp.MustCompile(`^[A-Z0-9]{2}$`)
	reContainer     = regexp.MustCompile(`^[A-Z]{3}[UJZ][0-9]{7}$`)
	reAlpha2        = regexp.MustCompile(`^[A-Z]{2}$`)
)

var (
	directions = []string{"export", "import", "transit"}
	cargoKinds = []string{"general", "perishable", "dangerous", "empty"}
)

// checker collects field errors, at most one per pointer: the first rule a
// field breaks is the one worth fixing first, and a too-long or garbled
// string would only produce noise from the format rules after it.
type checker struct {
	errs  []problem.FieldError
	seen  map[string]bool
	codes CodeLists
}

// listed reports a code missing from a code list, naming the list so the
// trader (and the integrator reading docs/formats) knows which to consult.
func (c *checker) listed(ptr, list, s, what string) bool {
	if s == "" || c.codes.Has(list, s) {
		return true
	}
	if c.seen[ptr] {
		return false
	}
	c.seen[ptr] = true
	c.errs = append(c.errs, problem.FieldError{Pointer: ptr, Code: "unknown", List: list,
		Detail: fmt.Sprintf("%s is not %s (code list %s, mappings/codes/%s.yaml)", s, what, list, list)})
	return false
}

func (c *checker) add(ptr, code, format string, args ...any) {
	if c.seen[ptr] {
		return
	}
	c.seen[ptr] = true
	c.errs = append(c.errs, problem.FieldError{Pointer: ptr, Code: code, Detail: fmt.Sprintf(format, args...)})
}

// required reports an empty s and says whether s is there to check further.
func (c *checker) required(ptr, s string) bool {
	if s == "" {
		c.add(ptr, "required", "is required")
		return false
	}
	return true
}

func (c *checker) match(ptr, s string, re *regexp.Regexp, example string) {
	if s != "" && !re.MatchString(s) {
		c.add(ptr, "format", "must look like %s", example)
	}
}

func (c *checker) oneOf(ptr, s string, allowed []string) {
	if c.required(ptr, s) && !slices.Contains(allowed, s) {
		c.add(ptr, "unknown", "must be one of %s", strings.Join(allowed, ", "))
	}
}

func (c *checker) date(ptr, s string) {
	if !c.required(ptr, s) {
		return
	}
	if _, err := time.Parse(time.DateOnly, s); err != nil {
		c.add(ptr, "format", "must be a date YYYY-MM-DD")
	}
}

// Validate checks d against the rules in the package comment and returns
// every violation, ordered as the fields appear in the declaration. Call
// Normalize first; Decode does.
func (d *Declaration) Validate(opt Options) []problem.FieldError {
	c := &checker{seen: make(map[string]bool), codes: opt.codes()}
	c.strings(reflect.ValueOf(d).Elem(), "", "")

	c.party("/trader", d.Trader, true)
	if d.Carrier != (Party{}) {
		c.party("/carrier", d.Carrier, true)
	}
	c.customsNumbers(d.CustomsDeclarationNumbers)
	c.oneOf("/direction", d.Direction, directions)
	c.oneOf("/cargoKind", d.CargoKind, cargoKinds)
	c.gate(d.Gate, d.Lane, opt.Gates)
	c.plannedCrossing(d.PlannedCrossing, opt.now())
	c.vehicle(d.Vehicle)
	c.drivers(d.Drivers)
	c.consignments(d.Consignments, d.CargoKind, d.Vehicle)
	// The load's consignor and consignee are needed unless every
	// consignment names its own.
	own := func(f func(Consignment) Party) bool {
		if len(d.Consignments) == 0 {
			return false
		}
		for _, k := range d.Consignments {
			if f(k) == (Party{}) {
				return false
			}
		}
		return true
	}
	if d.Consignor != (Party{}) || !own(func(k Consignment) Party { return k.Consignor }) {
		c.party("/consignor", d.Consignor, false)
	}
	if d.Consignee != (Party{}) || !own(func(k Consignment) Party { return k.Consignee }) {
		c.party("/consignee", d.Consignee, false)
	}

	sortByDocumentOrder(c.errs)
	return c.errs
}

// strings applies the rules every string shares: valid UTF-8, no control
// or bidirectional-override characters (they garble agency XML and can
// disguise names on officers' screens), and a maximum length in characters.
func (c *checker) strings(v reflect.Value, ptr, name string) {
	switch v.Kind() {
	case reflect.String:
		s := v.String()
		switch {
		case !utf8.ValidString(s):
			c.add(ptr, "invalid_characters", "must be valid UTF-8")
		case strings.IndexFunc(s, forbiddenRune) >= 0:
			c.add(ptr, "invalid_characters", "must not contain control characters")
		default:
			max := cmp.Or(maxRunes[name], defaultMaxStringRunes)
			if n := utf8.RuneCountInString(s); n > max {
				c.add(ptr, "too_long", "must be at most %d characters, got %d", max, n)
			} else if chineseText[name] && s != "" && !hasIdeograph(s) {
				c.add(ptr, "not_chinese", "must contain at least one Chinese character (CJK U+4E00–U+9FA5)")
			}
		}
	case reflect.Pointer:
		if !v.IsNil() {
			c.strings(v.Elem(), ptr, name)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if f.Anonymous {
				c.strings(v.Field(i), ptr, name) // promoted fields
				continue
			}
			if !f.IsExported() {
				continue
			}
			fname, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			c.strings(v.Field(i), ptr+"/"+fname, fname)
		}
	case reflect.Slice:
		n := v.Len()
		if limit, ok := listLimits[name]; ok {
			n = min(n, limit)
		}
		for i := range n {
			c.strings(v.Index(i), ptr+"/"+strconv.Itoa(i), name)
		}
	}
}

func forbiddenRune(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029'
}

func (c *checker) party(ptr string, p Party, taxCodeRequired bool) {
	c.required(ptr+"/name", p.Name)
	if c.required(ptr+"/country", p.Country) {
		if !reAlpha2.MatchString(p.Country) {
			c.add(ptr+"/country", "format", "must be an ISO 3166-1 alpha-2 code such as VN")
		} else {
			c.listed(ptr+"/country", "country", p.Country, "an ISO 3166-1 country code")
		}
	}
	tax := ptr + "/taxCode"
	if taxCodeRequired && !c.required(tax, p.TaxCode) {
		return
	}
	switch p.Country {
	case "VN":
		c.match(tax, p.TaxCode, reVNTaxCode, "0101234567 or 0101234567-001 (Vietnamese tax code)")
	case "CN":
		if p.TaxCode == "" {
			return
		}
		if !reCNCreditCode.MatchString(p.TaxCode) {
			c.add(tax, "format", "must look like 91450100MA5KCEBN0K (18-character unified social credit code)")
		} else if want := usccCheck(p.TaxCode); p.TaxCode[17] != want {
			c.add(tax, "check_digit", "unified social credit code check character (GB 32100-2015) should be %c", want)
		}
	}
}

func (c *checker) customsNumbers(nums []string) {
	const ptr = "/customsDeclarationNumbers"
	if len(nums) > maxCustomsNumbers {
		c.add(ptr, "too_many", "at most %d customs declaration numbers, got %d", maxCustomsNumbers, len(nums))
	}
	seen := make(map[string]bool, len(nums))
	for i, n := range firstN(nums, "customsDeclarationNumbers") {
		p := ptr + "/" + strconv.Itoa(i)
		if !c.required(p, n) {
			continue
		}
		c.match(p, n, reCustomsNumber, "305123456789 (12 digits)")
		if seen[n] {
			c.add(p, "duplicate", "%s is listed twice", n)
		}
		seen[n] = true
	}
}

func (c *checker) gate(gate, lane string, gates Gates) {
	if !c.required("/gate", gate) || gates == nil {
		return
	}
	if !gates.KnownGate(gate) {
		c.add("/gate", "unknown", "%s is not a known border gate", gate)
		return
	}
	if lane != "" && !gates.KnownLane(gate, lane) {
		c.add("/lane", "unknown", "%s is not a lane of gate %s", lane, gate)
	}
}

func (c *checker) plannedCrossing(s string, now time.Time) {
	const ptr = "/plannedCrossing"
	if !c.required(ptr, s) {
		return
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		c.add(ptr, "format", "must be an RFC 3339 time such as 2026-12-01T08:00:00+07:00")
		return
	}
	switch {
	case t.Before(now.Add(-crossingPastWindow)):
		c.add(ptr, "range", "must not be more than 30 days in the past")
	case t.After(now.Add(crossingFutureWindow)):
		c.add(ptr, "range", "must not be more than 90 days in the future")
	}
}

func (c *checker) vehicle(v Vehicle) {
	if v.PlateVN == "" && v.PlateCN == "" {
		c.add("/vehicle/plateVN", "required", "plateVN or plateCN is required")
	}
	c.match("/vehicle/plateVN", v.PlateVN, rePlateVN, "12C-12345 (Vietnamese plate)")
	c.match("/vehicle/plateCN", v.PlateCN, rePlateCN, "桂A12345 (Chinese plate)")
	if t := v.TrailerPlate; t != "" && !rePlateVN.MatchString(t) && !rePlateCN.MatchString(t) && !reTrailerCN.MatchString(t) {
		c.add("/vehicle/trailerPlate", "format", "must be a Vietnamese (12R-01234) or Chinese (桂A1234挂) plate")
	}
	if c.required("/vehicle/vin", v.VIN) {
		c.match("/vehicle/vin", v.VIN, reVIN, "17 characters, letters I, O and Q excluded")
	}

	if v.GrossWeightKg <= 0 {
		c.add("/vehicle/grossWeightKg", "range", "must be greater than 0")
	}
	switch {
	case v.TareWeightKg <= 0:
		c.add("/vehicle/tareWeightKg", "range", "must be greater than 0")
	case v.GrossWeightKg <= v.TareWeightKg:
		c.add("/vehicle/grossWeightKg", "range", "must be greater than tareWeightKg (%g)", v.TareWeightKg)
	}
	if v.GrossWeightKg > maxVehicleGrossKg {
		c.add("/vehicle/grossWeightKg", "range", "must be at most %d", maxVehicleGrossKg)
	}

	for _, cert := range []struct {
		ptr string
		c   Certificate
	}{{"/vehicle/inspectionCertificate", v.InspectionCertificate}, {"/vehicle/crossBorderPermit", v.CrossBorderPermit}} {
		c.required(cert.ptr+"/number", cert.c.Number)
		c.date(cert.ptr+"/expiresOn", cert.c.ExpiresOn)
	}
}

func (c *checker) drivers(ds []Driver) {
	switch {
	case len(ds) == 0:
		c.add("/drivers", "required", "at least one driver is required")
	case len(ds) > maxDrivers:
		c.add("/drivers", "too_many", "at most %d drivers, got %d", maxDrivers, len(ds))
	}
	for i, d := range firstN(ds, "drivers") {
		ptr := "/drivers/" + strconv.Itoa(i)
		c.required(ptr+"/name", d.Name)
		if c.required(ptr+"/nationality", d.Nationality) {
			c.listed(ptr+"/nationality", "country", d.Nationality, "an ISO 3166-1 alpha-2 country code such as VN or CN")
		}
		if d.IDNumber == "" && d.Passport == "" {
			c.add(ptr+"/idNumber", "required", "idNumber or passport is required")
		}
		c.required(ptr+"/borderPass/number", d.BorderPass.Number)
		c.date(ptr+"/borderPass/expiresOn", d.BorderPass.ExpiresOn)
		if l := d.Licence; l != (Licence{}) {
			lp := ptr + "/licence"
			if c.required(lp+"/number", l.Number) {
				c.match(lp+"/number", l.Number, reDocument, "B2-0123456789 (letters, digits, / - .)")
			}
			if c.required(lp+"/country", l.Country) {
				c.listed(lp+"/country", "country", l.Country, "an ISO 3166-1 alpha-2 country code")
			}
			c.date(lp+"/expiresOn", l.ExpiresOn)
		}
	}
}

func (c *checker) consignments(cs []Consignment, cargoKind string, v Vehicle) {
	const ptr = "/consignments"
	switch {
	case cargoKind == "empty" && len(cs) > 0:
		c.add(ptr, "not_allowed", "an empty truck carries no consignments")
	case cargoKind != "empty" && len(cs) == 0:
		c.add(ptr, "required", "at least one consignment is required")
	case len(cs) > maxConsignments:
		c.add(ptr, "too_many", "at most %d consignments, got %d", maxConsignments, len(cs))
	}

	sum, weightsOK := 0.0, true
	for i, k := range firstN(cs, "consignments") {
		p := ptr + "/" + strconv.Itoa(i)
		single := k.GoodsItem != (GoodsItem{})
		full := len(k.GoodsItems) > 0
		switch {
		case single && full:
			c.add(p+"/goodsItems", "not_allowed", "list the goods either in goodsItems or in the consignment's own fields (single-item form), not both")
			weightsOK = false
			continue
		case len(k.GoodsItems) > maxGoodsItems:
			c.add(p+"/goodsItems", "too_many", "at most %d goods items per consignment, got %d", maxGoodsItems, len(k.GoodsItems))
		}
		c.transportDocument(p+"/transportDocument", k.TransportDocument, full)
		if k.Consignor != (Party{}) {
			c.party(p+"/consignor", k.Consignor, false)
		}
		if k.Consignee != (Party{}) {
			c.party(p+"/consignee", k.Consignee, false)
		}
		if !full {
			// Declarations before 1.1: the consignment is its one item.
			gross, ok := c.goodsItem(p, k.GoodsItem, false)
			sum, weightsOK = sum+gross, weightsOK && ok
		}
		for j, g := range firstN(k.GoodsItems, "goodsItems") {
			gross, ok := c.goodsItem(p+"/goodsItems/"+strconv.Itoa(j), g, true)
			sum, weightsOK = sum+gross, weightsOK && ok
		}
		c.containers(p+"/containers", k.Containers)
	}

	// Only compare when every input is sound, otherwise the real mistake
	// is already reported and this one would be a consequence of it.
	payload := v.GrossWeightKg - v.TareWeightKg
	if weightsOK && len(cs) > 0 && len(cs) <= maxConsignments && v.TareWeightKg > 0 && payload > 0 && sum > payload*consignmentTolerance {
		c.add(ptr, "range", "consignments weigh %g kg in total, more than the vehicle's payload of %g kg (gross − tare) plus 2%%", sum, payload)
	}
}

func (c *checker) containers(ptr string, cs []Container) {
	if len(cs) > maxContainers {
		c.add(ptr, "too_many", "at most %d containers per consignment, got %d", maxContainers, len(cs))
	}
	seen := make(map[string]bool, len(cs))
	for i, k := range firstN(cs, "containers") {
		p := ptr + "/" + strconv.Itoa(i) + "/number"
		if !c.required(p, k.Number) {
			continue
		}
		if !reContainer.MatchString(k.Number) {
			c.add(p, "format", "must be an ISO 6346 container number such as CSQU3054383")
			continue
		}
		if want, _ := iso6346CheckDigit(k.Number); k.Number[10] != want {
			c.add(p, "check_digit", "ISO 6346 check digit should be %c", want)
		}
		if seen[k.Number] {
			c.add(p, "duplicate", "container %s is listed twice in this consignment", k.Number)
		}
		seen[k.Number] = true
	}
	for i, k := range firstN(cs, "containers") {
		c.containerDetails(ptr+"/"+strconv.Itoa(i), k)
	}
}

// containerDetails checks the size/type code, the seals and a reefer's set
// temperature. The ISO 6346 type code's first letter is its group: R is a
// refrigerated (reefer) or heated container.
func (c *checker) containerDetails(ptr string, k Container) {
	reefer := false
	if k.SizeType != "" {
		if !reSizeType.MatchString(k.SizeType) {
			c.add(ptr+"/sizeType", "format", "must be a 4-character ISO 6346 size/type code such as 45G1 or 22R1")
		} else if c.listed(ptr+"/sizeType", "container-type", k.SizeType, "an ISO 6346 size/type code") {
			reefer = k.SizeType[2] == 'R'
		}
	}
	if len(k.Seals) > maxSeals {
		c.add(ptr+"/seals", "too_many", "at most %d further seals, got %d", maxSeals, len(k.Seals))
	}
	seals := map[string]bool{k.Seal: k.Seal != ""}
	for i, s := range firstN(k.Seals, "seals") {
		sp := ptr + "/seals/" + strconv.Itoa(i)
		if !c.required(sp, s) {
			continue
		}
		if seals[s] {
			c.add(sp, "duplicate", "seal %s is listed twice on this container", s)
		}
		seals[s] = true
	}
	t := ptr + "/setTemperatureC"
	switch {
	case reefer && k.SetTemperatureC == nil:
		c.add(t, "required", "a reefer (%s) needs its set temperature", k.SizeType)
	case !reefer && k.SetTemperatureC != nil && k.SizeType != "":
		c.add(t, "not_allowed", "only a reefer (ISO 6346 type group R) has a set temperature; %s is not one", k.SizeType)
	case k.SetTemperatureC != nil && k.SizeType == "":
		c.add(ptr+"/sizeType", "required", "is required with setTemperatureC, to show the container is a reefer")
	case k.SetTemperatureC != nil && (*k.SetTemperatureC < minReeferC || *k.SetTemperatureC > maxReeferC):
		c.add(t, "range", "must be between %d and %d °C", minReeferC, maxReeferC)
	}
}

func (c *checker) transportDocument(ptr string, d Document, required bool) {
	if d == (Document{}) {
		if required {
			c.add(ptr+"/number", "required", "the transport document (CMR road consignment note or waybill) is required with goodsItems")
		}
		return
	}
	if c.required(ptr+"/type", d.Type) {
		c.listed(ptr+"/type", "transport-document", d.Type, "a transport document code of UNCL 1001 (730 for a CMR)")
	}
	if c.required(ptr+"/number", d.Number) {
		c.match(ptr+"/number", d.Number, reDocument, "CMR-2026-000123 (letters, digits, / - .)")
	}
}

// goodsItem checks one goods item at ptr and returns its gross mass and
// whether that mass is sound. full is the goodsItems form, which also needs
// net mass and origin; the single-item form of declarations before 1.1
// keeps its old rules, except that both HS codes are needed.
func (c *checker) goodsItem(ptr string, g GoodsItem, full bool) (float64, bool) {
	if g.HSCode != "" {
		// Normalize moved it if it was an 8- or 10-digit code.
		c.add(ptr+"/hsCode", "replaced", "hsCode is replaced by hsCodeVN (8 digits, Viet Nam's AHTN tariff) and hsCodeCN (10 digits, China's tariff); %s is neither", g.HSCode)
	} else {
		vnOK := c.required(ptr+"/hsCodeVN", g.HSCodeVN) && c.matched(ptr+"/hsCodeVN", g.HSCodeVN, reHSCodeVN, "08106000 (8 digits, AHTN)")
		cnOK := c.required(ptr+"/hsCodeCN", g.HSCodeCN) && c.matched(ptr+"/hsCodeCN", g.HSCodeCN, reHSCodeCN, "0810600000 (10 digits)")
		if vnOK && cnOK && g.HSCodeVN[:6] != g.HSCodeCN[:6] {
			c.add(ptr+"/hsCodeCN", "mismatch", "HS subheading %s differs from hsCodeVN's %s: both tariffs share the 6-digit HS", g.HSCodeCN[:6], g.HSCodeVN[:6])
		}
	}
	c.required(ptr+"/description", g.Description)
	if g.Packages < 1 {
		c.add(ptr+"/packages", "range", "must be at least 1")
	}
	if c.required(ptr+"/packageKind", g.PackageKind) {
		if !rePackageKind.MatchString(g.PackageKind) {
			c.add(ptr+"/packageKind", "format", "must look like CT (UN/ECE Recommendation 21 code)")
		} else {
			c.listed(ptr+"/packageKind", "package-kind", g.PackageKind, "a package kind of UN/ECE Recommendation 21")
		}
	}
	ok := true
	if g.GrossWeightKg <= 0 {
		c.add(ptr+"/grossWeightKg", "range", "must be greater than 0")
		ok = false
	}
	switch {
	case g.NetWeightKg == 0 && full:
		c.add(ptr+"/netWeightKg", "required", "is required")
	case g.NetWeightKg < 0:
		c.add(ptr+"/netWeightKg", "range", "must be greater than 0")
	case ok && g.NetWeightKg > g.GrossWeightKg:
		c.add(ptr+"/netWeightKg", "range", "must not exceed grossWeightKg (%g)", g.GrossWeightKg)
	}
	if full && c.required(ptr+"/originCountry", g.OriginCountry) || g.OriginCountry != "" {
		c.listed(ptr+"/originCountry", "country", g.OriginCountry, "an ISO 3166-1 alpha-2 country code")
	}
	switch {
	case g.Quantity != 0 && g.QuantityUnit == "":
		c.add(ptr+"/quantityUnit", "required", "is required with quantity")
	case g.Quantity == 0 && g.QuantityUnit != "":
		c.add(ptr+"/quantity", "required", "is required with quantityUnit")
	case g.Quantity < 0:
		c.add(ptr+"/quantity", "range", "must be greater than 0")
	default:
		c.listed(ptr+"/quantityUnit", "unit", g.QuantityUnit, "a unit of UN/ECE Recommendation 20")
	}
	if g.Value < 0 {
		c.add(ptr+"/value", "range", "must not be negative")
	}
	if c.required(ptr+"/currency", g.Currency) {
		c.listed(ptr+"/currency", "currency", g.Currency, "an active ISO 4217 currency")
	}
	return g.GrossWeightKg, ok
}

// matched is match that also says whether s passed.
func (c *checker) matched(ptr, s string, re *regexp.Regexp, example string) bool {
	if re.MatchString(s) {
		return true
	}
	c.add(ptr, "format", "must look like %s", example)
	return false
}

// sortByDocumentOrder orders errors as their fields appear in the
// Declaration struct (array elements by index, unknown fields last within
// their object), so responses are stable and read top to bottom.
func sortByDocumentOrder(errs []problem.FieldError) {
	// Keys are computed once: a hostile body can carry tens of thousands
	// of errors, and deriving keys inside the comparator made that slow.
	type keyed struct {
		key []int
		fe  problem.FieldError
	}
	ks := make([]keyed, len(errs))
	for i, fe := range errs {
		ks[i] = keyed{documentOrder(fe.Pointer), fe}
	}
	slices.SortStableFunc(ks, func(a, b keyed) int { return slices.Compare(a.key, b.key) })
	for i := range ks {
		errs[i] = ks[i].fe
	}
}

func documentOrder(ptr string) []int {
	if ptr == "" {
		return nil
	}
	t := reflect.TypeFor[Declaration]()
	var key []int
	for _, tok := range strings.Split(ptr[1:], "/") {
		switch {
		case t == nil:
			key = append(key, 0)
		case t.Kind() == reflect.Struct:
			idx, ok := jsonFields(t)[tok]
			if !ok {
				key = append(key, t.NumField()) // unknown fields after known ones
				t = nil
				continue
			}
			key = append(key, idx...)
			t = t.FieldByIndex(idx).Type
			if t.Kind() == reflect.Pointer {
				t = t.Elem()
			}
		case t.Kind() == reflect.Slice:
			n, err := strconv.Atoi(tok)
			if err != nil {
				n = 0
			}
			key = append(key, n)
			t = t.Elem()
		default:
			key = append(key, 0)
			t = nil
		}
	}
	return key
}
