package notify_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/notify"
	"github.com/jobgraph/jobgraph/core/project"
	"github.com/jobgraph/jobgraph/core/run"
	"github.com/jobgraph/jobgraph/core/secrets"
	"github.com/jobgraph/jobgraph/core/store"
	"github.com/jobgraph/jobgraph/core/store/storetest"
	"github.com/jobgraph/jobgraph/internal/testlog"
)

// testBundle is a notify service over a real store, with one project.
type testBundle struct {
	st       *store.Store
	svc      *notify.Service
	ring     *secrets.Keyring
	project  string
	outcomes chan notify.Outcome
}

func testLogger(t *testing.T) *slog.Logger { return testlog.New(t, slog.LevelDebug) }

func setup(t *testing.T, st *store.Store, opts ...func(*notify.Options)) *testBundle {
	t.Helper()
	key, err := secrets.GenerateKey()
	require.NoError(t, err)
	ring, err := secrets.NewKeyring(key)
	require.NoError(t, err)
	b := &testBundle{st: st, ring: ring, outcomes: make(chan notify.Outcome, 100)}
	b.project = b.newProject(t, "ops")
	b.svc = b.newService(t, opts...)
	return b
}

func (b *testBundle) newService(t *testing.T, opts ...func(*notify.Options)) *notify.Service {
	o := notify.Options{
		Store: b.st, Sealer: b.ring, PublicURL: "https://jobgraph.example.com/",
		AttemptTimeout: 2 * time.Second, Backoff: func(int) time.Duration { return time.Millisecond }, Logger: testLogger(t),
	}
	for _, f := range opts {
		f(&o)
	}
	return notify.NewService(o)
}

func (b *testBundle) newProject(t *testing.T, name string) string {
	t.Helper()
	now := core.Now()
	p := project.Project{ID: core.NewID(core.KindProject), Name: name + "-" + strconv.FormatInt(now.UnixNano()%1e6, 10), CreatedAt: now, UpdatedAt: now}
	require.NoError(t, b.st.CreateProject(context.Background(), p))
	return p.ID
}

// start runs a dispatcher of svc until the test ends.
func (b *testBundle) start(t *testing.T, svc *notify.Service) {
	t.Helper()
	d := notify.NewDispatcher(svc, notify.DispatcherOptions{PollInterval: 20 * time.Millisecond,
		OnFinish: func(o notify.Outcome) { b.outcomes <- o }})
	require.NoError(t, d.Start(context.Background()))
	t.Cleanup(d.Stop)
	<-d.Started()
}

// final waits for the outcome of a delivery that is sent or failed.
func (b *testBundle) final(t *testing.T) notify.Outcome {
	t.Helper()
	for {
		select {
		case o := <-b.outcomes:
			if o.Status != notify.DeliveryPending {
				return o
			}
		case <-time.After(30 * time.Second):
			t.Fatal("no final delivery outcome within 30s")
		}
	}
}

func (b *testBundle) channel(t *testing.T, projectID string, cfg notify.Config, events ...notify.Event) notify.Channel {
	t.Helper()
	if len(events) == 0 {
		events = notify.Events()
	}
	c, err := b.svc.CreateChannel(context.Background(), notify.CreateChannelInput{
		ProjectID: projectID, Name: "ch-" + core.NewID(core.KindChannel)[20:], Events: events, Enabled: true, Config: cfg, CreatedBy: "usr_test"})
	require.NoError(t, err)
	return c
}

func (b *testBundle) delivery(t *testing.T, id string) notify.Delivery {
	t.Helper()
	p, err := b.svc.ListDeliveries(context.Background(), notify.DeliveryFilter{ProjectID: b.project}, core.PageArgs{First: 500})
	require.NoError(t, err)
	for _, d := range p.Items {
		if d.ID == id {
			return d
		}
	}
	t.Fatalf("delivery %s not found", id)
	return notify.Delivery{}
}

// finished is the notice of a run of project p that ended with status.
func finished(p string, status run.RunStatus) run.Notice {
	now := core.Now()
	start := now.Add(-time.Minute)
	return run.Notice{Kind: run.NoticeFinished, Status: status, Reason: "because", Run: run.Run{
		ID: core.NewID(core.KindRun), ProjectID: p, Name: "deploy", Status: status,
		Trigger:   run.Trigger{Kind: run.TriggerSchedule, Actor: "sch_x"},
		CreatedAt: start, StartedAt: &start, FinishedAt: &now,
	}}
}

