package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jobgraph/jobgraph/core"
)

// Limits on channel fields.
const (
	MaxChannelNameLen = 63
)

// Event is a milestone a channel may subscribe to.
type Event string

// The events.
const (
	EventRunSucceeded      Event = "run_succeeded"      // a run ended succeeded
	EventRunFailed         Event = "run_failed"         // a run ended failed or timed_out
	EventRunCanceled       Event = "run_canceled"       // a run was canceled
	EventApprovalRequested Event = "approval_requested" // a run waits for an approval
	// EventTest is the event of testChannel's message; channels do not
	// subscribe to it.
	EventTest Event = "test"
)

// Events returns every event a channel may subscribe to.
func Events() []Event {
	return []Event{EventRunSucceeded, EventRunFailed, EventRunCanceled, EventApprovalRequested}
}

// Valid reports whether e is one of Events.
func (e Event) Valid() bool { return slices.Contains(Events(), e) }

// EventSet is a set of events, kept sorted and without duplicates.
type EventSet []Event

// NewEventSet returns the set of events, or a *core.ValidationError for
// field naming an unknown event or an empty set.
func NewEventSet(field string, events ...Event) (EventSet, error) {
	if len(events) == 0 {
		return nil, core.Invalid(field, "must name at least one event")
	}
	var s EventSet
	for _, e := range events {
		if !e.Valid() {
			return nil, core.Invalid(field, "unknown event %q", e)
		}
		if !slices.Contains(s, e) {
			s = append(s, e)
		}
	}
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s, nil
}

// Has reports whether e is in s.
func (s EventSet) Has(e Event) bool { return slices.Contains(s, e) }

// String is the stored form: the events joined with commas.
func (s EventSet) String() string {
	parts := make([]string, len(s))
	for i, e := range s {
		parts[i] = string(e)
	}
	return strings.Join(parts, ",")
}

// ParseEventSet reads the stored form, skipping events this version does
// not know.
func ParseEventSet(s string) EventSet {
	var out EventSet
	for _, p := range strings.Split(s, ",") {
		if e := Event(p); e.Valid() && !out.Has(e) {
			out = append(out, e)
		}
	}
	return out
}

