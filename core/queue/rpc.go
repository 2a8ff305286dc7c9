package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// Workers hold no database credentials: they ask the servers to record
// what they do through requests over core NATS (request-reply, nothing
// stored in a stream). Every server replica answers in one queue group, so
// any of them may take a request; the database they share decides.
//
//	<prefix>_rpc.<op>     requests, queue group "servers"
//	<prefix>_rpc.cancel   CancelNotice, to every worker
//
// A reply is an envelope: the handler's value, or its error's text. A
// request that gets no reply (no server up, a timeout) fails with
// ErrNoServer, and the worker tries again: it keeps its task's lease
// meanwhile, so a restarting server loses nothing.

// The operations of the worker protocol (protocol.go).
const (
	OpClaim  = "claim"
	OpLogs   = "logs"
	OpFinish = "finish"
	OpTouch  = "touch"
)

const (
	rpcQueueGroup = "servers"
	// rpcTimeout bounds one request; handlers get it as their deadline.
	rpcTimeout = 15 * time.Second
	// rpcConcurrency bounds the handlers running at once per Serve.
	rpcConcurrency = 256
)

// ErrNoServer is returned by Call when no server answered.
var ErrNoServer = errors.New("queue: no server answered")

// RemoteError is a handler's error as the caller sees it.
type RemoteError struct{ Msg string }

func (e *RemoteError) Error() string { return "server: " + e.Msg }

type envelope struct {
	OK    json.RawMessage `json:"ok,omitempty"`
	Error string          `json:"error,omitempty"`
}

func (q *Queue) rpcSubject(op string) string { return q.opts.SubjectPrefix + "_rpc." + op }

// Service is a running Serve; Stop ends it.
type Service struct {
	sub  *nats.Subscription
	stop context.CancelFunc
	once sync.Once

	mu      sync.Mutex
	stopped bool
	wg      sync.WaitGroup
}

// errStopping answers requests that reach a server while it stops; Call
// reports it as ErrNoServer.
const errStopping = "server stopping; try again"

// Stop unsubscribes, answers the requests still waiting for a handler with
// an error (their callers try again, on another server or later), and waits
// for the handlers running.
func (s *Service) Stop() {
	s.once.Do(func() {
		s.mu.Lock()
		s.stopped = true
		s.mu.Unlock()
		s.stop()
		// Drain, not Unsubscribe: the messages already delivered to this
		// subscription still reach the callback, which answers "stopping".
		if err := s.sub.Drain(); err != nil {
			_ = s.sub.Unsubscribe()
		}
		s.wg.Wait()
	})
}

// Serve answers the requests of operation op with h until ctx is done or
// Stop is called. Requests are handled concurrently (up to 256 at once).
func Serve[Req, Resp any](ctx context.Context, q *Queue, op string, h func(context.Context, Req) (Resp, error)) (*Service, error) {
	ctx, cancel := context.WithCancel(ctx)
	s := &Service{stop: cancel}
	sem := make(chan struct{}, rpcConcurrency)
	log := q.log.With("op", op)
	respond := func(m *nats.Msg, env envelope) {
		data, _ := json.Marshal(env)
		if err := m.Respond(data); err != nil {
			log.Warn("reply", "err", err)
		}
	}
	sub, err := q.nc.QueueSubscribe(q.rpcSubject(op), rpcQueueGroup, func(m *nats.Msg) {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			respond(m, envelope{Error: errStopping})
			return
		}
		s.mu.Lock()
		if s.stopped {
			s.mu.Unlock()
			<-sem
			respond(m, envelope{Error: errStopping})
			return
		}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer func() { <-sem; s.wg.Done() }()
			var env envelope
			var req Req
			if err := json.Unmarshal(m.Data, &req); err != nil {
				env.Error = "undecodable request: " + err.Error()
			} else {
				hctx, hcancel := context.WithTimeout(ctx, rpcTimeout)
				resp, err := callHandler(hctx, h, req)
				hcancel()
				if err != nil {
					env.Error = err.Error()
				} else if env.OK, err = json.Marshal(resp); err != nil {
					env.Error = "encode reply: " + err.Error()
				}
			}
			respond(m, env)
		}()
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("serve %s on %s: %w", op, q.where(), err)
	}
	s.sub = sub
	context.AfterFunc(ctx, s.Stop)
	return s, nil
}

