// Package sqlite is the embedded, pure-Go SQLite implementation of
// store.Store: the default store for a single hub instance.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gatehub/gatehub/internal/store"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed schema/*.sql
var schemaFS embed.FS

// Store is a store.Store backed by one SQLite database file.
//
// Concurrency: the pool holds exactly one connection, and every transaction
// begins with BEGIN IMMEDIATE. SQLite admits one writer at a time anyway, so
// a single connection loses no write throughput, and goroutines queue in
// database/sql instead of spinning in SQLite's busy handler, where a long
// queue would eventually surface as SQLITE_BUSY. BEGIN IMMEDIATE (rather
// than DEFERRED) takes the write lock up front, so a transaction that reads
// and then writes can never fail to upgrade its lock when another process
// (an auditor tool, a backup) holds the file; busy_timeout covers that wait.
// The cost is that reads do not run in parallel, which is acceptable for a
// gate hub's volume; Postgres is the answer for more.
//
// Group commit: with synchronous(FULL) every COMMIT waits for an fsync of
// the WAL (milliseconds on real disks), and with one connection that wait
// serialises everything. So WithTx calls that arrive while a commit is in
// progress are run together by one committer goroutine, each fn in its own
// SAVEPOINT inside one BEGIN IMMEDIATE transaction, and committed with one
// fsync. Nothing is weakened: a WithTx call returns nil only after the
// COMMIT that contains its writes is durable; a fn that fails (or panics)
// is rolled back to its savepoint and leaves no trace, the others are
// unaffected; if the group's transaction itself fails (COMMIT, or an error
// that made SQLite abandon the transaction), every fn of the group gets the
// error and none of their writes exist. A fn sees the writes of the fns run
// before it in its group, which is exactly what it would see had they
// committed first: they commit together or not at all.
//
// Because of the single connection (and the single committer), fn passed
// to WithTx must not call WithTx again: it would wait forever.
type Store struct {
	db *sql.DB
	// ro holds the query_only connections of the read sessions, lent out
	// by readers to WithReadTx: in WAL mode readers see the last committed
	// state and run in parallel with each other and with the writer.
	ro      *sql.DB
	readers chan *session
	// ck is the checkpointer's connection.
	ck *sql.DB
	// probe is Ping's connection: readiness must not queue behind readers
	// for a read session, which under load it would.
	probe *sql.DB

	// walLimit is the WAL size in frames above which the checkpointer
	// truncates it (see checkpointer).
	walLimit int
	walPath  string

	reqs chan *txRequest
	quit chan struct{}
	loop sync.WaitGroup
	stop sync.Once
}

// maxGroup bounds how many transactions share one commit, so a burst cannot
// make the first caller of a group wait without limit.
const maxGroup = 64

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database at path and applies any
// schema migrations not yet recorded in schema_migrations.
func Open(ctx context.Context, path string) (*Store, error) {
	return open(ctx, path, checkpointEvery)
}

// open is Open with the checkpointer's period.
func open(ctx context.Context, path string, checkpointPeriod time.Duration) (*Store, error) {
	return openWith(ctx, path, checkpointPeriod, walMaxFrames)
}

