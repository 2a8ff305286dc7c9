// Package host runs jobgraph's executor plugins: it is what the server (and
// `jobgraph worker`) uses to execute tasks. It finds and verifies plugin
// binaries, starts one process per plugin on first use (hashicorp/go-plugin
// over gRPC, with AutoMTLS), sends it tasks, redacts secrets from what comes
// back, restarts it after a crash, and stops it when idle or on shutdown.
//
// It imports only plugins/sdk (and go-plugin, hclog, the standard library):
// the host knows executors through the SDK's contract, never the server's
// internals, and treats built-in and third-party executors alike.
//
// # Use
//
//	h := host.New(host.Options{Logger: log, PrivateDir: filepath.Join(dataDir, "plugins")})
//	self, _ := os.Executable()
//	h.Register(host.Source{Name: "ssh", Path: self, Args: []string{"plugin", "serve", "ssh"}, BuiltIn: true})
//	srcs, errs := host.Discover(pluginDir, host.Manifest{}) // reads pluginDir/plugins.json
//	for _, err := range errs {
//		log.Warn("plugin refused", "err", err)
//	}
//	for _, s := range srcs {
//		if err := h.Register(s); err != nil {
//			log.Warn("plugin refused", "err", err)
//		}
//	}
//	h.Start(ctx)
//	defer h.Stop()
//	if errs, err := h.Validate(ctx, "ssh", "command", params, target); … // when a job is saved
//	res, err := h.Execute(ctx, "ssh", task, out)                         // for each task
//
// # Lifecycle of a plugin
//
// Each registered plugin moves through these states (State, in List; the
// table is stateTransitions):
//
//	not-started ──── first use ──────────────────────────────► starting
//	starting ─────── described; name and protocol ok ────────► ready
//	starting ─────── start, handshake or describe failed ────► failed
//	ready ────────── process exited, connection lost, a call
//	                 failed with ErrPluginExited, or a health
//	                 check failed ───────────────────────────► crashed
//	ready ────────── no call for IdleTimeout ────────────────► stopped
//	crashed, failed ─ first use after the backoff ───────────► starting
//	stopped ──────── first use ──────────────────────────────► starting
//	any ──────────── Stop ───────────────────────────────────► stopped, for good
//
// Step by step:
//  1. Register records a Source; nothing runs. An external binary is copied
//     into Options.PrivateDir and its SHA-256 checked there.
//  2. The first call that needs the plugin (Execute, Validate, Describe)
//     starts its process; concurrent first calls share that one start. The
//     start runs detached from the callers, bounded by StartTimeout and
//     DescribeTimeout, so a caller that gives up does not abort it.
//  3. go-plugin checks the binary's checksum again (SecureConfig), passes
//     only a minimal environment (PATH, HOME, TMPDIR, LANG and the Source's
//     Env; SkipHostEnv keeps the server's own, DB passwords included, out),
//     checks the handshake cookie and protocol version, and sets up mTLS.
//  4. The host calls Describe: the plugin must name itself as registered,
//     speak protocol 1, and offer valid actions whose JSON Schemas compile.
//     The answer is cached for the life of the process. A plugin that does
//     not answer within DescribeTimeout is killed.
//  5. The process serves every task concurrently, one gRPC stream each.
//  6. A supervisor per process health-checks it every HealthInterval (a
//     Describe bounded by DescribeTimeout), and stops it when no call ran
//     for IdleTimeout (the next use starts it again).
//  7. A crash (the connection drops, a call fails with
//     sdk.ErrPluginExited, a health check fails) marks the plugin crashed:
//     calls in flight end with an error wrapping sdk.ErrPluginExited, the
//     process is killed, and the next use after the backoff (MinBackoff,
//     doubling to MaxBackoff; reset once a process stays up MaxBackoff)
//     starts a new one. Calls during the backoff fail at once with
//     ErrBackoff: the engine's retry policy decides what to do, and a plugin
//     that crashes on every start cannot stall every task for MaxBackoff.
//  8. Stop kills every process and waits until they are gone.
//
// One plugin's failures never touch another's process or the server's:
// each plugin has its own process, state and backoff.
//
// # Errors
//
// Host methods return a *PluginError naming the plugin and the operation;
// its Err tells why, to be tested with errors.Is/As: ErrUnknownPlugin,
// ErrUnknownAction, ErrChecksumMismatch, ErrBackoff, ErrClosed,
// ErrNotStarted, sdk.ErrPluginExited (the engine may retry the task),
// *sdk.ProtocolError, the caller's context error, or go-plugin's start
// errors with a hint of what they mean.
//
// A plugin must not return the gRPC codes UNAVAILABLE or CANCELLED from its
// own handlers: the host takes them for a dead process (sdk.Client maps both
// to sdk.ErrPluginExited) and restarts it. Failures belong in the Result.
//
// # Security
//
//   - Binaries: the plugin directory's manifest (plugins.json) lists each
//     allowed binary with its SHA-256; Discover refuses the others. With
//     Options.PrivateDir, Register copies each binary into a 0700 directory
//     and verifies the copy, which is what runs, closing the window between
//     go-plugin's hash and its exec of the same path.
//   - Environment: plugins get a minimal one; credentials travel only in
//     each task.
//   - Redaction: a Redactor wraps every plugin; credential material and
//     secret parameter values are replaced by "[REDACTED]" in everything
//     the plugin sends back, and in its log lines while its tasks run.
//   - Orphans: on Linux a plugin gets SIGKILL if the server dies without
//     stopping it (parent-death signal).
//
// # Logs
//
// The host logs through Options.Logger with component=plugins and
// plugin=<name>: its own events, go-plugin's, each line the plugin writes
// to stdout or stderr (at Info, or the level of an hclog JSON line or a
// "[WARN]"-style prefix), and a crashing plugin's panic.
package host
