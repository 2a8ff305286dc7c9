package graph_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/approval"
	"github.com/jobgraph/jobgraph/core/audit"
	"github.com/jobgraph/jobgraph/core/engine"
	"github.com/jobgraph/jobgraph/core/identity"
	"github.com/jobgraph/jobgraph/core/inventory"
	"github.com/jobgraph/jobgraph/core/job"
	"github.com/jobgraph/jobgraph/core/project"
	"github.com/jobgraph/jobgraph/core/queue"
	"github.com/jobgraph/jobgraph/core/secrets"
	"github.com/jobgraph/jobgraph/core/store"
	"github.com/jobgraph/jobgraph/core/store/storetest"
	"github.com/jobgraph/jobgraph/graph"
	"github.com/jobgraph/jobgraph/plugins/local"
	"github.com/jobgraph/jobgraph/rbac"
)

// BenchmarkHistory is issue 10's benchmark 7: history at scale. Once per
// dialect and process it seeds 1,000,000 tasks with raw multi-row INSERTs
// (storetest.Insert, not the engine), shaped like a busy project's history:
// 9,000 runs of one step on 100 hosts and 10 runs on 10,000 hosts, one
// run a minute, 3 % of tasks failed. Then it serves the API in process
// (graph.NewHandler over httptest, an admin's API token) and measures
//
//   - runs/first and runs/deep: runs(projectId, first: 50) with the fields
//     of the console's run list, first page and after the 9,000th run;
//     runs/failed/deep: the same filtered on status FAILED (1 run in 17),
//     after the 450th;
//   - tasks/first and tasks/deep: run(id) { tasks(first: 100) } of a
//     10,000-task run with the fields of the console's run page, first
//     page and after its 9,000th task;
//   - stmts/<query>/first=N: the SQL statements one request runs at page
//     sizes 10, 50 and 100, counted per request (Store.OnStatement with a
//     marker in the request's context): they must not grow with N.
//
// Each latency sub-benchmark reports p50/p99 over its b.N requests (use
// -benchtime 200x) and prints one BENCH_JSON line; the EXPLAIN plans of the
// list queries are printed once per dialect.
//
//	go test -run '^$' -bench History -benchtime 200x -timeout 30m ./graph/
func BenchmarkHistory(b *testing.B) {
	for _, d := range []store.Dialect{store.SQLite, store.MySQL} {
		var env *historyEnv
		b.Run(string(d), func(b2 *testing.B) {
			if env == nil {
				env = newHistoryEnv(b, d) // on the parent: seeded once, reused by every rerun
			}
			env.run(b2)
		})
	}
}

const (
	histSmallRuns  = 9000
	histSmallTasks = 100
	histBigRuns    = 10
	histBigTasks   = 10000
)

type historyEnv struct {
	d       store.Dialect
	s       *store.Store
	srv     *httptest.Server
	token   string
	project string
	bigRun  string
	runs    []string // run IDs, newest first
	stmts   atomic.Int64
	explain atomic.Bool
}

type stmtCounterKey struct{}