// openWith is open with the WAL size (in frames) above which the
// checkpointer truncates the WAL.
func openWith(ctx context.Context, path string, checkpointPeriod time.Duration, walLimit int) (*Store, error) {
	q := url.Values{}
	q.Set("_txlock", "immediate")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	// FULL: a committed declaration or ACK answer must survive power loss,
	// not only a process crash.
	q.Add("_pragma", "synchronous(FULL)")
	// Each member of a commit group runs in a SAVEPOINT, and SQLite keeps
	// the pages a savepoint changes in a sub-journal so that ROLLBACK TO can
	// restore them; by default in a temporary file, one pwrite per page, all
	// in the serial section. That journal only serves rolling back inside
	// the open transaction and is never part of what is durable (the WAL and
	// its fsync at COMMIT are), so it can live in memory.
	q.Add("_pragma", "temp_store(MEMORY)")
	// SQLite's automatic checkpoint runs inside the COMMIT that crosses the
	// threshold: copying the WAL into the database file and fsyncing it, in
	// the committer, where every waiting transaction pays for it (the
	// slowest tenth of commits took 40 % of all commit time). A checkpointer
	// goroutine does it on a connection of its own instead (see
	// checkpointer); durability does not depend on it, the WAL fsync at
	// COMMIT does.
	q.Add("_pragma", "wal_autocheckpoint(0)")
	// The writer's page cache outlives its transactions (it is the only
	// writer, so nothing invalidates it). SQLite's default of 2 MiB is less
	// than the index pages that every commit touches once the log holds a
	// few days of traffic, and each miss is a pread inside the commit.
	q.Add("_pragma", "cache_size(-65536)")
	// A WAL that a checkpoint has reset is cut back to this size instead of
	// keeping the largest size it ever reached (SQLite reuses the file
	// rather than shrinking it): a burst must not hold its disk space for
	// good, least of all on a disk that ran low.
	q.Add("_pragma", fmt.Sprintf("journal_size_limit(%d)", walSizeLimit))
	dsn := "file:" + path + "?" + q.Encode()

	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)

	s := &Store{db: db, walLimit: walLimit, walPath: path + "-wal"}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: ping: %w", err)
	}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	rq := url.Values{}
	rq.Add("_pragma", "busy_timeout(10000)")
	rq.Add("_pragma", "foreign_keys(1)")
	rq.Add("_pragma", "query_only(1)")
	ro, err := sql.Open("sqlite", "file:"+path+"?"+rq.Encode())
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s for reading: %w", path, err)
	}
	ro.SetMaxOpenConns(readConns)
	ro.SetMaxIdleConns(readConns)
	s.ro = ro
	s.readers = make(chan *session, readConns)
	for range readConns {
		s.readers <- &session{db: ro}
	}
	cq := url.Values{}
	cq.Add("_pragma", "busy_timeout(10000)")
	ck, err := sql.Open("sqlite", "file:"+path+"?"+cq.Encode())
	if err != nil {
		db.Close()
		ro.Close()
		return nil, fmt.Errorf("sqlite: open %s for checkpoints: %w", path, err)
	}
	ck.SetMaxOpenConns(1)
	s.ck = ck
	probe, err := sql.Open("sqlite", "file:"+path+"?"+rq.Encode())
	if err != nil {
		db.Close()
		ro.Close()
		ck.Close()
		return nil, fmt.Errorf("sqlite: open %s for probes: %w", path, err)
	}
	probe.SetMaxOpenConns(1)
	probe.SetMaxIdleConns(1)
	s.probe = probe
	s.reqs, s.quit = make(chan *txRequest), make(chan struct{})
	s.loop.Add(2)
	go s.committer()
	go s.checkpointer(checkpointPeriod)
	return s, nil
}

// pingTimeout bounds one readiness query.
const pingTimeout = time.Second

// Ping checks that the database file answers a read, on a connection of
// its own (the writer's belongs to the committer, the read sessions to
// readers) and within pingTimeout.
func (s *Store) Ping(ctx context.Context) error {
	select {
	case <-s.quit:
		return errClosed
	default:
	}
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	var n int
	err := s.probe.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n)
	if err != nil {
		return store.Unavailable(fmt.Errorf("sqlite: ping: %w", err))
	}
	return nil
}

