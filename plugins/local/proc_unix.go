//go:build unix

package local

import (
	"os"
	"os/exec"
	"syscall"
)

// setProcessGroup makes cmd lead a new process group, so that stopping
// the task reaches every process it started.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// terminateGroup sends SIGTERM to the process group pgid.
func terminateGroup(pgid int) { _ = syscall.Kill(-pgid, syscall.SIGTERM) }

// killGroup sends SIGKILL to the process group pgid, if it still exists.
func killGroup(pgid int) {
	if groupAlive(pgid) {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
}

// groupAlive reports whether the process group pgid has a process left.
func groupAlive(pgid int) bool { return syscall.Kill(-pgid, 0) == nil }

// exitCode is the process's exit code, or 128+N when signal N killed it,
// as shells report it.
func exitCode(state *os.ProcessState) int {
	if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return state.ExitCode()
}
