package sqlite

import (
	"errors"
	"syscall"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/gatehub/gatehub/internal/store"
)

// errClosed is what every call after Close returns.
var errClosed = store.Unavailable(errors.New("sqlite: store is closed"))

// classify marks SQLite's "try again later" results: a full disk as
// store.ErrNoSpace, I/O failures, a database file that cannot be opened or
// stays locked by another process past busy_timeout as
// store.ErrUnavailable. Constraint violations and the callers' own errors
// pass through unchanged.
func classify(err error) error {
	if err == nil || errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrNoSpace) {
		return err
	}
	if errors.Is(err, syscall.ENOSPC) {
		return store.NoSpace(err)
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() & 0xff { // the primary result code
	case sqlite3.SQLITE_FULL:
		return store.NoSpace(err)
	case sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED,
		sqlite3.SQLITE_PROTOCOL, sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT:
		return store.Unavailable(err)
	}
	return err
}
