package fanout

import (
	"context"
	"sync"
)

// Memory is the single-process Bus of the embedded default: a ring buffer of
// the last retain events per topic and direct in-process fan-out.
//
// Topics are never forgotten (a ring stays allocated per topic); topics are
// lanes, a small fixed set.
type Memory struct {
	opts   options
	retain int
	reg    *registry

	mu     sync.Mutex // orders id assignment, retention and delivery
	closed bool
	topics map[string]*ring
}

var _ Bus = (*Memory)(nil)

// NewMemory returns a Bus retaining the last retain events per topic for
// resume (at least 1).
func NewMemory(retain int, opts ...Option) *Memory {
	o := buildOptions(opts)
	if retain < 1 {
		retain = 1
	}
	return &Memory{opts: o, retain: retain, reg: newRegistry(o.buffer), topics: make(map[string]*ring)}
}

// Publish implements Bus.
func (m *Memory) Publish(ctx context.Context, topic, typ string, data []byte) (Event, error) {
	if err := validate(topic, typ); err != nil {
		return Event{}, err
	}
	if err := ctx.Err(); err != nil {
		return Event{}, err
	}
	now := m.opts.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return Event{}, ErrClosed
	}
	r := m.topics[topic]
	if r == nil {
		r = &ring{buf: make([]item, m.retain)}
		m.topics[topic] = r
	}
	id := r.next(now.UnixMilli())
	it := item{id: id, ev: Event{
		ID:    id.String(),
		Topic: topic,
		Type:  typ,
		// Copied because the caller may reuse its buffer while subscribers
		// on other goroutines still read this one.
		Data: append([]byte(nil), data...),
		Time: now,
	}}
	r.push(it)
	m.reg.deliver(it)
	return it.ev, nil
}

// Subscribe implements Bus.
func (m *Memory) Subscribe(ctx context.Context, topic, lastEventID string) (<-chan Event, error) {
	if topic == "" {
		return nil, validate(topic, "")
	}
	after, wantReplay := resumePoint(lastEventID)
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, ErrClosed
	}
	// Registering and snapshotting under the publish lock means every event
	// is either in the snapshot or delivered live (possibly both, which pump
	// filters), never neither.
	s := m.reg.add(topic)
	var replay []item
	if r := m.topics[topic]; r != nil && wantReplay {
		replay = r.after(after)
	}
	s.coverThrough(replay)
	m.mu.Unlock()

	out := make(chan Event)
	go pump(ctx, s, replay, out, func() { m.reg.remove(topic, s) })
	return out, nil
}

// Close ends every subscription; later calls fail with ErrClosed.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.reg.dropAll()
	return nil
}

// ring holds the last len(buf) events of one topic, oldest first from start.
type ring struct {
	buf   []item
	start int
	n     int
	last  eventID
}

// next mints an id after the previous one. The millisecond part follows the
// clock like a Redis stream id, but never goes back if the clock does, so
// ids stay strictly increasing; and because they are time based, ids a
// device kept across a hub restart still resume sensibly.
func (r *ring) next(unixMilli int64) eventID {
	ms := uint64(0)
	if unixMilli > 0 {
		ms = uint64(unixMilli)
	}
	if ms > r.last.ms {
		r.last = eventID{ms: ms}
	} else {
		r.last = eventID{ms: r.last.ms, seq: r.last.seq + 1}
	}
	return r.last
}

func (r *ring) push(it item) {
	if r.n < len(r.buf) {
		r.buf[(r.start+r.n)%len(r.buf)] = it
		r.n++
		return
	}
	r.buf[r.start] = it
	r.start = (r.start + 1) % len(r.buf)
}

// after returns the retained events with an id greater than id, in order.
func (r *ring) after(id eventID) []item {
	var out []item
	for i := 0; i < r.n; i++ {
		it := r.buf[(r.start+i)%len(r.buf)]
		if id.less(it.id) {
			out = append(out, it)
		}
	}
	return out
}
