// Package replay rebuilds the hub's declaration, message, ACK and decision
// state from the audit log alone, reads the same state from a live store,
// and compares the two; it also re-runs the mappings over the logged inputs
// to show that every signed outbound message is exactly what the recorded
// declaration, mapping version and envelope produce. An auditor who trusts
// only a verified archive can so check that the live tables tell the same
// story as the log.
package replay

import (
	"context"
	"errors"
	"fmt"
	"github.com/gatehub/gatehub/internal/message"
	"sort"
	"time"

	"github.com/gatehub/gatehub/internal/store"
)

// State is the part of the hub's state that the audit log determines. Both
// maps hold plain values, so two States compare with == per entry and with
// reflect.DeepEqual as a whole; Diff says where they differ.
type State struct {
	Declarations map[string]Declaration // by declaration id
	Messages     map[string]Message     // by message id
	Crossings    map[string]Crossing    // by declaration id
}

// Declaration is the latest version of one declaration and its decision.
type Declaration struct {
	ID      string
	Version int    // latest version
	Status  string // active | cancelled
	Trader  string // tax code
	Gate    string
	Lane    string
	PlateVN string
	PlateCN string
	// The decision stored for the latest version; empty when none was taken.
	DecisionStatus string
	// DecisionDetail is the decision JSON as the store keeps it: the logged
	// decision without its decidedAt, which is DecidedAt here.
	DecisionDetail string
	DecidedAt      string // RFC 3339 with fractional seconds, UTC; "" without a decision
}

// Message is one outbound agency message, its final delivery state and the
// agency's answer.
type Message struct {
	ID            string
	DeclarationID string
	Version       int
	Agency        string
	Kind          message.Kind
	PreviousID    string
	State         message.State
	Attempts      int
	AckStatus     string // ACK | NACK; "" without an answer
	AckReason     string // the NACK reason code
	AckID         string // the agency's id of its answer
}

func newState() *State {
	return &State{Declarations: map[string]Declaration{}, Messages: map[string]Message{}, Crossings: map[string]Crossing{}}
}

// formatTime renders decision times so that both sides of a comparison,
// whatever time zone they were read in, give the same string.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// FromStore reads State from a store's live tables: the latest version of
// every declaration, all its messages with their ACKs, and the decision of
// the latest version. It holds the whole state; CompareStores walks two
// stores a page at a time instead.
func FromStore(ctx context.Context, st store.Store) (*State, error) {
	s := newState()
	err := st.WithTx(ctx, func(tx store.Tx) error {
		// The transaction may be retried: start from empty each time.
		s = newState()
		for after := ""; ; {
			decls, err := tx.DeclarationsAfter(ctx, after, comparePage)
			if err != nil {
				return fmt.Errorf("list declarations: %w", err)
			}
			if err := fillState(ctx, tx, s, decls); err != nil {
				return err
			}
			if len(decls) < comparePage {
				return nil
			}
			after = decls[len(decls)-1].ID
		}
	})
	if err != nil {
		return nil, fmt.Errorf("read state from store: %w", err)
	}
	return s, nil
}

// fillState adds to s the state of decls (latest versions, read in tx):
// their decisions, messages with ACKs, and crossings.
func fillState(ctx context.Context, tx store.Tx, s *State, decls []store.Declaration) error {
	for _, d := range decls {
		sd := Declaration{
			ID: d.ID, Version: d.Version, Status: d.Status, Trader: d.TraderTaxCode,
			Gate: d.Gate, Lane: d.Lane, PlateVN: d.PlateVN, PlateCN: d.PlateCN,
		}
		dec, err := tx.GetDecision(ctx, d.ID, d.Version)
		switch {
		case err == nil:
			sd.DecisionStatus, sd.DecisionDetail, sd.DecidedAt = string(dec.Status), string(dec.Detail), formatTime(dec.DecidedAt)
		case !errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("decision of %s v%d: %w", d.ID, d.Version, err)
		}
		s.Declarations[d.ID] = sd
		msgs, err := tx.MessagesForDeclaration(ctx, d.ID)
		if err != nil {
			return fmt.Errorf("messages of %s: %w", d.ID, err)
		}
		acks, err := tx.AcksForDeclaration(ctx, d.ID)
		if err != nil {
			return fmt.Errorf("acks of %s: %w", d.ID, err)
		}
		for _, m := range msgs {
			sm := Message{
				ID: m.ID, DeclarationID: m.DeclarationID, Version: m.Version, Agency: m.Agency, Kind: m.Kind,
				PreviousID: m.PreviousID, State: m.State, Attempts: m.Attempts,
			}
			if a, ok := acks[m.ID]; ok {
				sm.AckStatus, sm.AckReason, sm.AckID = a.Status, a.ReasonCode, a.AckID
			}
			s.Messages[m.ID] = sm
		}
	}
	ids := make([]string, 0, len(decls))
	for _, d := range decls {
		ids = append(ids, d.ID)
	}
	return crossingsFromStore(ctx, tx, s, ids)
}

