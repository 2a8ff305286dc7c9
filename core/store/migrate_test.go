package store_test

import (
	"context"
	"database/sql"
	"sync"
	"testing"

	_ "github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core/store"
	"github.com/jobgraph/jobgraph/core/store/storetest"
)

func open(t *testing.T, dsn string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), store.Options{DSN: dsn, DataDir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestMigrateIsIdempotentAndRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects(t) {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := open(t, storetest.NewDSN(t, d))
			first, err := s.Migrate(ctx)
			require.NoError(t, err)
			require.Zero(t, first.From)
			require.NotEmpty(t, first.Applied)
			again, err := s.Migrate(ctx)
			require.NoError(t, err)
			require.Empty(t, again.Applied, "a second run applies nothing")
			require.Equal(t, first.To, again.To)

			// A schema from a newer binary is refused, not written to.
			raw := rawDB(t, s)
			_, err = raw.ExecContext(ctx, "INSERT INTO jobgraph_schema_version (version_id, is_applied) VALUES (9999, TRUE)")
			require.NoError(t, err)
			_, err = s.Migrate(ctx)
			require.ErrorContains(t, err, "newer than this binary")
		})
	}
}

// TestConcurrentMigrationsOnMySQL starts two "replicas" migrating one fresh
// database at once: both must succeed and each migration must run once.
func TestConcurrentMigrationsOnMySQL(t *testing.T) {
	t.Parallel()
	if len(storetest.Dialects(t)) < 2 {
		t.Skip("MySQL tests switched off by JOBGRAPH_TEST_MYSQL_DSN=off")
	}
	ctx := context.Background()
	dsn := storetest.NewDSN(t, store.MySQL)
	replicas := []*store.Store{open(t, dsn), open(t, dsn), open(t, dsn)}
	results := make([]store.MigrationResult, len(replicas))
	errs := make([]error, len(replicas))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, s := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i], errs[i] = s.Migrate(ctx)
		}()
	}
	close(start)
	wg.Wait()
	applied := 0
	for i := range replicas {
		require.NoError(t, errs[i], "replica %d", i)
		applied += len(results[i].Applied)
	}
	v, err := replicas[0].SchemaVersion(ctx)
	require.NoError(t, err)
	require.Equal(t, results[0].To, v)
	var rows int
	require.NoError(t, rawDB(t, replicas[0]).QueryRowContext(ctx,
		"SELECT COUNT(*) FROM jobgraph_schema_version WHERE version_id > 0").Scan(&rows))
	require.Equal(t, applied, rows, "every migration ran exactly once across the replicas")
}

func rawDB(t *testing.T, s *store.Store) *sql.DB {
	t.Helper()
	db, err := s.SQLDB()
	require.NoError(t, err)
	return db
}
