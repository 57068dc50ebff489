package declaration

import "strings"

// countries is ISO 3166-1 alpha-2 (officially assigned codes).
var countries = codeSet(`
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ
BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ
DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR
GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY
HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP
KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY
MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ
NA NC NE NF NG NI NL NO NP NR NU NZ OM
PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW
SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ
TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ
UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW`)

// currencies are the ISO 4217 codes invoice values may be declared in at
// the Vietnam–China gates: the two local currencies, the usual settlement
// currencies, and those of the region's trading partners and transit
// countries.
var currencies = codeSet(`
VND CNY USD EUR JPY KRW THB LAK KHR SGD HKD MYR IDR PHP MMK TWD MOP BND
AUD NZD GBP CHF CAD INR`)

// cnProvinces are the one-character abbreviations that open a Chinese
// plate, one per province-level division of the mainland.
const cnProvinces = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"

func isCNProvince(r rune) bool { return strings.ContainsRune(cnProvinces, r) }

func codeSet(list string) map[string]bool {
	m := make(map[string]bool)
	for _, c := range strings.Fields(list) {
		m[c] = true
	}
	return m
}

// iso6346CheckDigit computes the check digit of the first 10 characters of
// a container number (owner code, category, serial): letters take the
// values 10..38 skipping multiples of 11, each character is weighted by
// 2^position, and the sum modulo 11 (10 counting as 0) is the digit.
var iso6346Letters = [26]int{
	10, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 23, 24, // A..M
	25, 26, 27, 28, 29, 30, 31, 32, 34, 35, 36, 37, 38, // N..Z
}

func iso6346CheckDigit(s string) (byte, bool) {
	if len(s) < 10 {
		return 0, false
	}
	sum := 0
	for i := range 10 {
		c := s[i]
		var v int
		switch {
		case c >= '0' && c <= '9':
			v = int(c - '0')
		case c >= 'A' && c <= 'Z':
			v = iso6346Letters[c-'A']
		default:
			return 0, false
		}
		sum += v << i
	}
	return byte('0' + sum%11%10), true
}