// Difference is one way two States disagree.
type Difference struct {
	Subject string `json:"subject"`         // "declaration D-…" or "message M-…"
	Field   string `json:"field,omitempty"` // "" when the subject exists on one side only
	A       string `json:"replayed"`        // the values on each side; "(absent)" for a missing subject
	B       string `json:"compared"`
}

func (d Difference) String() string {
	if d.Field == "" {
		return fmt.Sprintf("%s: %s vs %s", d.Subject, d.A, d.B)
	}
	return fmt.Sprintf("%s: %s %s vs %s", d.Subject, d.Field, d.A, d.B)
}

const absent = "(absent)"

// Diff lists the differences between a and b, declarations first, then
// messages, each by id and then in a fixed field order, so the same two
// states always give the same list.
func Diff(a, b *State) []Difference {
	if a == nil {
		a = newState()
	}
	if b == nil {
		b = newState()
	}
	var out []Difference
	for _, id := range unionKeys(a.Declarations, b.Declarations) {
		subject := "declaration " + id
		x, inA := a.Declarations[id]
		y, inB := b.Declarations[id]
		if !inA || !inB {
			out = append(out, presence(subject, inA, inB))
			continue
		}
		out = appendFields(out, subject, []field{
			{"version", itoa(x.Version), itoa(y.Version)},
			{"status", x.Status, y.Status},
			{"trader", x.Trader, y.Trader},
			{"gate", x.Gate, y.Gate},
			{"lane", x.Lane, y.Lane},
			{"plateVN", x.PlateVN, y.PlateVN},
			{"plateCN", x.PlateCN, y.PlateCN},
			{"decision", x.DecisionStatus, y.DecisionStatus},
			{"decision detail", x.DecisionDetail, y.DecisionDetail},
			{"decided at", x.DecidedAt, y.DecidedAt},
		})
	}
	for _, id := range unionKeys(a.Messages, b.Messages) {
		subject := "message " + id
		x, inA := a.Messages[id]
		y, inB := b.Messages[id]
		if !inA || !inB {
			out = append(out, presence(subject, inA, inB))
			continue
		}
		out = appendFields(out, subject, []field{
			{"declaration", x.DeclarationID, y.DeclarationID},
			{"version", itoa(x.Version), itoa(y.Version)},
			{"agency", x.Agency, y.Agency},
			{"kind", string(x.Kind), string(y.Kind)},
			{"previous", x.PreviousID, y.PreviousID},
			{"state", string(x.State), string(y.State)},
			{"attempts", itoa(x.Attempts), itoa(y.Attempts)},
			{"ack status", x.AckStatus, y.AckStatus},
			{"ack reason", x.AckReason, y.AckReason},
			{"ack id", x.AckID, y.AckID},
		})
	}
	return diffCrossings(out, a, b)
}

type field struct{ name, a, b string }

func appendFields(out []Difference, subject string, fs []field) []Difference {
	for _, f := range fs {
		if f.a != f.b {
			out = append(out, Difference{Subject: subject, Field: f.name, A: show(f.a), B: show(f.b)})
		}
	}
	return out
}

// show makes an empty value visible in a difference line.
func show(s string) string {
	if s == "" {
		return `""`
	}
	return s
}

func presence(subject string, inA, inB bool) Difference {
	d := Difference{Subject: subject, A: "present", B: "present"}
	if !inA {
		d.A = absent
	}
	if !inB {
		d.B = absent
	}
	return d
}

func itoa(n int) string { return fmt.Sprint(n) }

func unionKeys[V any](a, b map[string]V) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, dup := a[k]; !dup {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}