// receiver is an HTTP endpoint that answers each request with the next of
// codes (the last one repeats), and records what it got.
type receiver struct {
	*httptest.Server
	mu    sync.Mutex
	codes []int
	reqs  []recorded
}

type recorded struct {
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T, codes ...int) *receiver {
	r := &receiver{codes: codes}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, recorded{req.Header.Clone(), body})
		code := r.codes[0]
		if len(r.codes) > 1 {
			r.codes = r.codes[1:]
		}
		r.mu.Unlock()
		w.WriteHeader(code)
		_, _ = w.Write([]byte("status " + strconv.Itoa(code)))
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) requests() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.reqs...)
}

func TestWebhookRetriesUntilAccepted(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setup(t, st)
		rcv := newReceiver(t, 500, 500, 200)
		ch := b.channel(t, b.project, &notify.Webhook{
			WebhookSettings: notify.WebhookSettings{URL: rcv.URL + "/hook"},
			WebhookSecrets:  notify.WebhookSecrets{Secret: "s3cret", Headers: map[string]string{"Authorization": "Bearer tok"}},
		}, notify.EventRunFailed)
		b.start(t, b.svc)

		n := finished(b.project, run.RunTimedOut)
		b.svc.Notify(context.Background(), n)
		o := b.final(t)
		require.Equal(t, notify.DeliverySent, o.Status)
		require.Equal(t, 3, o.Attempts)

		reqs := rcv.requests()
		require.Len(t, reqs, 3)
		last := reqs[2]
		require.Equal(t, notify.Sign("s3cret", last.body), last.header.Get(notify.SignatureHeader), "signature verifies")
		require.NotEqual(t, notify.Sign("other", last.body), last.header.Get(notify.SignatureHeader))
		require.Equal(t, "Bearer tok", last.header.Get("Authorization"))
		require.Equal(t, "application/json", last.header.Get("Content-Type"))
		var p map[string]any
		require.NoError(t, json.Unmarshal(last.body, &p))
		require.Equal(t, "run_failed", p["event"])
		r := p["run"].(map[string]any)
		require.Equal(t, n.Run.ID, r["id"])
		require.Equal(t, "deploy", r["name"])
		require.Equal(t, "timed_out", r["status"])
		require.Equal(t, "https://jobgraph.example.com/runs/"+n.Run.ID, r["url"])
		require.Equal(t, map[string]any{"kind": "schedule", "actor": "sch_x"}, r["trigger"])
		require.Equal(t, b.project, r["project"].(map[string]any)["id"])
		require.NotEmpty(t, r["project"].(map[string]any)["name"])
		require.NotNil(t, r["finishedAt"])
		require.NotContains(t, p, "approval")

		d := b.delivery(t, o.ID)
		require.Equal(t, notify.DeliverySent, d.Status)
		require.Equal(t, ch.ID, d.ChannelID)
		require.Equal(t, 3, d.Attempts)
		require.NotNil(t, d.SentAt)
		require.Empty(t, d.LastError)

		// The secrets are sealed, never in the clear settings.
		got, err := b.svc.GetChannel(context.Background(), ch.ID)
		require.NoError(t, err)
		require.NotContains(t, string(got.Settings), "s3cret")
		require.NotContains(t, string(got.Settings), "Bearer")
		cfg, err := got.Decode()
		require.NoError(t, err)
		w := cfg.(*notify.Webhook)
		require.True(t, w.HasSecret)
		require.Equal(t, []string{"Authorization"}, w.HeaderNames)
		require.Empty(t, w.Secret)
	})
}

