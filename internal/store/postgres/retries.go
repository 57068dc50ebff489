package postgres

import (
	"errors"
	"sync/atomic"

	"github.com/jackc/pgx/v5/pgconn"
)

// retries counts the transaction attempts Postgres aborted and WithTx ran
// again, by cause. Every transaction takes its locks in one order
// (store.Tx.LockDeclaration first, the audit head last), so deadlocks
// should stay at zero: the count proves it in production.
type retries struct {
	deadlocks, serialization atomic.Int64
	onRetry                  atomic.Pointer[func(sqlstate string)]
}

// OnRetry registers f to be called with the SQLSTATE (40P01 deadlock,
// 40001 serialization failure) of every transaction attempt WithTx runs
// again: the hub counts them in a metric.
func (r *retries) OnRetry(f func(sqlstate string)) { r.onRetry.Store(&f) }

// Deadlocks returns how many transaction attempts Postgres aborted as a
// deadlock victim (SQLSTATE 40P01) since Open.
func (r *retries) Deadlocks() int64 { return r.deadlocks.Load() }

// count records err if Postgres aborted the attempt as a deadlock victim
// or for a serialization failure.
func (r *retries) count(err error) {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return
	}
	switch pgErr.Code {
	case "40P01":
		r.deadlocks.Add(1)
	case "40001":
		r.serialization.Add(1)
	default:
		return
	}
	if f := r.onRetry.Load(); f != nil {
		(*f)(pgErr.Code)
	}
}
