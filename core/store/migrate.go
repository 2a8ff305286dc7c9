package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations
var migrations embed.FS

// versionTable records which migrations have been applied.
const versionTable = "jobgraph_schema_version"

// MigrationResult says what Migrate did.
type MigrationResult struct {
	From, To int64 // schema versions before and after
	Applied  []string
}

// Migrate brings the schema up to the newest version this binary knows.
//
// Two server replicas starting at once must not both migrate: on MySQL a
// lock row (goose's table locker) serialises them, so the second waits and
// then finds nothing to do. SQLite needs no lock: its file belongs to one
// process, and each migration runs in a transaction.
//
// A database whose schema is newer than this binary is refused, so that an
// old binary never writes to a schema it does not understand.
func (s *Store) Migrate(ctx context.Context) (MigrationResult, error) {
	p, err := s.provider()
	if err != nil {
		return MigrationResult{}, err
	}
	from, err := p.GetDBVersion(ctx)
	if err != nil {
		return MigrationResult{}, fmt.Errorf("read schema version: %w", err)
	}
	sources := p.ListSources()
	known := int64(0)
	if len(sources) > 0 {
		known = sources[len(sources)-1].Version
	}
	if from > known {
		return MigrationResult{}, fmt.Errorf("database schema version %d is newer than this binary knows (%d): upgrade jobgraph", from, known)
	}
	results, err := p.Up(ctx)
	if err != nil {
		var partial *goose.PartialError
		if errors.As(err, &partial) && partial.Failed != nil {
			return MigrationResult{}, fmt.Errorf("migration %s failed: %w", partial.Failed.Source.Path, partial.Err)
		}
		return MigrationResult{}, fmt.Errorf("migrate: %w", err)
	}
	res := MigrationResult{From: from, To: from}
	for _, r := range results {
		res.Applied = append(res.Applied, r.Source.Path)
		res.To = r.Source.Version
	}
	for _, path := range res.Applied {
		s.log.Info("applied migration", "migration", path)
	}
	return res, nil
}

// SchemaVersion returns the version of the newest migration applied.
func (s *Store) SchemaVersion(ctx context.Context) (int64, error) {
	p, err := s.provider()
	if err != nil {
		return 0, err
	}
	return p.GetDBVersion(ctx)
}

// provider returns a goose provider over the store's pool. Never Close it:
// that would close the pool.
func (s *Store) provider() (*goose.Provider, error) {
	sqlDB, err := s.db.DB()
	if err != nil {
		return nil, err
	}
	dir, err := fs.Sub(migrations, "migrations/"+string(s.dialect))
	if err != nil {
		return nil, err
	}
	opts := []goose.ProviderOption{goose.WithTableName(versionTable), goose.WithDisableGlobalRegistry(true)}
	gooseDialect := goose.DialectSQLite3
	if s.dialect == MySQL {
		gooseDialect = goose.DialectMySQL
		locker, err := lock.NewMySQLTableLocker(
			lock.WithTableName(versionTable+"_lock"),
			lock.WithTableLockTimeout(250*time.Millisecond, 2400), // wait up to 10 minutes for another replica
			lock.WithTableLogger(s.log),
		)
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithLocker(locker))
	}
	return goose.NewProvider(gooseDialect, sqlDB, dir, opts...)
}
