package audit_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/audit"
	"github.com/jobgraph/jobgraph/core/project"
	"github.com/jobgraph/jobgraph/core/store"
	"github.com/jobgraph/jobgraph/core/store/storetest"
)

// These tests are the store conformance suite for the audit trail: they run
// the Recorder over a real store on every dialect (SQLite and MariaDB).

type testBundle struct {
	store *store.Store
	lists *countingStore
	rec   *audit.Recorder
}

// countingStore is the real store, counting the list queries it serves, so
// that a test can see that Export reads in batches.
type countingStore struct {
	audit.Store
	lists atomic.Int64
}

func (c *countingStore) ListAuditEvents(ctx context.Context, f audit.Filter, page core.PageArgs, newestFirst bool) (core.Page[audit.Event], error) {
	c.lists.Add(1)
	return c.Store.ListAuditEvents(ctx, f, page, newestFirst)
}

func setup(t *testing.T, s *store.Store) *testBundle {
	t.Helper()
	cs := &countingStore{Store: s}
	return &testBundle{store: s, lists: cs, rec: audit.NewRecorder(cs)}
}

// all lists every event f selects, newest first, in pages of size.
func (b *testBundle) all(t *testing.T, f audit.Filter, size int) []audit.Event {
	t.Helper()
	var out []audit.Event
	page := core.PageArgs{First: size}
	for {
		p, err := b.rec.List(context.Background(), f, page)
		require.NoError(t, err)
		require.Len(t, p.Cursors, len(p.Items))
		out = append(out, p.Items...)
		if !p.HasNext {
			return out
		}
		require.Len(t, p.Items, size, "a page before the last one is full")
		page.After = p.Cursors[len(p.Cursors)-1]
	}
}

// export runs Export and decodes its lines, checking that each is one JSON
// object with exactly the documented keys.
func (b *testBundle) export(t *testing.T, f audit.Filter) []map[string]string {
	t.Helper()
	var buf bytes.Buffer
	n, err := b.rec.Export(context.Background(), f, &buf)
	require.NoError(t, err)
	keys := []string{"action", "actorId", "actorName", "at", "clientAddr", "id", "objectId", "objectKind",
		"outcome", "projectId", "reason", "tokenId", "userAgent"}
	var lines []map[string]string
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]string
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), "line %q", sc.Text())
		require.ElementsMatch(t, keys, slices.Collect(maps.Keys(m)))
		lines = append(lines, m)
	}
	require.NoError(t, sc.Err())
	require.Equal(t, len(lines), n, "Export counts the lines it wrote")
	return lines
}

func ids(evs []audit.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.ID
	}
	return out
}

func TestRecordFillsIDAndTime(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b := setup(t, s)
		before := core.Now()
		require.NoError(t, b.rec.Record(ctx, audit.Event{
			ActorID: "user:u1", ActorName: "alice", TokenID: "tok_1", Action: "createHost",
			ObjectKind: "host", ObjectID: "hst_1", ProjectID: "prj_1", Outcome: audit.Allowed,
			ClientAddr: "192.0.2.7", UserAgent: "curl/8.5.0",
		}))
		after := core.Now()

		got := b.all(t, audit.Filter{}, 10)
		require.Len(t, got, 1)
		ev := got[0]
		require.NoError(t, core.CheckID("id", core.KindAuditEvent, ev.ID))
		require.False(t, ev.At.Before(before) || ev.At.After(after), "At %v is the time of recording", ev.At)
		require.Equal(t, time.UTC, ev.At.Location())
		require.Equal(t, audit.Event{
			ID: ev.ID, At: ev.At, ActorID: "user:u1", ActorName: "alice", TokenID: "tok_1", Action: "createHost",
			ObjectKind: "host", ObjectID: "hst_1", ProjectID: "prj_1", Outcome: audit.Allowed,
			ClientAddr: "192.0.2.7", UserAgent: "curl/8.5.0",
		}, ev, "every field reads back as written")

		// A given ID and time are kept; the time to the microsecond both databases store.
		id := core.NewID(core.KindAuditEvent)
		at := time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.FixedZone("CET", 3600))
		require.NoError(t, b.rec.Record(ctx, audit.Event{ID: id, At: at, Action: "login", Outcome: audit.Denied}))
		got = b.all(t, audit.Filter{Action: "login"}, 10)
		require.Len(t, got, 1)
		require.Equal(t, id, got[0].ID)
		require.Equal(t, at.UTC().Truncate(time.Microsecond), got[0].At)
	})
}

