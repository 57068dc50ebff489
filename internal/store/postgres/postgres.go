// Package postgres is the Postgres implementation of store.Store, for hubs
// that run several instances over one database.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gatehub/gatehub/deploy/migrations"
	"github.com/gatehub/gatehub/internal/store"
)

// maxAttempts bounds how often WithTx runs fn when Postgres reports a
// serialization failure or a deadlock.
const maxAttempts = 5

// migrationLockClass is the first key of the advisory lock taken while
// migrating; the second is derived from the target schema, so hubs sharing
// a schema serialize while tests in separate schemas do not.
const migrationLockClass = 0x6761 // "ga"

// Store is a store.Store backed by a pgx connection pool.
//
// Transactions run at READ COMMITTED. The two places where concurrent
// writers could interfere take explicit locks instead of relying on a
// stricter isolation level: ClaimDue (FOR UPDATE SKIP LOCKED) and AuditHead
// (a row lock on the chain head).
type Store struct {
	retries // deadlocks and serialization failures retried (retries.go)

	pool *pgxpool.Pool
	// probe serves Ping alone, with one connection of its own: readiness
	// must say whether Postgres answers, not whether the main pool has a
	// connection free, which under load it often has not (a readiness
	// probe that waits in the pool's queue times out and pulls a healthy
	// hub out of the load balancer).
	probe *pgxpool.Pool
}

// pingTimeout bounds one readiness query: Postgres answers SELECT 1 in
// well under a millisecond when it is up.
const pingTimeout = time.Second

// connectTimeout bounds dialling Postgres when the DSN does not: without
// it a blackholed server holds each request for the kernel's TCP timeout
// (minutes) before it can answer 503.
const connectTimeout = 5 * time.Second

var _ store.Store = (*Store)(nil)

// Open connects to dsn and applies pending migrations from
// deploy/migrations. A search_path in the DSN (URL query parameter or
// keyword) selects the schema the hub uses; that schema must exist.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse dsn: %w", err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = connectTimeout
	}
	probeCfg := cfg.Copy()
	probeCfg.MaxConns, probeCfg.MinConns = 1, 0
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: create pool: %w", err)
	}
	probe, err := pgxpool.NewWithConfig(ctx, probeCfg)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: create probe pool: %w", err)
	}
	s := &Store{pool: pool, probe: probe}
	// The first query dials, authenticates and sets the search path: give
	// it the connect budget, not readiness's one second, which a loaded
	// machine can exceed while the server is perfectly well.
	openCtx, cancel := context.WithTimeout(ctx, cfg.ConnConfig.ConnectTimeout+pingTimeout)
	defer cancel()
	if err := pool.Ping(openCtx); err != nil {
		s.Close()
		return nil, store.Unavailable(fmt.Errorf("postgres: connect: %w", err))
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, classify(err)
	}
	return s, nil
}

// Ping checks that the database answers a query, on the probe's own
// connection and within pingTimeout.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	var one int
	if err := s.probe.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
		return store.Unavailable(fmt.Errorf("postgres: ping: %w", err))
	}
	return nil
}

// Close closes every pooled connection.
func (s *Store) Close() error {
	s.pool.Close()
	s.probe.Close()
	return nil
}

// WithTx runs fn in a transaction and runs it again, up to maxAttempts
// times, if the transaction failed with a serialization failure (40001) or
// was chosen as a deadlock victim (40P01): both mean "try again", not "your
// data is wrong".
func (s *Store) WithTx(ctx context.Context, fn func(store.Tx) error) error {
	return classify(s.withTx(ctx, fn))
}

