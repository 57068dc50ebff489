package replay

import (
	"encoding/json"
	"fmt"
	"github.com/gatehub/gatehub/internal/message"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/clearance"
	"github.com/gatehub/gatehub/internal/mapping"
	"github.com/gatehub/gatehub/internal/store"
)

var t0 = time.Date(2026, 11, 25, 1, 0, 0, 0, time.UTC)

// logBuilder writes hand-made entries the way internal/hub does, numbering
// them and spacing them a second apart.
type logBuilder struct {
	entries []store.AuditEntry
}

func (b *logBuilder) add(kind, decl, msg, agency string, payload []byte) {
	seq := int64(len(b.entries) + 1)
	b.entries = append(b.entries, store.AuditEntry{
		Seq: seq, Time: t0.Add(time.Duration(seq) * time.Second), Kind: kind, Actor: "test",
		DeclarationID: decl, MessageID: msg, Agency: agency, Payload: payload,
	})
}

func js(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func declJSON(plate string) []byte {
	return js(map[string]any{
		"trader": map[string]any{"taxCode": "0101234567"}, "gate": "HUUNGHI", "lane": "EXP-1",
		"vehicle": map[string]any{"plateVN": plate, "plateCN": "桂A12345"},
	})
}

func (b *logBuilder) accepted(decl, plate string) {
	b.add(audit.KindDeclarationAccepted, decl, "", "", declJSON(plate))
}

func (b *logBuilder) amended(decl string, version int, plate string) {
	b.add(audit.KindDeclarationAmended, decl, "", "", js(map[string]any{
		"version": version, "changedAgencies": []string{"customs"}, "declaration": json.RawMessage(declJSON(plate)),
	}))
}

func (b *logBuilder) message(decl, msg, agency, kind string, version int, prev string) {
	b.add(audit.KindMessageBuilt, decl, msg, agency, js(audit.MessageBuilt{
		Agency: agency, Kind: message.Kind(kind), DeclarationVersion: version, PreviousMessageID: prev,
		Sender: "hub", Receiver: agency, CreatedAt: t0, MappingVersion: "1", SchemaFile: "x.xsd", SchemaVersion: "1",
	}))
	b.add(audit.KindMessageOutbound, decl, msg, agency, []byte("<signed "+msg+"/>"))
}

func (b *logBuilder) attempt(decl, msg, agency string, n int, state, errText string) {
	b.add(audit.KindDeliveryAttempt, decl, msg, agency, js(map[string]any{
		"attempt": n, "outcome": "x", "status": 200, "state": state, "error": errText,
	}))
}

// ack logs an answer in the fake format fakeAcks reads.
func (b *logBuilder) ack(decl, msg, agency, status, reason string) {
	b.add(audit.KindAckInbound, decl, msg, agency, fmt.Appendf(nil, "%s|%s|A-%s|%s", status, msg, msg, reason))
}

func (b *logBuilder) decision(decl string, version int, status string) {
	b.add(audit.KindDecision, decl, "", "", js(map[string]any{
		"version": version, "decision": clearance.Decision{Status: clearance.Status(status), DecidedAt: t0.Add(time.Hour)},
	}))
}

func (b *logBuilder) operator(kind, decl, msg, agency, from, to string) {
	b.add(kind, decl, msg, agency, js(map[string]string{"from": from, "to": to}))
}

// fakeAcks reads "STATUS|ref|ackID|reason", standing in for signature
// verification and mapping.ParseAck, which the integration test covers.
func fakeAcks(_ string, xml []byte, _ time.Time) (mapping.AckFields, error) {
	p := strings.Split(string(xml), "|")
	if len(p) != 4 {
		return mapping.AckFields{}, fmt.Errorf("unreadable fake ack %q", xml)
	}
	return mapping.AckFields{Status: p[0], RefMessageID: p[1], AckID: p[2], ReasonCode: p[3]}, nil
}

func detail(status string) string {
	return string(js(clearance.Decision{Status: clearance.Status(status)}))
}

var decidedAt = t0.Add(time.Hour).Format(time.RFC3339Nano)

func decl(id string, version int, status, plate, decision string) Declaration {
	d := Declaration{ID: id, Version: version, Status: status, Trader: "0101234567", Gate: "HUUNGHI", Lane: "EXP-1",
		PlateVN: plate, PlateCN: "桂A12345"}
	if decision != "" {
		d.DecisionStatus, d.DecisionDetail, d.DecidedAt = decision, detail(decision), decidedAt
	}
	return d
}

func msg(id, declID string, version int, agency, kind, prev, state string, attempts int, ack, reason string) Message {
	m := Message{ID: id, DeclarationID: declID, Version: version, Agency: agency, Kind: message.Kind(kind), PreviousID: prev,
		State: message.State(state), Attempts: attempts, AckStatus: ack, AckReason: reason}
	if ack != "" {
		m.AckID = "A-" + id
	}
	return m
}

func TestFromEntries(t *testing.T) {
	tests := []struct {
		name  string
		log   func(b *logBuilder)
		decls []Declaration
		msgs  []Message
	}{
		{
			name: "submit, retried delivery, ACK",
			log: func(b *logBuilder) {
				b.accepted("D1", "12C-00001")
				b.message("D1", "M1", "customs", "submit", 1, "")
				b.decision("D1", 1, "PENDING")
				b.attempt("D1", "M1", "customs", 1, "pending", "HTTP 503")
				b.attempt("D1", "M1", "customs", 2, "sent", "")
				b.ack("D1", "M1", "customs", "ACK", "")
				b.decision("D1", 1, "CLEARED")
			},
			decls: []Declaration{decl("D1", 1, "active", "12C-00001", "CLEARED")},
			msgs:  []Message{msg("M1", "D1", 1, "customs", "submit", "", "acked", 2, "ACK", "")},
		},
		{
			name: "NACK",
			log: func(b *logBuilder) {
				b.accepted("D1", "12C-00001")
				b.message("D1", "M1", "vehicleregistry", "submit", 1, "")
				b.attempt("D1", "M1", "vehicleregistry", 1, "sent", "")
				b.ack("D1", "M1", "vehicleregistry", "NACK", "INSPECTION_EXPIRED")
				b.decision("D1", 1, "REJECTED")
			},
			decls: []Declaration{decl("D1", 1, "active", "12C-00001", "REJECTED")},
			msgs:  []Message{msg("M1", "D1", 1, "vehicleregistry", "submit", "", "nacked", 1, "NACK", "INSPECTION_EXPIRED")},
		},
		{
			name: "dead letter, redrive, ACK",
			log: func(b *logBuilder) {
				b.accepted("D1", "12C-00001")
				b.message("D1", "M1", "borderguard", "submit", 1, "")
				b.attempt("D1", "M1", "borderguard", 1, "pending", "HTTP 503")
				b.attempt("D1", "M1", "borderguard", 2, "dead", "gave up after 2 attempts: HTTP 503")
				b.decision("D1", 1, "HOLD")
				b.operator(audit.KindOperatorRedrive, "D1", "M1", "borderguard", "dead", "pending")
				b.attempt("D1", "M1", "borderguard", 1, "sent", "")
				b.ack("D1", "M1", "borderguard", "ACK", "")
				b.decision("D1", 1, "CLEARED")
			},
			decls: []Declaration{decl("D1", 1, "active", "12C-00001", "CLEARED")},
			msgs:  []Message{msg("M1", "D1", 1, "borderguard", "submit", "", "acked", 1, "ACK", "")},
		},
		{
			name: "dead letter, operator cancel",
			log: func(b *logBuilder) {
				b.accepted("D1", "12C-00001")
				b.message("D1", "M1", "borderguard", "submit", 1, "")
				b.attempt("D1", "M1", "borderguard", 1, "dead", "HTTP 400")
				b.operator(audit.KindOperatorCancel, "D1", "M1", "borderguard", "dead", "cancelled")
				b.decision("D1", 1, "HOLD")
			},
			decls: []Declaration{decl("D1", 1, "active", "12C-00001", "HOLD")},
			msgs:  []Message{msg("M1", "D1", 1, "borderguard", "submit", "", "cancelled", 1, "", "")},
		},
		{
			name: "amendment supersedes the acked message; decision of the old version no longer shown",
			log: func(b *logBuilder) {
				b.accepted("D1", "12C-00001")
				b.message("D1", "M1", "customs", "submit", 1, "")
				b.attempt("D1", "M1", "customs", 1, "sent", "")
				b.ack("D1", "M1", "customs", "ACK", "")
				b.decision("D1", 1, "CLEARED")
				b.amended("D1", 2, "12C-00002")
				b.add(audit.KindMessageSuperseded, "D1", "M1", "customs", js(map[string]int{"byVersion": 2}))
				b.message("D1", "M2", "customs", "amend", 2, "M1")
			},
			decls: []Declaration{decl("D1", 2, "active", "12C-00002", "")},
			msgs: []Message{
				msg("M1", "D1", 1, "customs", "submit", "", "superseded", 1, "ACK", ""),
				msg("M2", "D1", 2, "customs", "amend", "M1", "pending", 0, "", ""),
			},
		},
		{
			name: "cancel: unsent message withdrawn, sent one gets a cancel message",
			log: func(b *logBuilder) {
				b.accepted("D1", "12C-00001")
				b.message("D1", "M1", "customs", "submit", 1, "")
				b.message("D1", "M2", "guangxi", "submit", 1, "")
				b.attempt("D1", "M2", "guangxi", 1, "sent", "")
				b.add(audit.KindDeclarationCancelled, "D1", "", "", js(map[string]any{"version": 1, "reason": "trip called off"}))
				b.add(audit.KindMessageWithdrawn, "D1", "M1", "customs", js(map[string]string{"reason": "trip called off"}))
				b.message("D1", "M3", "guangxi", "cancel", 1, "M2")
				b.decision("D1", 1, "CANCELLED")
				b.attempt("D1", "M3", "guangxi", 1, "sent", "")
				b.ack("D1", "M3", "guangxi", "ACK", "")
			},
			decls: []Declaration{decl("D1", 1, "cancelled", "12C-00001", "CANCELLED")},
			msgs: []Message{
				msg("M1", "D1", 1, "customs", "submit", "", "cancelled", 0, "", ""),
				msg("M2", "D1", 1, "guangxi", "submit", "", "sent", 1, "", ""),
				msg("M3", "D1", 1, "guangxi", "cancel", "M2", "acked", 1, "ACK", ""),
			},
		},
		{
			name: "entries that change no state are ignored",
			log: func(b *logBuilder) {
				b.add(audit.KindAuthRefused, "", "", "", js(map[string]string{"reason": "bad token"}))
				b.accepted("D1", "12C-00001")
				b.add(audit.KindAckRefused, "", "M9", "customs", js(map[string]string{"code": "unknown_message"}))
				b.add(audit.KindConfigApply, "", "", "", js(map[string]string{"gate": "HUUNGHI"}))
			},
			decls: []Declaration{decl("D1", 1, "active", "12C-00001", "")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b logBuilder
			tt.log(&b)
			got, err := FromEntries(b.entries, fakeAcks)
			if err != nil {
				t.Fatal(err)
			}
			want := newState()
			for _, d := range tt.decls {
				want.Declarations[d.ID] = d
			}
			for _, m := range tt.msgs {
				want.Messages[m.ID] = m
			}
			if diffs := Diff(want, got); len(diffs) > 0 {
				t.Errorf("want vs replayed:\n%s", joinDiffs(diffs))
			}
			if !reflect.DeepEqual(want, got) {
				t.Errorf("states differ beyond what Diff reports:\nwant %+v\ngot  %+v", want, got)
			}
			// Entry order in the slice does not matter, seq does.
			rev := append([]store.AuditEntry(nil), b.entries...)
			for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
				rev[i], rev[j] = rev[j], rev[i]
			}
			again, err := FromEntries(rev, fakeAcks)
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Errorf("replay of the same entries in another slice order: %v, %+v", err, again)
			}
		})
	}
}