var errBoom = errors.New("boom")

func TestRecordJoinsTheTransaction(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b := setup(t, s)
		projects := project.NewService(s, nil)
		change := func(ctx context.Context, name string) error {
			p, err := projects.Create(ctx, project.CreateInput{Name: name})
			if err != nil {
				return err
			}
			return b.rec.Record(ctx, audit.Event{
				Action: "createProject", ObjectKind: "project", ObjectID: p.ID, ProjectID: p.ID, Outcome: audit.Allowed,
			})
		}

		// The change fails after it was recorded: both roll back.
		err := s.InTx(ctx, func(ctx context.Context) error {
			require.NoError(t, change(ctx, "doomed"))
			return errBoom
		})
		require.ErrorIs(t, err, errBoom)
		n, err := b.rec.Count(ctx, audit.Filter{})
		require.NoError(t, err)
		require.Zero(t, n, "a rolled-back change leaves no audit event")
		n, err = projects.Count(ctx, project.Filter{})
		require.NoError(t, err)
		require.Zero(t, n)

		// The change commits: so does its event.
		require.NoError(t, s.InTx(ctx, func(ctx context.Context) error { return change(ctx, "kept") }))
		evs := b.all(t, audit.Filter{}, 10)
		require.Len(t, evs, 1)
		p, err := projects.List(ctx, project.Filter{}, core.PageArgs{})
		require.NoError(t, err)
		require.Len(t, p.Items, 1)
		require.Equal(t, p.Items[0].ID, evs[0].ObjectID)

		// The event's write failing fails the change: nothing unaudited commits.
		err = s.InTx(ctx, func(ctx context.Context) error {
			if _, err := projects.Create(ctx, project.CreateInput{Name: "unaudited"}); err != nil {
				return err
			}
			return b.rec.Record(ctx, audit.Event{Action: "createProject", Outcome: "maybe"})
		})
		require.ErrorIs(t, err, core.ErrInvalidInput)
		n, err = projects.Count(ctx, project.Filter{})
		require.NoError(t, err)
		require.Equal(t, 1, n)
	})
}

// generate records n events, one minute apart from base, with attributes
// that vary independently, inside one transaction (fast on MariaDB too).
func generate(t *testing.T, b *testBundle, n int, base time.Time, projects []string) []audit.Event {
	t.Helper()
	actors := []string{"user:alice", "user:bob", ""}
	actions := []string{"createHost", "deleteHost", "login", "updateGroup", "runJob"}
	evs := make([]audit.Event, n)
	for i := range evs {
		evs[i] = audit.Event{
			ID:         core.NewID(core.KindAuditEvent),
			At:         base.Add(time.Duration(i) * time.Minute),
			ActorID:    actors[(i/2)%len(actors)],
			Action:     actions[i%len(actions)],
			ObjectKind: "host",
			ObjectID:   fmt.Sprintf("hst_%d", i%7),
			ProjectID:  projects[i%len(projects)],
			Outcome:    audit.Outcomes()[i%3],
			ClientAddr: "198.51.100.1",
		}
		if evs[i].Outcome != audit.Allowed {
			evs[i].Reason = "forbidden: host:write"
		}
	}
	require.NoError(t, b.store.InTx(context.Background(), func(ctx context.Context) error {
		for _, ev := range evs {
			if err := b.rec.Record(ctx, ev); err != nil {
				return err
			}
		}
		return nil
	}))
	return evs
}

