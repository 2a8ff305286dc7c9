package main

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"
	yamlv3 "go.yaml.in/yaml/v3"

	"github.com/jobgraph/jobgraph/core/config"
)

// envPrefix starts the name of every environment variable jobgraph reads.
const envPrefix = "JOBGRAPH_"

// configFlag names the flag, and envConfig the environment variable, that
// give the config file. They are not settings themselves.
const (
	configFlag = "config"
	envConfig  = envPrefix + "CONFIG"
)

// addConfigFlags registers the server's flags on fs: --config and one flag
// per setting of config.Config except secret_key, named after its key with
// "-" for "_" (--data-dir for data_dir). The defaults shown in the help come
// from config.Default(); see package config for what each setting does.
func addConfigFlags(fs *pflag.FlagSet) {
	d := config.Default()
	fs.String(configFlag, "", "read settings from the YAML `file` (default $"+envConfig+", else no file)")
	fs.String("listen", d.Listen, "serve HTTP on `host:port`")
	fs.String("data-dir", d.DataDir, "keep the database, the secret key and other state in `dir`")
	fs.String("db", d.DB, "database: sqlite:PATH, mysql://user:pass@host:port/db or user:pass@tcp(host:port)/db\n"+
		"(default SQLite file <data-dir>/jobgraph.db; pass a password in the config file or $JOBGRAPH_DB,\n"+
		"not here, where every user can see it)")
	fs.String("secret-key-file", d.SecretKeyFile, "read the secret key from `file`, generating it on first start\n"+
		"(default <data-dir>/secret.key; the key itself goes in the config file or $JOBGRAPH_SECRET_KEY)")
	fs.String("plugin-dir", d.PluginDir, "load third-party executor plugins listed in `dir`/plugins.json (default <data-dir>/plugins)")
	fs.String("log-level", d.LogLevel, "log `level`: debug, info, warn or error")
	fs.String("log-format", d.LogFormat, "log `format`: text or json")
	fs.Bool("graphiql", d.GraphiQL, "serve the GraphiQL page at /graphiql")
	fs.Bool("introspection", d.Introspection, "allow GraphQL schema introspection")
	fs.Int("complexity-limit", d.ComplexityLimit, "refuse GraphQL queries more complex than `n`")
	fs.Duration("shutdown-timeout", d.ShutdownTimeout, "on SIGTERM, give requests in flight this long to finish")
	fs.Bool("secure-cookies", d.SecureCookies, "mark the session cookie Secure even on plain HTTP (behind a TLS proxy)")
	fs.String("allowed-origins", d.AllowedOrigins, "comma-separated `origins` whose browser requests may use the session cookie")
	fs.Duration("log-retention", d.LogRetention, "delete a task's log this long after the task finished (0 keeps logs forever)")
	fs.Int("log-max-bytes", d.LogMaxBytes, "store at most `n` bytes of log per task (the rest is dropped, with a marker line)")
	fs.Duration("scheduler-lease", d.SchedulerLease, "when the replica firing cron schedules dies, another takes over after about this long")
	fs.String("public-url", d.PublicURL, "the server's public base `url`, for the links to runs in notifications")
	addWorkerFlags(fs)
}

// addWorkerFlags registers the settings a worker shares with the server.
func addWorkerFlags(fs *pflag.FlagSet) {
	d := config.Default()
	fs.String("nats-url", d.NatsURL, "carry tasks over the NATS server at `url` (default: embedded, no port opened)")
	fs.String("nats-namespace", d.NatsNamespace, "keep this installation's NATS stream and subjects under `name` (on a shared NATS)")
	fs.Duration("worker-timeout", d.WorkerTimeout, "take the tasks of a worker silent this long for lost")
	fs.Int("workers", d.Workers, "run up to `n` tasks at once per pool in this process (0: no worker here)")
	fs.String("worker-pools", d.WorkerPools, "comma-separated pool `labels` whose tasks this process runs (\"any\": tasks that require no pool)")
}

