package host

import (
	"os/exec"
	"syscall"
)

// setProcAttr makes the kernel SIGKILL the plugin if the server dies
// without stopping it (go-plugin #210, dkron #247: orphaned plugins pile
// up). Linux sends the signal when the thread that started the child
// exits, not the process. The Go runtime ends a thread only when a
// goroutine that locked it (runtime.LockOSThread) exits without unlocking,
// which is rare in a server; should it happen, the plugin dies, and the
// host treats it as any crash (restart on next use).
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
