//go:build jgpprof

package main

// Built only with -tags jgpprof, for benchmarks: on SIGUSR1 the process
// (the server, or an executor plugin: they are the same binary) writes a
// heap profile (after a GC) and a goroutine profile to
// $TMPDIR/jobgraph-{heap,goroutine}-<pid>.pprof. Plugins are started without
// the server's environment, so a signal is the way in.

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"syscall"
)

func init() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR1)
	go func() {
		for range ch {
			runtime.GC()
			for _, name := range []string{"heap", "goroutine"} {
				f, err := os.Create(filepath.Join(os.TempDir(), fmt.Sprintf("jobgraph-%s-%d.pprof", name, os.Getpid())))
				if err != nil {
					continue
				}
				_ = pprof.Lookup(name).WriteTo(f, 0)
				_ = f.Close()
			}
		}
	}()
}