// loadConfig builds the configuration from, lowest precedence first,
//
//  1. config.Default();
//  2. the YAML config file named by --config, or else by $JOBGRAPH_CONFIG
//     (an empty value means no file); a file that was asked for must exist,
//     and every key in it must be a setting;
//  3. the environment variables JOBGRAPH_<KEY> in environ (a list like
//     os.Environ()); JOBGRAPH_ variables that are not settings, such as
//     JOBGRAPH_CONFIG, are ignored, and so are empty ones;
//  4. the flags of fs that were set on the command line (fs.Changed).
//
// A key whose value is null in the file, empty in the environment or absent
// keeps the value of the layer below. Values are checked when they are read,
// and the errors name the key and where the value came from; at the end the
// result must pass Validate. fs may be nil.
func loadConfig(fs *pflag.FlagSet, environ []string) (config.Config, error) {
	keys := configKeys()
	env := envSettings(environ, keys)

	var layers []layer

	path, from := "", ""
	if fs != nil && fs.Changed(configFlag) {
		path, _ = fs.GetString(configFlag)
		from = "--" + configFlag
	} else if p, ok := env.lookup(envConfig); ok {
		path, from = p, envConfig
	}
	if path != "" {
		k := koanf.New(".")
		if err := k.Load(file.Provider(path), yaml.Parser()); err != nil {
			if _, ok := errors.AsType[*yamlv3.TypeError](err); ok {
				// Its message quotes the start of the file, which would be
				// the secret if --config named the key file by mistake.
				err = errors.New("not a YAML mapping of settings (key: value)")
			}
			return config.Config{}, fmt.Errorf("config file %s (from %s): %w", path, from, err)
		}
		if err := checkFileKeys(k, keys); err != nil {
			return config.Config{}, fmt.Errorf("config file %s: %w", path, err)
		}
		layers = append(layers, layer{k, func(string) string { return "config file " + path }})
	}

	k := koanf.New(".")
	if err := k.Load(env, nil); err != nil { // envProvider.Read never fails
		return config.Config{}, err
	}
	layers = append(layers, layer{k, func(key string) string { return env.names[key] }})

	k = koanf.New(".")
	if fs != nil {
		var err error
		fs.Visit(func(f *pflag.Flag) {
			key := strings.ReplaceAll(f.Name, "-", "_")
			if err != nil || key == "secret_key" || !slices.Contains(keys, key) {
				return // not a setting, or owned by someone else
			}
			err = k.Set(key, flagValue(fs, f))
		})
		if err != nil {
			return config.Config{}, err
		}
	}
	layers = append(layers, layer{k, func(key string) string { return "--" + strings.ReplaceAll(key, "_", "-") }})

	// Decode each layer on its own first, so that an error can say where the
	// bad value came from.
	var errs []error
	for _, l := range layers {
		var scratch config.Config
		if err := l.k.UnmarshalWithConf("", &scratch, unmarshalConf()); err != nil {
			errs = append(errs, decodeErrors(err, keys, l.source)...)
		}
	}
	if len(errs) > 0 {
		return config.Config{}, errors.Join(errs...)
	}

	merged := koanf.New(".")
	for _, l := range layers {
		if err := merged.Merge(l.k); err != nil {
			return config.Config{}, err
		}
	}
	cfg := config.Default() // keys that no layer sets keep their default
	if err := merged.UnmarshalWithConf("", &cfg, unmarshalConf()); err != nil {
		return config.Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return config.Config{}, err
	}
	return cfg, nil
}

// layer is one source of settings; source describes where a key's value
// in it came from.
type layer struct {
	k      *koanf.Koanf
	source func(key string) string
}

// configKeys returns the keys of config.Config, in field order.
func configKeys() []string {
	t := reflect.TypeFor[config.Config]()
	keys := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		keys = append(keys, t.Field(i).Tag.Get("koanf"))
	}
	return keys
}

