package ratelimit

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// tokenBucketLua is Limit.take done atomically inside Redis, so every hub
// instance draws from one bucket per key.
//
// The clock is an argument rather than Redis TIME: tests drive it, and the
// behaviour stays the same as Memory's. Instances' clocks may disagree a
// little; a "now" older than the stored one neither refills nor moves the
// bucket back, so skew can only make a limit slightly stricter, never looser.
// Times are integer microseconds, exact in Lua's doubles.
const tokenBucketLua = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate / 1000000)
  ts = now
end
local allowed = 0
local retry = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  retry = math.ceil((1 - tokens) * 1000000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'ts', string.format('%.17g', ts))
redis.call('PEXPIRE', KEYS[1], ttl)
return {allowed, math.floor(tokens), retry}
`

// Redis is a Limiter whose buckets live in Redis, one hash per key under
// prefix, shared by every hub instance. A bucket expires once it would have
// refilled, so idle participants cost nothing.
type Redis struct {
	client *redis.Client
	prefix string
	limit  Limit
	now    func() time.Time
	script *redis.Script
	ttl    time.Duration
}

var _ Limiter = (*Redis)(nil)

// NewRedis returns a limiter storing buckets under prefix; now is the clock
// (time.Now if nil). It panics if l is invalid.
func NewRedis(client *redis.Client, prefix string, l Limit, now func() time.Time) *Redis {
	mustValid(l)
	if now == nil {
		now = time.Now
	}
	// Keep the key a little longer than a full refill so rounding never
	// forgets a bucket that is not yet full; at least 10s so a tight limit
	// does not churn keys.
	ttl := max(l.fullAfter()+time.Second, 10*time.Second)
	return &Redis{client: client, prefix: prefix, limit: l, now: now, script: redis.NewScript(tokenBucketLua), ttl: ttl}
}

// Allow implements Limiter.
func (r *Redis) Allow(ctx context.Context, key string) (Result, error) {
	now := r.now().UnixMicro()
	vals, err := r.script.Run(ctx, r.client, []string{r.prefix + key},
		strconv.FormatFloat(r.limit.Rate, 'g', -1, 64),
		r.limit.Burst,
		now,
		r.ttl.Milliseconds(),
	).Int64Slice()
	if err != nil {
		return Result{}, fmt.Errorf("ratelimit: redis allow %q: %w", key, err)
	}
	if len(vals) != 3 {
		return Result{}, fmt.Errorf("ratelimit: redis allow %q: script returned %d values", key, len(vals))
	}
	res := Result{Allowed: vals[0] == 1, Remaining: int(vals[1])}
	if !res.Allowed {
		res.Remaining = 0
		res.RetryAfter = time.Duration(min(vals[2], math.MaxInt64/int64(time.Microsecond))) * time.Microsecond
	}
	return res, nil
}