func (s *Store) withTx(ctx context.Context, fn func(store.Tx) error) error {
	for attempt := 1; ; attempt++ {
		after, err := s.runTx(ctx, fn)
		s.count(err)
		if err == nil {
			// Only the attempt that committed: what a retried attempt
			// registered was rolled back with it.
			for _, f := range after {
				f()
			}
			return nil
		}
		if !retryable(err) || attempt >= maxAttempts {
			if retryable(err) {
				return fmt.Errorf("postgres: gave up after %d attempts: %w", attempt, err)
			}
			return err
		}
		// A short, growing pause lets the transaction we collided with finish.
		t := time.NewTimer(time.Duration(attempt*attempt) * 5 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
	}
}

// WithReadTx is WithTx: Postgres readers never queue behind writers, and
// a read-only transaction would refuse the row locks some reads take.
func (s *Store) WithReadTx(ctx context.Context, fn func(store.Tx) error) error {
	return s.WithTx(ctx, fn)
}

// runTx runs one attempt; it returns what fn registered with AfterCommit
// once the attempt committed.
func (s *Store) runTx(ctx context.Context, fn func(store.Tx) error) ([]func(), error) {
	pgTx, err := s.pool.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return nil, fmt.Errorf("postgres: begin: %w", err)
	}
	// Rollback after Commit is a no-op; this also covers a panic in fn. A
	// fresh context so a cancelled ctx still returns the connection clean.
	defer func() { _ = pgTx.Rollback(context.WithoutCancel(ctx)) }()
	t := &tx{tx: pgTx}
	if err := fn(t); err != nil {
		return nil, err
	}
	if err := pgTx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("postgres: commit: %w", err)
	}
	return t.after, nil
}

func retryable(err error) bool {
	// Nothing reached the server (typically a pooled connection Postgres
	// closed while it restarted): the transaction can run again as is.
	if pgconn.SafeToRetry(err) {
		return true
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	return pgErr.Code == "40001" || pgErr.Code == "40P01"
}

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("postgres: list migrations: %w", err)
	}
	var ms []migration
	for _, name := range names {
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("postgres: migration %q: name must start with a positive number and '_'", name)
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("postgres: read migration %s: %w", name, err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("postgres: migrations %s and %s share version %d", ms[i-1].name, ms[i].name, ms[i].version)
		}
	}
	return ms, nil
}

// migrate applies pending migrations while holding a session advisory lock,
// so hub instances starting together do not race to create the same tables
// (CREATE TABLE IF NOT EXISTS is not safe against concurrent creators).
func (s *Store) migrate(ctx context.Context) (err error) {
	ms, err := loadMigrations(migrations.FS)
	if err != nil {
		return err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: migrate: acquire: %w", err)
	}
	defer conn.Release()

	const key = `$1::int4, hashtext(COALESCE(current_schema(), ''))`
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(`+key+`)`, migrationLockClass); err != nil {
		return fmt.Errorf("postgres: migrate: lock: %w", err)
	}
	defer func() {
		if _, uerr := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(`+key+`)`, migrationLockClass); uerr != nil {
			// A connection that may still hold the lock must not go back to the pool.
			_ = conn.Conn().Close(context.WithoutCancel(ctx))
			err = errors.Join(err, fmt.Errorf("postgres: migrate: unlock: %w", uerr))
		}
	}()

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER     NOT NULL PRIMARY KEY,
		name       TEXT        NOT NULL,
		applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("postgres: migrate: create schema_migrations: %w", err)
	}
	applied := map[int]bool{}
	rows, err := conn.Query(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return fmt.Errorf("postgres: migrate: read versions: %w", err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return fmt.Errorf("postgres: migrate: read versions: %w", err)
	}
	for _, v := range versions {
		applied[int(v)] = true
	}
	for _, m := range ms {
		if applied[m.version] {
			continue
		}
		if err := applyMigration(ctx, conn.Conn(), m); err != nil {
			return err
		}
	}
	return nil
}

func applyMigration(ctx context.Context, conn *pgx.Conn, m migration) error {
	return pgx.BeginFunc(ctx, conn, func(t pgx.Tx) error {
		// No arguments: pgx sends the file with the simple protocol, which
		// accepts several statements.
		if _, err := t.Exec(ctx, m.sql); err != nil {
			return fmt.Errorf("postgres: migration %s: %w", m.name, err)
		}
		if _, err := t.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
			return fmt.Errorf("postgres: migration %s: record: %w", m.name, err)
		}
		return nil
	})
}