// Close stops the committer (a group in progress finishes) and closes the
// database. WithTx after Close fails.
func (s *Store) Close() error {
	s.stop.Do(func() {
		if s.quit != nil {
			close(s.quit)
			s.loop.Wait()
		}
		// Waits for read transactions still running.
		for range cap(s.readers) {
			(<-s.readers).close()
		}
	})
	if s.ro != nil {
		_ = s.ro.Close()
	}
	if s.ck != nil {
		_ = s.ck.Close()
	}
	if s.probe != nil {
		_ = s.probe.Close()
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

// WithTx runs fn in an IMMEDIATE transaction, possibly together with other
// callers' fns in one group commit (see Store). SQLite never reports
// serialization failures to a lone writer, so fn runs exactly once; a
// context that ends before fn started means fn does not run at all.
func (s *Store) WithTx(ctx context.Context, fn func(store.Tx) error) error {
	return classify(s.withTx(ctx, fn))
}

func (s *Store) withTx(ctx context.Context, fn func(store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	r := &txRequest{ctx: ctx, fn: fn, done: make(chan txOutcome, 1)}
	select {
	case s.reqs <- r:
	case <-s.quit:
		return errClosed
	case <-ctx.Done():
		return fmt.Errorf("sqlite: begin: %w", ctx.Err())
	}
	// Once handed over, the committer decides: wait for the outcome even if
	// ctx ends, so a caller never returns before its commit is settled.
	o := <-r.done
	if o.panicked {
		panic(o.panicValue)
	}
	if o.err != nil {
		return o.err
	}
	for _, f := range o.after {
		f()
	}
	return nil
}

// readConns is the size of the read-only pool.
const readConns = 4

// WithReadTx runs fn in a read-only transaction on a connection of its own:
// it sees everything committed before it began, never waits for the
// writer's commit, and any write fn attempts fails (query_only). For
// callers that only read (lookups, views).
func (s *Store) WithReadTx(ctx context.Context, fn func(store.Tx) error) error {
	return classify(s.withReadTx(ctx, fn))
}

func (s *Store) withReadTx(ctx context.Context, fn func(store.Tx) error) error {
	return s.withReader(ctx, func(r *session) (err error) {
		if err := r.exec(ctx, "BEGIN"); err != nil {
			return fmt.Errorf("sqlite: begin read: %w", err)
		}
		defer func() {
			// Not ctx: the transaction must end even when ctx has. A
			// connection on which it cannot be ended is dropped: lent out
			// again it would read an old snapshot forever and keep
			// checkpoints from reclaiming the WAL.
			rbErr := r.exec(context.Background(), "ROLLBACK")
			if rbErr != nil && !strings.Contains(rbErr.Error(), "no transaction is active") {
				r.close()
				if err == nil {
					err = fmt.Errorf("sqlite: end read: %w", rbErr)
				}
			}
		}()
		t := &tx{tx: r}
		if err := fn(t); err != nil {
			return err
		}
		// Nothing to commit: what fn read is settled once it returned.
		for _, f := range t.after {
			f()
		}
		return nil
	})
}

// withReader lends fn a read session with its connection open.
func (s *Store) withReader(ctx context.Context, fn func(*session) error) error {
	var r *session
	select {
	case r = <-s.readers:
	case <-s.quit:
		// Close has taken (or is taking) every session for good.
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { s.readers <- r }()
	if err := r.open(ctx); err != nil {
		return err
	}
	return fn(r)
}

// checkpointEvery is how often the checkpointer copies the WAL into the
// database file. At the embedded store's commit rates this keeps the WAL to
// a few megabytes, about what SQLite's default threshold of 1000 pages does.
const checkpointEvery = 250 * time.Millisecond

// walMaxFrames is the WAL size (frames of one 4 KiB page) above which the
// checkpointer truncates it: 64 MiB, a few seconds of the heaviest commit
// rate the embedded store sustains.
const walMaxFrames = 16384

// walSizeLimit is journal_size_limit: what a reset WAL is cut back to.
const walSizeLimit = 16 << 20

// checkpointer runs a PASSIVE checkpoint every period until Close: it copies
// what it can without waiting for the writer or for readers, so it never
// delays a commit; the WAL restarts from its beginning once a checkpoint
// has caught up and no reader still needs the old frames.
//
// Under sustained load that moment may never come: some read session is
// always inside the WAL, every commit appends, and the WAL grew to 17.5 GB
// in five minutes, given back only at restart. So once the WAL exceeds
// walLimit frames, the checkpointer runs a TRUNCATE checkpoint: it waits
// (busy_timeout) for the writer's current commit and for readers of old
// frames, copies everything, and truncates the WAL to zero. Commits wait
// for that copy, a few hundred milliseconds for 64 MiB: the price of a
// bounded WAL.
func (s *Store) checkpointer(period time.Duration) {
	defer s.loop.Done()
	t := time.NewTicker(period)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-t.C:
		case <-s.quit:
			return
		}
		frames, _, err := s.checkpoint(context.Background())
		if err == nil && s.walLimit > 0 && frames > s.walLimit {
			err = s.truncateWAL(context.Background())
		}
		// A failed checkpoint loses nothing (the frames stay in the WAL and
		// the next attempt copies them); it is reported once per episode.
		// On a full disk it fails until space returns (the database file
		// cannot grow); the next one then completes and gives the WAL's
		// space back.
		if err != nil && !failing {
			slog.Warn("sqlite: checkpoint failed; the WAL keeps growing until one succeeds", "error", err)
		}
		failing = err != nil
	}
}

// checkpoint runs one PASSIVE checkpoint: frames is the size of the WAL,
// copied how many of its frames are now in the database file.
func (s *Store) checkpoint(ctx context.Context) (frames, copied int, err error) {
	var busy int
	err = s.ck.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied)
	if err != nil {
		return 0, 0, fmt.Errorf("sqlite: checkpoint: %w", err)
	}
	return frames, copied, nil
}

// walFrameBytes is the size of one WAL frame: a 4 KiB page and its header.
const walFrameBytes = 4096 + 24

// boundWAL is the hard bound behind the checkpointer: when the WAL has
// grown past twice its limit anyway (the checkpointer's truncation could
// not get the write lock between commits), the committer stops starting
// groups until the WAL is truncated, by itself or by the checkpointer
// whose checkpoint is in progress (SQLite lets one run at a time). Commits
// wait meanwhile: the back pressure that keeps the WAL within bounds
// whatever the load. A WAL that cannot be truncated for walStall (a
// reader stuck in an old snapshot) lets commits go on, reported.
func (s *Store) boundWAL(w *session) {
	if s.walLimit <= 0 || w.conn == nil {
		return
	}
	over := func() bool {
		fi, err := os.Stat(s.walPath)
		return err == nil && fi.Size() > 2*int64(s.walLimit)*walFrameBytes
	}
	deadline := time.Now().Add(walStall)
	for over() {
		var busy, frames, copied int
		err := w.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &frames, &copied)
		if err == nil && busy == 0 {
			return
		}
		if time.Now().After(deadline) {
			slog.Warn("sqlite: WAL over its bound and not truncated; commits go on", "error", err, "wal", s.walPath)
			return
		}
		select {
		case <-s.quit:
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// walStall bounds how long the committer holds commits back for a WAL
// truncation.
const walStall = 10 * time.Second

// truncateWAL runs a TRUNCATE checkpoint (see checkpointer).
func (s *Store) truncateWAL(ctx context.Context) error {
	var busy, frames, copied int
	if err := s.ck.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &frames, &copied); err != nil {
		return fmt.Errorf("sqlite: truncate wal: %w", err)
	}
	if busy != 0 {
		return errors.New("sqlite: truncate wal: readers or the writer stayed busy past busy_timeout")
	}
	return nil
}

type txRequest struct {
	ctx  context.Context
	fn   func(store.Tx) error
	done chan txOutcome
	// after is what fn registered with AfterCommit, once it succeeded.
	after []func()
}

type txOutcome struct {
	err        error
	panicked   bool
	panicValue any
	// after is what the member registered with AfterCommit; the caller
	// runs it once it learns that the group committed (err nil).
	after []func()
}

// committer runs groups until Close: it takes one request (waiting), then
// every request that is already waiting, up to maxGroup, in one
// transaction. It owns the write connection and its prepared statements.
func (s *Store) committer() {
	defer s.loop.Done()
	w := &session{db: s.db}
	defer w.close()
	for {
		select {
		case r := <-s.reqs:
			s.runGroup(w, r)
			s.boundWAL(w)
		case <-s.quit:
			return
		}
	}
}

// maxStmts bounds the prepared-statement cache (a few queries are built
// dynamically).
const maxStmts = 128

// session is a connection held for the life of the store, with the
// statements prepared on it: modernc.org/sqlite otherwise prepares every
// statement anew, which was a fifth of the committer's CPU and, on the read
// side, half of a plate lookup's. The committer owns the write session;
// read sessions are lent to one WithReadTx at a time. Transactions are
// plain BEGIN/COMMIT statements on the connection, since a statement
// prepared on a *sql.Conn is prepared again inside a *sql.Tx.
type session struct {
	db    *sql.DB
	conn  *sql.Conn
	stmts map[string]*sql.Stmt
}

func (w *session) open(ctx context.Context) error {
	if w.conn != nil {
		return nil
	}
	c, err := w.db.Conn(ctx)
	if err != nil {
		return err
	}
	w.conn, w.stmts = c, map[string]*sql.Stmt{}
	return nil
}

func (w *session) close() {
	for _, st := range w.stmts {
		_ = st.Close()
	}
	if w.conn != nil {
		_ = w.conn.Close()
	}
	w.conn, w.stmts = nil, nil
}

// exec runs a transaction-control statement; a connection database/sql
// has given up on is dropped so the next group starts on a fresh one.
func (w *session) exec(ctx context.Context, q string) error {
	_, err := w.conn.ExecContext(ctx, q)
	if errors.Is(err, sql.ErrConnDone) || errors.Is(err, driver.ErrBadConn) {
		w.close()
	}
	return err
}

func (w *session) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := w.stmts[q]; ok {
		return st, nil
	}
	st, err := w.conn.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if len(w.stmts) >= maxStmts {
		for k, old := range w.stmts {
			_ = old.Close()
			delete(w.stmts, k)
			break
		}
	}
	w.stmts[q] = st
	return st, nil
}

func (w *session) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	st, err := w.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

func (w *session) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := w.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func (w *session) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	st, err := w.stmt(ctx, q)
	if err != nil {
		return w.conn.QueryRowContext(ctx, q, args...) // reports the same error through Scan
	}
	return st.QueryRowContext(ctx, args...)
}

