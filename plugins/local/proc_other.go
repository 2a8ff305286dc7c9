//go:build !unix

package local

import (
	"os"
	"os/exec"
)

// Without process groups, stopping a task kills its process only.

func setProcessGroup(*exec.Cmd) {}

func terminateGroup(pid int) { killGroup(pid) }

func killGroup(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Kill()
	}
}

func groupAlive(int) bool { return false }

func exitCode(state *os.ProcessState) int { return state.ExitCode() }
