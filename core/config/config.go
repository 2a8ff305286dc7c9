// Package config defines the settings of the jobgraph server.
//
// The doc comments of the Config fields are the configuration reference.
// Every setting has one name, its key, used in three places:
//
//	config file (YAML)   data_dir: /var/lib/jobgraph
//	environment          JOBGRAPH_DATA_DIR=/var/lib/jobgraph
//	command line         --data-dir=/var/lib/jobgraph
//
// The environment variable is JOBGRAPH_ followed by the key in upper case;
// the flag is the key with "_" replaced by "-". secret_key has no flag,
// because command lines are visible to every user of the machine (ps).
// Later sources win: defaults < config file < environment < flags.
// Durations are written like "30s", "2m" or "1m30s".
//
// This package only describes and checks settings; cmd/jobgraph loads them.
package config

import (
	"errors"
	"fmt"
	"github.com/jobgraph/jobgraph/core/queue"
	"github.com/jobgraph/jobgraph/core/run"
	"github.com/jobgraph/jobgraph/core/store"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config holds the server's settings. Default returns the defaults; Validate
// checks a Config. The struct tags name the keys.
//
// Config's String, GoString and LogValue never show SecretKey nor a database
// password, so a Config may be printed and logged.
type Config struct {
	// Listen (listen, JOBGRAPH_LISTEN, --listen) is the address of the HTTP
	// server as host:port. The host may be empty to listen on every
	// interface (":8080"); port 0 picks a free port.
	// Default "127.0.0.1:8080".
	Listen string `koanf:"listen"`

	// DataDir (data_dir, JOBGRAPH_DATA_DIR, --data-dir) is the directory
	// holding the server's state: the SQLite database (unless db says
	// otherwise), the generated secret key (unless secret_key or
	// secret_key_file say otherwise) and, later, the NATS store. A relative
	// path is relative to the working directory. Default "./data".
	DataDir string `koanf:"data_dir"`

	// DB (db, JOBGRAPH_DB, --db) selects the database:
	//
	//	""                                  SQLite file <data_dir>/jobgraph.db (the default)
	//	sqlite:PATH                         SQLite file PATH
	//	mysql://user:pass@host:port/db?opt  MySQL or MariaDB, URL form
	//	user:pass@tcp(host:port)/db?opt     MySQL or MariaDB, go-sql-driver form
	//
	// Prefer the config file or JOBGRAPH_DB over --db when the DSN holds a
	// password: command lines are visible to every user of the machine.
	DB string `koanf:"db"`

	// SecretKey (secret_key, JOBGRAPH_SECRET_KEY; no flag) is the base64
	// encoded 32-byte AES-256 key that seals stored credentials. When it is
	// empty the key is read from secret_key_file instead. Losing the key
	// makes the stored credentials unreadable. There is deliberately no
	// flag: command lines are visible to every user of the machine.
	SecretKey string `koanf:"secret_key"`

	// SecretKeyFile (secret_key_file, JOBGRAPH_SECRET_KEY_FILE,
	// --secret-key-file) is the file holding the secret key when secret_key
	// is empty. Empty (the default) means <data_dir>/secret.key. If the file
	// does not exist, a new key is generated into it on first start with
	// mode 0600. See KeyFile.
	SecretKeyFile string `koanf:"secret_key_file"`
	// PluginDir (plugin_dir, JOBGRAPH_PLUGIN_DIR, --plugin-dir) is the
	// directory of third-party executor plugins. Every executable in it must
	// be listed, with its SHA-256, in the plugins.json manifest there; an
	// unlisted or altered binary is refused. Built-in executors need no
	// entry. Empty (the default) means <data_dir>/plugins; a missing
	// directory means no third-party plugins. See PluginDirectory.
	PluginDir string `koanf:"plugin_dir"`

	// LogLevel (log_level, JOBGRAPH_LOG_LEVEL, --log-level) is the least
	// severe level logged: debug, info, warn or error. Default "info".
	LogLevel string `koanf:"log_level"`

	// LogFormat (log_format, JOBGRAPH_LOG_FORMAT, --log-format) is the log
	// output format: text (logfmt-style key=value) or json. Default "text".
	LogFormat string `koanf:"log_format"`

	// GraphiQL (graphiql, JOBGRAPH_GRAPHIQL, --graphiql) serves the GraphiQL
	// page at /graphiql. Default true.
	GraphiQL bool `koanf:"graphiql"`

	// Introspection (introspection, JOBGRAPH_INTROSPECTION, --introspection)
	// allows GraphQL schema introspection queries. GraphiQL needs it.
	// Default true.
	Introspection bool `koanf:"introspection"`

	// ComplexityLimit (complexity_limit, JOBGRAPH_COMPLEXITY_LIMIT,
	// --complexity-limit) is the highest complexity a GraphQL query may
	// have; more complex queries are refused before they run. At least 1.
	// Every field costs 1 and a list costs its page size (first) times the
	// cost of one item, so 25000 lets a client read 500 hosts with all their
	// fields but not nest one large list inside another. Default 25000.
	ComplexityLimit int `koanf:"complexity_limit"`

	// ShutdownTimeout (shutdown_timeout, JOBGRAPH_SHUTDOWN_TIMEOUT,
	// --shutdown-timeout) is how long requests in flight get to finish after
	// SIGTERM or SIGINT before the server stops anyway. A duration such as
	// "30s"; greater than 0. Default 30s.
	ShutdownTimeout time.Duration `koanf:"shutdown_timeout"`

	// SecureCookies (secure_cookies, JOBGRAPH_SECURE_COOKIES,
	// --secure-cookies) marks the session cookie Secure even when the server
	// itself speaks plain HTTP, as it does behind a TLS-terminating proxy.
	// Over TLS the cookie is always Secure. Default false.
	SecureCookies bool `koanf:"secure_cookies"`
	// AllowedOrigins (allowed_origins, JOBGRAPH_ALLOWED_ORIGINS,
	// --allowed-origins) is a comma-separated list of other origins, such as
	// "https://console.example.com", whose browser requests may use the
	// session cookie. The server's own origin always may. Default none.
	AllowedOrigins string `koanf:"allowed_origins"`

	// LogRetention (log_retention, JOBGRAPH_LOG_RETENTION, --log-retention)
	// is how long a task's log is kept after the task finished; older logs
	// are deleted whole, by a sweep at start and then every hour. The run
	// and its tasks stay: only their output goes. 0 keeps logs forever;
	// negative values are refused. Default 720h (30 days).
	LogRetention time.Duration `koanf:"log_retention"`

	// LogMaxBytes (log_max_bytes, JOBGRAPH_LOG_MAX_BYTES, --log-max-bytes)
	// caps the log stored for one task, all its attempts together: the
	// output past it is dropped and one marker line says so. At least
	// 1024. Default 10485760 (10 MiB).
	LogMaxBytes int `koanf:"log_max_bytes"`

	// NatsURL (nats_url, JOBGRAPH_NATS_URL, --nats-url) is the NATS server
	// (with JetStream) that carries tasks to workers, such as
	// "nats://10.0.0.5:4222" or a comma-separated cluster; use tls:// when
	// workers run on other machines, since claimed tasks carry their
	// credentials. Empty (the default) runs NATS inside the server, with
	// its store in <data_dir>/nats and no port opened: only the server's own
	// worker can reach it. Several server replicas and standalone workers
	// need a shared, external NATS.
	NatsURL string `koanf:"nats_url"`

	// NatsNamespace (nats_namespace, JOBGRAPH_NATS_NAMESPACE,
	// --nats-namespace) keeps this installation's streams and subjects apart
	// from another's on a shared NATS: the tasks stream is
	// <NAMESPACE>_TASKS and the subjects start with <namespace>.tasks.
	// Servers and workers of one installation must agree. Letters, digits,
	// '-' and '_'. Default "jobgraph".
	NatsNamespace string `koanf:"nats_namespace"`

	// WorkerTimeout (worker_timeout, JOBGRAPH_WORKER_TIMEOUT,
	// --worker-timeout) is how long a worker may go silent before the tasks
	// it runs are taken for lost: their queue messages go to another worker
	// after it, and the servers' rescuer loses a running task after twice
	// it. Workers report every sixth of it. Servers and workers should
	// agree. At least 1s. Default 30s.
	WorkerTimeout time.Duration `koanf:"worker_timeout"`

	// Workers (workers, JOBGRAPH_WORKERS, --workers) is how many tasks this
	// process's worker runs at once, per pool. 0 runs no worker here: tasks
	// wait for `jobgraph worker` processes (which need nats_url). Default 64.
	Workers int `koanf:"workers"`

	// WorkerPools (worker_pools, JOBGRAPH_WORKER_POOLS, --worker-pools) is
	// the comma-separated pool labels whose tasks this process's worker
	// takes; "any" stands for the tasks whose step requires no pool. A step
	// with pool: zone-a runs only on workers with zone-a here. Default "any".
	WorkerPools string `koanf:"worker_pools"`

	// SchedulerLease (scheduler_lease, JOBGRAPH_SCHEDULER_LEASE,
	// --scheduler-lease) is the lease of the replica that fires cron
	// schedules: when it dies, another replica takes over within about
	// this long. At least 300ms. Default 5s.
	SchedulerLease time.Duration `koanf:"scheduler_lease"`
	// PublicURL (public_url, JOBGRAPH_PUBLIC_URL, --public-url) is the
	// server's address as people reach it, such as
	// "https://jobgraph.example.com", used for the links to runs in
	// notifications. Empty (the default) leaves the links out.
	PublicURL string `koanf:"public_url"`
}

// Default returns the default settings.
func Default() Config {
	return Config{
		Listen:          "127.0.0.1:8080",
		DataDir:         "./data",
		LogLevel:        "info",
		LogFormat:       "text",
		GraphiQL:        true,
		Introspection:   true,
		ComplexityLimit: 25000,
		ShutdownTimeout: 30 * time.Second,
		LogRetention:    30 * 24 * time.Hour,
		LogMaxBytes:     run.DefaultMaxLogBytesPerTask,
		NatsNamespace:   "jobgraph",
		WorkerTimeout:   30 * time.Second,
		Workers:         64,
		WorkerPools:     "any",
		SchedulerLease:  5 * time.Second,
	}
}

// Validate reports every invalid setting, joined with errors.Join in the
// order of the Config fields. Each message starts with the key, for example
//
//	log_level: must be one of debug, info, warn, error (got "loud")
//
// Validate does not check db or secret_key: the store and the secrets
// package do when they use them, without showing the secret.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}

	if err := checkListen(c.Listen); err != nil {
		bad("listen", "%v", err)
	}
	if strings.TrimSpace(c.DataDir) == "" {
		bad("data_dir", "must not be empty")
	}
	if levels := []string{"debug", "info", "warn", "error"}; !slices.Contains(levels, c.LogLevel) {
		bad("log_level", "must be one of %s (got %q)", strings.Join(levels, ", "), c.LogLevel)
	}
	if formats := []string{"text", "json"}; !slices.Contains(formats, c.LogFormat) {
		bad("log_format", "must be one of %s (got %q)", strings.Join(formats, ", "), c.LogFormat)
	}
	if c.ComplexityLimit < 1 {
		bad("complexity_limit", "must be at least 1 (got %d)", c.ComplexityLimit)
	}
	if c.ShutdownTimeout <= 0 {
		bad("shutdown_timeout", "must be greater than 0 (got %s)", c.ShutdownTimeout)
	}
	if c.LogRetention < 0 {
		bad("log_retention", "must not be negative; 0 keeps logs forever (got %s)", c.LogRetention)
	}
	if c.LogMaxBytes < 1024 {
		bad("log_max_bytes", "must be at least 1024 (got %d)", c.LogMaxBytes)
	}
	if !validNamespace(c.NatsNamespace) {
		bad("nats_namespace", "must be 1 to 32 letters, digits, '-' or '_' (got %q)", c.NatsNamespace)
	}
	if c.WorkerTimeout < time.Second {
		bad("worker_timeout", "must be at least 1s (got %s)", c.WorkerTimeout)
	}
	if c.Workers < 0 || c.Workers > 100000 {
		bad("workers", "must be between 0 (no worker in this process) and 100000 (got %d)", c.Workers)
	}
	if len(c.Pools()) == 0 {
		bad("worker_pools", `must name at least one pool ("any" for tasks that require none)`)
	}
	for _, p := range c.Pools() {
		if strings.ContainsAny(p, ".*> \t") || len(p) > 63 {
			bad("worker_pools", "%q is not a pool label (no spaces, dots, '*' or '>'; at most 63 characters)", p)
		}
	}
	if c.SchedulerLease < 300*time.Millisecond {
		bad("scheduler_lease", "must be at least 300ms (got %s)", c.SchedulerLease)
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || !u.IsAbs() || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			bad("public_url", "must be an absolute http or https URL (got %q)", c.PublicURL)
		}
	}
	return errors.Join(errs...)
}

