package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core/config"
)

// flags returns a flag set with addConfigFlags' flags, parsed from args.
func flags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("jobgraph", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	addConfigFlags(fs)
	require.NoError(t, fs.Parse(args))
	return fs
}

// configFile writes content to a new YAML file and returns its path.
func configFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jobgraph.yaml")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

func TestLoadConfigDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(flags(t), nil)
	require.NoError(t, err)
	require.Equal(t, config.Default(), cfg)

	cfg, err = loadConfig(nil, []string{"PATH=/bin", "HOME=/root"})
	require.NoError(t, err)
	require.Equal(t, config.Default(), cfg)
}

func TestLoadConfigPrecedence(t *testing.T) {
	t.Parallel()
	path := configFile(t, "listen: 127.0.0.1:7000\nlog_level: warn\n")
	env := []string{"JOBGRAPH_LOG_LEVEL=debug"}
	d := config.Default()

	// The file alone sets both.
	cfg, err := loadConfig(flags(t, "--config", path), nil)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:7000", cfg.Listen)
	require.Equal(t, "warn", cfg.LogLevel)

	// The environment beats the file for log_level only.
	cfg, err = loadConfig(flags(t, "--config", path), env)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:7000", cfg.Listen)
	require.Equal(t, "debug", cfg.LogLevel)

	// A flag beats the file for listen only; the environment keeps log_level.
	cfg, err = loadConfig(flags(t, "--config", path, "--listen", ":9000"), env)
	require.NoError(t, err)
	require.Equal(t, ":9000", cfg.Listen)
	require.Equal(t, "debug", cfg.LogLevel)

	// Everything else is the default.
	want := d
	want.Listen, want.LogLevel = ":9000", "debug"
	require.Equal(t, want, cfg)

	// A flag set explicitly wins even when it repeats the default, and
	// beats the environment too.
	cfg, err = loadConfig(
		flags(t, "--config", path, "--listen", d.Listen, "--log-level", "error"),
		append(env, "JOBGRAPH_LISTEN=:9100"))
	require.NoError(t, err)
	require.Equal(t, d.Listen, cfg.Listen)
	require.Equal(t, "error", cfg.LogLevel)

	// The environment beats the file for listen when no flag is set.
	cfg, err = loadConfig(flags(t, "--config", path), append(env, "JOBGRAPH_LISTEN=:9100"))
	require.NoError(t, err)
	require.Equal(t, ":9100", cfg.Listen)
}

