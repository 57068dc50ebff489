package declaration

import (
	"fmt"
	"strings"

	"github.com/gatehub/gatehub/internal/codelist"
)

// CodeLists answers whether a code is in one of the code lists of
// mappings/codes (internal/codelist.Set implements it).
type CodeLists interface {
	Has(list, code string) bool
}

// shippedLists is what Options without Codes validates against: the lists
// compiled into the binary. They are tested data, so failing to read them
// is a build defect, not a runtime condition.
func shippedLists() CodeLists {
	s, err := codelist.Shipped()
	if err != nil {
		panic(fmt.Sprintf("declaration: shipped code lists: %v", err))
	}
	return s
}

// cnProvinces are the one-character abbreviations that open a Chinese
// plate, one per province-level division of the mainland.
const cnProvinces = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"

func isCNProvince(r rune) bool { return strings.ContainsRune(cnProvinces, r) }

// usccAlphabet is the character set of a unified social credit code
// (GB 32100-2015): digits and capitals without I, O, Z, S, V; a
// character's value is its index.
const usccAlphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"

var usccWeights = [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}

// usccCheck computes the 18th character of a unified social credit code
// from the first 17: 31 − (Σ value×weight mod 31), 31 counting as 0.
func usccCheck(code string) byte {
	sum := 0
	for i := range 17 {
		sum += strings.IndexByte(usccAlphabet, code[i]) * usccWeights[i]
	}
	return usccAlphabet[(31-sum%31)%31]
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
