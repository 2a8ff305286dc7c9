package core

import (
	"context"
	"time"
)

// Transactor runs fn in one database transaction. The transaction travels in
// the context that fn receives: every store method called with that context
// takes part in it, whichever domain package calls it. That is what lets a
// change and its audit record (or a run and its tasks) commit together while
// each domain package still declares only the few store methods it uses.
//
// fn's error rolls the transaction back and is returned as it is. Calls nest:
// an InTx inside a transaction joins it.
type Transactor interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
	// AfterCommit runs fn once the transaction in ctx has committed (at once
	// if ctx carries none; never if it rolls back).
	AfterCommit(ctx context.Context, fn func())
}

// Optional is an input field of a partial update: Set reports whether the
// caller gave the field at all, and a nil Value with Set means "clear it".
type Optional[T any] struct {
	Set   bool
	Value *T
}

// Some returns a set Optional holding v.
func Some[T any](v T) Optional[T] { return Optional[T]{Set: true, Value: &v} }

// Now returns the current time in UTC, truncated to the microsecond: the
// precision both SQLite and MySQL keep, so that a time read back from either
// equals the time written.
func Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
