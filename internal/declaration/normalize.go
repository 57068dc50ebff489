package declaration

import (
	"reflect"
	"strings"
)

// Normalize puts d in canonical form: every string trimmed, codes and plates
// upper-cased, direction and cargo kind lower-cased, plates in the canonical
// form of NormalizePlate, HS codes and container numbers without
// separators, empty lists as nil. It is idempotent, and Decode calls it
// before Validate so rules and agencies only ever see canonical values.
func (d *Declaration) Normalize() {
	trimAll(reflect.ValueOf(d).Elem())

	d.Direction = strings.ToLower(d.Direction)
	d.CargoKind = strings.ToLower(d.CargoKind)
	d.Gate = strings.ToUpper(d.Gate)
	d.Lane = strings.ToUpper(d.Lane)
	parties := []*Party{&d.Trader, &d.Carrier, &d.Consignor, &d.Consignee}
	for i := range d.Consignments {
		parties = append(parties, &d.Consignments[i].Consignor, &d.Consignments[i].Consignee)
	}
	for _, p := range parties {
		p.Country = strings.ToUpper(p.Country)
		p.TaxCode = strings.ToUpper(p.TaxCode)
	}

	v := &d.Vehicle
	v.PlateVN = NormalizePlate(v.PlateVN)
	v.PlateCN = NormalizePlate(v.PlateCN)
	v.TrailerPlate = NormalizePlate(v.TrailerPlate)
	v.VIN = strings.ToUpper(v.VIN)

	for i := range d.Drivers {
		dr := &d.Drivers[i]
		dr.Nationality = strings.ToUpper(dr.Nationality)
		dr.IDNumber = strings.ToUpper(dr.IDNumber)
		dr.Passport = strings.ToUpper(dr.Passport)
		dr.Licence.Country = strings.ToUpper(dr.Licence.Country)
		dr.Licence.Category = strings.ToUpper(dr.Licence.Category)
	}
	for i := range d.Consignments {
		c := &d.Consignments[i]
		c.TransportDocument.Type = strings.ToUpper(c.TransportDocument.Type)
		normalizeItem(&c.GoodsItem)
		for j := range c.GoodsItems {
			normalizeItem(&c.GoodsItems[j])
		}
		for j := range c.Containers {
			k := &c.Containers[j]
			// Container numbers are printed as "CSQU 305438 3" on the box.
			k.Number = strings.ToUpper(stripRunes(k.Number, " -"))
			k.SizeType = strings.ToUpper(k.SizeType)
		}
	}
}

// normalizeItem canonicalises codes and moves a pre-1.1 hsCode to the
// tariff it belongs to by its length: 8 digits are Viet Nam's AHTN line,
// 10 digits China's. Any other length stays for validation to refuse.
func normalizeItem(g *GoodsItem) {
	// HS codes are commonly written with dots ("0810.90.00").
	for _, hs := range []*string{&g.HSCode, &g.HSCodeVN, &g.HSCodeCN} {
		*hs = stripRunes(*hs, ". ")
	}
	switch {
	case len(g.HSCode) == 8 && g.HSCodeVN == "" && isDigits(g.HSCode):
		g.HSCodeVN, g.HSCode = g.HSCode, ""
	case len(g.HSCode) == 10 && g.HSCodeCN == "" && isDigits(g.HSCode):
		g.HSCodeCN, g.HSCode = g.HSCode, ""
	}
	g.PackageKind = strings.ToUpper(g.PackageKind)
	g.Currency = strings.ToUpper(g.Currency)
	g.OriginCountry = strings.ToUpper(g.OriginCountry)
	g.QuantityUnit = strings.ToUpper(g.QuantityUnit)
}

// trimAll trims every string reachable from v and turns empty slices into
// nil, so that "[]" and a missing list mean the same after a JSON round trip
// (omitempty drops the former).
func trimAll(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(strings.TrimSpace(v.String()))
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Type().Field(i); f.IsExported() || f.Anonymous {
				trimAll(v.Field(i))
			}
		}
	case reflect.Pointer:
		if !v.IsNil() {
			trimAll(v.Elem())
		}
	case reflect.Slice:
		if v.Len() == 0 {
			v.SetZero()
			return
		}
		for i := range v.Len() {
			trimAll(v.Index(i))
		}
	}
}

