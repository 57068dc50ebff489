package message

import (
	"errors"
	"testing"
)

// TestTransitionEveryPair walks every (state, event) pair against a grid
// written out by hand: a row per state, a column per event in Events
// order, "-" where the event is refused. A change to the machine must
// change this grid too.
func TestTransitionEveryPair(t *testing.T) {
	const x = State("-")
	//                delivered retry    give-up ack     nack    supersede   withdraw   resend   redrive  stop
	grid := map[State][]State{
		Pending:    {Sent, Pending, Dead, Acked, Nacked, Superseded, Cancelled, x, x, Cancelled},
		Sent:       {x, x, x, Acked, Nacked, Superseded, x, Pending, x, x},
		Acked:      {x, x, x, x, x, Superseded, x, x, x, x},
		Nacked:     {x, x, x, x, x, Superseded, x, x, x, x},
		Dead:       {x, x, x, Acked, Nacked, Superseded, x, x, Pending, Cancelled},
		Cancelled:  {x, x, x, x, x, Superseded, x, x, Pending, x},
		Superseded: {x, x, x, x, x, x, x, x, x, x},
	}
	if len(grid) != len(States) {
		t.Fatalf("grid has %d rows for %d states", len(grid), len(States))
	}
	for _, from := range States {
		row := grid[from]
		if len(row) != len(Events) {
			t.Fatalf("row %s has %d columns for %d events", from, len(row), len(Events))
		}
		for i, ev := range Events {
			got, err := Transition(from, ev)
			switch want := row[i]; {
			case want == x:
				if !errors.Is(err, ErrInvalidTransition) || got != from {
					t.Errorf("%s on %s: %s, %v; want refused", ev, from, got, err)
				}
			case err != nil || got != want:
				t.Errorf("%s on %s: %s, %v; want %s", ev, from, got, err, want)
			}
		}
	}
	// A state nobody defined is refused by every event.
	for _, ev := range Events {
		if _, err := Transition("lost", ev); !errors.Is(err, ErrInvalidTransition) {
			t.Errorf("%s on an unknown state: %v", ev, err)
		}
	}
	if _, err := Transition(Pending, "teleport"); !errors.Is(err, ErrInvalidTransition) {
		t.Errorf("an unknown event: %v", err)
	}
}

func TestFromNamesTheStates(t *testing.T) {
	for ev, want := range map[Event]string{
		Redrive: "dead or cancelled", Stop: "pending or dead", Resend: "sent", AckIn: "pending, sent or dead", "teleport": "no",
	} {
		if got := From(ev); got != want {
			t.Errorf("From(%s) = %q, want %q", ev, got, want)
		}
	}
}

func TestStatesAndKinds(t *testing.T) {
	for _, s := range States {
		if !s.Valid() {
			t.Errorf("%s not valid", s)
		}
	}
	if State("lost").Valid() || len(StateNames()) != len(States) {
		t.Fatal("states")
	}
	// The stores and archives hold these strings; they must not change.
	if Pending != "pending" || Superseded != "superseded" || Submit != "submit" || Cancel != "cancel" || Ack != "ack" || Forward != "forward" {
		t.Fatal("a persisted word changed")
	}
}