func TestFilters(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b := setup(t, s)
		pa, pb, pc := core.NewID(core.KindProject), core.NewID(core.KindProject), core.NewID(core.KindProject)
		base := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
		evs := generate(t, b, 50, base, []string{pa, pb, pc, ""})

		cases := []struct {
			name string
			f    audit.Filter
			keep func(audit.Event) bool
		}{
			{"everything", audit.Filter{}, func(audit.Event) bool { return true }},
			{"one project", audit.Filter{ProjectIDs: []string{pa}}, func(e audit.Event) bool { return e.ProjectID == pa }},
			{"two projects", audit.Filter{ProjectIDs: []string{pa, pc}}, func(e audit.Event) bool { return e.ProjectID == pa || e.ProjectID == pc }},
			{"no project visible", audit.Filter{ProjectIDs: []string{}}, func(audit.Event) bool { return false }},
			{"unknown project", audit.Filter{ProjectIDs: []string{core.NewID(core.KindProject)}}, func(audit.Event) bool { return false }},
			{"actor", audit.Filter{ActorID: "user:bob"}, func(e audit.Event) bool { return e.ActorID == "user:bob" }},
			{"action", audit.Filter{Action: "login"}, func(e audit.Event) bool { return e.Action == "login" }},
			{"object", audit.Filter{ObjectID: "hst_3"}, func(e audit.Event) bool { return e.ObjectID == "hst_3" }},
			{"outcome", audit.Filter{Outcome: audit.Denied}, func(e audit.Event) bool { return e.Outcome == audit.Denied }},
			{"since (inclusive)", audit.Filter{Since: evs[40].At}, func(e audit.Event) bool { return !e.At.Before(evs[40].At) }},
			{"until (exclusive)", audit.Filter{Until: evs[10].At}, func(e audit.Event) bool { return e.At.Before(evs[10].At) }},
			{"since and until, sub-second bounds", audit.Filter{Since: evs[20].At.Add(-time.Microsecond), Until: evs[30].At.Add(time.Microsecond)},
				func(e audit.Event) bool { return !e.At.Before(evs[20].At) && !e.At.After(evs[30].At) }},
			{"since a microsecond after an event", audit.Filter{Since: evs[20].At.Add(time.Microsecond)},
				func(e audit.Event) bool { return e.At.After(evs[20].At) }},
			{"until a microsecond after an event", audit.Filter{Until: evs[30].At.Add(time.Microsecond)},
				func(e audit.Event) bool { return !e.At.After(evs[30].At) }},
			{"since a whole second", audit.Filter{Since: evs[20].At.Truncate(time.Second)},
				func(e audit.Event) bool { return !e.At.Before(evs[20].At) }},
			{"time bounds in another zone", audit.Filter{Since: evs[5].At.In(time.FixedZone("X", -5*3600))},
				func(e audit.Event) bool { return !e.At.Before(evs[5].At) }},
			{"combined", audit.Filter{ProjectIDs: []string{pa, pb}, ActorID: "user:bob", Outcome: audit.Failed, Since: evs[3].At},
				func(e audit.Event) bool {
					return (e.ProjectID == pa || e.ProjectID == pb) && e.ActorID == "user:bob" && e.Outcome == audit.Failed && !e.At.Before(evs[3].At)
				}},
		}
		for _, tc := range cases {
			want := []string{}
			for _, e := range slices.Backward(evs) {
				if tc.keep(e) {
					want = append(want, e.ID)
				}
			}
			got := ids(b.all(t, tc.f, 500))
			require.Equal(t, want, got, tc.name)
			n, err := b.rec.Count(ctx, tc.f)
			require.NoError(t, err)
			require.Equal(t, len(want), n, tc.name)
			lines := b.export(t, tc.f)
			require.Len(t, lines, len(want), tc.name)
			if tc.name == "everything" {
				require.Len(t, want, 50)
			} else if !strings.HasPrefix(tc.name, "no ") && !strings.HasPrefix(tc.name, "unknown") {
				require.NotEmpty(t, want, "%s: a filter that selects nothing proves little", tc.name)
				require.Less(t, len(want), 50, "%s: a filter that selects everything proves little", tc.name)
			}
		}

		// Filters that make no sense are refused, not silently empty.
		_, err := b.rec.List(ctx, audit.Filter{Outcome: "maybe"}, core.PageArgs{})
		require.ErrorIs(t, err, core.ErrInvalidInput)
		require.Equal(t, "filter.outcome", core.FieldOf(err))
		_, err = b.rec.Count(ctx, audit.Filter{Since: base, Until: base.Add(-time.Second)})
		require.ErrorIs(t, err, core.ErrInvalidInput)
		require.Equal(t, "filter.until", core.FieldOf(err))
		_, err = b.rec.Export(ctx, audit.Filter{Outcome: "maybe"}, &bytes.Buffer{})
		require.ErrorIs(t, err, core.ErrInvalidInput)
		_, err = b.rec.List(ctx, audit.Filter{}, core.PageArgs{First: core.MaxPageSize + 1})
		require.ErrorIs(t, err, core.ErrInvalidInput)
	})
}

