package simulator

import (
	"strings"
	"testing"

	"github.com/gatehub/gatehub/internal/pki"
	"github.com/gatehub/gatehub/internal/sign"
)

// TestMisbehaviourConfig: a misbehaviour the simulator does not know is
// refused at New, naming the ones it does; the shipped ones are accepted.
func TestMisbehaviourConfig(t *testing.T) {
	reg := loadRegistry(t)
	id := newIdentity(t, "customs")
	for _, tt := range []struct {
		list []Misbehaviour
		want string
	}{
		{Misbehaviours(), ""},
		{[]Misbehaviour{"answer-twice"}, `unknown misbehaviour "answer-twice"`},
	} {
		s, err := New(Config{Agency: "customs", Misbehave: tt.list}, reg, xmllint{schemasDir}, newSigner(t, id), sign.NewVerifier(pki.NewTrustStore()))
		if tt.want == "" {
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			_ = s.Close()
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Fatalf("err = %v, want %q", err, tt.want)
		}
	}
}

// TestTamperSignature changes exactly one character, inside the value.
func TestTamperSignature(t *testing.T) {
	in := []byte(`<a><ds:SignatureValue>AAAB</ds:SignatureValue></a>`)
	out := tamperSignature(in)
	if string(out) != `<a><ds:SignatureValue>BAAB</ds:SignatureValue></a>` || string(in) == string(out) {
		t.Fatalf("tampered = %s", out)
	}
	if got := tamperSignature([]byte("<a/>")); string(got) != "<a/>" {
		t.Fatalf("unsigned input changed: %s", got)
	}
}
