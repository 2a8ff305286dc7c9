//go:build unix

package main

// The web console end to end: a real `jobgraph server` with the console
// built into it, a real sshd, and the console driven in Debian's Chromium by
// playwright-core (web/e2e/console.mjs). The script logs in, creates a
// credential and hosts, runs ad-hoc commands and watches a log line arrive
// live, re-runs failed hosts, and checks that a viewer cannot launch; it
// saves screenshots of the main pages under web/test-artifacts/console-e2e.
// A second script (web/e2e/jobs.mjs, subtest "jobs") builds a two-step job
// in the editor and launches it with a parameter, has an operator approve an
// approval step from the inbox, and sees a guard rule block an ad-hoc
// command; screenshots under web/test-artifacts/console-e2e-jobs. A third
// (web/e2e/gaps.mjs, subtest "gaps") pages host pickers and the groups list
// through a project of 300 hosts and 120 groups, edits a webhook trigger and
// a notification channel (its secret kept), reads the system audit log,
// diffs and restores a job version, resets a password, and has an operator
// approve from the run page a run a guard rule held; screenshots under
// web/test-artifacts/console-e2e-gaps.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/plugins/ssh/sshdtest"
)

// e2eChromium is Debian's Chromium (apt-get install chromium; .ci/deps).
const e2eChromium = "/usr/bin/chromium"

// e2eConsoleTimeout bounds the browser script as a whole; each of its waits
// has its own 30 s deadline.
const e2eConsoleTimeout = 4 * time.Minute

// e2eNeed fails the test under CI, and skips it elsewhere, when a tool the
// console's test needs is missing.
func e2eNeed(t *testing.T, what, fix string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("the console test needs %s (CI=%q): %v; %s", what, os.Getenv("CI"), err, fix)
	}
	t.Skipf("the console test needs %s: %v; %s", what, err, fix)
}