// checkFileKeys returns an error naming every top-level key of the file that
// is not a setting.
func checkFileKeys(k *koanf.Koanf, keys []string) error {
	var unknown []string
	for key := range k.Raw() {
		if !slices.Contains(keys, key) {
			unknown = append(unknown, strconv.Quote(key))
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	noun := "key"
	if len(unknown) > 1 {
		noun = "keys"
	}
	return fmt.Errorf("unknown %s %s (the keys are %s)", noun, strings.Join(unknown, ", "), strings.Join(keys, ", "))
}

// flagValue returns the typed value of a flag registered by addConfigFlags.
func flagValue(fs *pflag.FlagSet, f *pflag.Flag) any {
	var (
		v   any
		err error
	)
	switch f.Value.Type() {
	case "bool":
		v, err = fs.GetBool(f.Name)
	case "int":
		v, err = fs.GetInt(f.Name)
	case "duration":
		v, err = fs.GetDuration(f.Name)
	default:
		v = f.Value.String()
	}
	if err != nil { // cannot happen: the type was just checked
		return f.Value.String()
	}
	return v
}

// envProvider is a koanf.Provider over an environment list such as
// os.Environ(). (The koanf env provider reads the process environment
// itself, so it cannot be given one.) Variables JOBGRAPH_<KEY> with a
// non-empty value become settings, the rest of the name lowercased; other
// variables are ignored. When a name repeats, the last one wins.
type envProvider struct {
	vars  map[string]string // every JOBGRAPH_ variable, by name
	set   map[string]any    // key → value
	names map[string]string // key → variable name
}

func envSettings(environ []string, keys []string) *envProvider {
	e := &envProvider{vars: map[string]string{}, set: map[string]any{}, names: map[string]string{}}
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, envPrefix) {
			continue
		}
		e.vars[name] = value
		key := strings.ToLower(strings.TrimPrefix(name, envPrefix))
		if !slices.Contains(keys, key) {
			continue // JOBGRAPH_CONFIG, JOBGRAPH_ADMIN_PASSWORD, ...
		}
		if value == "" {
			delete(e.set, key)
			delete(e.names, key)
			continue
		}
		e.set[key] = value
		e.names[key] = name
	}
	return e
}

// lookup returns a non-empty JOBGRAPH_ variable.
func (e *envProvider) lookup(name string) (string, bool) {
	v := e.vars[name]
	return v, v != ""
}

// Read implements koanf.Provider.
func (e *envProvider) Read() (map[string]any, error) {
	m := make(map[string]any, len(e.set))
	for k, v := range e.set {
		m[k] = v
	}
	return m, nil
}

// ReadBytes implements koanf.Provider; it is not supported.
func (e *envProvider) ReadBytes() ([]byte, error) {
	return nil, errors.New("envProvider does not support ReadBytes")
}

// unmarshalConf decodes settings with decodeSetting and nothing else: no
// weak typing, so that 10 is not taken for the duration 10ns.
func unmarshalConf() koanf.UnmarshalConf {
	return koanf.UnmarshalConf{
		Tag: "koanf",
		DecoderConfig: &mapstructure.DecoderConfig{
			DecodeHook: mapstructure.DecodeHookFuncType(decodeSetting),
			TagName:    "koanf",
		},
	}
}

var durationType = reflect.TypeFor[time.Duration]()

