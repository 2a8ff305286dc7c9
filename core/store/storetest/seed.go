package storetest

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// Insert writes rows into table with multi-row INSERTs of perStmt rows each,
// in one transaction per statement group of 50, straight through db (no
// gorm, no store methods). Benchmarks seed large histories with it; each
// row gives a value for every column of cols, in order.
func Insert(ctx context.Context, db *sql.DB, table string, cols []string, rows [][]any, perStmt int) error {
	if len(rows) == 0 {
		return nil
	}
	if perStmt <= 0 {
		perStmt = 100
	}
	one := "(" + strings.TrimSuffix(strings.Repeat("?,", len(cols)), ",") + ")"
	head := "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES "
	const stmtsPerTx = 50
	for start := 0; start < len(rows); start += perStmt * stmtsPerTx {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		end := min(len(rows), start+perStmt*stmtsPerTx)
		for i := start; i < end; i += perStmt {
			part := rows[i:min(end, i+perStmt)]
			var b strings.Builder
			b.WriteString(head)
			args := make([]any, 0, len(part)*len(cols))
			for j, r := range part {
				if len(r) != len(cols) {
					_ = tx.Rollback()
					return fmt.Errorf("insert into %s: row has %d values for %d columns", table, len(r), len(cols))
				}
				if j > 0 {
					b.WriteByte(',')
				}
				b.WriteString(one)
				args = append(args, r...)
			}
			if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
				_ = tx.Rollback()
				return fmt.Errorf("insert into %s: %w", table, err)
			}
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}