func TestFromEntriesRefusesInconsistentLogs(t *testing.T) {
	tests := []struct {
		name string
		log  func(b *logBuilder)
		want string
	}{
		{
			name: "operator change from a state the log does not explain",
			log: func(b *logBuilder) {
				b.accepted("D1", "12C-00001")
				b.message("D1", "M1", "customs", "submit", 1, "")
				b.operator(audit.KindOperatorRedrive, "D1", "M1", "customs", "dead", "pending")
			},
			want: "entry 4 (operator.redrive): message M1: operator changed it from dead, but the log leaves it pending",
		},
		{
			name: "ACK of a message never sent",
			log: func(b *logBuilder) {
				b.accepted("D1", "12C-00001")
				b.ack("D1", "M1", "customs", "ACK", "")
			},
			want: `entry 2 (ack.inbound): message "M1" was never logged as outbound`,
		},
		{
			name: "ACK that answers another message",
			log: func(b *logBuilder) {
				b.accepted("D1", "12C-00001")
				b.message("D1", "M1", "customs", "submit", 1, "")
				b.add(audit.KindAckInbound, "D1", "M1", "customs", []byte("ACK|M2|A-1|"))
			},
			want: "ACK logged for M1 answers M2",
		},
		{
			name: "outbound without its build record",
			log: func(b *logBuilder) {
				b.accepted("D1", "12C-00001")
				b.add(audit.KindMessageOutbound, "D1", "M1", "customs", []byte("<x/>"))
			},
			want: "message M1 has no message.built record before it",
		},
		{
			name: "version skipped",
			log: func(b *logBuilder) {
				b.accepted("D1", "12C-00001")
				b.amended("D1", 3, "12C-00001")
			},
			want: "declaration D1 version 3, want 2",
		},
		{
			name: "log starting mid-way",
			log: func(b *logBuilder) {
				b.decision("D1", 1, "CLEARED")
			},
			want: "decision for version 1 of D1, which was never logged",
		},
		{
			name: "unknown delivery state",
			log: func(b *logBuilder) {
				b.accepted("D1", "12C-00001")
				b.message("D1", "M1", "customs", "submit", 1, "")
				b.attempt("D1", "M1", "customs", 1, "lost", "")
			},
			want: `unknown state "lost"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b logBuilder
			tt.log(&b)
			_, err := FromEntries(b.entries, fakeAcks)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestFromEntriesNeedsAckReader(t *testing.T) {
	var b logBuilder
	b.accepted("D1", "12C-00001")
	b.message("D1", "M1", "customs", "submit", 1, "")
	b.ack("D1", "M1", "customs", "ACK", "")
	if _, err := FromEntries(b.entries, nil); err == nil || !strings.Contains(err.Error(), "no ACK reader") {
		t.Fatalf("error %v, want one about the missing ACK reader", err)
	}
}

func joinDiffs(ds []Difference) string {
	var s []string
	for _, d := range ds {
		s = append(s, d.String())
	}
	return strings.Join(s, "\n")
}

func TestDiff(t *testing.T) {
	base := func() *State {
		s := newState()
		s.Declarations["D1"] = decl("D1", 1, "active", "12C-00001", "CLEARED")
		s.Messages["M1"] = msg("M1", "D1", 1, "customs", "submit", "", "acked", 1, "ACK", "")
		s.Messages["M2"] = msg("M2", "D1", 1, "guangxi", "submit", "", "acked", 1, "ACK", "")
		return s
	}
	tests := []struct {
		name string
		edit func(a, b *State)
		want []string
	}{
		{name: "equal", edit: func(a, b *State) {}},
		{
			name: "message state and ack",
			edit: func(a, b *State) {
				m := b.Messages["M2"]
				m.State, m.AckStatus, m.AckReason = "nacked", "NACK", "BAD_SEAL"
				b.Messages["M2"] = m
			},
			want: []string{
				"message M2: state acked vs nacked",
				"message M2: ack status ACK vs NACK",
				`message M2: ack reason "" vs BAD_SEAL`,
			},
		},
		{
			name: "missing on either side, sorted by id, declarations first",
			edit: func(a, b *State) {
				delete(a.Messages, "M1")
				b.Messages["M0"] = msg("M0", "D1", 1, "customs", "submit", "", "pending", 0, "", "")
				d := b.Declarations["D1"]
				d.Version, d.DecisionStatus = 2, "PENDING"
				b.Declarations["D1"] = d
			},
			want: []string{
				"declaration D1: version 1 vs 2",
				"declaration D1: decision CLEARED vs PENDING",
				"message M0: (absent) vs present",
				"message M1: (absent) vs present",
			},
		},
		{
			name: "declaration only on the left",
			edit: func(a, b *State) {
				a.Declarations["D2"] = decl("D2", 1, "cancelled", "12C-00002", "CANCELLED")
			},
			want: []string{"declaration D2: present vs (absent)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := base(), base()
			tt.edit(a, b)
			var got []string
			for _, d := range Diff(a, b) {
				got = append(got, d.String())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
