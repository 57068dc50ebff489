// Package message holds the words of the hub's outbound agency messages:
// their kinds, their delivery states, and the one state machine every
// change of state goes through — the dispatcher, ACK handling, amendments,
// cancellations, operator actions, overdue resends, and the replay of an
// audit log alike. It is pure: no I/O, no clock.
package message

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// State is where one message stands. The strings are what the stores
// persist and the API shows; they never change (archives keep them).
type State string

// Message states. A message is created Pending; delivery moves it to Sent
// once the agency accepted the HTTP call; an ACK or NACK moves it to Acked
// or Nacked. Dead means delivery was given up (dead-letter); Cancelled
// means it was stopped (withdrawn, or by an operator); Superseded means a
// later declaration version replaced it.
const (
	Pending    State = "pending"
	Sent       State = "sent"
	Acked      State = "acked"
	Nacked     State = "nacked"
	Dead       State = "dead"
	Cancelled  State = "cancelled"
	Superseded State = "superseded"
)

// States lists every message state, in lifecycle order.
var States = []State{Pending, Sent, Acked, Nacked, Dead, Cancelled, Superseded}

// StateNames lists every state's string, for filters and flags that refuse
// a state that does not exist.
func StateNames() []string {
	out := make([]string, len(States))
	for i, s := range States {
		out[i] = string(s)
	}
	return out
}

// Valid reports whether s is one of States.
func (s State) Valid() bool { return slices.Contains(States, s) }

// Kind is what an outbound message asks of its agency.
type Kind string

// Message kinds. Ack is the agency's answer: a kind of mapped document
// (agency simulators build it, the hub parses it), never an outbound
// message.
const (
	Submit Kind = "submit"
	Amend  Kind = "amend"
	Cancel Kind = "cancel"
	Ack    Kind = "ack"
	// Forward is the hub's forward of another agency's own message
	// (internal/directive): delivered like any message, but no part of the
	// receiving agency's answer on the declaration, and built by no mapping.
	Forward Kind = "forward"
)

// Kinds lists the kinds of outbound messages.
var Kinds = []Kind{Submit, Amend, Cancel}

// Event is something that happens to a message.
type Event string

// Events, and who causes them.
const (
	Delivered Event = "delivered" // delivery: the agency took the message
	Retry     Event = "retry"     // delivery: a temporary failure, attempts left
	GiveUp    Event = "give-up"   // delivery: refused, or out of attempts (dead-letter)
	AckIn     Event = "ack"       // the agency's signed ACK
	NackIn    Event = "nack"      // the agency's signed NACK
	Supersede Event = "supersede" // an amendment replaced the message
	Withdraw  Event = "withdraw"  // the declaration was cancelled before the message ever left the hub
	Resend    Event = "resend"    // the ACK is overdue: delivered again, same id, same bytes
	Redrive   Event = "redrive"   // an operator put a dead or cancelled message back in the queue
	Stop      Event = "stop"      // an operator cancelled delivery
)

// Events lists every event.
var Events = []Event{Delivered, Retry, GiveUp, AckIn, NackIn, Supersede, Withdraw, Resend, Redrive, Stop}

// ErrInvalidTransition: the event does not apply to a message in that state.
var ErrInvalidTransition = errors.New("invalid message transition")

// transitions is the state machine: for each event, the state it leads to
// from each state it applies to. Anything not here is refused.
var transitions = map[Event]map[State]State{
	Delivered: {Pending: Sent},
	Retry:     {Pending: Pending},
	GiveUp:    {Pending: Dead},
	// An answer may overtake the dispatcher's own bookkeeping (an async
	// callback faster than the settle transaction, or a late answer to a
	// message that was dead-lettered): the agency has the message, so the
	// answer counts. A message answered once is not answered again, and a
	// superseded or cancelled one no longer waits for an answer.
	AckIn:  {Pending: Acked, Sent: Acked, Dead: Acked},
	NackIn: {Pending: Nacked, Sent: Nacked, Dead: Nacked},
	// The latest message of an agency, whatever became of it, is replaced
	// when the amendment changes its content.
	Supersede: {Pending: Superseded, Sent: Superseded, Acked: Superseded, Nacked: Superseded, Dead: Superseded, Cancelled: Superseded},
	Withdraw:  {Pending: Cancelled},
	Resend:    {Sent: Pending},
	Redrive:   {Dead: Pending, Cancelled: Pending},
	Stop:      {Pending: Cancelled, Dead: Cancelled},
}

// Transition returns the state a message in from reaches with ev, or an
// error wrapping ErrInvalidTransition that names both.
func Transition(from State, ev Event) (State, error) {
	to, ok := transitions[ev][from]
	if !ok {
		return from, fmt.Errorf("%w: %s of a %s message (%s applies to %s messages)", ErrInvalidTransition, ev, from, ev, From(ev))
	}
	return to, nil
}

// From lists, in lifecycle order, the states ev applies to: "dead or
// cancelled", for messages that tell an operator what would have worked.
func From(ev Event) string {
	var names []string
	for _, s := range States {
		if _, ok := transitions[ev][s]; ok {
			names = append(names, string(s))
		}
	}
	switch len(names) {
	case 0:
		return "no"
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