// decodeSetting is a mapstructure decode hook that converts a value from a
// config file (YAML scalars), the environment (strings) or a flag (typed)
// to the type of a config.Config field. Its errors never quote a value that
// is meant to be a string, as it may be a secret.
func decodeSetting(_ reflect.Type, to reflect.Type, data any) (any, error) {
	switch {
	case to == durationType:
		switch v := data.(type) {
		case time.Duration:
			return v, nil
		case string:
			d, err := time.ParseDuration(strings.TrimSpace(v))
			if err != nil {
				return nil, fmt.Errorf(`must be a duration such as "30s" or "1m30s" (got %q)`, v)
			}
			return d, nil
		}
		if isNumber(data) {
			// 0 needs no unit (log_retention: 0 keeps logs forever);
			// any other bare number is ambiguous.
			if n, ok := toInt(data); ok && n == 0 {
				return time.Duration(0), nil
			}
			return nil, fmt.Errorf(`must be a duration with a unit, such as "30s" (got %v)`, data)
		}
		return nil, wrongType("a duration", data)

	case to.Kind() == reflect.Bool:
		switch v := data.(type) {
		case bool:
			return v, nil
		case string:
			b, err := strconv.ParseBool(strings.TrimSpace(v))
			if err != nil {
				return nil, fmt.Errorf("must be true or false (got %q)", v)
			}
			return b, nil
		}
		return nil, wrongType("true or false", data)

	case to.Kind() == reflect.Int:
		if s, ok := data.(string); ok {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				return nil, fmt.Errorf("must be an integer (got %q)", s)
			}
			return n, nil
		}
		if isNumber(data) {
			if n, ok := toInt(data); ok {
				return n, nil
			}
			return nil, fmt.Errorf("must be an integer (got %v)", data)
		}
		return nil, wrongType("an integer", data)

	case to.Kind() == reflect.String:
		switch v := data.(type) {
		case string:
			return v, nil
		case bool:
			return strconv.FormatBool(v), nil
		}
		if isNumber(data) { // listen: 8080 in YAML; Validate judges it
			return fmt.Sprint(data), nil
		}
		return nil, wrongType("a string", data)
	}
	return data, nil
}

func isNumber(v any) bool {
	switch reflect.ValueOf(v).Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// toInt converts a number to an int if it is a whole number that fits.
func toInt(v any) (int, bool) {
	rv := reflect.ValueOf(v)
	switch {
	case rv.CanInt():
		n := rv.Int()
		return int(n), n >= math.MinInt && n <= math.MaxInt
	case rv.CanUint():
		n := rv.Uint()
		return int(n), n <= math.MaxInt
	case rv.CanFloat():
		f := rv.Float()
		if f != math.Trunc(f) || f < math.MinInt || f >= math.MaxInt {
			return 0, false
		}
		return int(f), true
	}
	return 0, false
}

// wrongType describes a value of the wrong kind without showing it.
func wrongType(want string, data any) error {
	var got string
	switch reflect.ValueOf(data).Kind() {
	case reflect.Map, reflect.Struct:
		got = "a mapping"
	case reflect.Slice, reflect.Array:
		got = "a list"
	case reflect.String:
		got = "a string"
	case reflect.Bool:
		got = "a boolean"
	default:
		if isNumber(data) {
			got = "a number"
		} else {
			got = fmt.Sprintf("a %T", data)
		}
	}
	return fmt.Errorf("must be %s, not %s", want, got)
}

// decodeErrors turns a mapstructure error into one error per key, in the
// order of keys: "key (from source): problem".
func decodeErrors(err error, keys []string, source func(string) string) []error {
	var des []*mapstructure.DecodeError
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case *mapstructure.DecodeError:
			des = append(des, e)
		case interface{ Unwrap() []error }:
			for _, err := range e.Unwrap() {
				walk(err)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		}
	}
	walk(err)
	if len(des) == 0 {
		return []error{err}
	}
	slices.SortStableFunc(des, func(a, b *mapstructure.DecodeError) int {
		return slices.Index(keys, a.Name()) - slices.Index(keys, b.Name())
	})
	errs := make([]error, 0, len(des))
	for _, de := range des {
		errs = append(errs, fmt.Errorf("%s (from %s): %w", de.Name(), source(de.Name()), de.Unwrap()))
	}
	return errs
}
