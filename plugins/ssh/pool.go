package ssh

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/jobgraph/jobgraph/plugins/sdk"
)

// poolKey says which tasks may share a connection: same host, user,
// credential, jump host and host key settings.
type poolKey struct {
	target   string // host:port
	user     string
	cred     string // credFingerprint
	jump     string // user@host:port, or ""
	hostKeys string // policy and hash of the known_hosts lines
	agent    bool
}

// endpoint is everything needed to open a connection for a task.
type endpoint struct {
	key      poolKey
	target   string // host:port
	user     string
	jump     string // host:port, or ""
	jumpUser string
	cred     *sdk.Credential
	agent    bool
	hostKeys *hostKeys
}

func newEndpoint(task sdk.Task, p *params) (*endpoint, error) {
	if task.Target.Address == "" {
		return nil, errors.New("the task's target has no address")
	}
	port := task.Target.Port
	if port == 0 {
		port = 22
	}
	ep := &endpoint{
		target: net.JoinHostPort(task.Target.Address, strconv.Itoa(port)),
		cred:   task.Credential,
		agent:  p.Agent,
	}
	if task.Credential != nil {
		ep.user = task.Credential.Username
	}
	if ep.user == "" {
		return nil, errors.New("the task's credential names no user to log in as")
	}
	if p.Jump != nil {
		ep.jump = net.JoinHostPort(p.Jump.Address, strconv.Itoa(p.Jump.Port))
		ep.jumpUser = p.Jump.Username
		if ep.jumpUser == "" {
			ep.jumpUser = ep.user
		}
	}
	hk, err := newHostKeys(p.KnownHosts, p.HostKeyPolicy)
	if err != nil {
		return nil, err
	}
	ep.hostKeys = hk
	sum := sha256.Sum256([]byte(p.KnownHosts))
	ep.key = poolKey{
		target:   ep.target,
		user:     ep.user,
		cred:     credFingerprint(task.Credential),
		hostKeys: p.HostKeyPolicy + ":" + hex.EncodeToString(sum[:]),
		agent:    p.Agent,
	}
	if ep.jump != "" {
		ep.key.jump = ep.jumpUser + "@" + ep.jump
	}
	return ep, nil
}

// conn is one pooled SSH connection (through its jump host, if any).
type conn struct {
	ready chan struct{} // closed once dialled (err or client set)
	err   error
	// Set before ready is closed:
	client      *gossh.Client
	jump        *gossh.Client
	newHostKey  string // accept-new: the target's key, unknown to known_hosts
	newJumpKey  string // accept-new: the jump host's key
	closed      chan struct{}
	closeOnce   sync.Once
	keepaliveOn bool

	// Guarded by pool.mu:
	active int
	limit  int
	broken bool
	idle   *time.Timer
}

func (c *conn) close() {
	c.closeOnce.Do(func() {
		close(c.closed)
		if c.client != nil {
			_ = c.client.Close()
		}
		if c.jump != nil {
			_ = c.jump.Close()
		}
	})
}

// pool shares connections between tasks.
type pool struct {
	mu          sync.Mutex
	conns       map[poolKey][]*conn
	maxSessions int
	idle        time.Duration
	keepalive   time.Duration
	dialTimeout time.Duration
	dials       int // connections dialled, for tests
}

func newPool() *pool {
	return &pool{
		conns:       map[poolKey][]*conn{},
		maxSessions: MaxSessionsPerConn,
		idle:        IdleTimeout,
		keepalive:   KeepaliveInterval,
		dialTimeout: DialTimeout,
	}
}

// acquire reserves a session slot on a connection for ep, dialling one
// when none has room. Release the slot with release.
func (p *pool) acquire(ctx context.Context, ep *endpoint) (*conn, error) {
	p.mu.Lock()
	var c *conn
	for _, x := range p.conns[ep.key] {
		if !x.broken && x.active < x.limit {
			c = x
			break
		}
	}
	if c == nil {
		c = &conn{ready: make(chan struct{}), closed: make(chan struct{}), limit: p.maxSessions}
		p.conns[ep.key] = append(p.conns[ep.key], c)
		p.dials++
		go p.dial(ep, c)
	}
	c.active++
	if c.idle != nil { // a stopped timer that already fired finds active > 0
		c.idle.Stop()
		c.idle = nil
	}
	p.mu.Unlock()

	select {
	case <-c.ready:
	case <-ctx.Done():
		p.release(c)
		return nil, ctx.Err()
	}
	if c.err != nil {
		p.release(c)
		return nil, c.err
	}
	return c, nil
}

