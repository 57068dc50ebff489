package audit_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/message"
)

func TestPayloadVersions(t *testing.T) {
	b, err := audit.MarshalPayload(&audit.OperatorChange{From: message.Dead, To: message.Pending})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"v":1,"from":"dead","to":"pending"}` {
		t.Fatalf("written %s", b)
	}
	for _, tt := range []struct {
		name, payload string
		ok            bool
	}{
		{"written before versions", `{"from":"dead","to":"pending"}`, true},
		{"version 1", `{"v":1,"from":"dead","to":"pending"}`, true},
		{"a field this build does not know", `{"v":1,"from":"dead","to":"pending","by":"x"}`, true},
		{"a version from the future", `{"v":2,"from":"dead","to":"pending"}`, false},
		{"not JSON", `{"from":`, false},
	} {
		var p audit.OperatorChange
		err := audit.UnmarshalPayload([]byte(tt.payload), &p)
		if (err == nil) != tt.ok {
			t.Errorf("%s: %v", tt.name, err)
		}
		if tt.ok && (p.From != message.Dead || p.To != message.Pending) {
			t.Errorf("%s: read %+v", tt.name, p)
		}
	}
}

// Every JSON kind the hub writes with a struct of its own has a payload
// type, and each type round-trips through its own encoding.
func TestEveryTypedKindRoundTrips(t *testing.T) {
	typed := []string{
		audit.KindDeclarationAmended, audit.KindDeclarationCancelled, audit.KindMessageBuilt,
		audit.KindMessageSuperseded, audit.KindMessageWithdrawn, audit.KindMessageResent,
		audit.KindDeliveryAttempt, audit.KindOperatorRedrive, audit.KindOperatorCancel,
		audit.KindDecision, audit.KindConfigApply, audit.KindAuditArchived,
	}
	for _, k := range typed {
		p, ok := audit.NewPayload(k)
		if !ok {
			t.Errorf("%s has no payload type", k)
			continue
		}
		b, err := audit.MarshalPayload(p)
		if err != nil || !strings.HasPrefix(string(b), `{"v":1`) {
			t.Errorf("%s: %s %v", k, b, err)
		}
		q, _ := audit.NewPayload(k)
		if err := audit.UnmarshalPayload(b, q); err != nil {
			t.Errorf("%s: %v", k, err)
		}
		again, _ := json.Marshal(q)
		if string(again) != string(b) {
			t.Errorf("%s: %s after a round trip, was %s", k, again, b)
		}
	}
	for _, k := range []string{audit.KindMessageOutbound, audit.KindAckInbound, audit.KindCrossingOpened, audit.KindLaneDecision} {
		if _, ok := audit.NewPayload(k); ok {
			t.Errorf("%s: its payload is not the audit package's", k)
		}
	}
}
