package directive

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/gatehub/gatehub/internal/clearance"
)

func TestBuildParseRoundTrip(t *testing.T) {
	at := time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC)
	base := Message{ID: "M-1", Sender: "customs", Receiver: "hub", DeclarationID: "DCL-1", Version: 2, CreatedAt: at}
	for _, tc := range []struct {
		name string
		edit func(*Message)
	}{
		{"hold at B1", func(m *Message) {
			m.Kind, m.Checkpoint, m.ReasonCode, m.ReasonText = Hold, "B1", "CUS-RED", "kiểm tra thực tế"
		}},
		{"hold everywhere", func(m *Message) { m.Kind, m.ReasonCode = Hold, "CUS-RED" }},
		{"release of one hold", func(m *Message) { m.Kind, m.HoldMessageID = Release, "H-1" }},
		{"release with reason", func(m *Message) { m.Kind, m.ReasonCode, m.ReasonText = Release, "CUS-DONE", "inspected" }},
		{"revoke", func(m *Message) {
			m.Kind, m.Subject, m.DocumentNumber, m.ReasonCode = Revoke, "PERMIT", "GP-2025/0001", "VR-PERMIT-REVOKED"
		}},
		{"crossing confirmed", func(m *Message) {
			m.Kind, m.PortCode, m.PassedAt, m.Plate = CrossingConfirmed, "7201", at.Add(time.Hour), "桂A12345"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := base
			tc.edit(&m)
			doc, err := Build(m)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Parse(doc.Root())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, m) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, m)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	doc, _ := Build(Message{ID: "M-1", Kind: Hold, Sender: "customs", DeclarationID: "D", Version: 1, ReasonCode: "X", CreatedAt: time.Now()})
	for _, tc := range []struct {
		name string
		edit func(root *etree.Element)
		want string
	}{
		{"second reason", func(r *etree.Element) {
			r.SelectElement("Directive").AddChild(r.SelectElement("Directive").SelectElement("Reason").Copy())
		}, "occurs 2 times"},
		{"second header", func(r *etree.Element) { r.InsertChildAt(0, r.SelectElement("Header").Copy()) }, "occurs 2 times"},
		{"wrong function", func(r *etree.Element) { r.FindElement("Header/MessageFunction").SetText("release") }, "message function"},
		{"no version", func(r *etree.Element) {
			h := r.SelectElement("Header")
			h.RemoveChild(h.SelectElement("DeclarationVersion"))
		}, "DeclarationVersion is required"},
		{"other namespace", func(r *etree.Element) { r.RemoveAttr("xmlns"); r.CreateAttr("xmlns", "urn:evil") }, "not an agency message"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := doc.Copy()
			tc.edit(d.Root())
			_, err := Parse(d.Root())
			if !errors.Is(err, ErrUnreadable) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrUnreadable with %q", err, tc.want)
			}
		})
	}
}

