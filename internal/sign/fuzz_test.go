package sign

import (
	"testing"
)

// FuzzVerify: whatever the bytes, Verify and Identify return (an error or
// content) and never panic. Seeds are the wrapping suite's variants, so the
// fuzzer starts next to the interesting shapes. The size limit keeps each
// input cheap.
func FuzzVerify(f *testing.F) {
	fx := newWrapFixture(f)
	for _, c := range fx.cases(f) {
		if len(c.doc) <= 64<<10 {
			f.Add([]byte(c.doc))
		}
	}
	v := NewVerifier(fx.trustStore(), WithMaxBytes(64<<10), WithMaxDepth(32))
	f.Fuzz(func(t *testing.T, data []byte) {
		el, err := v.Verify("guangxi", data, tNow)
		if (el == nil) == (err == nil) {
			t.Fatalf("Verify returned element %v with error %v", el != nil, err)
		}
		p, el, err := v.Identify(data, tNow)
		if err == nil && (el == nil || p == "") {
			t.Fatal("Identify succeeded without participant or content")
		}
	})
}