func TestSlackPayload(t *testing.T) {
	t.Parallel()
	b := setup(t, storetest.New(t, store.SQLite))
	rcv := newReceiver(t, 500, 200)
	ch := b.channel(t, b.project, &notify.Slack{SlackSecrets: notify.SlackSecrets{URL: rcv.URL + "/services/T0/B0/XYZ"}})
	b.start(t, b.svc)
	n := run.Notice{Kind: run.NoticeApproval, Status: run.RunQueued, ApprovalID: "apv_1", Step: "prod", Reason: "rm -rf needs approval",
		Run: run.Run{ID: core.NewID(core.KindRun), ProjectID: b.project, Name: "cleanup", Status: run.RunQueued, Trigger: run.Trigger{Kind: run.TriggerManual, Actor: "usr_1"}}}
	b.svc.Notify(context.Background(), n)
	o := b.final(t)
	require.Equal(t, notify.DeliverySent, o.Status)
	require.Equal(t, 2, o.Attempts)
	reqs := rcv.requests()
	require.Len(t, reqs, 2)
	var p struct {
		Text   string           `json:"text"`
		Blocks []map[string]any `json:"blocks"`
	}
	require.NoError(t, json.Unmarshal(reqs[1].body, &p))
	require.Contains(t, p.Text, "cleanup waits for approval")
	require.GreaterOrEqual(t, len(p.Blocks), 2)
	require.Equal(t, "header", p.Blocks[0]["type"])
	section := p.Blocks[1]["text"].(map[string]any)["text"].(string)
	require.Contains(t, section, "apv_1")
	require.Contains(t, section, "rm -rf needs approval")
	require.Equal(t, "context", p.Blocks[len(p.Blocks)-1]["type"], "a link to the run")

	got, err := b.svc.GetChannel(context.Background(), ch.ID)
	require.NoError(t, err)
	require.NotContains(t, string(got.Settings), "XYZ", "the Slack URL is a credential")
	cfg, err := got.Decode()
	require.NoError(t, err)
	require.Equal(t, strings.TrimPrefix(rcv.URL, "http://"), cfg.(*notify.Slack).Host)
}

func TestPermanentFailureFailsAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, storetest.New(t, store.SQLite))
	rcv := newReceiver(t, 400)
	b.channel(t, b.project, &notify.Webhook{WebhookSettings: notify.WebhookSettings{URL: rcv.URL}})
	b.start(t, b.svc)
	b.svc.Notify(context.Background(), finished(b.project, run.RunSucceeded))
	o := b.final(t)
	require.Equal(t, notify.DeliveryFailed, o.Status)
	require.Equal(t, 1, o.Attempts)
	require.Contains(t, o.LastError, "400")
	require.Len(t, rcv.requests(), 1)
	d := b.delivery(t, o.ID)
	require.Equal(t, notify.DeliveryFailed, d.Status)
	require.Contains(t, d.LastError, "400 Bad Request")
}

func TestSilentReceiverFailsAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	b := setup(t, storetest.New(t, store.SQLite), func(o *notify.Options) {
		o.AttemptTimeout, o.MaxAttempts = 100*time.Millisecond, 3
	})
	var mu sync.Mutex
	hits := 0
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body) // so that the server notices the client hanging up
		mu.Lock()
		hits++
		mu.Unlock()
		select { // never answers
		case <-r.Context().Done():
		case <-done:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(done) })
	b.channel(t, b.project, &notify.Webhook{WebhookSettings: notify.WebhookSettings{URL: srv.URL}})
	b.start(t, b.svc)
	b.svc.Notify(context.Background(), finished(b.project, run.RunFailed))
	o := b.final(t)
	require.Equal(t, notify.DeliveryFailed, o.Status)
	require.Equal(t, 3, o.Attempts)
	require.Contains(t, o.LastError, "no answer within 100ms")
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, 3, hits)
}

func TestEmailRetriesAfter451(t *testing.T) {
	t.Parallel()
	b := setup(t, storetest.New(t, store.SQLite))
	srv := newSMTPServer(t, 1)
	host, port, _ := net.SplitHostPort(srv.addr)
	p, _ := strconv.Atoi(port)
	b.channel(t, b.project, &notify.Email{
		EmailSettings: notify.EmailSettings{Host: host, Port: p, From: "jobgraph <jobgraph@example.com>",
			To: []string{"ops@example.com", "Oncall <oncall@example.com>"}, Username: "mailer", TLS: notify.TLSNone},
		EmailSecrets: notify.EmailSecrets{Password: "pw"},
	}, notify.EventRunFailed)
	b.start(t, b.svc)
	n := finished(b.project, run.RunFailed)
	b.svc.Notify(context.Background(), n)
	o := b.final(t)
	require.Equal(t, notify.DeliverySent, o.Status)
	require.Equal(t, 2, o.Attempts)
	require.Equal(t, 2, srv.mailAttempts())

	m := <-srv.mails
	require.Equal(t, "mailer", m.Auth)
	require.Equal(t, "pw", m.Pass)
	require.Equal(t, "jobgraph@example.com", m.From)
	require.Equal(t, []string{"ops@example.com", "oncall@example.com"}, m.To)
	subject, err := new(mime.WordDecoder).DecodeHeader(m.Msg.Header.Get("Subject"))
	require.NoError(t, err)
	require.Contains(t, subject, "deploy failed")
	require.Contains(t, m.Msg.Header.Get("To"), "oncall@example.com")
	body, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(m.Body)))
	require.NoError(t, err)
	require.Contains(t, string(body), n.Run.ID)
	require.Contains(t, string(body), "https://jobgraph.example.com/runs/"+n.Run.ID)
}

