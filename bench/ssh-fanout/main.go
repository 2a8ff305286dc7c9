// Command ssh-fanout runs `echo hello` (or any command) on N target
// entries with jobgraph's ssh executor, driven the way the server drives
// it: through plugins/host, which starts the executor as a plugin process
// (`jobgraph plugin serve ssh`) and sends it one task per target, all at
// once. It is the `ext` tool of ../shared/bench/fanout/run.sh:
//
//	ssh-fanout -jobgraph BIN -mode conns|pool N ADDR PORT KEY KNOWN_HOSTS CMD HOSTS_FILE
//
// and prints hosts_ok=K. Mode pool gives every target the same known_hosts,
// so the targets (all the same sshd) share pooled connections (64
// sessions each), as tasks to one host do. Mode conns gives each target its
// own known_hosts line (the address plus the target's name), so each gets
// its own connection, as N distinct hosts would.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jobgraph/jobgraph/plugins/host"
	"github.com/jobgraph/jobgraph/plugins/sdk"
)

type output struct {
	mu     sync.Mutex
	stdout bytes.Buffer
	stderr bytes.Buffer
}

type lockedWriter struct {
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (o *output) Stdout() io.Writer        { return lockedWriter{&o.mu, &o.stdout} }
func (o *output) Stderr() io.Writer        { return lockedWriter{&o.mu, &o.stderr} }
func (o *output) Progress(int, string)     {}
func (o *output) SetOutput(string, string) {}

func main() {
	bin := flag.String("jobgraph", "", "path of the jobgraph binary")
	mode := flag.String("mode", "pool", "pool or conns")
	expect := flag.String("expect", "hello", "what every target's stdout must contain")
	flag.Parse()
	a := flag.Args()
	if *bin == "" || len(a) != 7 || (*mode != "pool" && *mode != "conns") {
		fmt.Fprintln(os.Stderr, "usage: ssh-fanout -jobgraph BIN -mode pool|conns N ADDR PORT KEY KNOWN_HOSTS CMD HOSTS_FILE")
		os.Exit(2)
	}
	n, _ := strconv.Atoi(a[0])
	addr := a[1]
	port, _ := strconv.Atoi(a[2])
	key, err := os.ReadFile(a[3])
	check(err)
	kh, err := os.ReadFile(a[4])
	check(err)
	cmd := a[5]
	hostsRaw, err := os.ReadFile(a[6])
	check(err)
	names := strings.Fields(string(hostsRaw))
	if len(names) < n {
		check(fmt.Errorf("hosts file has %d names, want %d", len(names), n))
	}
	khFields := strings.Fields(strings.TrimSpace(string(kh)))
	if len(khFields) < 3 {
		check(fmt.Errorf("known_hosts: want one line \"host keytype key\""))
	}

	t0 := time.Now()
	trace := func(what string) {
		if os.Getenv("SSH_FANOUT_TRACE") != "" {
			fmt.Fprintf(os.Stderr, "ssh-fanout: %s at %s\n", what, time.Since(t0).Round(time.Millisecond))
		}
	}
	h := host.New(host.Options{IdleTimeout: host.Never, HealthInterval: host.Never})
	check(h.Register(host.Source{Name: "ssh", Path: *bin, Args: []string{"plugin", "serve", "ssh"}, BuiltIn: true}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	check(h.Start(ctx))
	defer func() { h.Stop(); trace("host stopped") }()
	_, err = h.Describe(ctx, "ssh")
	check(err)
	trace("plugin started")

	var ok atomic.Int64
	var firstErr sync.Once
	var wg sync.WaitGroup
	for i := range n {
		known := string(kh)
		if *mode == "conns" {
			known = khFields[0] + "," + names[i] + " " + khFields[1] + " " + khFields[2]
		}
		params, _ := json.Marshal(map[string]any{"command": cmd, "known_hosts": known})
		task := sdk.Task{
			ID:         fmt.Sprintf("fanout-%d", i),
			Action:     "command",
			Params:     params,
			Target:     sdk.Target{ID: names[i], Name: names[i], Address: addr, Port: port},
			Credential: &sdk.Credential{Kind: "ssh_key", Username: "root", Secret: key},
			Attempt:    1,
		}
		wg.Go(func() {
			out := &output{}
			res, err := h.Execute(ctx, "ssh", task, out)
			if err == nil && res.Status == sdk.StatusSucceeded && strings.Contains(out.stdout.String(), *expect) {
				ok.Add(1)
				return
			}
			firstErr.Do(func() {
				fmt.Fprintf(os.Stderr, "ssh-fanout: %s: err=%v result=%+v stderr=%q\n", names[i], err, res, out.stderr.String())
			})
		})
	}
	wg.Wait()
	trace("tasks done")
	fmt.Printf("hosts_ok=%d\n", ok.Load())
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "ssh-fanout:", err)
		os.Exit(1)
	}
}
