// Package fanout carries live events (clearance decisions per lane) from the
// hub instance that produced them to every gate device subscribed to the
// topic, on any instance, and lets a reconnecting device resume from the last
// event it saw.
//
// Delivery contract shared by every Bus:
//
//   - Per topic, events carry ids of the form "<ms>-<seq>" that increase
//     strictly in publish order, so ids compare without any lookup.
//   - A subscriber receives, in order, the retained events with an id greater
//     than its lastEventID, then every event published afterwards, with no
//     gap and no duplicate at the boundary.
//   - A lastEventID older than everything retained (or not a valid id at all)
//     replays everything retained: the device then knows nothing better than
//     "catch up on what the hub still has". Events that already fell out of
//     retention are gone; devices that must not miss decisions also pull them
//     by plate/QR. An id beyond the newest retained one (a bus that was
//     reset) replays nothing and the subscription continues live.
//   - Publishers never wait for subscribers. Each subscriber has a bounded
//     buffer; a subscriber that falls behind has its channel closed. An SSE
//     client reconnects with Last-Event-ID and resumes from retention, so a
//     slow device costs a reconnect, never a stalled lane for everyone else.
package fanout

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Event is one message on a topic.
type Event struct {
	ID    string
	Topic string
	Type  string
	Data  []byte
	Time  time.Time
}

// Bus publishes events to topics and streams them to subscribers.
type Bus interface {
	// Publish appends an event to topic and returns it with its assigned id.
	Publish(ctx context.Context, topic, typ string, data []byte) (Event, error)
	// Subscribe delivers events published after the call returns; if
	// lastEventID != "" it first replays retained events after that id (SSE
	// Last-Event-ID resume), with no gap or duplicate across the replay/live
	// boundary. The channel closes when ctx ends or the bus closes (or the
	// subscriber overflowed).
	Subscribe(ctx context.Context, topic, lastEventID string) (<-chan Event, error)
	Close() error
}

// ErrClosed is returned by a Bus used after Close.
var ErrClosed = errors.New("fanout: bus closed")

// DefaultSubscriberBuffer is how many events a subscriber may lag behind
// before it is dropped. Decisions per lane arrive at truck pace, so this is
// generous; it exists to bound memory, not to smooth bursts.
const DefaultSubscriberBuffer = 256

// Option adjusts a Bus at construction.
type Option func(*options)

type options struct {
	buffer int
	now    func() time.Time
}

func buildOptions(opts []Option) options {
	o := options{buffer: DefaultSubscriberBuffer, now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithSubscriberBuffer sets the per-subscriber buffer (minimum 1).
func WithSubscriberBuffer(n int) Option {
	return func(o *options) {
		if n < 1 {
			n = 1
		}
		o.buffer = n
	}
}

// WithClock replaces time.Now for event timestamps and, in Memory, for the
// millisecond part of ids.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

func validate(topic, typ string) error {
	if topic == "" {
		return errors.New("fanout: empty topic")
	}
	// The SSE wire format ends a field at CR or LF; a type containing one
	// would let a publisher forge fields on every device's stream.
	if strings.ContainsAny(typ, "\r\n") {
		return fmt.Errorf("fanout: event type %q contains a line break", typ)
	}
	return nil
}

// eventID is the comparable form of "<ms>-<seq>", the shape Redis stream
// ids have, which Memory mirrors so that devices see one id format.
type eventID struct{ ms, seq uint64 }

func (id eventID) String() string {
	return strconv.FormatUint(id.ms, 10) + "-" + strconv.FormatUint(id.seq, 10)
}

func (id eventID) less(o eventID) bool {
	return id.ms < o.ms || (id.ms == o.ms && id.seq < o.seq)
}

// parseID accepts "<ms>-<seq>" and, as Redis does, a bare "<ms>" meaning
// "<ms>-0".
func parseID(s string) (eventID, error) {
	msPart, seqPart, hasSeq := strings.Cut(s, "-")
	ms, err := strconv.ParseUint(msPart, 10, 64)
	if err != nil {
		return eventID{}, fmt.Errorf("fanout: event id %q: %w", s, err)
	}
	var seq uint64
	if hasSeq {
		if seq, err = strconv.ParseUint(seqPart, 10, 64); err != nil {
			return eventID{}, fmt.Errorf("fanout: event id %q: %w", s, err)
		}
	}
	return eventID{ms, seq}, nil
}

// resumePoint turns a client-supplied Last-Event-ID into the id to replay
// after. The zero id (replay everything retained) stands for "no usable id".
func resumePoint(lastEventID string) (after eventID, replay bool) {
	if lastEventID == "" {
		return eventID{}, false
	}
	id, err := parseID(lastEventID)
	if err != nil {
		return eventID{}, true
	}
	return id, true
}
