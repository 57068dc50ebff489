package declaration

import (
	"bytes"
	"testing"
)

func TestDecodeSamples(t *testing.T) {
	for _, name := range []string{"huu-nghi-export.json", "tan-thanh-import.json"} {
		t.Run(name, func(t *testing.T) {
			d, err := Decode(bytes.NewReader(readTestdata(t, name)), testOptions())
			if err != nil {
				t.Fatalf("valid sample rejected: %v", err)
			}
			if len(d.Consignments) != 2 || len(d.Drivers) != 1 {
				t.Errorf("decoded %d consignments, %d drivers", len(d.Consignments), len(d.Drivers))
			}
		})
	}
}