// dial connects c, detached from any one task's context (others may be
// waiting for it), within dialTimeout.
func (p *pool) dial(ep *endpoint, c *conn) {
	ctx, cancel := context.WithTimeout(context.Background(), p.dialTimeout)
	defer cancel()
	c.client, c.jump, c.newHostKey, c.newJumpKey, c.err = dialEndpoint(ctx, ep)
	if c.err != nil {
		p.mu.Lock()
		c.broken = true
		p.removeLocked(c)
		p.mu.Unlock()
		close(c.ready)
		return
	}
	close(c.ready)
	p.mu.Lock()
	p.idleLocked(c) // every waiter may have given up
	p.mu.Unlock()
	go func() { // the server or the network ended the connection
		_ = c.client.Wait()
		p.markBroken(c)
	}()
	go p.keepaliveLoop(c)
}

func (p *pool) keepaliveLoop(c *conn) {
	t := time.NewTicker(p.keepalive)
	defer t.Stop()
	for {
		select {
		case <-c.closed:
			return
		case <-t.C:
		}
		answered := make(chan error, 1)
		go func() {
			_, _, err := c.client.SendRequest("keepalive@openssh.com", true, nil)
			answered <- err
		}()
		select {
		case err := <-answered:
			if err != nil {
				p.markBroken(c)
				return
			}
		case <-time.After(p.keepalive):
			p.markBroken(c)
			return
		case <-c.closed:
			return
		}
	}
}

// release frees a slot; a connection without sessions for idle is closed.
func (p *pool) release(c *conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c.active--
	p.idleLocked(c)
}

// idleLocked starts c's idle timer if it is dialled and has no sessions.
func (p *pool) idleLocked(c *conn) {
	if c.active > 0 || c.broken || c.idle != nil {
		return
	}
	select {
	case <-c.ready:
	default:
		return // dial will call again
	}
	c.idle = time.AfterFunc(p.idle, func() {
		p.mu.Lock()
		if c.active > 0 || c.broken {
			p.mu.Unlock()
			return
		}
		c.broken = true
		p.removeLocked(c)
		p.mu.Unlock()
		c.close()
	})
}

// markBroken takes c out of the pool and closes it.
func (p *pool) markBroken(c *conn) {
	p.mu.Lock()
	c.broken = true
	p.removeLocked(c)
	p.mu.Unlock()
	c.close()
}

// refused lowers c's session limit after the server refused a session
// (sshd's MaxSessions, 10 by default).
func (p *pool) refused(c *conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c.limit = max(1, c.active-1)
}

func (p *pool) removeLocked(c *conn) {
	for k, list := range p.conns {
		if i := slices.Index(list, c); i >= 0 {
			list = slices.Delete(list, i, i+1)
			if len(list) == 0 {
				delete(p.conns, k)
			} else {
				p.conns[k] = list
			}
			return
		}
	}
}

// closeAll closes every connection.
func (p *pool) closeAll() {
	p.mu.Lock()
	var all []*conn
	for _, list := range p.conns {
		all = append(all, list...)
	}
	p.conns = map[poolKey][]*conn{}
	p.mu.Unlock()
	for _, c := range all {
		select {
		case <-c.ready:
			c.close()
		default:
		}
	}
}

// openOn acquires a slot for ep and opens a channel with open (a
// session, an SFTP client). A connection found broken is redialled once;
// a session refused by the server's limit is retried on another
// connection. The returned function releases the slot.
func openOn[T any](ctx context.Context, p *pool, ep *endpoint, open func(*gossh.Client) (T, error)) (T, *conn, func(), error) {
	var zero T
	redialled := false
	for refusals := 0; ; {
		c, err := p.acquire(ctx, ep)
		if err != nil {
			return zero, nil, nil, err
		}
		v, err := open(c.client)
		if err == nil {
			var once sync.Once
			return v, c, func() { once.Do(func() { p.release(c) }) }, nil
		}
		p.release(c)
		var oce *gossh.OpenChannelError
		if errors.As(err, &oce) {
			if oce.Reason == gossh.Prohibited && refusals < 3 {
				refusals++
				p.refused(c)
				continue
			}
			return zero, nil, nil, fmt.Errorf("open a session on %s: %w", ep.target, err)
		}
		if ctx.Err() != nil {
			return zero, nil, nil, ctx.Err()
		}
		p.markBroken(c)
		if redialled {
			return zero, nil, nil, sdk.Retryable(fmt.Errorf("open a session on %s (connection redialled once): %w", ep.target, err))
		}
		redialled = true
	}
}