func newHistoryEnv(b *testing.B, d store.Dialect) *historyEnv {
	ctx := context.Background()
	s := storetest.New(b, d)
	env := &historyEnv{d: d, s: s}
	now := time.Now().UTC().Truncate(time.Second)
	p := project.Project{ID: core.NewID(core.KindProject), Name: "history", CreatedAt: now, UpdatedAt: now}
	require.NoError(b, s.CreateProject(ctx, p))
	env.project = p.ID
	t0 := time.Now()
	n := env.seed(b, now)
	fmt.Printf("BENCH_JSON {\"bench\":\"history_seed\",\"dialect\":%q,\"runs\":%d,\"tasks\":%d,\"seconds\":%.1f}\n", d, len(env.runs), n, time.Since(t0).Seconds())

	key, err := secrets.GenerateKey()
	require.NoError(b, err)
	ring, err := secrets.NewKeyring(key)
	require.NoError(b, err)
	authz, err := rbac.New(ctx, s, rbac.Options{})
	require.NoError(b, err)
	ids := identity.NewService(s, identity.Options{Hash: cheapHash, RoleValidator: authz.ValidateRole})
	u, err := ids.CreateUser(ctx, identity.CreateUserInput{Username: "bench-admin", Password: "bench-admin-password"})
	require.NoError(b, err)
	require.NoError(b, authz.GrantAdmin(ctx, u.ID))
	_, env.token, err = ids.CreateToken(ctx, identity.CreateTokenInput{UserID: u.ID, Name: "bench"})
	require.NoError(b, err)
	inv := inventory.NewService(s, ring)
	executors := inProcessExecutors{"local": local.New()}
	jobs := job.NewService(s, graph.ActionSchemas(executors))
	q, err := queue.Open(ctx, queue.Options{DataDir: b.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(b, err)
	b.Cleanup(q.Close)
	eng := engine.New(engine.Options{Store: s, Jobs: jobs, Inventory: inv, Projects: project.NewService(s, authz),
		Schemas: graph.ActionSchemas(executors), Queue: q, Approvals: s})
	require.NoError(b, eng.Start(ctx))
	b.Cleanup(eng.Stop)
	h := graph.NewHandler(graph.Options{
		Projects: project.NewService(s, authz), Inventory: inv, Identity: ids, Authz: authz, Audit: audit.NewRecorder(s),
		Executors: executors, Jobs: jobs, Runs: eng, Approvals: approval.NewService(s, authz, eng, nil), Tx: s,
		Logger: slog.New(slog.DiscardHandler), Ready: s.Ping,
	})
	// Each request's statements are counted through a marker in its context.
	env.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), stmtCounterKey{}, &env.stmts)))
	}))
	b.Cleanup(env.srv.Close)
	s.OnStatement(func(ctx context.Context, q string) {
		if c, ok := ctx.Value(stmtCounterKey{}).(*atomic.Int64); ok {
			c.Add(1)
		}
		if env.explain.Load() && (strings.Contains(q, "FROM `runs`") || strings.Contains(q, "FROM `tasks`")) {
			env.printPlan(q)
		}
	})
	b.Cleanup(func() { s.OnStatement(nil) })
	return env
}

// seed writes the history and returns the number of tasks.
func (env *historyEnv) seed(b *testing.B, now time.Time) int {
	ctx := context.Background()
	db, err := env.s.SQLDB()
	require.NoError(b, err)
	per := 100 // rows per INSERT: SQLite binds parameters in quadratic time
	if env.d == store.MySQL {
		per = 1000
	}
	hostIDs := make([]string, histBigTasks)
	for i := range hostIDs {
		hostIDs[i] = core.NewID(core.KindHost)
	}
	total := histSmallRuns + histBigRuns
	// Every 901st run is a big one, so that they are spread through the list.
	bigEvery := total / histBigRuns
	var runRows, stepRows, taskRows [][]any
	flush := func(force bool) {
		if len(taskRows) < 20000 && !force {
			return
		}
		require.NoError(b, storetest.Insert(ctx, db, "runs", []string{"id", "project_id", "job_version", "name", "status", "priority",
			"trigger_kind", "trigger_actor", "params", "secret_params", "created_at", "started_at", "finished_at"}, runRows, per))
		require.NoError(b, storetest.Insert(ctx, db, "step_runs", []string{"id", "run_id", "name", "idx", "status", "started_at", "finished_at"}, stepRows, per))
		require.NoError(b, storetest.Insert(ctx, db, "tasks", []string{"id", "run_id", "step_run_id", "host_id", "host_name", "status",
			"attempt", "exit_code", "error", "log_bytes", "created_at", "started_at", "finished_at"}, taskRows, per))
		runRows, stepRows, taskRows = runRows[:0], stepRows[:0], taskRows[:0]
	}
	tasks := 0
	env.runs = make([]string, 0, total)
	for i := range total {
		// i = 0 is the oldest run; the newest was a minute ago.
		created := now.Add(-time.Duration(total-i) * time.Minute)
		started, finished := created.Add(time.Second), created.Add(40*time.Second)
		runID, stepID := core.NewID(core.KindRun), core.NewID(core.KindStepRun)
		n := histSmallTasks
		if i%bigEvery == bigEvery/2 {
			n = histBigTasks
			env.bigRun = runID
		}
		status := "succeeded"
		if i%17 == 0 {
			status = "failed"
		}
		runRows = append(runRows, []any{runID, env.project, 1, fmt.Sprintf("deploy-%d", i%20), status, 0, "manual", "usr_bench", "{}", "[]", created, started, finished})
		stepRows = append(stepRows, []any{stepID, runID, "deploy", 0, status, started, finished})
		for h := range n {
			st, code := "succeeded", 0
			if status == "failed" && h%33 == 0 {
				st, code = "failed", 1
			}
			taskRows = append(taskRows, []any{core.NewID(core.KindTask), runID, stepID, hostIDs[h], fmt.Sprintf("host%05d", h), st,
				1, code, "", 120, created, started, finished})
		}
		tasks += n
		env.runs = append(env.runs, runID)
		flush(false)
	}
	flush(true)
	slices.Reverse(env.runs)
	if env.d == store.MySQL {
		// A long-lived database's InnoDB statistics are current (they are
		// recomputed after 10 % of a table changes, in the background);
		// right after a bulk load they are not, and the plans would be
		// those of near-empty tables.
		for _, t := range []string{"runs", "step_runs", "tasks"} {
			_, err := db.ExecContext(ctx, "ANALYZE TABLE "+t)
			require.NoError(b, err)
		}
	}
	return tasks
}