func TestPaginationNewestFirst(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		pa := core.NewID(core.KindProject)
		evs := generate(t, b, 50, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), []string{pa})
		want := ids(evs)
		slices.Reverse(want)

		for _, size := range []int{1, 7, 10, 49, 50, 51} {
			got := b.all(t, audit.Filter{}, size)
			require.Equal(t, want, ids(got), "page size %d: newest first, no duplicates, no gaps", size)
			for i := 1; i < len(got); i++ {
				require.False(t, got[i].At.After(got[i-1].At), "times descend with IDs")
			}
		}
		// Pages under a filter use the same cursors.
		got := b.all(t, audit.Filter{ProjectIDs: []string{pa}, Outcome: audit.Allowed}, 3)
		require.Len(t, got, 17)
		require.True(t, slices.IsSortedFunc(got, func(x, y audit.Event) int { return strings.Compare(y.ID, x.ID) }))

		// Stored times on whole seconds compare right with fractional bounds.
		n, err := b.rec.Count(context.Background(), audit.Filter{Since: evs[10].At.Add(time.Microsecond), Until: evs[20].At.Add(time.Microsecond)})
		require.NoError(t, err)
		require.Equal(t, 10, n)

		_, err = b.rec.List(context.Background(), audit.Filter{}, core.PageArgs{After: "not a cursor"})
		require.ErrorIs(t, err, core.ErrInvalidInput)
		require.Equal(t, "after", core.FieldOf(err))
	})
}

func TestExportStreamsOldestFirstInBatches(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b := setup(t, s)
		pa, pb := core.NewID(core.KindProject), core.NewID(core.KindProject)
		const total = 1001 // 500 + 500 + 1: three batches
		evs := generate(t, b, total, time.Date(2026, 2, 1, 0, 0, 0, 987654000, time.UTC), []string{pa, pb})

		before := b.lists.lists.Load()
		lines := b.export(t, audit.Filter{})
		require.Equal(t, int64(3), b.lists.lists.Load()-before, "Export reads the table in batches of 500")
		require.Len(t, lines, total)
		n, err := b.rec.Count(ctx, audit.Filter{})
		require.NoError(t, err)
		require.Equal(t, n, len(lines))
		for i, l := range lines {
			ev := evs[i] // oldest first: the order they were recorded in
			require.Equal(t, ev.ID, l["id"])
			at, err := time.Parse(time.RFC3339Nano, l["at"])
			require.NoError(t, err)
			require.True(t, ev.At.Equal(at), "line %d: at %s", i, l["at"])
			require.True(t, strings.HasSuffix(l["at"], "Z"), "at is UTC: %s", l["at"])
			require.Equal(t, map[string]string{
				"id": ev.ID, "at": l["at"], "actorId": ev.ActorID, "actorName": "", "tokenId": "", "action": ev.Action,
				"objectKind": "host", "objectId": ev.ObjectID, "projectId": ev.ProjectID, "outcome": string(ev.Outcome),
				"reason": ev.Reason, "clientAddr": "198.51.100.1", "userAgent": "",
			}, l)
		}

		// A filtered export is still complete and in order.
		lines = b.export(t, audit.Filter{ProjectIDs: []string{pb}})
		require.Len(t, lines, total/2)
		for i := 1; i < len(lines); i++ {
			require.Less(t, lines[i-1]["id"], lines[i]["id"])
			require.Equal(t, pb, lines[i]["projectId"])
		}

		// A failing writer stops the export and reports how far it got.
		w := &failingWriter{okLines: 3}
		n, err = b.rec.Export(ctx, audit.Filter{}, w)
		require.ErrorIs(t, err, errBoom)
		require.Equal(t, 3, n)
	})
}

type failingWriter struct{ okLines int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.okLines == 0 {
		return 0, errBoom
	}
	w.okLines--
	return len(p), nil
}