func callHandler[Req, Resp any](ctx context.Context, h func(context.Context, Req) (Resp, error), req Req) (resp Resp, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panic: %v", r)
		}
	}()
	return h(ctx, req)
}

// Call sends req to a server for operation op and decodes its reply. It
// makes one attempt: ErrNoServer when no server answered in time, a
// *RemoteError when the server's handler failed.
func Call[Req, Resp any](ctx context.Context, q *Queue, op string, req Req) (Resp, error) {
	var zero Resp
	data, err := json.Marshal(req)
	if err != nil {
		return zero, fmt.Errorf("encode %s request: %w", op, err)
	}
	ctx, cancel := context.WithTimeout(ctx, rpcTimeout+5*time.Second)
	defer cancel()
	msg, err := q.nc.RequestWithContext(ctx, q.rpcSubject(op), data)
	switch {
	case err == nil:
	case ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded):
		return zero, ctx.Err()
	case errors.Is(err, nats.ErrNoResponders), errors.Is(err, nats.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return zero, fmt.Errorf("%w (%s): %v", ErrNoServer, op, err)
	default:
		return zero, fmt.Errorf("%s request on %s: %w", op, q.where(), err)
	}
	var env envelope
	if err := json.Unmarshal(msg.Data, &env); err != nil {
		return zero, fmt.Errorf("decode %s reply: %w", op, err)
	}
	switch env.Error {
	case "":
	case errStopping:
		return zero, fmt.Errorf("%w (%s): %s", ErrNoServer, op, errStopping)
	default:
		return zero, &RemoteError{Msg: env.Error}
	}
	var resp Resp
	if err := json.Unmarshal(env.OK, &resp); err != nil {
		return zero, fmt.Errorf("decode %s reply: %w", op, err)
	}
	return resp, nil
}

// PublishCancel tells every worker to stop the given tasks. It is best
// effort: a worker that misses it learns the same from its next touch.
func (q *Queue) PublishCancel(n CancelNotice) error {
	data, err := json.Marshal(n)
	if err != nil {
		return err
	}
	return q.nc.Publish(q.rpcSubject("cancel"), data)
}

// SubscribeCancel calls f with every CancelNotice until the returned func
// is called.
func (q *Queue) SubscribeCancel(f func(CancelNotice)) (unsubscribe func(), err error) {
	sub, err := q.nc.Subscribe(q.rpcSubject("cancel"), func(m *nats.Msg) {
		var n CancelNotice
		if json.Unmarshal(m.Data, &n) == nil {
			f(n)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe to cancel notices on %s: %w", q.where(), err)
	}
	return func() { _ = sub.Unsubscribe() }, nil
}

// Events: what happens to runs, published on core NATS (nothing stored) to
// whoever listens, on any replica:
//
//	<prefix>_ev.<subject>     see core/events for the subjects
//
// PublishEvent and SubscribeEvents carry opaque payloads; core/events gives
// them their types.

// PublishEvent publishes data on the event subject subject.
func (q *Queue) PublishEvent(subject string, data []byte) error {
	return q.nc.Publish(q.opts.SubjectPrefix+"_ev."+subject, data)
}

// SubscribeEvents calls f, one call at a time, with every event published
// on subject (wildcards allowed) until the returned func is called; f must
// not block.
func (q *Queue) SubscribeEvents(subject string, f func(data []byte)) (unsubscribe func(), err error) {
	sub, err := q.nc.Subscribe(q.opts.SubjectPrefix+"_ev."+subject, func(m *nats.Msg) { f(m.Data) })
	if err != nil {
		return nil, fmt.Errorf("subscribe to events on %s: %w", q.where(), err)
	}
	// A subscriber that falls behind must not make NATS drop its
	// connection's other messages: its own buffer (core/events) drops.
	_ = sub.SetPendingLimits(-1, -1)
	return func() { _ = sub.Unsubscribe() }, nil
}

// Flush waits until the server has processed everything published so far
// on this connection, so that a subscription made before it is in force.
func (q *Queue) Flush(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, rpcTimeout)
		defer cancel()
	}
	return q.nc.FlushWithContext(ctx)
}