// The console's run list (web/src/pages/Runs.tsx) and run page's task grid
// (web/src/pages/Run.tsx).
const (
	histRunsQuery = `query($p: ID!, $first: Int, $after: String, $filter: RunFilter) { runs(projectId: $p, first: $first, after: $after, filter: $filter) {
		pageInfo { hasNextPage endCursor } edges { cursor node { id name status triggerKind triggeredBy createdAt finishedAt } } } }`
	histTasksQuery = `query($id: ID!, $first: Int, $after: String) { run(id: $id) { id tasks(first: $first, after: $after) {
		pageInfo { hasNextPage endCursor } edges { node { id stepRunId hostId hostName status attempt } } } } }`
)

func (env *historyEnv) run(b *testing.B) {
	// Cursors deep in the lists, found by paging (not measured).
	runsDeep := env.cursorAt(b, histRunsQuery, map[string]any{"p": env.project}, "runs", 9000)
	tasksDeep := env.cursorAt(b, histTasksQuery, map[string]any{"id": env.bigRun}, "run.tasks", 9000)

	failed := map[string]any{"p": env.project, "filter": map[string]any{"status": []string{"FAILED"}}}
	failedDeep := env.cursorAt(b, histRunsQuery, failed, "runs", 450)

	env.explain.Store(true)
	env.request(b, histRunsQuery, map[string]any{"p": env.project, "first": 50})
	env.request(b, histRunsQuery, map[string]any{"p": env.project, "first": 50, "after": runsDeep})
	env.request(b, histRunsQuery, map[string]any{"p": env.project, "filter": failed["filter"], "first": 50, "after": failedDeep})
	env.request(b, histTasksQuery, map[string]any{"id": env.bigRun, "first": 100, "after": tasksDeep})
	env.explain.Store(false)

	var rows []string
	latency := func(name, query string, vars map[string]any) {
		b.Run(name, func(b *testing.B) {
			lat := make([]float64, 0, b.N)
			var stmts int64
			for range b.N {
				t0 := time.Now()
				stmts = env.request(b, query, vars)
				lat = append(lat, float64(time.Since(t0).Microseconds())/1000)
			}
			p50, p99 := pct(lat, 50), pct(lat, 99)
			b.ReportMetric(p50, "p50_ms")
			b.ReportMetric(p99, "p99_ms")
			b.ReportMetric(float64(stmts), "sql/req")
			fmt.Printf("BENCH_JSON {\"bench\":\"history\",\"dialect\":%q,\"case\":%q,\"requests\":%d,\"p50_ms\":%.2f,\"p99_ms\":%.2f,\"sql_per_request\":%d}\n",
				env.d, name, b.N, p50, p99, stmts)
			rows = append(rows, fmt.Sprintf("| %s | %s | %d | %.2f | %.2f | %d |", env.d, name, b.N, p50, p99, stmts))
		})
	}
	latency("runs/first", histRunsQuery, map[string]any{"p": env.project, "first": 50})
	latency("runs/deep", histRunsQuery, map[string]any{"p": env.project, "first": 50, "after": runsDeep})
	latency("runs/failed/deep", histRunsQuery, map[string]any{"p": env.project, "filter": failed["filter"], "first": 50, "after": failedDeep})
	latency("tasks/first", histTasksQuery, map[string]any{"id": env.bigRun, "first": 100})
	latency("tasks/deep", histTasksQuery, map[string]any{"id": env.bigRun, "first": 100, "after": tasksDeep})

	for _, c := range []struct {
		name, query string
		vars        map[string]any
	}{
		{"runs", histRunsQuery, map[string]any{"p": env.project}},
		{"tasks", histTasksQuery, map[string]any{"id": env.bigRun}},
	} {
		var counts []string
		for _, n := range []int{10, 50, 100} {
			vars := map[string]any{"first": n}
			for k, v := range c.vars {
				vars[k] = v
			}
			k := env.request(b, c.query, vars)
			counts = append(counts, fmt.Sprintf("first=%d: %d", n, k))
			fmt.Printf("BENCH_JSON {\"bench\":\"history_sql\",\"dialect\":%q,\"query\":%q,\"first\":%d,\"sql_per_request\":%d}\n", env.d, c.name, n, k)
		}
		rows = append(rows, fmt.Sprintf("| %s | %s statements | | | | %s |", env.d, c.name, strings.Join(counts, ", ")))
	}
	fmt.Println("| dialect | case | requests | p50 ms | p99 ms | SQL/request |\n|---|---|---:|---:|---:|---:|")
	for _, r := range rows {
		fmt.Println(r)
	}
}

