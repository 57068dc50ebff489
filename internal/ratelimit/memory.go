package ratelimit

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// DefaultMaxKeys bounds the buckets Memory keeps. Keys come from request
// data (participant ids), so without a bound a caller cycling through keys
// could grow the map without limit.
const DefaultMaxKeys = 100_000

// Memory is the in-process Limiter of the embedded default.
//
// Buckets live in a least-recently-used list. Idle buckets that have
// refilled are dropped as they reach the back (forgetting a full bucket
// changes nothing). If more than maxKeys keys are active at once, the least
// recently used is dropped anyway; that key then gets a fresh burst, which
// is the price of bounded memory.
type Memory struct {
	limit   Limit
	now     func() time.Time
	maxKeys int

	mu      sync.Mutex
	buckets map[string]*list.Element // of *bucket
	lru     *list.List               // front = most recently used
}

type bucket struct {
	key    string
	tokens float64
	last   time.Time
}

var _ Limiter = (*Memory)(nil)

// NewMemory returns a token-bucket limiter; now is the clock (time.Now if
// nil). It panics if l is invalid.
func NewMemory(l Limit, now func() time.Time) *Memory {
	return NewMemoryMaxKeys(l, now, DefaultMaxKeys)
}

// NewMemoryMaxKeys is NewMemory with an explicit bound on tracked keys.
func NewMemoryMaxKeys(l Limit, now func() time.Time, maxKeys int) *Memory {
	mustValid(l)
	if now == nil {
		now = time.Now
	}
	if maxKeys < 1 {
		maxKeys = 1
	}
	return &Memory{limit: l, now: now, maxKeys: maxKeys, buckets: make(map[string]*list.Element), lru: list.New()}
}

// Allow implements Limiter.
func (m *Memory) Allow(_ context.Context, key string) (Result, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()

	el, ok := m.buckets[key]
	if ok {
		m.lru.MoveToFront(el)
	} else {
		el = m.lru.PushFront(&bucket{key: key, tokens: float64(m.limit.Burst), last: now})
		m.buckets[key] = el
	}
	b := el.Value.(*bucket)
	var res Result
	b.tokens, res = m.limit.take(b.tokens, b.last, now)
	if now.After(b.last) {
		b.last = now
	}
	m.evict(now)
	return res, nil
}

// Empty reports, without taking a token, whether key's bucket is empty
// now and how long until it holds one again. A key never seen is full.
func (m *Memory) Empty(key string) (bool, time.Duration) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	el, ok := m.buckets[key]
	if !ok {
		return false, 0
	}
	b := el.Value.(*bucket)
	if _, res := m.limit.take(b.tokens, b.last, now); !res.Allowed {
		return true, res.RetryAfter
	}
	return false, 0
}

// evict trims the back of the list: anything beyond maxKeys, plus a couple
// of refilled idle buckets per call so memory follows the active set
// without a background sweeper.
func (m *Memory) evict(now time.Time) {
	idle := 2
	for {
		back := m.lru.Back()
		if back == nil || m.lru.Len() == 1 {
			return
		}
		b := back.Value.(*bucket)
		switch {
		case m.lru.Len() > m.maxKeys:
		case idle > 0 && now.Sub(b.last) >= m.limit.fullAfter():
			idle--
		default:
			return
		}
		m.lru.Remove(back)
		delete(m.buckets, b.key)
	}
}

// Len reports how many keys are tracked (for tests and metrics).
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lru.Len()
}
