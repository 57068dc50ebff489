package fanout

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// publishLua appends the event to the topic's capped stream and announces
// it, id included, on the topic's channel in one atomic step. Atomicity is
// what makes resume exact: a subscriber that is listening before it reads
// the stream sees every event either in the stream, live, or both.
// The channel is an argument, not a key: channels are not keys in Redis
// Cluster and must not take part in slot routing.
const publishLua = `
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'type', ARGV[2], 'time', ARGV[3], 'data', ARGV[4])
redis.call('PUBLISH', ARGV[5], id .. '\n' .. ARGV[2] .. '\n' .. ARGV[3] .. '\n' .. ARGV[4])
return id
`

// healthCheckInterval is how long the shared subscription may stay silent
// before it is pinged; a half-open TCP connection would otherwise hide lost
// events indefinitely.
const healthCheckInterval = 30 * time.Second

// Redis is the multi-instance Bus. Events are retained per topic in a Redis
// Stream capped at about retain entries (MAXLEN ~, so Redis may keep a few
// more) whose ids are the event ids, and announced live through Pub/Sub, so
// a device on any instance sees events published on any other.
//
// Each Bus holds one Pub/Sub connection, subscribed by pattern to all its
// topics and started on first Subscribe, and fans out to local subscribers
// in-process: connections to Redis grow with instances, not with devices.
//
// If that connection breaks, or Redis re-confirms the subscription (a
// silent reconnect), events may have been missed, so every local
// subscription is ended; SSE clients reconnect with Last-Event-ID and
// resume from the stream without a gap. While Redis is unreachable,
// Subscribe fails fast instead of holding devices on a dead stream.
type Redis struct {
	client  *redis.Client
	prefix  string
	retain  int
	opts    options
	reg     *registry
	publish *redis.Script

	mu        sync.Mutex
	closed    bool
	started   bool
	connected bool
	lastErr   error
	changed   chan struct{} // closed and replaced on every state change
	pubsub    *redis.PubSub
	cancel    context.CancelFunc
	done      chan struct{} // closed when the dispatcher exits
}

var _ Bus = (*Redis)(nil)

// NewRedis returns a Bus keeping its streams and channels under prefix and
// retaining about retain events per topic (at least 1). The client stays
// owned by the caller; Close does not close it.
func NewRedis(client *redis.Client, prefix string, retain int, opts ...Option) *Redis {
	o := buildOptions(opts)
	if retain < 1 {
		retain = 1
	}
	return &Redis{
		client:  client,
		prefix:  prefix,
		retain:  retain,
		opts:    o,
		reg:     newRegistry(o.buffer),
		publish: redis.NewScript(publishLua),
		changed: make(chan struct{}),
	}
}

func (b *Redis) streamKey(topic string) string { return b.prefix + "stream:" + topic }
func (b *Redis) channel(topic string) string   { return b.prefix + "live:" + topic }

// Publish implements Bus.
func (b *Redis) Publish(ctx context.Context, topic, typ string, data []byte) (Event, error) {
	if err := validate(topic, typ); err != nil {
		return Event{}, err
	}
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return Event{}, ErrClosed
	}
	at := time.Unix(0, b.opts.now().UnixNano())
	id, err := b.publish.Run(ctx, b.client, []string{b.streamKey(topic)},
		b.retain, typ, strconv.FormatInt(at.UnixNano(), 10), data, b.channel(topic)).Text()
	if err != nil {
		return Event{}, fmt.Errorf("fanout: redis publish to %q: %w", topic, err)
	}
	return Event{ID: id, Topic: topic, Type: typ, Data: append([]byte(nil), data...), Time: at}, nil
}

// Subscribe implements Bus.
func (b *Redis) Subscribe(ctx context.Context, topic, lastEventID string) (<-chan Event, error) {
	if topic == "" {
		return nil, validate(topic, "")
	}
	after, wantReplay := resumePoint(lastEventID)
	s, err := b.register(ctx, topic)
	if err != nil {
		return nil, err
	}
	// The replay is read only after the subscriber is registered on a
	// confirmed Pub/Sub subscription; pump drops live events the replay
	// already covered.
	var replay []item
	if wantReplay {
		replay, err = b.readAfter(ctx, topic, after)
		if err != nil {
			b.reg.remove(topic, s)
			return nil, err
		}
		s.coverThrough(replay)
	}
	out := make(chan Event)
	go pump(ctx, s, replay, out, func() { b.reg.remove(topic, s) })
	return out, nil
}