func TestEmail5xxIsPermanent(t *testing.T) {
	t.Parallel()
	// A server that refuses RCPT for good: the channel's test fails with it.
	b := setup(t, storetest.New(t, store.SQLite))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = c.Write([]byte("554 no service\r\n"))
		_, _ = io.Copy(io.Discard, c)
	}()
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	p, _ := strconv.Atoi(port)
	ch := b.channel(t, b.project, &notify.Email{EmailSettings: notify.EmailSettings{Host: host, Port: p, From: "a@example.com", To: []string{"b@example.com"}, TLS: notify.TLSNone}})
	sendErr, err := b.svc.TestChannel(context.Background(), ch.ID)
	require.NoError(t, err)
	require.Error(t, sendErr)
	require.True(t, notify.IsPermanent(sendErr), "%v", sendErr)
}

// Two dispatchers (two replicas) on one MariaDB store send each delivery
// exactly once.
func TestTwoDispatchersDeliverOnce(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects(t) {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			b := setup(t, storetest.New(t, d))
			var mu sync.Mutex
			seen := map[string]int{}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var m notify.Message
				_ = json.NewDecoder(r.Body).Decode(&m)
				mu.Lock()
				seen[m.Run.ID]++
				mu.Unlock()
			}))
			t.Cleanup(srv.Close)
			b.channel(t, b.project, &notify.Webhook{WebhookSettings: notify.WebhookSettings{URL: srv.URL}})
			other := b.newService(t) // the second replica's service
			const runs = 40
			want := map[string]int{}
			for range runs {
				n := finished(b.project, run.RunSucceeded)
				want[n.Run.ID] = 1
				b.svc.Notify(context.Background(), n)
			}
			b.start(t, b.svc)
			b.start(t, other)
			for range runs {
				require.Equal(t, notify.DeliverySent, b.final(t).Status)
			}
			mu.Lock()
			defer mu.Unlock()
			require.Equal(t, want, seen)
		})
	}
}