func TestLoadConfigEveryKey(t *testing.T) {
	t.Parallel()
	want := config.Config{
		Listen:          ":1",
		DataDir:         "/var/lib/jobgraph",
		DB:              "jg:pw@tcp(db:3306)/jobgraph",
		SecretKey:       "a2V5",
		SecretKeyFile:   "/etc/jobgraph/key",
		LogLevel:        "debug",
		LogFormat:       "json",
		GraphiQL:        false,
		Introspection:   false,
		ComplexityLimit: 50,
		ShutdownTimeout: 90 * time.Second,
		LogRetention:    168 * time.Hour,
		LogMaxBytes:     1 << 30,
		NatsURL:         "nats://10.0.0.5:4222",
		NatsNamespace:   "jg-test",
		WorkerTimeout:   12 * time.Second,
		Workers:         8,
		WorkerPools:     "any,zone-a",
		SchedulerLease:  2 * time.Second,
	}

	t.Run("file", func(t *testing.T) {
		t.Parallel()
		path := configFile(t, `
listen: ":1"
data_dir: /var/lib/jobgraph
db: "jg:pw@tcp(db:3306)/jobgraph"
secret_key: a2V5
secret_key_file: /etc/jobgraph/key
log_level: debug
log_format: json
graphiql: false
introspection: false
complexity_limit: 50
shutdown_timeout: 1m30s
log_retention: 168h
log_max_bytes: 1073741824
nats_url: nats://10.0.0.5:4222
nats_namespace: jg-test
worker_timeout: 12s
workers: 8
worker_pools: any,zone-a
scheduler_lease: 2s
`)
		cfg, err := loadConfig(flags(t, "--config", path), nil)
		require.NoError(t, err)
		require.Equal(t, want, cfg)
	})

	t.Run("env", func(t *testing.T) {
		t.Parallel()
		cfg, err := loadConfig(flags(t), []string{
			"JOBGRAPH_LISTEN=:1",
			"JOBGRAPH_DATA_DIR=/var/lib/jobgraph",
			"JOBGRAPH_DB=jg:pw@tcp(db:3306)/jobgraph",
			"JOBGRAPH_SECRET_KEY=a2V5",
			"JOBGRAPH_SECRET_KEY_FILE=/etc/jobgraph/key",
			"JOBGRAPH_LOG_LEVEL=debug",
			"JOBGRAPH_LOG_FORMAT=json",
			"JOBGRAPH_GRAPHIQL=false",
			"JOBGRAPH_INTROSPECTION=0",
			"JOBGRAPH_COMPLEXITY_LIMIT=50",
			"JOBGRAPH_SHUTDOWN_TIMEOUT=90s",
			"JOBGRAPH_LOG_RETENTION=168h",
			"JOBGRAPH_LOG_MAX_BYTES=1073741824",
			"JOBGRAPH_NATS_URL=nats://10.0.0.5:4222",
			"JOBGRAPH_NATS_NAMESPACE=jg-test",
			"JOBGRAPH_WORKER_TIMEOUT=12s",
			"JOBGRAPH_WORKERS=8",
			"JOBGRAPH_WORKER_POOLS=any,zone-a",
			"JOBGRAPH_SCHEDULER_LEASE=2s",
		})
		require.NoError(t, err)
		require.Equal(t, want, cfg)
	})

	t.Run("flags", func(t *testing.T) {
		t.Parallel()
		cfg, err := loadConfig(flags(t,
			"--listen=:1",
			"--data-dir=/var/lib/jobgraph",
			"--db=jg:pw@tcp(db:3306)/jobgraph",
			"--secret-key-file=/etc/jobgraph/key",
			"--log-level=debug",
			"--log-format=json",
			"--graphiql=false",
			"--introspection=false",
			"--complexity-limit=50",
			"--shutdown-timeout=1m30s",
			"--log-retention=168h",
			"--log-max-bytes=1073741824",
			"--nats-url=nats://10.0.0.5:4222",
			"--nats-namespace=jg-test",
			"--worker-timeout=12s",
			"--workers=8",
			"--worker-pools=any,zone-a",
			"--scheduler-lease=2s",
		), []string{"JOBGRAPH_SECRET_KEY=a2V5"})
		require.NoError(t, err)
		require.Equal(t, want, cfg)
	})
}

func TestLoadConfigBoolEnv(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(flags(t), []string{"JOBGRAPH_GRAPHIQL=false"})
	require.NoError(t, err)
	require.False(t, cfg.GraphiQL)
	require.True(t, cfg.Introspection)

	// The environment turns off what the file turned on, and a bare flag
	// turns it on again.
	path := configFile(t, "graphiql: true\nintrospection: true\n")
	cfg, err = loadConfig(flags(t, "--config", path), []string{"JOBGRAPH_GRAPHIQL=FALSE", "JOBGRAPH_INTROSPECTION=false"})
	require.NoError(t, err)
	require.False(t, cfg.GraphiQL)
	require.False(t, cfg.Introspection)

	cfg, err = loadConfig(flags(t, "--config", path, "--graphiql"), []string{"JOBGRAPH_GRAPHIQL=false"})
	require.NoError(t, err)
	require.True(t, cfg.GraphiQL)
}

func TestLoadConfigLogRetentionZero(t *testing.T) {
	t.Parallel()
	// 0 keeps logs forever, and needs no unit in any layer.
	for _, tc := range []struct {
		file string
		env  []string
		args []string
	}{
		{file: "log_retention: 0\n"},
		{file: "log_retention: 0s\n"},
		{env: []string{"JOBGRAPH_LOG_RETENTION=0"}},
		{args: []string{"--log-retention=0"}},
	} {
		args := tc.args
		if tc.file != "" {
			args = append(args, "--config", configFile(t, tc.file))
		}
		cfg, err := loadConfig(flags(t, args...), tc.env)
		require.NoError(t, err, "%+v", tc)
		require.Zero(t, cfg.LogRetention, "%+v", tc)
	}
}