// register adds a local subscriber once the shared Pub/Sub subscription is
// confirmed by Redis, starting it on first use.
func (b *Redis) register(ctx context.Context, topic string) (*subscriber, error) {
	for {
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return nil, ErrClosed
		}
		if !b.started {
			b.start()
		}
		if b.connected {
			s := b.reg.add(topic)
			b.mu.Unlock()
			return s, nil
		}
		if err := b.lastErr; err != nil {
			b.mu.Unlock()
			return nil, fmt.Errorf("fanout: redis subscription unavailable: %w", err)
		}
		changed := b.changed
		b.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// start opens the shared subscription; b.mu must be held.
func (b *Redis) start() {
	ctx, cancel := context.WithCancel(context.Background())
	b.started = true
	b.cancel = cancel
	b.done = make(chan struct{})
	// Without patterns PSubscribe does no I/O, so nothing blocks on Redis
	// while b.mu is held; the dispatcher subscribes.
	b.pubsub = b.client.PSubscribe(ctx)
	go b.dispatch(ctx, b.pubsub)
}

// dispatch subscribes and reads the shared subscription until the bus
// closes.
func (b *Redis) dispatch(ctx context.Context, ps *redis.PubSub) {
	defer close(b.done)
	// The pattern is remembered even if this first attempt fails, and the
	// client re-sends it on every reconnect inside Receive.
	if err := ps.PSubscribe(ctx, escapeGlob(b.prefix+"live:")+"*"); err != nil && ctx.Err() == nil {
		b.setDisconnected(err)
	}
	const maxBackoff = 5 * time.Second
	backoff := 100 * time.Millisecond
	for {
		msg, err := ps.ReceiveTimeout(ctx, healthCheckInterval)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Silence is fine if Redis still answers; the pong
				// arrives as a message on this loop.
				if err = ps.Ping(ctx); err == nil {
					continue
				}
			}
			b.setDisconnected(err)
			// Reconnecting happens inside the next Receive; wait first so
			// an unreachable Redis is not hammered.
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff = 100 * time.Millisecond
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "psubscribe" {
				b.setConnected()
			}
		case *redis.Message:
			if it, ok := b.decode(m); ok {
				b.reg.deliver(it)
			}
		}
	}
}

func (b *Redis) setConnected() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.connected {
		// A confirmation while already connected means the client
		// reconnected on its own; events in between may be lost.
		b.reg.dropAll()
	}
	b.connected = true
	b.lastErr = nil
	b.signalLocked()
}

func (b *Redis) setDisconnected(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.connected = false
	b.lastErr = err
	b.reg.dropAll()
	b.signalLocked()
}

func (b *Redis) signalLocked() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// decode parses the "id\ntype\nnanos\ndata" announcement written by
// publishLua. Anything else on our channels is not ours and is ignored.
func (b *Redis) decode(m *redis.Message) (item, bool) {
	topic, ok := strings.CutPrefix(m.Channel, b.prefix+"live:")
	if !ok {
		return item{}, false
	}
	parts := strings.SplitN(m.Payload, "\n", 4)
	if len(parts) != 4 {
		return item{}, false
	}
	id, err := parseID(parts[0])
	if err != nil {
		return item{}, false
	}
	nanos, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return item{}, false
	}
	return item{id: id, ev: Event{ID: parts[0], Topic: topic, Type: parts[1], Data: []byte(parts[3]), Time: time.Unix(0, nanos)}}, true
}

// readAfter returns the retained events of topic with an id above after.
func (b *Redis) readAfter(ctx context.Context, topic string, after eventID) ([]item, error) {
	start := "-"
	if (after != eventID{}) {
		start = "(" + after.String()
	}
	msgs, err := b.client.XRange(ctx, b.streamKey(topic), start, "+").Result()
	if err != nil {
		return nil, fmt.Errorf("fanout: redis replay of %q after %s: %w", topic, after, err)
	}
	out := make([]item, 0, len(msgs))
	for _, m := range msgs {
		it, err := decodeEntry(topic, m)
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, nil
}

func decodeEntry(topic string, m redis.XMessage) (item, error) {
	id, err := parseID(m.ID)
	if err != nil {
		return item{}, err
	}
	typ, _ := m.Values["type"].(string)
	data, _ := m.Values["data"].(string)
	ts, _ := m.Values["time"].(string)
	nanos, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return item{}, fmt.Errorf("fanout: stream entry %s of %q: bad time %q", m.ID, topic, ts)
	}
	return item{id: id, ev: Event{ID: m.ID, Topic: topic, Type: typ, Data: []byte(data), Time: time.Unix(0, nanos)}}, nil
}

// Close ends every local subscription and the shared Pub/Sub connection.
// The retained streams stay in Redis for other instances.
func (b *Redis) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.reg.dropAll()
	b.signalLocked()
	ps, cancel, done := b.pubsub, b.cancel, b.done
	b.mu.Unlock()
	if ps == nil {
		return nil
	}
	cancel()
	err := ps.Close()
	<-done
	if err != nil {
		return fmt.Errorf("fanout: close redis subscription: %w", err)
	}
	return nil
}

// escapeGlob quotes Redis glob metacharacters so the prefix is matched
// literally by PSUBSCRIBE.
func escapeGlob(s string) string {
	var sb strings.Builder
	for _, r := range s {
		switch r {
		case '*', '?', '[', ']', '\\':
			sb.WriteByte('\\')
		}
		sb.WriteRune(r)
	}
	return sb.String()
}