func (s *Store) runGroup(w *session, first *txRequest) {
	ctx := context.Background() // the group's transaction belongs to no single caller
	err := w.open(ctx)
	if err == nil {
		err = w.exec(ctx, "BEGIN IMMEDIATE")
	}
	if err != nil {
		first.done <- txOutcome{err: fmt.Errorf("sqlite: begin: %w", err)}
		return
	}
	var members []*txRequest // fns that succeeded, waiting for the commit
	rollback := func(err error) error {
		// Harmless when SQLite already abandoned the transaction.
		if rbErr := w.exec(ctx, "ROLLBACK"); rbErr != nil && !strings.Contains(rbErr.Error(), "no transaction is active") {
			err = errors.Join(err, fmt.Errorf("sqlite: rollback: %w", rbErr))
		}
		return err
	}
	for r, n := first, 1; r != nil; n++ {
		ok, err := runMember(ctx, w, r)
		if err != nil {
			err = rollback(err)
			for _, m := range members {
				m.done <- txOutcome{err: err}
			}
			return
		}
		if ok {
			members = append(members, r)
		}
		r = nil
		if n < maxGroup {
			select {
			case r = <-s.reqs:
			default:
			}
		}
	}
	if len(members) == 0 {
		_ = rollback(nil)
		return
	}
	if err := w.exec(ctx, "COMMIT"); err != nil {
		err = rollback(fmt.Errorf("sqlite: commit: %w", err))
		for _, m := range members {
			m.done <- txOutcome{err: err}
		}
		return
	}
	for _, m := range members {
		m.done <- txOutcome{after: m.after}
	}
}

