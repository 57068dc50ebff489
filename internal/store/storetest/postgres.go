package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"github.com/gatehub/gatehub/internal/testenv"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/store/postgres"
)

// EnvDatabaseURL names the variable holding the Postgres test DSN.
const EnvDatabaseURL = "HUB_TEST_DATABASE_URL"

// PostgresDSN returns a DSN for a new, empty, uniquely named schema in the
// database at $HUB_TEST_DATABASE_URL, and drops the schema (CASCADE) when t
// ends. Without the variable the test is skipped, except under CI (CI set),
// where a silently skipped Postgres suite would hide regressions. A
// database that is configured but unreachable always fails the test.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvDatabaseURL)
	if base == "" {
		if testenv.CI() {
			t.Fatalf("%s is not set; CI must run the Postgres tests", EnvDatabaseURL)
		}
		t.Skipf("%s not set; skipping Postgres test", EnvDatabaseURL)
	}

	schema := randomName(t)
	createDropping(t, base, "schema "+schema,
		"CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize(),
		"DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE")

	dsn, err := withSearchPath(base, schema)
	if err != nil {
		t.Fatalf("%s: %v", EnvDatabaseURL, err)
	}
	return dsn
}

// withSearchPath sets search_path in either DSN syntax; pgx passes unknown
// parameters to the server as run-time settings.
func withSearchPath(dsn, schema string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("parse dsn: %w", err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	return dsn + " search_path=" + schema, nil
}

// OpenPostgres opens a Postgres store on a fresh schema (see PostgresDSN)
// and closes it when t ends, before the schema is dropped.
func OpenPostgres(t testing.TB) store.Store {
	t.Helper()
	dsn := PostgresDSN(t)
	s, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("open postgres store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// PostgresDatabase creates a database of its own on the server of
// $HUB_TEST_DATABASE_URL (skipping or failing as PostgresDSN does) and
// drops it when t ends, returning its DSN and name. Tests that assert
// database-wide statistics use it, pg_stat_database.deadlocks above all:
// in the shared database other tests' deadlocks (some cause one on
// purpose) would count too.
func PostgresDatabase(t testing.TB) (dsn, name string) {
	t.Helper()
	PostgresDSN(t) // the skip or failure rules, and a reachable server
	base := os.Getenv(EnvDatabaseURL)
	name = randomName(t)
	// template0 admits no connections, so nobody's session on template1
	// can make the copy fail.
	createDropping(t, base, "database "+name,
		"CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE template0",
		"DROP DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	if strings.HasPrefix(base, "postgres://") || strings.HasPrefix(base, "postgresql://") {
		u, err := url.Parse(base)
		if err != nil {
			t.Fatalf("%s: %v", EnvDatabaseURL, err)
		}
		u.Path = "/" + name
		return u.String(), name
	}
	return base + " dbname=" + name, name
}

// ServerDeadlocks returns pg_stat_database.deadlocks of the database name
// once no backend is connected to it any more: a backend reports its
// statistics when it exits, so close every pool on the database first.
func ServerDeadlocks(t testing.TB, name string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, os.Getenv(EnvDatabaseURL))
	if err != nil {
		t.Fatalf("connect to %s: %v", EnvDatabaseURL, err)
	}
	defer conn.Close(ctx)
	for {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = $1`, name).Scan(&n); err != nil {
			t.Fatalf("backends of %s: %v", name, err)
		}
		if n == 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("backends of %s still connected: %d", name, n)
		case <-time.After(20 * time.Millisecond): // polling a condition
		}
	}
	var deadlocks int64
	if err := conn.QueryRow(ctx, `SELECT COALESCE(deadlocks, 0) FROM pg_stat_database WHERE datname = $1`, name).Scan(&deadlocks); err != nil {
		t.Fatalf("pg_stat_database of %s: %v", name, err)
	}
	return deadlocks
}

// randomName is a fresh name for a test schema or database.
func randomName(t testing.TB) string {
	t.Helper()
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatalf("random name: %v", err)
	}
	return "gatehub_test_" + hex.EncodeToString(rnd[:])
}

// createDropping runs create on the server of base and drop when t ends
// (in a context of its own: t's is already cancelled when cleanups run).
func createDropping(t testing.TB, base, what, create, drop string) {
	t.Helper()
	exec := func(sql string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			return fmt.Errorf("connect: %w", err)
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := exec(create); err != nil {
		t.Fatalf("create test %s (%s): %v", what, EnvDatabaseURL, err)
	}
	t.Cleanup(func() {
		if err := exec(drop); err != nil {
			t.Errorf("drop test %s: %v", what, err)
		}
	})
}
