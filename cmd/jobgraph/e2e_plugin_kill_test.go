package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestE2EPluginKilledMidTask: the executor plugin process (a child of the
// server: `jobgraph plugin serve local`) is SIGKILLed while its task runs.
// The attempt fails as the plugin's crash, the host starts the plugin
// again, and the task is retried once and succeeds, with every log line
// once.
func TestE2EPluginKilledMidTask(t *testing.T) {
	t.Parallel()
	srv := e2eStartServer(t, "server", e2eEnv(), "--listen", "127.0.0.1:0", "--data-dir", t.TempDir())
	project := e2eCreateProject(t, srv.url, "plugin-faults")
	host := e2eCreateHost(t, srv.url, map[string]any{"projectId": project, "name": "box", "address": "127.0.0.1"})
	yaml, _ := e2eBlockOnceJob(t, host)
	runID := e2eRunJob(t, srv.url, e2eImportJob(t, srv.url, project, yaml))
	taskID := e2eWaitStarted(t, srv.url, runID)

	pid := pluginChild(t, srv.cmd.Process.Pid, "local")
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	killed := time.Now()
	r := e2eWaitRun(t, srv.url, runID)
	t.Logf("run ended %s %s after the plugin was killed", r.Status, time.Since(killed).Round(time.Millisecond))
	e2eRequireRetriedOnce(t, srv.url, r, taskID)
}

// pluginChild returns the PID of the child of parent that serves the
// built-in executor name.
func pluginChild(t *testing.T, parent int, name string) int {
	t.Helper()
	want := []byte("plugin\x00serve\x00" + name + "\x00")
	var found int
	e2ePoll(t, "the "+name+" plugin process", e2eTimeout, func() bool {
		stats, _ := filepath.Glob("/proc/[0-9]*/stat")
		for _, st := range stats {
			b, err := os.ReadFile(st)
			if err != nil {
				continue
			}
			// pid (comm) state ppid ...: comm may hold spaces; split after ')'.
			fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
			if len(fields) < 2 || fields[1] != strconv.Itoa(parent) {
				continue
			}
			dir := filepath.Dir(st)
			cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline"))
			if err == nil && bytes.Contains(cmdline, want) {
				found, _ = strconv.Atoi(filepath.Base(dir))
				return true
			}
		}
		return false
	})
	return found
}
