package engine

import (
	"context"
	"sync"
)

// groupCommit runs the small writes of many concurrent requests (a claim's
// or a finish's transition) in shared transactions: on SQLite every
// transaction takes the one write lock, and on MySQL every commit flushes
// the log, so a thousand workers' reports cost a few dozen commits rather
// than a thousand. A write that fails in a group is run again on its own,
// so one failure never fails the others.
type groupCommit struct {
	tx   func(ctx context.Context, fn func(ctx context.Context) error) error
	reqs chan *groupReq
	once sync.Once
	done chan struct{}
}

type groupReq struct {
	ctx context.Context
	fn  func(ctx context.Context) error
	err chan error
}

// maxGroup bounds the writes of one transaction.
const maxGroup = 256

func newGroupCommit(tx func(ctx context.Context, fn func(ctx context.Context) error) error) *groupCommit {
	return &groupCommit{tx: tx, reqs: make(chan *groupReq, maxGroup), done: make(chan struct{})}
}

// run commits groups until ctx ends.
func (g *groupCommit) run(ctx context.Context) {
	defer close(g.done)
	for {
		var first *groupReq
		select {
		case <-ctx.Done():
			return
		case first = <-g.reqs:
		}
		group := []*groupReq{first}
	more:
		for len(group) < maxGroup {
			select {
			case r := <-g.reqs:
				group = append(group, r)
			default:
				break more
			}
		}
		g.commit(ctx, group)
	}
}

func (g *groupCommit) commit(ctx context.Context, group []*groupReq) {
	if len(group) == 1 {
		group[0].err <- g.tx(group[0].ctx, group[0].fn)
		return
	}
	err := g.tx(ctx, func(ctx context.Context) error {
		for _, r := range group {
			if err := r.fn(ctx); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		for _, r := range group {
			r.err <- nil
		}
		return
	}
	for _, r := range group { // one of them failed: each on its own
		r.err <- g.tx(r.ctx, r.fn)
	}
}

// do runs fn in a transaction shared with other writes, and returns its
// error. fn may run twice (its group failed): it must only write, and
// report what it did through its own variables, set on each run.
func (g *groupCommit) do(ctx context.Context, fn func(ctx context.Context) error) error {
	r := &groupReq{ctx: context.WithoutCancel(ctx), fn: fn, err: make(chan error, 1)}
	select {
	case g.reqs <- r:
	case <-g.done:
		return g.tx(ctx, fn) // stopped: on its own
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.err:
		return err
	case <-g.done:
		// Stopped: run returns only after a commit, so r either ran (its
		// answer waits) or was never taken (run it alone).
		select {
		case err := <-r.err:
			return err
		default:
			return g.tx(ctx, fn)
		}
	}
}
