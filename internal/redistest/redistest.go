// Package redistest hands tests a real Redis client with an isolated key
// space, so Redis-backed implementations are tested against the real server
// rather than a fake that might disagree with it.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"github.com/gatehub/gatehub/internal/testenv"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// EnvURL names the variable holding the Redis URL for tests,
// e.g. redis://127.0.0.1:6379/0.
const EnvURL = "HUB_TEST_REDIS_URL"

// Client returns a client for the Redis named by HUB_TEST_REDIS_URL and a key
// prefix unique to this test. Every key the test creates must start with the
// prefix: cleanup deletes exactly those keys, so tests never see each
// other's leftovers and can run in parallel against one server.
//
// Without the variable the test is skipped on a developer machine but fails
// under CI (CI non-empty), so a misconfigured pipeline cannot pass by
// silently skipping every Redis test. A URL that is set but unreachable is
// always a failure.
func Client(t testing.TB) (*redis.Client, string) {
	t.Helper()
	url := os.Getenv(EnvURL)
	if url == "" {
		if testenv.CI() {
			t.Fatalf("redistest: %s is not set but CI is; Redis tests must run in CI", EnvURL)
		}
		t.Skipf("redistest: %s not set; skipping Redis test", EnvURL)
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("redistest: parse %s: %v", EnvURL, err)
	}
	client := redis.NewClient(opts)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		_ = client.Close()
		t.Fatalf("redistest: ping %s: %v", url, err)
	}

	prefix := "test:" + sanitize(t.Name()) + ":" + randomHex(t) + ":"
	t.Cleanup(func() {
		// A fresh context: the test's own context is already cancelled here.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := deletePrefix(ctx, client, prefix); err != nil {
			t.Errorf("redistest: cleanup of %q: %v", prefix, err)
		}
		if err := client.Close(); err != nil {
			t.Errorf("redistest: close client: %v", err)
		}
	})
	return client, prefix
}

// deletePrefix removes every key under prefix. SCAN rather than KEYS keeps
// the server responsive when other tests share it.
func deletePrefix(ctx context.Context, client *redis.Client, prefix string) error {
	pattern := escapeGlob(prefix) + "*"
	var cursor uint64
	for {
		keys, next, err := client.Scan(ctx, cursor, pattern, 500).Result()
		if err != nil {
			return err
		}
		if len(keys) > 0 {
			if err := client.Del(ctx, keys...).Err(); err != nil {
				return err
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// escapeGlob quotes the characters Redis glob patterns (SCAN MATCH,
// PSUBSCRIBE) treat specially, so a literal prefix can head a pattern.
func escapeGlob(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// sanitize keeps test names readable in keys while removing glob
// metacharacters and spaces that subtests put in names.
func sanitize(name string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '/':
			return r
		default:
			return '_'
		}
	}, name)
}

func randomHex(t testing.TB) string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("redistest: random prefix: %v", err)
	}
	return hex.EncodeToString(b[:])
}