func TestE2EConsole(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	_, err = exec.LookPath("node")
	e2eNeed(t, "Node.js 20.19 or later", "install it", err)
	_, err = exec.LookPath("npm")
	e2eNeed(t, "npm", "install it with Node.js", err)
	_, err = exec.LookPath("make")
	e2eNeed(t, "make", "install it (apt-get install -y make)", err)
	_, err = os.Stat(e2eChromium)
	e2eNeed(t, e2eChromium, "apt-get install -y chromium (.ci/deps does)", err)

	// Build the console when its sources changed since the last build (make
	// decides), then the binary, unless TestMain's already serves this build.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	mk := exec.CommandContext(ctx, "make", "--no-print-directory", "-C", root, "web")
	out, err := mk.CombinedOutput()
	require.NoError(t, err, "make web:\n%s", out)
	index, err := os.ReadFile(filepath.Join(root, "web", "dist", "index.html"))
	require.NoError(t, err)
	bin := e2eBinary
	if !e2eServesConsole(t, bin, index) {
		bin = filepath.Join(t.TempDir(), "jobgraph")
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
		out, err := build.CombinedOutput()
		require.NoError(t, err, "go build:\n%s", out)
		require.True(t, e2eServesConsole(t, bin, index), "a binary built after make web serves the console it built")
	}

	sshd := sshdtest.Start(t)
	work := t.TempDir()
	require.NoError(t, os.Chmod(work, 0o755))
	keyFile := filepath.Join(work, "client_key")
	require.NoError(t, os.WriteFile(keyFile, sshd.ClientKey, 0o600))

	srv := e2eStartBinary(t, bin, "server", e2eEnv(), "server", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir())
	srv.waitServing()
	e2eLogin(t, srv.url)
	project := e2eCreateProject(t, srv.url, "console")
	const viewerPassword = "viewer-password-e2e"
	viewer := e2eMutateID(t, srv.url, `mutation($in: CreateUserInput!) { createUser(input: $in) { user { id } } }`,
		map[string]any{"username": "vera", "displayName": "Vera Viewer", "password": viewerPassword}, "createUser", "user", "id")
	var granted map[string]any
	e2eGraphQL(t, srv.url, `mutation($in: RoleGrantInput!) { grantRole(input: $in) { assignment { role } } }`,
		map[string]any{"in": map[string]any{"projectId": project, "userId": viewer, "role": "viewer"}}, &granted)

	// A second project with 1,000 hosts, for the run page's measure.
	scale := e2eCreateProject(t, srv.url, "scale")
	e2eCreateHosts(t, srv.url, scale, "host", 1000, map[string]any{"key": "fleet", "value": "big"})
	// And a finished run of a job whose steps make a DAG, for its drawing.
	e2eCreateHosts(t, srv.url, scale, "dag", 1, map[string]any{"key": "dag", "value": "yes"})
	job := e2eImportJob(t, srv.url, scale, `apiVersion: jobgraph/v1
kind: Job
name: diamond
steps:
  - {name: prepare, executor: local, action: command, targets: {selector: dag=yes}, params: {command: echo prepare}}
  - {name: lint, executor: local, action: command, targets: {selector: dag=yes}, params: {command: echo lint}}
  - {name: deploy, executor: local, action: command, needs: [prepare], targets: {selector: dag=yes}, params: {command: echo deploy}}
  - {name: verify, executor: local, action: command, needs: [deploy, lint], targets: {selector: dag=yes}, params: {command: echo verify}}
`)
	dagRun := e2eRunJob(t, srv.url, job)
	require.Equal(t, "SUCCEEDED", e2eWaitRun(t, srv.url, dagRun).Status)

	// The second slice's script: jobs, approvals and guard rules, in a
	// project of its own with one host the local executor runs on, and an
	// operator who approves what the admin launched (four eyes).
	jobsProject := e2eCreateProject(t, srv.url, "jobs")
	e2eCreateHosts(t, srv.url, jobsProject, "app", 1, map[string]any{"key": "role", "value": "app"})
	const operatorPassword = "operator-password-e2e"
	operator := e2eMutateID(t, srv.url, `mutation($in: CreateUserInput!) { createUser(input: $in) { user { id } } }`,
		map[string]any{"username": "otto", "displayName": "Otto Operator", "password": operatorPassword}, "createUser", "user", "id")
	e2eGraphQL(t, srv.url, `mutation($in: RoleGrantInput!) { grantRole(input: $in) { assignment { role } } }`,
		map[string]any{"in": map[string]any{"projectId": jobsProject, "userId": operator, "role": "operator"}}, &granted)

	// The third slice's script: a project with 300 hosts and more groups
	// than a page, a job with two versions, a job a guard rule holds for an
	// operator's approval, a webhook trigger and a signed webhook channel.
	gapsProject := e2eCreateProject(t, srv.url, "gaps")
	e2eCreateHosts(t, srv.url, gapsProject, "fleet", 300, map[string]any{"key": "fleet", "value": "gaps"})
	e2eCreateHosts(t, srv.url, gapsProject, "solo", 1, map[string]any{"key": "solo", "value": "yes"})
	e2eCreateGroups(t, srv.url, gapsProject, "grp", 120)
	versionedYAML := `apiVersion: jobgraph/v1
kind: Job
name: versioned
parameters:
  - {name: who, type: string, default: nobody}
steps:
  - {name: say, executor: local, action: command, targets: {selector: solo=yes}, params: {command: echo %s}}
`
	versioned := e2eImportJob(t, srv.url, gapsProject, fmt.Sprintf(versionedYAML, "one"))
	require.Equal(t, versioned, e2eImportJob(t, srv.url, gapsProject, fmt.Sprintf(versionedYAML, "two")), "a second import is version 2")
	e2eImportJob(t, srv.url, gapsProject, `apiVersion: jobgraph/v1
kind: Job
name: guarded
steps:
  - {name: ship, executor: local, action: command, targets: {selector: solo=yes}, params: {command: echo deploy-prod}}
`)
	e2eGraphQL(t, srv.url, `mutation($in: CreateGuardRuleInput!) { createGuardRule(input: $in) { rule { id } } }`,
		map[string]any{"in": map[string]any{"projectId": gapsProject, "name": "prod-gate", "pattern": `\bdeploy-prod\b`, "severity": "APPROVE",
			"approverRole": "operator", "description": "production deploys need an operator"}}, &granted)
	e2eGraphQL(t, srv.url, `mutation($in: CreateTriggerInput!) { createTrigger(input: $in) { secret } }`,
		map[string]any{"in": map[string]any{"projectId": gapsProject, "jobId": versioned, "name": "on-push",
			"params": []map[string]any{{"name": "who", "path": "$.pusher.name"}}}}, &granted)
	e2eGraphQL(t, srv.url, `mutation($in: CreateNotificationChannelInput!) { createNotificationChannel(input: $in) { channel { id } } }`,
		map[string]any{"in": map[string]any{"projectId": gapsProject, "name": "signed-hook", "events": []string{"RUN_FAILED"},
			"webhook": map[string]any{"url": srv.url + "/healthz", "secret": "a-signing-secret-of-some-length"}}}, &granted)
	e2eGraphQL(t, srv.url, `mutation($in: RoleGrantInput!) { grantRole(input: $in) { assignment { role } } }`,
		map[string]any{"in": map[string]any{"projectId": gapsProject, "userId": operator, "role": "operator"}}, &granted)

	base := append(os.Environ(),
		"JOBGRAPH_URL="+srv.url,
		"ADMIN_PASSWORD="+e2eAdminPassword,
		"CHROMIUM="+e2eChromium,
	)
	t.Run("slice1", func(t *testing.T) {
		e2eConsoleScript(t, root, "console.mjs", "console-e2e", append(base,
			"VIEWER_USER=vera",
			"VIEWER_PASSWORD="+viewerPassword,
			"PROJECT=console",
			"SCALE_PROJECT=scale",
			"DAG_RUN_PATH=/p/"+scale+"/runs/"+dagRun,
			"SSHD_ADDR="+sshd.Addr,
			"SSHD_PORT="+strconv.Itoa(sshd.Port),
			"SSH_KEY_FILE="+keyFile,
			"WORK_DIR="+work,
		), "01-login", "03-hosts", "05-run-live", "07-rerun", "09-viewer-adhoc")
	})
	t.Run("jobs", func(t *testing.T) {
		e2eConsoleScript(t, root, "jobs.mjs", "console-e2e-jobs", append(base,
			"PROJECT=jobs",
			"OPERATOR_USER=otto",
			"OPERATOR_PASSWORD="+operatorPassword,
		), "21-job-editor", "22-job-yaml", "23-launch-dialog", "24-job-run", "25-job-versions", "26-approval-on-run",
			"27-approvals-inbox", "28-approved-run", "29-guard-blocked", "30-guard-rules", "31-schedule-form", "32-group-preview",
			"33-executors", "34-webhook-secret", "35-audit", "36-token", "37-users", "38-roles", "39-members", "40-notifications")
	})
	t.Run("gaps", func(t *testing.T) {
		e2eConsoleScript(t, root, "gaps.mjs", "console-e2e-gaps", append(base,
			"PROJECT=gaps",
			"OPERATOR_USER=otto",
			"OPERATOR_PASSWORD="+operatorPassword,
			"VIEWER_USER=vera",
		), "51-host-picker", "52-static-group", "53-version-diff", "54-version-restored", "55-trigger-edit", "56-channel-edit",
			"57-system-audit", "58-password-form", "59-guard-held", "60-guard-approved")
	})
}