func TestLongStringsAreTruncatedNotRejected(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b := setup(t, s)
		ua := strings.Repeat("é", 1000) // two bytes each: columns count characters
		require.NoError(t, b.rec.Record(ctx, audit.Event{
			Action: "login", Outcome: audit.Failed, UserAgent: ua,
			Reason: strings.Repeat("r", 2000), ActorName: "bob\xff\xfe" + strings.Repeat("😀", 200),
			ClientAddr: strings.Repeat("1", 100), ObjectID: strings.Repeat("o", 100),
		}))
		evs := b.all(t, audit.Filter{}, 10)
		require.Len(t, evs, 1)
		ev := evs[0]
		require.Equal(t, strings.Repeat("é", 255)+"…", ev.UserAgent)
		require.Equal(t, strings.Repeat("r", 511)+"…", ev.Reason)
		require.Equal(t, 128, utf8.RuneCountInString(ev.ActorName))
		require.True(t, utf8.ValidString(ev.ActorName), "invalid UTF-8 is replaced")
		require.True(t, strings.HasPrefix(ev.ActorName, "bob\uFFFD😀"))
		require.Equal(t, 64, utf8.RuneCountInString(ev.ClientAddr))
		require.Equal(t, 64, utf8.RuneCountInString(ev.ObjectID))
	})
}

func TestInvalidEventsAreRejected(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b := setup(t, s)
		cases := []struct {
			name  string
			ev    audit.Event
			field string
		}{
			{"unknown outcome", audit.Event{Action: "login", Outcome: "maybe"}, "outcome"},
			{"no outcome", audit.Event{Action: "login"}, "outcome"},
			{"no action", audit.Event{Outcome: audit.Allowed}, "action"},
			{"blank action", audit.Event{Action: "  ", Outcome: audit.Allowed}, "action"},
			{"ID of another kind", audit.Event{ID: core.NewID(core.KindHost), Action: "login", Outcome: audit.Allowed}, "id"},
		}
		for _, tc := range cases {
			err := b.rec.Record(ctx, tc.ev)
			require.ErrorIs(t, err, core.ErrInvalidInput, tc.name)
			require.Equal(t, tc.field, core.FieldOf(err), tc.name)
		}
		n, err := b.rec.Count(ctx, audit.Filter{})
		require.NoError(t, err)
		require.Zero(t, n)
	})
}

func TestOutcomes(t *testing.T) {
	t.Parallel()
	require.Equal(t, []audit.Outcome{audit.Allowed, audit.Denied, audit.Failed}, audit.Outcomes())
	for _, o := range audit.Outcomes() {
		require.True(t, o.Valid(), o)
	}
	require.False(t, audit.Outcome("").Valid())
	require.False(t, audit.Outcome("Allowed").Valid())
}

// TestStoreCannotChangeTheTrail pins the append-only rule to the interface:
// a method that updates or deletes events has to be added here on purpose.
func TestStoreCannotChangeTheTrail(t *testing.T) {
	t.Parallel()
	typ := reflect.TypeFor[audit.Store]()
	var names []string
	for i := range typ.NumMethod() {
		names = append(names, typ.Method(i).Name)
	}
	require.Equal(t, []string{"CountAuditEvents", "InsertAuditEvent", "ListAuditEvents"}, names)
}

func TestReasonOf(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{core.ErrUnauthenticated, "unauthenticated"},
		{fmt.Errorf("delete host: %w", core.ErrForbidden), "forbidden"},
		{core.Invalid("port", "must be between 1 and 65535, got %d", 70000), "invalid input: port"},
		{core.Invalid("", "secret=hunter2 is wrong"), "invalid input"},
		{core.Conflict("name", "a host named %q already exists", "db-1"), "conflict: name"},
		{fmt.Errorf("load: %w", core.NotFound("host", "hst_1")), "not found: host"},
		{core.ErrNotFound, "not found"},
		{context.DeadlineExceeded, "timeout"},
		{context.Canceled, "canceled"},
		{errors.New("dial tcp: root:hunter2@db: refused"), "internal error"},
	}
	for _, tc := range cases {
		require.Equal(t, tc.want, audit.ReasonOf(tc.err), "%v", tc.err)
	}
}