// Channel is where a project's notifications go: an outgoing webhook, a
// Slack incoming webhook or email. Its Settings are the kind's config
// without its secrets, stored in clear and shown by the API; the secrets
// (a signing key, the Slack URL, an SMTP password) are sealed and never
// leave the server.
type Channel struct {
	ID        string
	ProjectID string
	Name      string
	Kind      string // the name of a registered Kind
	Events    EventSet
	Enabled   bool
	// Settings is the JSON of the kind's settings (Config.Parts).
	Settings  json.RawMessage
	CreatedBy string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Decode returns the channel's config without its secrets: what the API
// shows of it.
func (c Channel) Decode() (Config, error) { return decode(c.Kind, c.Settings, nil) }

// Message is what a channel sends: one event of one run. Its JSON form is
// the generic webhook payload.
type Message struct {
	Event    Event         `json:"event"`
	Run      RunInfo       `json:"run"`
	Approval *ApprovalInfo `json:"approval,omitempty"`
	// Reason says why, in words, if the engine said ("deadline", the
	// guard rule that asked for an approval).
	Reason string `json:"reason,omitempty"`
}

// RunInfo describes the run a message is about.
type RunInfo struct {
	ID         string      `json:"id"`
	Name       string      `json:"name"`
	Status     string      `json:"status"`
	Project    ProjectInfo `json:"project"`
	Trigger    TriggerInfo `json:"trigger"`
	CreatedAt  time.Time   `json:"createdAt"`
	StartedAt  *time.Time  `json:"startedAt,omitempty"`
	FinishedAt *time.Time  `json:"finishedAt,omitempty"`
	// URL is the run's page in the console; empty (and omitted) when the
	// server has no public_url.
	URL string `json:"url,omitempty"`
}

// ProjectInfo names the run's project.
type ProjectInfo struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// TriggerInfo says what started the run.
type TriggerInfo struct {
	Kind  string `json:"kind"`
	Actor string `json:"actor,omitempty"`
}

// ApprovalInfo describes the approval a run waits for.
type ApprovalInfo struct {
	ID   string `json:"id"`
	Step string `json:"step,omitempty"`
}

// Title is a one-line summary of m, for a Slack text or a mail subject.
func (m Message) Title() string {
	name := m.Run.Name
	if m.Run.Project.Name != "" {
		name = m.Run.Project.Name + "/" + name
	}
	switch m.Event {
	case EventApprovalRequested:
		return fmt.Sprintf("[jobgraph] run %s waits for approval", name)
	case EventTest:
		return "[jobgraph] test notification"
	}
	return fmt.Sprintf("[jobgraph] run %s %s", name, m.Run.Status)
}

// Body is m in plain text, for an email or a Slack block.
func (m Message) Body() string {
	var b strings.Builder
	if m.Event == EventTest {
		b.WriteString("This is a test message from jobgraph: the channel works.\n")
		return b.String()
	}
	fmt.Fprintf(&b, "Run:      %s (%s)\n", m.Run.Name, m.Run.ID)
	fmt.Fprintf(&b, "Project:  %s\n", cmpOr(m.Run.Project.Name, m.Run.Project.ID))
	fmt.Fprintf(&b, "Status:   %s\n", m.Run.Status)
	fmt.Fprintf(&b, "Trigger:  %s %s\n", m.Run.Trigger.Kind, m.Run.Trigger.Actor)
	if m.Run.StartedAt != nil {
		fmt.Fprintf(&b, "Started:  %s\n", m.Run.StartedAt.Format(time.RFC3339))
	}
	if m.Run.FinishedAt != nil {
		fmt.Fprintf(&b, "Finished: %s\n", m.Run.FinishedAt.Format(time.RFC3339))
	}
	if m.Approval != nil {
		fmt.Fprintf(&b, "Approval: %s", m.Approval.ID)
		if m.Approval.Step != "" {
			fmt.Fprintf(&b, " (step %s)", m.Approval.Step)
		}
		b.WriteString("\n")
	}
	if m.Reason != "" {
		fmt.Fprintf(&b, "Reason:   %s\n", m.Reason)
	}
	if m.Run.URL != "" {
		fmt.Fprintf(&b, "\n%s\n", m.Run.URL)
	}
	return b.String()
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// ==== Kinds are modules ====
//
// A kind of channel is a Config type registered by name in kinds (Caddy's
// module pattern): the service and the dispatcher only ever call the
// interface, so adding a kind is one file and one line in the table. A
// Config is decoded from two JSON documents, its clear settings and its
// sealed secrets (Parts gives pointers to both), then validated.

// Sender delivers messages through one channel.
type Sender interface {
	// Validate checks the config; errors name the input field
	// ("webhook.url", "email.port").
	Validate() error
	// Send delivers m once. A returned error is retried unless it is
	// Permanent. Send must return once ctx is done.
	Send(ctx context.Context, m Message) error
}

// Config is a kind's configuration, and its sender.
type Config interface {
	Sender
	// Kind returns the kind's registered name.
	Kind() string
	// Parts returns pointers to the settings (stored in clear, shown by
	// the API) and to the secrets (sealed, write-only), for encoding and
	// decoding each on its own.
	Parts() (settings, secrets any)
	// KeepSecrets fills the secrets this config leaves empty from old, a
	// config of the same kind: an update that does not repeat a secret
	// keeps it.
	KeepSecrets(old Config)
}

// kinds is the table of channel kinds: name → a new, empty Config.
var kinds = map[string]func() Config{
	KindWebhook: func() Config { return &Webhook{} },
	KindSlack:   func() Config { return &Slack{} },
	KindEmail:   func() Config { return &Email{} },
}

// Kinds returns the registered kind names, sorted.
func Kinds() []string {
	out := make([]string, 0, len(kinds))
	for k := range kinds {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// decode builds the Config of kind from its settings and (if not nil) its
// secrets.
func decode(kind string, settings, secrets []byte) (Config, error) {
	newConfig, ok := kinds[kind]
	if !ok {
		return nil, fmt.Errorf("notification channel kind %q is not known to this server", kind)
	}
	c := newConfig()
	st, sec := c.Parts()
	if len(settings) > 0 {
		if err := json.Unmarshal(settings, st); err != nil {
			return nil, fmt.Errorf("decode %s channel settings: %w", kind, err)
		}
	}
	if len(secrets) > 0 {
		if err := json.Unmarshal(secrets, sec); err != nil {
			return nil, errors.New("decode " + kind + " channel secrets: malformed") // never quote a secret
		}
	}
	return c, nil
}

// encode returns the JSON of c's settings and secrets.
func encode(c Config) (settings, secrets []byte, err error) {
	st, sec := c.Parts()
	if settings, err = json.Marshal(st); err != nil {
		return nil, nil, err
	}
	if secrets, err = json.Marshal(sec); err != nil {
		return nil, nil, err
	}
	return settings, secrets, nil
}

// PermanentError is a failure that retrying cannot fix (a 400 from the
// receiver, an SMTP 5xx): the delivery fails at once.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent marks err as not worth retrying.
func Permanent(err error) error { return &PermanentError{Err: err} }

// IsPermanent reports whether err was marked Permanent.
func IsPermanent(err error) bool {
	var pe *PermanentError
	return errors.As(err, &pe)
}
