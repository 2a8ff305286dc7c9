package config

import (
	"bytes"
	"fmt"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDefaultValidates(t *testing.T) {
	t.Parallel()
	c := Default()
	require.NoError(t, c.Validate())
	require.Equal(t, "127.0.0.1:8080", c.Listen)
	require.Equal(t, "./data", c.DataDir)
	require.Empty(t, c.DB)
	require.Empty(t, c.SecretKey)
	require.Empty(t, c.SecretKeyFile)
	require.Equal(t, "info", c.LogLevel)
	require.Equal(t, "text", c.LogFormat)
	require.True(t, c.GraphiQL)
	require.True(t, c.Introspection)
	require.Equal(t, 25000, c.ComplexityLimit)
	require.Equal(t, 30*time.Second, c.ShutdownTimeout)
	require.Equal(t, 720*time.Hour, c.LogRetention)
}

func TestValidateAccepts(t *testing.T) {
	t.Parallel()
	for _, mod := range []func(*Config){
		func(c *Config) { c.Listen = ":8080" },
		func(c *Config) { c.Listen = "0.0.0.0:0" },
		func(c *Config) { c.Listen = "[::1]:65535" },
		func(c *Config) { c.Listen = "localhost:80" },
		func(c *Config) { c.LogLevel = "debug" },
		func(c *Config) { c.LogLevel = "warn" },
		func(c *Config) { c.LogLevel = "error" },
		func(c *Config) { c.LogFormat = "json" },
		func(c *Config) { c.ComplexityLimit = 1 },
		func(c *Config) { c.ShutdownTimeout = time.Nanosecond },
		func(c *Config) { c.GraphiQL, c.Introspection = false, false },
		func(c *Config) { c.LogRetention = 0 }, // keep forever
		func(c *Config) { c.LogRetention = time.Minute },
	} {
		c := Default()
		mod(&c)
		require.NoError(t, c.Validate(), "%v", c)
	}
}

func TestValidateErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"public_url relative", func(c *Config) { c.PublicURL = "jobgraph.example.com" }, `public_url: must be an absolute http or https URL`},
		{"listen empty", func(c *Config) { c.Listen = "" }, `listen: must be host:port`},
		{"listen no port", func(c *Config) { c.Listen = "localhost" }, `listen: must be host:port, such as "127.0.0.1:8080" or ":8080" (got "localhost")`},
		{"listen empty port", func(c *Config) { c.Listen = "localhost:" }, `listen: port must be a number from 0 to 65535 (got "localhost:")`},
		{"listen named port", func(c *Config) { c.Listen = ":http" }, `listen: port must be a number from 0 to 65535 (got ":http")`},
		{"listen port too big", func(c *Config) { c.Listen = ":65536" }, `listen: port must be a number from 0 to 65535 (got ":65536")`},
		{"listen negative port", func(c *Config) { c.Listen = ":-1" }, `listen: port must be a number`},
		{"data_dir empty", func(c *Config) { c.DataDir = "" }, `data_dir: must not be empty`},
		{"data_dir blank", func(c *Config) { c.DataDir = "  " }, `data_dir: must not be empty`},
		{"log_level", func(c *Config) { c.LogLevel = "loud" }, `log_level: must be one of debug, info, warn, error (got "loud")`},
		{"log_level case", func(c *Config) { c.LogLevel = "INFO" }, `log_level: must be one of debug, info, warn, error (got "INFO")`},
		{"log_level empty", func(c *Config) { c.LogLevel = "" }, `log_level: must be one of debug, info, warn, error (got "")`},
		{"log_format", func(c *Config) { c.LogFormat = "xml" }, `log_format: must be one of text, json (got "xml")`},
		{"complexity_limit zero", func(c *Config) { c.ComplexityLimit = 0 }, `complexity_limit: must be at least 1 (got 0)`},
		{"complexity_limit negative", func(c *Config) { c.ComplexityLimit = -5 }, `complexity_limit: must be at least 1 (got -5)`},
		{"shutdown_timeout zero", func(c *Config) { c.ShutdownTimeout = 0 }, `shutdown_timeout: must be greater than 0 (got 0s)`},
		{"shutdown_timeout negative", func(c *Config) { c.ShutdownTimeout = -time.Second }, `shutdown_timeout: must be greater than 0 (got -1s)`},
		{"namespace with dot", func(c *Config) { c.NatsNamespace = "a.b" }, `nats_namespace: must be 1 to 32 letters, digits, '-' or '_' (got "a.b")`},
		{"workers negative", func(c *Config) { c.Workers = -1 }, `workers: must be between 0 (no worker in this process) and 100000 (got -1)`},
		{"worker pool with dot", func(c *Config) { c.WorkerPools = "any,zone.a" }, `worker_pools: "zone.a" is not a pool label (no spaces, dots, '*' or '>'; at most 63 characters)`},
		{"no worker pool", func(c *Config) { c.WorkerPools = " , " }, `worker_pools: must name at least one pool ("any" for tasks that require none)`},
		{"log_retention negative", func(c *Config) { c.LogRetention = -time.Hour }, `log_retention: must not be negative; 0 keeps logs forever (got -1h0m0s)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := Default()
			tt.mod(&c)
			err := c.Validate()
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.want)
			require.NotContains(t, err.Error(), "\n", "one problem, one line")
		})
	}
}

func TestValidateReportsAllInFieldOrder(t *testing.T) {
	t.Parallel()
	c := Config{LogRetention: -1, Workers: -1} // everything wrong that can be
	err := c.Validate()
	require.Error(t, err)
	lines := strings.Split(err.Error(), "\n")
	var keys []string
	for _, l := range lines {
		k, _, ok := strings.Cut(l, ":")
		require.True(t, ok, l)
		keys = append(keys, k)
	}
	require.Equal(t, []string{"listen", "data_dir", "log_level", "log_format", "complexity_limit", "shutdown_timeout", "log_retention", "log_max_bytes", "nats_namespace", "worker_timeout", "workers", "worker_pools", "scheduler_lease"}, keys)
	require.Equal(t, err.Error(), c.Validate().Error(), "deterministic")
}

func TestKeyFile(t *testing.T) {
	t.Parallel()
	c := Default()
	c.DataDir = "/var/lib/jobgraph"
	require.Equal(t, filepath.Join("/var/lib/jobgraph", "secret.key"), c.KeyFile())
	c.SecretKeyFile = "/etc/jobgraph/key"
	require.Equal(t, "/etc/jobgraph/key", c.KeyFile())
}

func TestRedactedViewsHideSecrets(t *testing.T) {
	t.Parallel()
	const key = "q5v2Y0pQk3l6ZQx1c2VjcmV0a2V5c2VjcmV0a2V5cz0="
	for _, dsn := range []string{
		"mysql://jobgraph:Pw-0f-D00m@db.example:3306/jobgraph?tls=true",
		"jobgraph:Pw-0f-D00m@tcp(db.example:3306)/jobgraph?parseTime=true",
		"jobgraph:Pw-0f-D00m@unix(/run/mysqld/mysqld.sock)/jobgraph",
	} {
		c := Default()
		c.SecretKey = key
		c.DB = dsn

		var text, js bytes.Buffer
		slog.New(slog.NewTextHandler(&text, nil)).Info("config", "config", c)
		slog.New(slog.NewJSONHandler(&js, nil)).Info("config", slog.Any("config", c), slog.Any("ptr", &c))
		views := map[string]string{
			"String":    c.String(),
			"%v":        fmt.Sprintf("%v", c),
			"%+v":       fmt.Sprintf("%+v", c),
			"%#v":       fmt.Sprintf("%#v", c),
			"%s ptr":    fmt.Sprintf("%s", &c),
			"slog txt":  text.String(),
			"slog json": js.String(),
		}
		for name, v := range views {
			require.NotContains(t, v, key, name)
			require.NotContains(t, v, "Pw-0f-D00m", name)
			require.Contains(t, v, "xxxxx", name)
			require.Contains(t, v, "(set)", name)
			require.Contains(t, v, "jobgraph:xxxxx@", name)
		}
	}

	c := Default()
	require.Contains(t, c.String(), `secret_key="(unset)"`)
}

func TestOrigins(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{"https://a", "https://b"}, Config{AllowedOrigins: " https://a, ,https://b "}.Origins())
	require.Empty(t, Config{}.Origins())
}

func TestLogValueHasEveryField(t *testing.T) {
	t.Parallel()
	c := Config{
		Listen: ":1", DataDir: "/d", DB: "sqlite:/x.db", SecretKey: "k", SecretKeyFile: "/k", PluginDir: "/p",
		LogLevel: "debug", LogFormat: "json", GraphiQL: true, Introspection: false,
		ComplexityLimit: 7, ShutdownTimeout: 90 * time.Second, SecureCookies: true, AllowedOrigins: "https://a, https://b",
		LogRetention: 48 * time.Hour, LogMaxBytes: 4096, NatsURL: "nats://jg:hunter2@10.0.0.5:4222", NatsNamespace: "jg2", WorkerTimeout: 10 * time.Second, Workers: 8, WorkerPools: "any,zone-a",
		SchedulerLease: 2 * time.Second,
		PublicURL:      "https://jg.example.com",
	}
	got := map[string]any{}
	for _, a := range c.LogValue().Group() {
		got[a.Key] = a.Value.Any()
	}
	require.Equal(t, map[string]any{
		"listen": ":1", "data_dir": "/d", "db": "sqlite:/x.db", "secret_key": "(set)",
		"secret_key_file": "/k", "plugin_dir": "/p", "log_level": "debug", "log_format": "json",
		"graphiql": true, "introspection": false, "complexity_limit": int64(7),
		"shutdown_timeout": 90 * time.Second, "secure_cookies": true, "allowed_origins": "https://a, https://b",
		"log_retention": 48 * time.Hour, "log_max_bytes": int64(4096), "nats_url": "nats://jg:xxxxx@10.0.0.5:4222", "nats_namespace": "jg2", "worker_timeout": 10 * time.Second, "workers": int64(8), "worker_pools": "any,zone-a",
		"scheduler_lease": 2 * time.Second,
		"public_url":      "https://jg.example.com",
	}, got)

	// Every field is there, under its koanf key.
	typ := reflect.TypeFor[Config]()
	require.Len(t, got, typ.NumField())
	for i := range typ.NumField() {
		require.Contains(t, got, typ.Field(i).Tag.Get("koanf"))
	}

	require.Equal(t,
		`{listen=":1" data_dir="/d" db="sqlite:/x.db" secret_key="(set)" secret_key_file="/k" plugin_dir="/p" log_level="debug" log_format="json" graphiql=true introspection=false complexity_limit=7 shutdown_timeout=1m30s secure_cookies=true allowed_origins="https://a, https://b" log_retention=48h0m0s log_max_bytes=4096 nats_url="nats://jg:xxxxx@10.0.0.5:4222" nats_namespace="jg2" worker_timeout=10s workers=8 worker_pools="any,zone-a" scheduler_lease=2s public_url="https://jg.example.com"}`,
		c.String())
}