func TestLoadConfigFileChoice(t *testing.T) {
	t.Parallel()
	fromFlag := configFile(t, "log_level: warn\n")
	fromEnv := configFile(t, "log_level: error\n")

	cfg, err := loadConfig(flags(t), []string{"JOBGRAPH_CONFIG=" + fromEnv})
	require.NoError(t, err)
	require.Equal(t, "error", cfg.LogLevel)

	cfg, err = loadConfig(flags(t, "--config", fromFlag), []string{"JOBGRAPH_CONFIG=" + fromEnv})
	require.NoError(t, err)
	require.Equal(t, "warn", cfg.LogLevel)

	// An explicitly empty --config means no file, even with JOBGRAPH_CONFIG.
	cfg, err = loadConfig(flags(t, "--config="), []string{"JOBGRAPH_CONFIG=" + fromEnv})
	require.NoError(t, err)
	require.Equal(t, "info", cfg.LogLevel)

	// So does an empty JOBGRAPH_CONFIG.
	cfg, err = loadConfig(flags(t), []string{"JOBGRAPH_CONFIG="})
	require.NoError(t, err)
	require.Equal(t, config.Default(), cfg)

	// An empty file, or one with only comments, sets nothing.
	cfg, err = loadConfig(flags(t, "--config", configFile(t, "# nothing yet\n")), nil)
	require.NoError(t, err)
	require.Equal(t, config.Default(), cfg)

	// null keeps the value below.
	cfg, err = loadConfig(flags(t, "--config", configFile(t, "log_level: null\ndb:\n")), nil)
	require.NoError(t, err)
	require.Equal(t, config.Default(), cfg)
}

func TestLoadConfigMissingFile(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "nope.yaml")

	_, err := loadConfig(flags(t, "--config", missing), nil)
	require.Error(t, err)
	require.Contains(t, err.Error(), missing)
	require.Contains(t, err.Error(), "--config")
	require.ErrorIs(t, err, os.ErrNotExist)

	_, err = loadConfig(flags(t), []string{"JOBGRAPH_CONFIG=" + missing})
	require.Error(t, err)
	require.Contains(t, err.Error(), "JOBGRAPH_CONFIG")
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestLoadConfigUnknownFileKey(t *testing.T) {
	t.Parallel()
	path := configFile(t, "listn: :9000\nlog_level: debug\n")
	_, err := loadConfig(flags(t, "--config", path), nil)
	require.Error(t, err)
	require.Contains(t, err.Error(), `unknown key "listn"`)
	require.Contains(t, err.Error(), path)

	// All of them, sorted; nested ones by their top-level key; the flag and
	// environment spellings are not keys.
	path = configFile(t, "log:\n  level: debug\ndata-dir: /x\nsecret-key: abc\nconfig: /y\n")
	_, err = loadConfig(flags(t, "--config", path), nil)
	require.Error(t, err)
	require.Contains(t, err.Error(), `unknown keys "config", "data-dir", "log", "secret-key"`)
	require.NotContains(t, err.Error(), "abc")
}