// runMember runs one fn inside its own savepoint. ok: fn succeeded and
// waits for the commit. A failed or panicking fn is rolled back to its
// savepoint and answered at once. A non-nil error means the group's
// transaction is no longer usable (SQLite abandoned it, e.g. after an
// interrupted statement); r has then been answered with that error too.
func runMember(ctx context.Context, w *session, r *txRequest) (ok bool, groupErr error) {
	t := &tx{tx: w}
	if err := r.ctx.Err(); err != nil {
		r.done <- txOutcome{err: fmt.Errorf("sqlite: begin: %w", err)}
		return false, nil
	}
	if err := w.exec(ctx, "SAVEPOINT member"); err != nil {
		err = fmt.Errorf("sqlite: savepoint: %w", err)
		r.done <- txOutcome{err: err}
		return false, err
	}
	var o txOutcome
	func() {
		defer func() {
			if p := recover(); p != nil {
				o.panicked, o.panicValue = true, p
			}
		}()
		o.err = r.fn(t)
	}()
	if o.err == nil && !o.panicked {
		if err := w.exec(ctx, "RELEASE member"); err != nil {
			err = fmt.Errorf("sqlite: release savepoint: %w", err)
			r.done <- txOutcome{err: err}
			return false, err
		}
		r.after = t.after
		return true, nil
	}
	err := w.exec(ctx, "ROLLBACK TO member")
	if err == nil {
		err = w.exec(ctx, "RELEASE member")
	}
	if err != nil {
		err = fmt.Errorf("sqlite: rollback to savepoint: %w", err)
		if !o.panicked {
			o.err = errors.Join(o.err, err)
		}
		r.done <- o
		return false, err
	}
	r.done <- o
	return false, nil
}

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(schemaFS, "schema")
	if err != nil {
		return nil, fmt.Errorf("sqlite: read embedded schema: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("sqlite: migration %q: name must start with a positive number and '_'", name)
		}
		body, err := fs.ReadFile(schemaFS, "schema/"+name)
		if err != nil {
			return nil, fmt.Errorf("sqlite: read migration %s: %w", name, err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("sqlite: migrations %s and %s share version %d", ms[i-1].name, ms[i].name, ms[i].version)
		}
	}
	return ms, nil
}

// migrate applies each pending migration in its own transaction together
// with its schema_migrations row, so a crash mid-way leaves the database at
// a recorded version. BEGIN IMMEDIATE serializes hubs opening the same file.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("sqlite: create schema_migrations: %w", err)
	}
	for _, m := range ms {
		if err := s.applyMigration(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) applyMigration(ctx context.Context, m migration) error {
	t, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: migration %s: begin: %w", m.name, err)
	}
	defer t.Rollback() //nolint:errcheck // no-op after Commit
	var n int
	if err := t.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&n); err != nil {
		return fmt.Errorf("sqlite: migration %s: check: %w", m.name, err)
	}
	if n > 0 {
		return nil
	}
	if _, err := t.ExecContext(ctx, m.sql); err != nil {
		return fmt.Errorf("sqlite: migration %s: %w", m.name, err)
	}
	if _, err := t.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.version, m.name, time.Now().UnixMicro()); err != nil {
		return fmt.Errorf("sqlite: migration %s: record: %w", m.name, err)
	}
	if err := t.Commit(); err != nil {
		return fmt.Errorf("sqlite: migration %s: commit: %w", m.name, err)
	}
	return nil
}
