package engine

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeTx counts transactions; the first one waits for gate.
type fakeTx struct {
	n    atomic.Int64
	gate chan struct{}
}

func (f *fakeTx) tx(ctx context.Context, fn func(ctx context.Context) error) error {
	if f.n.Add(1) == 1 {
		<-f.gate
	}
	return fn(ctx)
}

// startGroup runs a groupCommit whose first transaction holds until the
// returned release is called, and n-1 more writes queue behind it.
func startGroup(t *testing.T, n int, fn func(i int) func(context.Context) error) (ftx *fakeTx, errs []error) {
	t.Helper()
	ftx = &fakeTx{gate: make(chan struct{})}
	g := newGroupCommit(ftx.tx)
	ctx, cancel := context.WithCancel(context.Background())
	go g.run(ctx)
	t.Cleanup(func() { cancel(); <-g.done })
	errs = make([]error, n)
	var wg sync.WaitGroup
	do := func(i int) {
		defer wg.Done()
		errs[i] = g.do(ctx, fn(i))
	}
	wg.Add(n)
	go do(0)
	require.Eventually(t, func() bool { return ftx.n.Load() == 1 }, 10*time.Second, time.Millisecond)
	for i := 1; i < n; i++ {
		go do(i)
	}
	require.Eventually(t, func() bool { return len(g.reqs) == n-1 }, 10*time.Second, time.Millisecond)
	close(ftx.gate)
	wg.Wait()
	return ftx, errs
}

// Writes that wait together share one transaction.
func TestGroupCommitShares(t *testing.T) {
	ftx, errs := startGroup(t, 100, func(int) func(context.Context) error {
		return func(context.Context) error { return nil }
	})
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, int64(2), ftx.n.Load(), "the first alone, the 99 others together")
}

// A failing write is run again alone, and the others still succeed.
func TestGroupCommitIsolatesFailure(t *testing.T) {
	boom := errors.New("boom")
	var runs atomic.Int64
	ftx, errs := startGroup(t, 10, func(i int) func(context.Context) error {
		return func(context.Context) error {
			runs.Add(1)
			if i == 5 {
				return boom
			}
			return nil
		}
	})
	for i, err := range errs {
		if i == 5 {
			require.ErrorIs(t, err, boom)
		} else {
			require.NoError(t, err, i)
		}
	}
	require.Equal(t, int64(1+1+9), ftx.n.Load(), "the first, the failed group, then the 9 alone")
}
