package fanout

import (
	"context"
	"sync"
	"sync/atomic"
)

// item is an event with its id already parsed, so the per-subscriber
// boundary check does not re-parse strings.
type item struct {
	id eventID
	ev Event
}

// subscriber is one in-process consumer of a topic.
type subscriber struct {
	live chan item
	// done is closed when the bus drops the subscriber (overflow, bus close,
	// lost Redis subscription). live is never closed, so a concurrent
	// publisher can never send on a closed channel.
	done chan struct{}
	// covered is the last id of the replay this subscriber was given: live
	// events up to it are duplicates and are not buffered at all, so the
	// events still in flight when a dropped device resumes cannot fill its
	// buffer and drop it again.
	covered atomic.Pointer[eventID]
}

// coverThrough records the end of the replay handed to s.
func (s *subscriber) coverThrough(replay []item) {
	if len(replay) > 0 {
		id := replay[len(replay)-1].id
		s.covered.Store(&id)
	}
}

// registry fans events out to the in-process subscribers of each topic. Both
// Memory and Redis use it: Redis only adds a different source of events.
type registry struct {
	mu     sync.Mutex
	buffer int
	topics map[string]map[*subscriber]struct{}
}

func newRegistry(buffer int) *registry {
	return &registry{buffer: buffer, topics: make(map[string]map[*subscriber]struct{})}
}

func (r *registry) add(topic string) *subscriber {
	s := &subscriber{live: make(chan item, r.buffer), done: make(chan struct{})}
	r.mu.Lock()
	defer r.mu.Unlock()
	subs := r.topics[topic]
	if subs == nil {
		subs = make(map[*subscriber]struct{})
		r.topics[topic] = subs
	}
	subs[s] = struct{}{}
	return s
}

// remove drops s; safe to call more than once.
func (r *registry) remove(topic string, s *subscriber) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.removeLocked(topic, s)
}

func (r *registry) removeLocked(topic string, s *subscriber) {
	subs := r.topics[topic]
	if _, ok := subs[s]; !ok {
		return
	}
	delete(subs, s)
	if len(subs) == 0 {
		delete(r.topics, topic)
	}
	close(s.done)
}

// deliver hands it to every subscriber of its topic without ever blocking: a
// full buffer means that subscriber is dropped and will resume by id.
func (r *registry) deliver(it item) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for s := range r.topics[it.ev.Topic] {
		if c := s.covered.Load(); c != nil && !c.less(it.id) {
			continue
		}
		select {
		case s.live <- it:
		default:
			r.removeLocked(it.ev.Topic, s)
		}
	}
}

// dropAll ends every subscription; subscribers resume from retention.
func (r *registry) dropAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for topic, subs := range r.topics {
		for s := range subs {
			r.removeLocked(topic, s)
		}
	}
}

// pump feeds out with the replay, then the live events that come after the
// last replayed one, and closes out when the subscription ends for any
// reason. Filtering live events by id is what removes duplicates at the
// replay/live boundary: the subscriber was registered before the replay was
// read, so anything published in between arrives both ways.
//
// Live events are filtered against the last replayed id, not the id the
// client asked for: an id beyond anything retained (a bus that was reset)
// must not hold back live events until the clock catches up.
func pump(ctx context.Context, s *subscriber, replay []item, out chan<- Event, unregister func()) {
	defer close(out)
	defer unregister()
	var last eventID
	send := func(it item) bool {
		select {
		case out <- it.ev:
			last = it.id
			return true
		case <-ctx.Done():
			return false
		case <-s.done:
			return false
		}
	}
	for _, it := range replay {
		if !send(it) {
			return
		}
	}
	for {
		select {
		case it := <-s.live:
			if !last.less(it.id) {
				continue
			}
			if !send(it) {
				return
			}
		case <-ctx.Done():
			return
		case <-s.done:
			return
		}
	}
}