// Plates returns the non-empty plates of the tractor (VN, then CN), the
// keys by which gate cameras look the declaration up. The trailer plate is
// not included: cameras read the tractor.
func (d *Declaration) Plates() []string {
	var out []string
	for _, p := range []string{d.Vehicle.PlateVN, d.Vehicle.PlateCN} {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// NormalizePlate returns the canonical form of a VN or CN plate, so that a
// declared plate and a gate-camera read compare equal:
//
//   - VN: "12C-12345", "51F1-12345", "29LD-01234". Spaces, dots and dashes
//     are accepted anywhere in the input ("12c 123.45", "12-C 12345").
//     When the input separates the serial (last 4 or 5 digits) from the
//     prefix, that split is kept ("12C1-2345"); otherwise a run of 5 digits
//     after the series letters is the serial and a run of 6 is one series
//     digit plus a 5-digit serial.
//   - CN: "桂A12345", separators (space, "·", "-", ".") removed.
//
// Anything else is only trimmed and upper-cased, and validation rejects it.
func NormalizePlate(s string) string {
	s = strings.ToUpper(strings.TrimSpace(s))
	if s == "" {
		return ""
	}
	// Dots only ever group serial digits ("123.45"); they never split
	// prefix from serial, so they go before looking for that split.
	fields := strings.FieldsFunc(stripRunes(s, "."), isPlateSeparator)
	compact := strings.Join(fields, "")

	if prefix, digits, ok := splitVN(compact); ok {
		// Respect an explicit separator before the serial.
		if len(fields) > 1 {
			last := fields[len(fields)-1]
			head := strings.Join(fields[:len(fields)-1], "")
			if p, d, ok := splitVN(head); ok && len(d) <= 1 && isDigits(last) && (len(last) == 4 || len(last) == 5) {
				return p + d + "-" + last
			}
		}
		switch len(digits) {
		case 4, 5:
			return prefix + "-" + digits
		case 6:
			return prefix + digits[:1] + "-" + digits[1:]
		}
		return s
	}
	if r := []rune(compact); len(r) > 1 && isCNProvince(r[0]) {
		return compact
	}
	return s
}

func isPlateSeparator(r rune) bool {
	switch r {
	case ' ', '\t', '-', '·', '・':
		return true
	}
	return false
}

// splitVN splits a separator-free VN plate into its 2-digit province plus
// series letters, and the digits after them.
func splitVN(s string) (prefix, digits string, ok bool) {
	if len(s) < 3 || !isDigits(s[:2]) {
		return "", "", false
	}
	i := 2
	for i < len(s) && i < 4 && s[i] >= 'A' && s[i] <= 'Z' {
		i++
	}
	if i == 2 || !isDigits(s[i:]) {
		return "", "", false
	}
	return s[:i], s[i:], true
}

func isDigits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func stripRunes(s, cut string) string {
	return strings.Map(func(r rune) rune {
		if strings.ContainsRune(cut, r) {
			return -1
		}
		return r
	}, s)
}

// PlateCountry returns the ISO 3166-1 country whose format a canonical
// plate has — VN for 12C-12345, CN for 桂A12345 and 桂A1234挂 — or "" for
// neither. A vehicle's registration nationality is that of the plate that
// identifies it, so a truck with only a Chinese plate is CN.
func PlateCountry(plate string) string {
	switch {
	case rePlateVN.MatchString(plate):
		return "VN"
	case rePlateCN.MatchString(plate), reTrailerCN.MatchString(plate):
		return "CN"
	}
	return ""
}

// IsUSCC reports whether s is a unified social credit code with a correct
// check character.
func IsUSCC(s string) bool {
	return reCNCreditCode.MatchString(s) && usccCheck(s) == s[17]
}
