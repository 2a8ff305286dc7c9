package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jobgraph/jobgraph/core"
)

// Outcome says whether an audited action was allowed and whether it succeeded.
type Outcome string

// The outcomes.
const (
	Allowed Outcome = "allowed" // the action was authorized and succeeded
	Denied  Outcome = "denied"  // authorization refused it: unauthenticated or forbidden
	Failed  Outcome = "failed"  // authorized, but it failed: bad input, conflict, not found
)

// Outcomes returns every outcome, for exhaustive tests and enum mapping.
func Outcomes() []Outcome { return []Outcome{Allowed, Denied, Failed} }

// Valid reports whether o is one of Outcomes.
func (o Outcome) Valid() bool {
	switch o {
	case Allowed, Denied, Failed:
		return true
	}
	return false
}

// Event is one entry of the audit trail.
type Event struct {
	ID string // "aud_…"; Record fills it in
	At time.Time
	// ActorID is "user:<id>", or "" for an anonymous caller.
	ActorID string
	// ActorName is the actor's name when the event was recorded: it stays
	// readable after the user is renamed or deleted.
	ActorName string
	// TokenID is the API token the actor used, "" for a session or none.
	TokenID    string
	Action     string // the API operation, e.g. "createHost", "login"
	ObjectKind string // e.g. "host"; "" when the action has no object
	ObjectID   string
	ProjectID  string // "" for actions outside any project
	Outcome    Outcome
	// Reason is short and says why an attempt was denied or failed, e.g.
	// "forbidden: host:write" or "invalid input: port". Never a secret or
	// an input value: see the package doc and ReasonOf.
	Reason     string
	ClientAddr string
	UserAgent  string
}

// Column sizes, in characters. They match migrations/*/00003_audit.sql.
const (
	maxActorID    = 64
	maxActorName  = 128
	maxTokenID    = 32
	maxAction     = 64
	maxObjectKind = 32
	maxObjectID   = 64
	maxProjectID  = 32
	maxReason     = 512
	maxClientAddr = 64
	maxUserAgent  = 256
)

// Filter narrows the events listed, counted or exported. Its zero value
// selects every event.
type Filter struct {
	// ProjectIDs keeps the events of these projects. nil means any project
	// (and events outside any project); a non-nil empty slice selects
	// nothing, which is what a caller who may see no project gets.
	ProjectIDs []string
	ActorID    string
	Action     string
	ObjectID   string
	Outcome    Outcome // "" for any
	// Since and Until bound At: Since <= At < Until. A zero time leaves
	// that side open.
	Since, Until time.Time
}

