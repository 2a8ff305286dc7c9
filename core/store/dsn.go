package store

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Dialect is the SQL database behind a Store.
type Dialect string

// The supported dialects.
const (
	SQLite Dialect = "sqlite"
	MySQL  Dialect = "mysql" // MySQL 8 and MariaDB >= 10.6
)

// DefaultSQLiteFile is the database file in the data directory when no DSN
// is configured.
const DefaultSQLiteFile = "jobgraph.db"

// ParseDSN works out the dialect and the driver's DSN from the --db setting:
//
//	""                                   SQLite file <dataDir>/jobgraph.db
//	sqlite:PATH  (or sqlite://PATH)      SQLite file PATH
//	mysql://user:pass@host:3306/db?opts  MySQL / MariaDB, URL form
//	user:pass@tcp(host:3306)/db?opts     MySQL / MariaDB, go-sql-driver form
//
// For MySQL it enforces the options jobgraph relies on: parseTime, UTC,
// utf8mb4 and clientFoundRows (so an UPDATE that changes nothing still
// reports the row it matched). Errors never contain the password.
func ParseDSN(dsn, dataDir string) (Dialect, string, error) {
	switch {
	case dsn == "":
		return SQLite, sqliteDSN(filepath.Join(dataDir, DefaultSQLiteFile)), nil
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "//")
		if path == "" {
			return "", "", fmt.Errorf("invalid database DSN: sqlite: needs a file path")
		}
		if strings.ContainsAny(path, "?#") {
			return "", "", fmt.Errorf("invalid database DSN: sqlite: options are set by jobgraph; give only a file path")
		}
		return SQLite, sqliteDSN(path), nil
	case strings.HasPrefix(dsn, "mysql://"):
		cfg, err := mysqlURL(dsn)
		if err != nil {
			return "", "", err
		}
		return MySQL, mysqlDSN(cfg), nil
	case strings.Contains(dsn, "@") || strings.Contains(dsn, "/"):
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			return "", "", fmt.Errorf("invalid database DSN %q: %s", RedactDSN(dsn), strings.TrimPrefix(err.Error(), "invalid DSN: "))
		}
		if cfg.DBName == "" {
			return "", "", fmt.Errorf("invalid database DSN %q: no database name", RedactDSN(dsn))
		}
		return MySQL, mysqlDSN(cfg), nil
	}
	return "", "", fmt.Errorf("invalid database DSN %q: use sqlite:PATH, mysql://user:pass@host:port/db or user:pass@tcp(host:port)/db", RedactDSN(dsn))
}

func sqliteDSN(path string) string {
	// WAL lets readers run beside the writer; IMMEDIATE transactions take the
	// write lock up front so that two writers queue on busy_timeout instead of
	// failing with SQLITE_BUSY half-way through; foreign keys are off in
	// SQLite unless asked for.
	return "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)" +
		"&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
}

func mysqlURL(dsn string) (*mysql.Config, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, fmt.Errorf("invalid database DSN %q: not a URL", RedactDSN(dsn))
	}
	cfg := mysql.NewConfig()
	if u.User != nil {
		cfg.User = u.User.Username()
		cfg.Passwd, _ = u.User.Password()
	}
	cfg.Net = "tcp"
	cfg.Addr = u.Host
	if u.Port() == "" {
		cfg.Addr = u.Host + ":3306"
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("invalid database DSN %q: no host", RedactDSN(dsn))
	}
	cfg.DBName = strings.TrimPrefix(u.Path, "/")
	if cfg.DBName == "" || strings.Contains(cfg.DBName, "/") {
		return nil, fmt.Errorf("invalid database DSN %q: no database name", RedactDSN(dsn))
	}
	// Reuse the driver's option parsing for the query string.
	if u.RawQuery != "" {
		parsed, err := mysql.ParseDSN("/x?" + u.RawQuery)
		if err != nil {
			return nil, fmt.Errorf("invalid database DSN %q: %s", RedactDSN(dsn), strings.TrimPrefix(err.Error(), "invalid DSN: "))
		}
		parsed.User, parsed.Passwd, parsed.Net, parsed.Addr, parsed.DBName = cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName
		cfg = parsed
	}
	return cfg, nil
}

func mysqlDSN(cfg *mysql.Config) string {
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.ClientFoundRows = true
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["charset"] = "utf8mb4"
	cfg.Collation = "utf8mb4_bin"
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	return cfg.FormatDSN()
}

// RedactDSN returns dsn with any password replaced by "xxxxx", for
// messages and logs. It handles the URL form and the go-sql-driver form,
// including passwords that contain '@', ':' or '/'; for a malformed DSN it
// hides too much rather than too little.
func RedactDSN(dsn string) string {
	if strings.HasPrefix(dsn, "sqlite:") {
		return dsn
	}
	scheme, rest := "", dsn
	if i := strings.Index(dsn, "://"); i >= 0 {
		scheme, rest = dsn[:i+3], dsn[i+3:]
	}
	colon := strings.IndexByte(rest, ':')
	if colon < 0 {
		return dsn // no password without a ':'
	}
	at := -1
	if slash := strings.LastIndexByte(rest, '/'); slash >= 0 {
		at = strings.LastIndexByte(rest[:slash], '@')
	}
	if at <= colon {
		at = strings.LastIndexByte(rest, '@')
	}
	if at <= colon+1 {
		return dsn // no userinfo with a ':', or an empty password
	}
	return scheme + rest[:colon+1] + "xxxxx" + rest[at:]
}

// ensureDir creates the directory of a SQLite database with owner-only access.
func ensureDir(sqliteDSN string) error {
	path, _, _ := strings.Cut(strings.TrimPrefix(sqliteDSN, "file:"), "?")
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	return nil
}