func TestLoadConfigBadValues(t *testing.T) {
	t.Parallel()
	const secret = "c2VjcmV0LWtleS1kby1ub3QtbG9n"
	tests := []struct {
		name  string
		file  string
		env   []string
		args  []string
		want  []string
		never string
	}{
		{
			name: "duration in env",
			env:  []string{"JOBGRAPH_SHUTDOWN_TIMEOUT=abc"},
			want: []string{`shutdown_timeout (from JOBGRAPH_SHUTDOWN_TIMEOUT): must be a duration such as "30s"`, `(got "abc")`},
		},
		{
			name: "duration without unit in env",
			env:  []string{"JOBGRAPH_SHUTDOWN_TIMEOUT=10"},
			want: []string{"shutdown_timeout (from JOBGRAPH_SHUTDOWN_TIMEOUT)"},
		},
		{
			name: "duration without unit in file",
			file: "shutdown_timeout: 10\n",
			want: []string{"shutdown_timeout (from config file ", `must be a duration with a unit, such as "30s" (got 10)`},
		},
		{
			name: "int in env",
			env:  []string{"JOBGRAPH_COMPLEXITY_LIMIT=x"},
			want: []string{`complexity_limit (from JOBGRAPH_COMPLEXITY_LIMIT): must be an integer (got "x")`},
		},
		{
			name: "fraction in file",
			file: "complexity_limit: 1.5\n",
			want: []string{"complexity_limit (from config file ", "must be an integer (got 1.5)"},
		},
		{
			name: "bool in env",
			env:  []string{"JOBGRAPH_GRAPHIQL=maybe"},
			want: []string{`graphiql (from JOBGRAPH_GRAPHIQL): must be true or false (got "maybe")`},
		},
		{
			name: "bool in file",
			file: "introspection: 1\n",
			want: []string{"introspection (from config file ", "must be true or false, not a number"},
		},
		{
			name:  "list for a string in file",
			file:  "secret_key: [" + secret + "]\n",
			want:  []string{"secret_key (from config file ", "must be a string, not a list"},
			never: secret,
		},
		{
			name: "mapping for a string in file",
			file: "db:\n  user: jg\n  password: " + secret + "\n",
			want: []string{"db (from config file ", "must be a string, not a mapping"}, never: secret,
		},
		{
			name: "every bad value, in key order",
			file: "complexity_limit: lots\nlisten: [a]\n",
			env:  []string{"JOBGRAPH_SHUTDOWN_TIMEOUT=soon", "JOBGRAPH_GRAPHIQL=nah"},
			want: []string{
				"listen (from config file ", "must be a string, not a list\ncomplexity_limit (from config file ",
				`must be an integer (got "lots")` + "\n" + `graphiql (from JOBGRAPH_GRAPHIQL)`,
				"\nshutdown_timeout (from JOBGRAPH_SHUTDOWN_TIMEOUT)",
			},
		},
		{
			name: "validation",
			env:  []string{"JOBGRAPH_LOG_LEVEL=loud"},
			args: []string{"--complexity-limit=0"},
			want: []string{`log_level: must be one of debug, info, warn, error (got "loud")` + "\n" + "complexity_limit: must be at least 1 (got 0)"},
		},
		{
			name: "negative log retention",
			env:  []string{"JOBGRAPH_LOG_RETENTION=-1h"},
			want: []string{"log_retention: must not be negative; 0 keeps logs forever (got -1h0m0s)"},
		},
		{
			name: "log retention without unit in file",
			file: "log_retention: 30\n",
			want: []string{"log_retention (from config file ", `must be a duration with a unit, such as "30s" (got 30)`},
		},
		{
			name:  "config names the key file by mistake",
			file:  secret + "\n",
			want:  []string{"not a YAML mapping"},
			never: secret[:5],
		},
		{
			name: "invalid YAML",
			file: "listen: [\n",
			want: []string{"config file "},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := tt.args
			if tt.file != "" {
				args = append(args, "--config", configFile(t, tt.file))
			}
			cfg, err := loadConfig(flags(t, args...), tt.env)
			require.Error(t, err)
			require.Equal(t, config.Config{}, cfg)
			for _, w := range tt.want {
				require.Contains(t, err.Error(), w)
			}
			if tt.never != "" {
				require.NotContains(t, err.Error(), tt.never)
			}
		})
	}
}

func TestBadFlagValues(t *testing.T) {
	t.Parallel()
	// pflag checks typed flags while parsing, naming the flag.
	for _, arg := range []string{"--complexity-limit=x", "--shutdown-timeout=10", "--graphiql=maybe"} {
		fs := pflag.NewFlagSet("jobgraph", pflag.ContinueOnError)
		fs.SetOutput(io.Discard)
		addConfigFlags(fs)
		err := fs.Parse([]string{arg})
		require.Error(t, err, arg)
		name, _, _ := strings.Cut(arg, "=")
		require.Contains(t, err.Error(), name)
	}
}