func (f Filter) validate() error {
	if f.Outcome != "" && !f.Outcome.Valid() {
		return core.Invalid("filter.outcome", "unknown outcome %q", clip(string(f.Outcome), 16))
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && f.Until.Before(f.Since) {
		return core.Invalid("filter.until", "must not be before since")
	}
	return nil
}

// Store is what the audit trail needs from storage. It has no method to
// change or remove an event, on purpose: the trail is append-only.
type Store interface {
	// InsertAuditEvent stores ev, in the transaction ctx carries if any.
	InsertAuditEvent(ctx context.Context, ev Event) error
	// ListAuditEvents returns one page of the events f selects, ordered by
	// ID: descending if newestFirst, else ascending. Cursors carry the ID.
	ListAuditEvents(ctx context.Context, f Filter, page core.PageArgs, newestFirst bool) (core.Page[Event], error)
	CountAuditEvents(ctx context.Context, f Filter) (int, error)
}

// Recorder writes and reads the audit trail.
type Recorder struct {
	store Store
	now   func() time.Time
}

// NewRecorder returns a Recorder over store.
func NewRecorder(store Store) *Recorder {
	return &Recorder{store: store, now: core.Now}
}

// Record stores ev, in the transaction that ctx carries if there is one (see
// the package doc). It fills in ID and At when they are empty, requires
// Action and a known Outcome, and truncates strings longer than their
// column rather than failing.
func (r *Recorder) Record(ctx context.Context, ev Event) error {
	if ev.ID == "" {
		ev.ID = core.NewID(core.KindAuditEvent)
	} else if err := core.CheckID("id", core.KindAuditEvent, ev.ID); err != nil {
		return err
	}
	if ev.At.IsZero() {
		ev.At = r.now()
	}
	ev.At = ev.At.UTC().Truncate(time.Microsecond) // what both databases keep
	if strings.TrimSpace(ev.Action) == "" {
		return core.Invalid("action", "must not be empty")
	}
	if !ev.Outcome.Valid() {
		return core.Invalid("outcome", "unknown outcome %q", clip(string(ev.Outcome), 16))
	}
	ev.ActorID = clip(ev.ActorID, maxActorID)
	ev.ActorName = clip(ev.ActorName, maxActorName)
	ev.TokenID = clip(ev.TokenID, maxTokenID)
	ev.Action = clip(ev.Action, maxAction)
	ev.ObjectKind = clip(ev.ObjectKind, maxObjectKind)
	ev.ObjectID = clip(ev.ObjectID, maxObjectID)
	ev.ProjectID = clip(ev.ProjectID, maxProjectID)
	ev.Reason = clip(ev.Reason, maxReason)
	ev.ClientAddr = clip(ev.ClientAddr, maxClientAddr)
	ev.UserAgent = clip(ev.UserAgent, maxUserAgent)
	if err := r.store.InsertAuditEvent(ctx, ev); err != nil {
		return fmt.Errorf("record audit event %s: %w", ev.Action, err)
	}
	return nil
}

// List returns one page of the events f selects, newest first.
func (r *Recorder) List(ctx context.Context, f Filter, page core.PageArgs) (core.Page[Event], error) {
	if err := f.validate(); err != nil {
		return core.Page[Event]{}, err
	}
	if err := page.Validate(); err != nil {
		return core.Page[Event]{}, err
	}
	return r.store.ListAuditEvents(ctx, f, page, true)
}

// Count counts the events f selects.
func (r *Recorder) Count(ctx context.Context, f Filter) (int, error) {
	if err := f.validate(); err != nil {
		return 0, err
	}
	return r.store.CountAuditEvents(ctx, f)
}

// exportBatch is how many events Export reads per query.
const exportBatch = 500

// exportLine is one line of an export. The JSON keys are part of the export
// format that auditors' tools parse: add keys, never rename one.
type exportLine struct {
	ID         string  `json:"id"`
	At         string  `json:"at"` // RFC 3339, UTC, up to nanoseconds
	ActorID    string  `json:"actorId"`
	ActorName  string  `json:"actorName"`
	TokenID    string  `json:"tokenId"`
	Action     string  `json:"action"`
	ObjectKind string  `json:"objectKind"`
	ObjectID   string  `json:"objectId"`
	ProjectID  string  `json:"projectId"`
	Outcome    Outcome `json:"outcome"`
	Reason     string  `json:"reason"`
	ClientAddr string  `json:"clientAddr"`
	UserAgent  string  `json:"userAgent"`
}

func toLine(ev Event) exportLine {
	return exportLine{
		ID: ev.ID, At: ev.At.UTC().Format(time.RFC3339Nano), ActorID: ev.ActorID, ActorName: ev.ActorName,
		TokenID: ev.TokenID, Action: ev.Action, ObjectKind: ev.ObjectKind, ObjectID: ev.ObjectID,
		ProjectID: ev.ProjectID, Outcome: ev.Outcome, Reason: ev.Reason, ClientAddr: ev.ClientAddr,
		UserAgent: ev.UserAgent,
	}
}

// Export writes every event f selects to w as JSON Lines, oldest first: one
// JSON object per line, with the keys id, at, actorId, actorName, tokenId,
// action, objectKind, objectId, projectId, outcome, reason, clientAddr and
// userAgent, every key always present. It reads the table in keyset batches,
// so memory use does not grow with the trail, and writes each line to w as
// it goes (wrap w in a bufio.Writer if small writes are costly). n is the
// number of lines written in full.
//
// The batches are separate queries, not one snapshot: an event committed
// during the export appears in it if its ID sorts after the batch being read.
func (r *Recorder) Export(ctx context.Context, f Filter, w io.Writer) (n int, err error) {
	if err := f.validate(); err != nil {
		return 0, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf) // Encode ends each object with '\n'
	enc.SetEscapeHTML(false)
	page := core.PageArgs{First: exportBatch}
	for {
		p, err := r.store.ListAuditEvents(ctx, f, page, false)
		if err != nil {
			return n, fmt.Errorf("export audit events: %w", err)
		}
		for _, ev := range p.Items {
			buf.Reset()
			if err := enc.Encode(toLine(ev)); err != nil {
				return n, fmt.Errorf("export audit event %s: %w", ev.ID, err)
			}
			if _, err := w.Write(buf.Bytes()); err != nil {
				return n, fmt.Errorf("export audit events: %w", err)
			}
			n++
		}
		if !p.HasNext || len(p.Cursors) == 0 {
			return n, nil
		}
		page.After = p.Cursors[len(p.Cursors)-1]
	}
}

// ReasonOf returns a Reason for err in the terms of the error vocabulary
// (see package core): the kind of error and the input field or object kind
// it names, never the error's text, which may quote a value or a secret.
// It returns "" for nil.
func ReasonOf(err error) string {
	var nf *core.NotFoundError
	switch {
	case err == nil:
		return ""
	case errors.Is(err, core.ErrUnauthenticated):
		return "unauthenticated"
	case errors.Is(err, core.ErrForbidden):
		return "forbidden"
	case errors.Is(err, core.ErrInvalidInput):
		return withDetail("invalid input", core.FieldOf(err))
	case errors.Is(err, core.ErrConflict):
		return withDetail("conflict", core.FieldOf(err))
	case errors.As(err, &nf):
		return withDetail("not found", nf.Kind)
	case errors.Is(err, core.ErrNotFound):
		return "not found"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "internal error"
}

func withDetail(kind, detail string) string {
	if detail == "" {
		return kind
	}
	return kind + ": " + detail
}

// clip makes s valid UTF-8 and cuts it to at most n characters (not bytes:
// MySQL's VARCHAR(n) counts characters), marking a cut with a final "…".
func clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for range n - 1 {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s[:i] + "…"
}