func checkListen(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf(`must be host:port, such as "127.0.0.1:8080" or ":8080" (got %q)`, addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("port must be a number from 0 to 65535 (got %q)", addr)
	}
	return nil
}

// PluginDirectory returns the plugin directory: PluginDir, or plugins in
// DataDir when PluginDir is empty.
func (c Config) PluginDirectory() string {
	if c.PluginDir != "" {
		return c.PluginDir
	}
	return filepath.Join(c.DataDir, "plugins")
}

// Origins returns AllowedOrigins as a list.
func (c Config) Origins() []string {
	var out []string
	for _, o := range strings.Split(c.AllowedOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, o)
		}
	}
	return out
}

func validNamespace(ns string) bool {
	if ns == "" || len(ns) > 32 {
		return false
	}
	for _, r := range ns {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// QueueNames returns the stream name and subject prefix of NatsNamespace.
func (c Config) QueueNames() (stream, subjectPrefix string) {
	return strings.ToUpper(c.NatsNamespace) + "_TASKS", c.NatsNamespace + ".tasks"
}

// Pools returns WorkerPools as queue pool names: "" for "any".
func (c Config) Pools() []string {
	var out []string
	for _, p := range strings.Split(c.WorkerPools, ",") {
		p = strings.TrimSpace(p)
		switch {
		case p == "":
		case p == "any":
			out = append(out, "")
		default:
			out = append(out, p)
		}
	}
	return out
}

// KeyFile returns the path of the secret key file: SecretKeyFile, or
// secret.key in DataDir when SecretKeyFile is empty.
func (c Config) KeyFile() string {
	if c.SecretKeyFile != "" {
		return c.SecretKeyFile
	}
	return filepath.Join(c.DataDir, "secret.key")
}

// LogValue implements slog.LogValuer: a group with every setting under its
// key, except that secret_key shows only "(set)" or "(unset)" and a password
// in db shows as "xxxxx".
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(c.attrs()...)
}

// String returns the same redacted view as LogValue, as
// {key=value ...} with strings quoted.
func (c Config) String() string {
	var b strings.Builder
	b.WriteByte('{')
	for i, a := range c.attrs() {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(a.Key)
		b.WriteByte('=')
		if a.Value.Kind() == slog.KindString {
			b.WriteString(strconv.Quote(a.Value.String()))
		} else {
			b.WriteString(a.Value.String())
		}
	}
	b.WriteByte('}')
	return b.String()
}

// GoString returns String, so that %#v does not print the secret either.
func (c Config) GoString() string { return "config.Config" + c.String() }

func (c Config) attrs() []slog.Attr {
	secret := "(unset)"
	if c.SecretKey != "" {
		secret = "(set)"
	}
	return []slog.Attr{
		slog.String("listen", c.Listen),
		slog.String("data_dir", c.DataDir),
		slog.String("db", store.RedactDSN(c.DB)),
		slog.String("secret_key", secret),
		slog.String("secret_key_file", c.SecretKeyFile),
		slog.String("plugin_dir", c.PluginDir),
		slog.String("log_level", c.LogLevel),
		slog.String("log_format", c.LogFormat),
		slog.Bool("graphiql", c.GraphiQL),
		slog.Bool("introspection", c.Introspection),
		slog.Int("complexity_limit", c.ComplexityLimit),
		slog.Duration("shutdown_timeout", c.ShutdownTimeout),
		slog.Bool("secure_cookies", c.SecureCookies),
		slog.String("allowed_origins", c.AllowedOrigins),
		slog.Duration("log_retention", c.LogRetention),
		slog.Int("log_max_bytes", c.LogMaxBytes),
		slog.String("nats_url", queue.RedactURL(c.NatsURL)),
		slog.String("nats_namespace", c.NatsNamespace),
		slog.Duration("worker_timeout", c.WorkerTimeout),
		slog.Int("workers", c.Workers),
		slog.String("worker_pools", c.WorkerPools),
		slog.Duration("scheduler_lease", c.SchedulerLease),
		slog.String("public_url", c.PublicURL),
	}
}
