package queue

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jobgraph/jobgraph/core"
)

const leaderKey = "leader"

var electionName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Leadership is this node's leadership of one election, won by Leader. It
// ends when a renewal fails (the key was taken over, expired, or the server is
// unreachable), when the ctx given to Leader is cancelled, or on Resign.
// Whoever acts as leader must stop doing so once Lost is closed: leadership
// is a lease, and after TTL without renewal another node may hold it.
type Leadership struct {
	nodeID string
	lost   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// Leader campaigns for the election name (one per role, e.g. "scheduler") as
// nodeID and returns once elected, or with ctx's error. The election is a key
// in the JetStream KV bucket "<stream>_leader_<name>" whose entries expire
// after ttl: kv.Create succeeds for one candidate only, the leader renews the
// key every ttl/3 with a compare-and-set on its revision, and the others retry
// every ttl/3 until the key is gone. A node that restarts under the same
// nodeID while its key is still alive takes its leadership back at once.
func (q *Queue) Leader(ctx context.Context, name, nodeID string, ttl time.Duration) (*Leadership, error) {
	switch {
	case !electionName.MatchString(name):
		return nil, core.Invalid("name", "must be 1 to 64 letters, digits, '-' or '_'")
	case nodeID == "":
		return nil, core.Invalid("nodeId", "is required")
	case ttl < 300*time.Millisecond:
		return nil, core.Invalid("ttl", "must be at least 300ms")
	}
	bucket := q.opts.Stream + "_leader_" + name
	kv, err := q.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      bucket,
		Description: "jobgraph leader election " + name,
		TTL:         ttl,
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    q.opts.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("leader bucket %s on %s: %w", bucket, q.where(), err)
	}
	log := q.log.With("election", name, "node", nodeID)
	tick := time.NewTicker(ttl / 3)
	defer tick.Stop()
	for {
		rev, err := q.claim(ctx, kv, nodeID, ttl)
		if err == nil {
			log.Info("elected leader")
			return q.lead(ctx, kv, nodeID, rev, ttl), nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && ctx.Err() == nil {
			log.Warn("leader election", "err", err)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// claim creates the leader key, or takes it back if it already names nodeID.
func (q *Queue) claim(ctx context.Context, kv jetstream.KeyValue, nodeID string, ttl time.Duration) (uint64, error) {
	cctx, cancel := context.WithTimeout(ctx, ttl/3)
	defer cancel()
	rev, err := kv.Create(cctx, leaderKey, []byte(nodeID))
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return rev, err
	}
	e, gerr := kv.Get(cctx, leaderKey)
	if gerr != nil || string(e.Value()) != nodeID {
		return 0, err
	}
	return kv.Update(cctx, leaderKey, []byte(nodeID), e.Revision())
}

func (q *Queue) lead(ctx context.Context, kv jetstream.KeyValue, nodeID string, rev uint64, ttl time.Duration) *Leadership {
	lctx, cancel := context.WithCancel(ctx)
	l := &Leadership{nodeID: nodeID, lost: make(chan struct{}), ctx: lctx, cancel: cancel, done: make(chan struct{})}
	log := q.log.With("election", kv.Bucket(), "node", nodeID)
	go func() {
		defer close(l.done)
		defer l.markLost()
		tick := time.NewTicker(ttl / 3)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
			case <-lctx.Done():
				// Resign or ctx cancelled: free the key for the others at once
				// (only if it is still ours).
				dctx, dcancel := context.WithTimeout(context.Background(), ttl/3)
				_ = kv.Delete(dctx, leaderKey, jetstream.LastRevision(rev))
				dcancel()
				return
			}
			rctx, rcancel := context.WithTimeout(lctx, ttl/3)
			next, err := kv.Update(rctx, leaderKey, []byte(nodeID), rev)
			rcancel()
			if err != nil {
				if lctx.Err() == nil {
					log.Warn("leadership lost: renewal failed", "err", err)
				}
				return
			}
			rev = next
		}
	}()
	return l
}

func (l *Leadership) markLost() {
	l.once.Do(func() { close(l.lost); l.cancel() })
}

// Lost is closed when the leadership has ended.
func (l *Leadership) Lost() <-chan struct{} { return l.lost }

// Context is cancelled when the leadership ends: run the leader's work in it.
func (l *Leadership) Context() context.Context { return l.ctx }

// NodeID returns the node that holds this leadership.
func (l *Leadership) NodeID() string { return l.nodeID }

// Resign gives the leadership up and frees the key for another node. It is
// idempotent and returns once the key is released (or the release failed).
func (l *Leadership) Resign() {
	l.cancel()
	<-l.done
}