// dialEndpoint connects to ep's target, through its jump host if any.
func dialEndpoint(ctx context.Context, ep *endpoint) (client, jump *gossh.Client, newKey, newJumpKey string, err error) {
	methods, closeAgent, err := authMethods(ep.cred, ep.agent)
	if err != nil {
		return nil, nil, "", "", err
	}
	defer closeAgent()
	config := func(user, hostport string, onNew *string) *gossh.ClientConfig {
		return &gossh.ClientConfig{
			User: user,
			Auth: methods,
			HostKeyCallback: ep.hostKeys.callback(func(k gossh.PublicKey) {
				*onNew = strings.TrimSpace(string(gossh.MarshalAuthorizedKey(k)))
			}),
			HostKeyAlgorithms: ep.hostKeys.algorithms(hostport),
			Timeout:           DialTimeout,
			ClientVersion:     "SSH-2.0-jobgraph",
		}
	}
	var nc net.Conn
	if ep.jump != "" {
		raw, err := (&net.Dialer{}).DialContext(ctx, "tcp", ep.jump)
		if err != nil {
			return nil, nil, "", "", classifyDial("jump host "+ep.jump, err)
		}
		jump, err = handshake(ctx, raw, ep.jump, config(ep.jumpUser, ep.jump, &newJumpKey))
		if err != nil {
			return nil, nil, "", "", classifyHandshake("jump host "+ep.jump, ep.jumpUser, err)
		}
		nc, err = jump.DialContext(ctx, "tcp", ep.target)
		if err != nil {
			_ = jump.Close()
			return nil, nil, "", "", classifyDial(ep.target+" through jump host "+ep.jump, err)
		}
	} else {
		nc, err = (&net.Dialer{}).DialContext(ctx, "tcp", ep.target)
		if err != nil {
			return nil, nil, "", "", classifyDial(ep.target, err)
		}
	}
	client, err = handshake(ctx, nc, ep.target, config(ep.user, ep.target, &newKey))
	if err != nil {
		if jump != nil {
			_ = jump.Close()
		}
		return nil, nil, "", "", classifyHandshake(ep.target, ep.user, err)
	}
	return client, jump, newKey, newJumpKey, nil
}

// handshake runs the SSH handshake on nc, bounded by ctx.
func handshake(ctx context.Context, nc net.Conn, addr string, cfg *gossh.ClientConfig) (*gossh.Client, error) {
	if d, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.Close() })
	c, chans, reqs, err := gossh.NewClientConn(nc, addr, cfg)
	stop()
	if err != nil {
		_ = nc.Close()
		if ctx.Err() != nil && !isHostKeyErr(err) {
			return nil, fmt.Errorf("%w (no complete handshake in time)", err)
		}
		return nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	return gossh.NewClient(c, chans, reqs), nil
}

func isHostKeyErr(err error) bool {
	var hk *hostKeyError
	return errors.As(err, &hk)
}

func classifyDial(what string, err error) error {
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return sdk.Retryable(fmt.Errorf("connect to %s: cannot resolve %q: %s", what, dns.Name, dns.Err))
	}
	return sdk.Retryable(fmt.Errorf("connect to %s: %w", what, err))
}

func classifyHandshake(what, user string, err error) error {
	var hk *hostKeyError
	if errors.As(err, &hk) {
		return fmt.Errorf("connect to %s: %s", what, hk.msg)
	}
	if strings.Contains(err.Error(), "unable to authenticate") {
		return fmt.Errorf("connect to %s: the server refused the credential for user %q: %w", what, user, err)
	}
	return sdk.Retryable(fmt.Errorf("connect to %s: %w", what, err))
}