// request runs one query, which must succeed, and returns the number of
// SQL statements it ran.
func (env *historyEnv) request(b *testing.B, query string, vars map[string]any) int64 {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	require.NoError(b, err)
	req, err := http.NewRequest(http.MethodPost, env.srv.URL+"/graphql", bytes.NewReader(body))
	require.NoError(b, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+env.token)
	env.stmts.Store(0)
	resp, err := env.srv.Client().Do(req)
	require.NoError(b, err)
	raw, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	require.NoError(b, err)
	n := env.stmts.Load()
	require.Equal(b, http.StatusOK, resp.StatusCode, "%s", raw)
	require.NotContains(b, string(raw), `"errors"`, "%s", raw)
	return n
}

// cursorAt pages through a connection (at path in the response) 500 at a
// time and returns the cursor of its nth item.
func (env *historyEnv) cursorAt(b *testing.B, query string, vars map[string]any, path string, nth int) string {
	after := ""
	seen := 0
	for {
		v := map[string]any{"first": 500}
		for k, x := range vars {
			v[k] = x
		}
		if after != "" {
			v["after"] = after
		}
		body, err := json.Marshal(map[string]any{"query": query, "variables": v})
		require.NoError(b, err)
		req, err := http.NewRequest(http.MethodPost, env.srv.URL+"/graphql", bytes.NewReader(body))
		require.NoError(b, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+env.token)
		resp, err := env.srv.Client().Do(req)
		require.NoError(b, err)
		var out struct {
			Data map[string]any `json:"data"`
		}
		require.NoError(b, json.NewDecoder(resp.Body).Decode(&out))
		_ = resp.Body.Close()
		var conn any = out.Data
		for _, part := range strings.Split(path, ".") {
			conn = conn.(map[string]any)[part]
		}
		c := conn.(map[string]any)
		info := c["pageInfo"].(map[string]any)
		n := len(c["edges"].([]any))
		if seen+n >= nth {
			// The cursor of the nth item: page again up to it.
			v["first"] = nth - seen
			body, _ := json.Marshal(map[string]any{"query": query, "variables": v})
			req, _ := http.NewRequest(http.MethodPost, env.srv.URL+"/graphql", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+env.token)
			resp, err := env.srv.Client().Do(req)
			require.NoError(b, err)
			require.NoError(b, json.NewDecoder(resp.Body).Decode(&out))
			_ = resp.Body.Close()
			conn = out.Data
			for _, part := range strings.Split(path, ".") {
				conn = conn.(map[string]any)[part]
			}
			return conn.(map[string]any)["pageInfo"].(map[string]any)["endCursor"].(string)
		}
		seen += n
		require.True(b, info["hasNextPage"].(bool), "fewer than %d items at %s", nth, path)
		after = info["endCursor"].(string)
	}
}

// printPlan prints the query plan of one statement the API ran.
func (env *historyEnv) printPlan(q string) {
	db, err := env.s.SQLDB()
	if err != nil {
		return
	}
	explain := "EXPLAIN "
	if env.d == store.SQLite {
		explain = "EXPLAIN QUERY PLAN "
	}
	if env.d == store.SQLite {
		// gorm's rendering quotes values with "…", which SQLite may take
		// for identifiers: give it '…' as the real statement's bound values.
		q = dquoted.ReplaceAllString(q, "'$1'")
	}
	rows, err := db.Query(explain + q)
	if err != nil {
		fmt.Printf("EXPLAIN failed: %v\n", err)
		return
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	fmt.Printf("PLAN %s: %.160s\n", env.d, q)
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return
		}
		var parts []string
		for i, v := range vals {
			if v.Valid {
				parts = append(parts, cols[i]+"="+v.String)
			}
		}
		fmt.Printf("  %s\n", strings.Join(parts, " "))
	}
}

var dquoted = regexp.MustCompile(`"([^"]*)"`)

func pct(xs []float64, p int) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[min(len(s)-1, max(0, i-1))]
}