// e2eConsoleScript runs one browser script of web/e2e with env (plus
// ARTIFACTS, its screenshots folder under web/test-artifacts), and checks
// that it passed and took the screenshots named.
func e2eConsoleScript(t *testing.T, root, script, folder string, env []string, shots ...string) {
	artifacts := filepath.Join(root, "web", "test-artifacts", folder)
	require.NoError(t, os.RemoveAll(artifacts))
	t.Logf("console screenshots: %s", artifacts)

	sctx, scancel := context.WithTimeout(t.Context(), e2eConsoleTimeout)
	defer scancel()
	cmd := exec.CommandContext(sctx, "node", filepath.Join("e2e", script))
	cmd.Dir = filepath.Join(root, "web")
	cmd.Env = append(env, "ARTIFACTS="+artifacts)
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	err := cmd.Run()
	t.Logf("web/e2e/%s:\n%s", script, output.String())
	if sctx.Err() != nil {
		t.Fatalf("the browser script did not end within %s", e2eConsoleTimeout)
	}
	require.NoError(t, err, "web/e2e/%s failed; screenshots in %s", script, artifacts)
	require.Contains(t, output.String(), "all passed")
	for _, name := range shots {
		_, err := os.Stat(filepath.Join(artifacts, name+".png"))
		require.NoError(t, err, "screenshot %s", name)
	}
}

