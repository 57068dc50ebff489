package declaration

import (
	"bytes"
	"strings"
	"testing"
)

func BenchmarkDecodeSample(b *testing.B) {
	body := readTestdata(b, "huu-nghi-export.json")
	for b.Loop() {
		if _, err := Decode(bytes.NewReader(body), testOptions()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeHostile measures the worst bodies within the size limit:
// deep nesting inside an unknown field, and tens of thousands of errors.
func BenchmarkDecodeHostile(b *testing.B) {
	n := DefaultMaxBytes/2 - 20
	bodies := map[string]string{
		"nesting":        `{"x":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}`,
		"unknown fields": `{` + strings.TrimSuffix(strings.Repeat(`"a":1,`, DefaultMaxBytes/7), ",") + `}`,
		"bad elements":   `{"consignments":[` + strings.TrimSuffix(strings.Repeat(`{"q":1},`, DefaultMaxBytes/9), ",") + `]}`,
	}
	for name, body := range bodies {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				_, _ = Decode(strings.NewReader(body), testOptions())
			}
		})
	}
}