// Notify writes deliveries for the enabled channels of the run's project
// that hear of the event, and only those.
func TestNotifyMatchesChannels(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setup(t, st)
		ctx := context.Background()
		hook := func() notify.Config {
			return &notify.Webhook{WebhookSettings: notify.WebhookSettings{URL: "https://hooks.example.com/x"}}
		}
		failed := b.channel(t, b.project, hook(), notify.EventRunFailed)
		both := b.channel(t, b.project, hook(), notify.EventRunFailed, notify.EventApprovalRequested)
		b.channel(t, b.project, hook(), notify.EventRunSucceeded)
		disabled := b.channel(t, b.project, hook(), notify.EventRunFailed)
		off := false
		_, err := b.svc.UpdateChannel(ctx, notify.UpdateChannelInput{ID: disabled.ID, Enabled: &off})
		require.NoError(t, err)
		b.channel(t, b.newProject(t, "other"), hook(), notify.EventRunFailed)

		b.svc.Notify(ctx, finished(b.project, run.RunFailed))
		b.svc.Notify(ctx, finished(b.project, run.RunTimedOut))
		b.svc.Notify(ctx, run.Notice{Kind: run.NoticeApproval, ApprovalID: "apv_9", Run: run.Run{ID: core.NewID(core.KindRun), ProjectID: b.project, Name: "x"}})
		b.svc.Notify(ctx, run.Notice{Kind: run.NoticeFinished, Status: run.RunRunning, Run: run.Run{ProjectID: b.project}}) // not a milestone

		p, err := b.svc.ListDeliveries(ctx, notify.DeliveryFilter{ProjectID: b.project}, core.PageArgs{})
		require.NoError(t, err)
		got := map[string][]notify.Event{}
		for _, d := range p.Items {
			require.Equal(t, notify.DeliveryPending, d.Status)
			got[d.ChannelID] = append(got[d.ChannelID], d.Event)
		}
		require.ElementsMatch(t, []notify.Event{notify.EventRunFailed, notify.EventRunFailed}, got[failed.ID])
		require.ElementsMatch(t, []notify.Event{notify.EventRunFailed, notify.EventRunFailed, notify.EventApprovalRequested}, got[both.ID])
		require.Len(t, got, 2)
		n, err := b.svc.CountDeliveries(ctx, notify.DeliveryFilter{ProjectID: b.project, ChannelID: both.ID})
		require.NoError(t, err)
		require.Equal(t, 3, n)

		// Newest first, paged.
		first, err := b.svc.ListDeliveries(ctx, notify.DeliveryFilter{ProjectID: b.project}, core.PageArgs{First: 2})
		require.NoError(t, err)
		require.True(t, first.HasNext)
		rest, err := b.svc.ListDeliveries(ctx, notify.DeliveryFilter{ProjectID: b.project}, core.PageArgs{First: 10, After: first.Cursors[1]})
		require.NoError(t, err)
		require.Len(t, rest.Items, 3)
		require.Greater(t, first.Items[1].ID, rest.Items[0].ID)

		// The approval's payload names it.
		for _, d := range p.Items {
			if d.Event == notify.EventApprovalRequested {
				var m notify.Message
				require.NoError(t, json.Unmarshal(d.Payload, &m))
				require.Equal(t, "apv_9", m.Approval.ID)
			}
		}
	})
}

// A delivery whose dispatcher vanished mid-attempt is taken back once its
// lease ends, and the vanished attempt's late outcome changes nothing.
func TestLeaseTakenBack(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setup(t, st)
		ctx := context.Background()
		b.channel(t, b.project, &notify.Webhook{WebhookSettings: notify.WebhookSettings{URL: "https://hooks.example.com/x"}})
		b.svc.Notify(ctx, finished(b.project, run.RunFailed))
		now := core.Now().Add(time.Second)
		claimed, err := st.ClaimDeliveries(ctx, notify.ClaimRequest{Now: now, LeaseUntil: now.Add(time.Minute), Limit: 10})
		require.NoError(t, err)
		require.Len(t, claimed, 1)
		require.Equal(t, notify.DeliverySending, claimed[0].Status)
		require.Equal(t, 1, claimed[0].Attempts)

		again, err := st.ClaimDeliveries(ctx, notify.ClaimRequest{Now: now.Add(30 * time.Second), LeaseUntil: now.Add(time.Hour), Limit: 10})
		require.NoError(t, err)
		require.Empty(t, again, "the lease holds")
		at, ok, err := st.NextDeliveryAt(ctx)
		require.NoError(t, err)
		require.True(t, ok)
		require.WithinDuration(t, now.Add(time.Minute), at, time.Millisecond)

		later := now.Add(2 * time.Minute)
		back, err := st.ClaimDeliveries(ctx, notify.ClaimRequest{Now: later, LeaseUntil: later.Add(time.Minute), Limit: 10})
		require.NoError(t, err)
		require.Len(t, back, 1)
		require.Equal(t, 2, back[0].Attempts)

		applied, err := st.FinishDelivery(ctx, notify.Outcome{ID: claimed[0].ID, Attempts: 1, Status: notify.DeliverySent, SentAt: &later})
		require.NoError(t, err)
		require.False(t, applied, "the first attempt lost its lease")
		applied, err = st.FinishDelivery(ctx, notify.Outcome{ID: back[0].ID, Attempts: 2, Status: notify.DeliveryFailed, LastError: "boom"})
		require.NoError(t, err)
		require.True(t, applied)
		_, ok, err = st.NextDeliveryAt(ctx)
		require.NoError(t, err)
		require.False(t, ok, "nothing left to send")

		n, err := st.DeleteDeliveriesBefore(ctx, core.Now().Add(time.Hour))
		require.NoError(t, err)
		require.EqualValues(t, 1, n)
	})
}