func e2eServesConsole(t *testing.T, bin string, index []byte) bool {
	t.Helper()
	p := e2eStartBinary(t, bin, "console probe", e2eEnv(), "server", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir())
	p.waitServing()
	defer p.stop(os.Interrupt)
	resp, err := e2eClient.Get(p.url + "/")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode == http.StatusOK && bytes.Equal(bytes.TrimSpace(body), bytes.TrimSpace(index)) && strings.Contains(string(body), `id="root"`)
}

// e2eCreateGroups creates n selector groups named prefix-0001..., 50 to a
// request.
func e2eCreateGroups(t *testing.T, baseURL, projectID, prefix string, n int) {
	t.Helper()
	const batch = 50
	for from := 0; from < n; from += batch {
		var q strings.Builder
		vars := map[string]any{}
		q.WriteString("mutation(")
		for i := from; i < min(from+batch, n); i++ {
			fmt.Fprintf(&q, "$g%d: CreateHostGroupInput!,", i)
			vars[fmt.Sprintf("g%d", i)] = map[string]any{"projectId": projectID, "name": fmt.Sprintf("%s-%04d", prefix, i+1),
				"selector": fmt.Sprintf("fleet=gaps,slot=%d", i+1)}
		}
		q.WriteString(") {")
		for i := from; i < min(from+batch, n); i++ {
			fmt.Fprintf(&q, " g%d: createHostGroup(input: $g%d) { hostGroup { id } }", i, i)
		}
		q.WriteString(" }")
		var data map[string]any
		e2eGraphQL(t, baseURL, q.String(), vars, &data)
		require.Len(t, data, min(batch, n-from))
	}
}

// e2eCreateHosts creates n hosts named prefix-0001... with label, 50 to a
// request (aliased mutations run one after the other).
func e2eCreateHosts(t *testing.T, baseURL, projectID, prefix string, n int, label map[string]any) {
	t.Helper()
	const batch = 50
	for from := 0; from < n; from += batch {
		var q strings.Builder
		vars := map[string]any{}
		q.WriteString("mutation(")
		for i := from; i < min(from+batch, n); i++ {
			fmt.Fprintf(&q, "$h%d: CreateHostInput!,", i)
			vars[fmt.Sprintf("h%d", i)] = map[string]any{"projectId": projectID, "name": fmt.Sprintf("%s-%04d", prefix, i+1),
				"address": "127.0.0.1", "labels": []map[string]any{label}}
		}
		q.WriteString(") {")
		for i := from; i < min(from+batch, n); i++ {
			fmt.Fprintf(&q, " h%d: createHost(input: $h%d) { host { id } }", i, i)
		}
		q.WriteString(" }")
		var data map[string]any
		e2eGraphQL(t, baseURL, q.String(), vars, &data)
		require.Len(t, data, min(batch, n-from))
	}
}