func TestLoadConfigIgnoresOtherVariables(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(flags(t), []string{
		"JOBGRAPH_ADMIN_PASSWORD=hunter2",
		"JOBGRAPH_TEST_MYSQL_DSN=root:pw@tcp(localhost)/test",
		"JOBGRAPH_CONFIG=",
		"JOBGRAPH_=x",
		"JOBGRAPH",
		"LISTEN=:1",
		"jobgraph_listen=:2",
		"JOBGRAPH_LOG_LEVEL=", // empty: unset
		"JOBGRAPH_GRAPHIQL=",  // empty: unset, not an invalid bool
		"NOT_JOBGRAPH_LISTEN=:3",
	})
	require.NoError(t, err)
	require.Equal(t, config.Default(), cfg)

	// The part after the prefix is lowercased; the last of repeated
	// variables wins, and a later empty one unsets it.
	cfg, err = loadConfig(flags(t), []string{
		"JOBGRAPH_Log_Level=warn",
		"JOBGRAPH_LISTEN=:1", "JOBGRAPH_LISTEN=:2",
		"JOBGRAPH_DATA_DIR=/x", "JOBGRAPH_DATA_DIR=",
	})
	require.NoError(t, err)
	require.Equal(t, "warn", cfg.LogLevel)
	require.Equal(t, ":2", cfg.Listen)
	require.Equal(t, "./data", cfg.DataDir)
}

func TestLoadConfigIgnoresOtherFlags(t *testing.T) {
	t.Parallel()
	fs := pflag.NewFlagSet("jobgraph", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	addConfigFlags(fs)
	fs.Bool("verbose", false, "")
	fs.String("secret-key", "", "") // someone else's; must never feed secret_key
	require.NoError(t, fs.Parse([]string{"--verbose", "--secret-key=abc", "--log-format=json"}))
	cfg, err := loadConfig(fs, nil)
	require.NoError(t, err)
	require.Equal(t, "json", cfg.LogFormat)
	require.Empty(t, cfg.SecretKey)
}

func TestAddConfigFlags(t *testing.T) {
	t.Parallel()
	fs := flags(t)
	require.Nil(t, fs.Lookup("secret-key"), "the secret key is never a flag")
	require.NotNil(t, fs.Lookup("config"))

	// One flag per key but secret_key, defaulting to config.Default().
	d := config.Default()
	defaults := map[string]string{
		"listen": d.Listen, "data-dir": d.DataDir, "db": d.DB, "secret-key-file": d.SecretKeyFile,
		"plugin-dir": d.PluginDir, "log-level": d.LogLevel, "log-format": d.LogFormat, "graphiql": "true", "introspection": "true",
		"complexity-limit": strconv.Itoa(d.ComplexityLimit), "shutdown-timeout": "30s",
		"secure-cookies": "false", "allowed-origins": "", "log-retention": "720h0m0s", "log-max-bytes": "10485760",
		"nats-url": "", "nats-namespace": "jobgraph", "worker-timeout": "30s", "workers": "64", "worker-pools": "any",
		"scheduler-lease": "5s",
		"public-url":      "",
	}
	for _, key := range configKeys() {
		if key == "secret_key" {
			continue
		}
		name := strings.ReplaceAll(key, "_", "-")
		f := fs.Lookup(name)
		require.NotNil(t, f, name)
		require.Equal(t, defaults[name], f.DefValue, name)
		require.NotEmpty(t, f.Usage, name)
	}
	n := 0
	fs.VisitAll(func(*pflag.Flag) { n++ })
	require.Equal(t, len(defaults)+1, n, "the settings and --config, nothing else")

	var help bytes.Buffer
	fs.SetOutput(&help)
	fs.PrintDefaults()
	require.Contains(t, help.String(), `--listen host:port`)
	require.Contains(t, help.String(), `(default "127.0.0.1:8080")`)
	require.Contains(t, help.String(), `(default 30s)`)
}