func TestInForce(t *testing.T) {
	hold := func(id, agency, cp string) Record {
		return Record{ID: id, Agency: agency, Kind: Hold, Checkpoint: cp, ReasonCode: "R"}
	}
	for _, tc := range []struct {
		name string
		recs []Record
		want []string // message ids in force
	}{
		{"none", nil, nil},
		{"a hold stands", []Record{hold("H1", "customs", "B1")}, []string{"H1"}},
		{"released", []Record{hold("H1", "customs", "B1"), {ID: "R1", Agency: "customs", Kind: Release}}, nil},
		{"another agency cannot release", []Record{hold("H1", "customs", "B1"), {ID: "R1", Agency: "borderguard", Kind: Release}}, []string{"H1"}},
		{"release of one hold", []Record{hold("H1", "customs", "B1"), hold("H2", "customs", "B2"),
			{ID: "R1", Agency: "customs", Kind: Release, HoldMessageID: "H2"}}, []string{"H1"}},
		{"held again after release", []Record{hold("H1", "customs", ""), {ID: "R1", Agency: "customs", Kind: Release},
			hold("H2", "customs", "")}, []string{"H2"}},
		{"revocation stays", []Record{{ID: "V1", Agency: "vehicleregistry", Kind: Revoke}, {ID: "R1", Agency: "vehicleregistry", Kind: Release}}, []string{"V1"}},
		{"confirmation orders nothing", []Record{{ID: "C1", Agency: "guangxi", Kind: CrossingConfirmed}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, o := range InForce(tc.recs) {
				got = append(got, o.MessageID)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("in force %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRulesValidate(t *testing.T) {
	known := func(a string) bool { return a == "customs" || a == "borderguard" }
	ok := Rules{"customs": {Sends: []Kind{Hold, Release}, Forward: map[Kind][]string{Hold: {"borderguard"}}}}
	if err := ok.Validate(known); err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]Rules{
		"unknown agency":       {"nobody": {Sends: []Kind{Hold}}},
		"unknown kind":         {"customs": {Sends: []Kind{"PAUSE"}}},
		"forwards unsent kind": {"customs": {Sends: []Kind{Hold}, Forward: map[Kind][]string{Revoke: {"borderguard"}}}},
		"forwards to itself":   {"customs": {Sends: []Kind{Hold}, Forward: map[Kind][]string{Hold: {"customs"}}}},
		"forwards to unknown":  {"customs": {Sends: []Kind{Hold}, Forward: map[Kind][]string{Hold: {"plantquarantine"}}}},
	} {
		if err := r.Validate(known); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestOrdersOnDecisions(t *testing.T) {
	cleared := clearance.Decision{Status: clearance.Cleared, Reasons: []clearance.Reason{{Code: clearance.CodeCleared}}}
	hold := clearance.Order{Kind: clearance.OrderHold, Agency: "customs", MessageID: "H1", Checkpoint: "B1", ReasonCode: "CUS-RED"}
	revoke := clearance.Order{Kind: clearance.OrderRevoke, Agency: "vehicleregistry", MessageID: "V1", ReasonCode: "VR-REVOKED"}
	for _, tc := range []struct {
		name   string
		d      clearance.Decision
		orders []clearance.Order
		status clearance.Status
		first  string
	}{
		{"none", cleared, nil, clearance.Cleared, clearance.CodeCleared},
		{"held", cleared, []clearance.Order{hold}, clearance.Hold, clearance.CodeHeldByAgency},
		{"revoked beats held", cleared, []clearance.Order{hold, revoke}, clearance.Rejected, clearance.CodeRevokedByAgency},
		{"nack explains first", clearance.Decision{Status: clearance.Rejected, Reasons: []clearance.Reason{{Code: clearance.CodeRejected}}},
			[]clearance.Order{hold}, clearance.Rejected, clearance.CodeRejected},
		{"cancelled stays", clearance.Decision{Status: clearance.Cancelled}, []clearance.Order{revoke}, clearance.Cancelled, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := clearance.WithOrders(nil, tc.d, tc.orders)
			first := ""
			if len(got.Reasons) > 0 {
				first = got.Reasons[0].Code
			}
			if got.Status != tc.status || first != tc.first {
				t.Fatalf("got %s first %q, want %s first %q", got.Status, first, tc.status, tc.first)
			}
		})
	}
	route := []string{"B1", "B2", "B0"}
	for cp, want := range map[string]bool{"B1": true, "B2": true, "B0": true, "IN": true} {
		if got := hold.AppliesAt(route, cp); got != want {
			t.Errorf("hold at B1 applies at %s: %v", cp, got)
		}
	}
	atB2 := hold
	atB2.Checkpoint = "B2"
	if atB2.AppliesAt(route, "B1") || !atB2.AppliesAt(route, "B0") {
		t.Error("a hold at B2 must close B2 and after, not B1")
	}
}
