package graph

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/identity"
	"github.com/jobgraph/jobgraph/rbac"
)

// SessionCookie is the name of the console's session cookie.
const SessionCookie = "jobgraph_session"

// caller is who sent the request, as far as authentication could tell. It
// is put in the context once per request (HTTP) or per connection
// (WebSocket); the directives decide what it may do.
type caller struct {
	principal *identity.Principal // nil when anonymous
	// authErr is set when the request carried credentials that did not
	// authenticate (a bad token, a malformed header): such a request is
	// refused even for public operations, rather than served anonymously.
	authErr    error
	clientAddr string
	userAgent  string
	// secret is the token or session secret the principal came from, kept
	// so that a long-lived subscription can check it still holds. Never
	// logged or returned.
	secret string
	// cookies sets and clears the session cookie on the HTTP response (nil
	// over WebSocket).
	cookies *cookieJar
}

type callerKey struct{}

func callerFrom(ctx context.Context) *caller {
	if c, ok := ctx.Value(callerKey{}).(*caller); ok {
		return c
	}
	return &caller{}
}

// subject is the caller as the authorizer sees it.
func (c *caller) subject() rbac.Subject {
	if c.principal == nil {
		return rbac.Subject{}
	}
	s := rbac.Subject{UserID: c.principal.User.ID}
	if t := c.principal.Token; t != nil {
		s.TokenProjectID, s.TokenRole = t.ProjectID, t.Role
	}
	return s
}

// authenticated returns nil if the caller proved who it is.
func (c *caller) authenticated() error {
	switch {
	case c.authErr != nil:
		return c.authErr
	case c.principal == nil:
		return errNoCredentials
	}
	return nil
}

var errNoCredentials = &identity.AuthError{Reason: "no credentials"}

// cookieJar sets cookies on the HTTP response of the request being served.
type cookieJar struct {
	w      http.ResponseWriter
	secure bool
}

func (j *cookieJar) setSession(secret string, expires time.Time) {
	if j == nil {
		return
	}
	http.SetCookie(j.w, &http.Cookie{
		Name: SessionCookie, Value: secret, Path: "/", Expires: expires,
		HttpOnly: true, Secure: j.secure, SameSite: http.SameSiteLaxMode,
	})
}

func (j *cookieJar) clearSession() {
	if j == nil {
		return
	}
	http.SetCookie(j.w, &http.Cookie{
		Name: SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: j.secure, SameSite: http.SameSiteLaxMode,
	})
}

// authenticate resolves the request's credentials into a caller: an
// "Authorization: Bearer <token>" header, or else the session cookie. A bad
// header fails the request; a stale cookie leaves it anonymous. A cookie is
// only honoured on a same-origin request (or one from an allowed origin), so
// that another site cannot act with a signed-in browser.
func (r *Resolver) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		c := &caller{
			clientAddr: clientAddr(req),
			userAgent:  req.UserAgent(),
			cookies:    &cookieJar{w: w, secure: req.TLS != nil || r.secureCookies},
		}
		ctx := req.Context()
		if h := req.Header.Get("Authorization"); h != "" {
			secret, ok := strings.CutPrefix(h, "Bearer ")
			if !ok || strings.TrimSpace(secret) == "" {
				c.authErr = &identity.AuthError{Reason: "malformed authorization header"}
			} else {
				c.resolve(ctx, r.identity, strings.TrimSpace(secret))
			}
		} else if ck, err := req.Cookie(SessionCookie); err == nil && ck.Value != "" && r.sameOrigin(req) {
			// A cookie that no longer works (an expired session) leaves the
			// request anonymous, so that the console can sign in again; one
			// sent from another origin is ignored altogether.
			if p, err := r.identity.Authenticate(ctx, ck.Value); err == nil {
				c.principal, c.secret = &p, ck.Value
			} else if !errors.Is(err, core.ErrUnauthenticated) {
				c.authErr = err // the database failed: INTERNAL, not "signed out"
			}
		}
		next.ServeHTTP(w, req.WithContext(context.WithValue(ctx, callerKey{}, c)))
	})
}

func (c *caller) resolve(ctx context.Context, id *identity.Service, secret string) {
	// A database failure stays what it is (INTERNAL), not "bad credentials".
	p, err := id.Authenticate(ctx, secret)
	if err != nil {
		c.authErr = err
		return
	}
	c.principal, c.secret = &p, secret
}

// sameOrigin reports whether a browser request comes from the server's own
// origin or an allowed one. Requests without an Origin header (curl, same-
// origin GETs) pass: browsers always send Origin on cross-origin requests.
func (r *Resolver) sameOrigin(req *http.Request) bool {
	origin := req.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if u.Host == req.Host {
		return true
	}
	for _, o := range r.allowedOrigins {
		if strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}

func clientAddr(req *http.Request) string {
	host, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil {
		return req.RemoteAddr
	}
	return host
}

// websocketInit authenticates a WebSocket connection: with a token in the
// connection_init payload ({"authToken": "jgp_…"} or {"Authorization":
// "Bearer jgp_…"}), or else with the session cookie of the upgrade request,
// which authenticate already checked (Origin included). A connection without
// valid credentials is closed with code 4401, which graphql-ws clients treat
// as final.
func (r *Resolver) websocketInit(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
	c := callerFrom(ctx)
	conn := &caller{clientAddr: c.clientAddr, userAgent: c.userAgent}
	secret := payload.GetString("authToken")
	if secret == "" {
		secret, _ = strings.CutPrefix(payload.Authorization(), "Bearer ")
	}
	switch {
	case secret != "":
		conn.resolve(ctx, r.identity, strings.TrimSpace(secret))
	case c.authErr == nil && c.principal != nil:
		conn.principal, conn.secret = c.principal, c.secret
	case c.authErr != nil:
		conn.authErr = c.authErr
	default:
		conn.authErr = errNoCredentials
	}
	ctx = context.WithValue(ctx, callerKey{}, conn)
	if err := conn.authenticated(); err != nil {
		r.recordDenied(ctx, "websocket", err)
		return transport.WithWebsocketCloseCode(ctx, 4401), nil, errors.New("unauthenticated")
	}
	return ctx, nil, nil
}
