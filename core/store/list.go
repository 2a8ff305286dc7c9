package store

import (
	"errors"
	"strings"

	"gorm.io/gorm"

	"github.com/jobgraph/jobgraph/core"
)

// keyset applies forward keyset pagination over (col, id): rows after the
// cursor, in that order, one more than asked for so that the caller learns
// whether there is a next page. page has been validated by the caller.
func keyset(q *gorm.DB, table, col string, page core.PageArgs) *gorm.DB {
	if col == "id" {
		// Sorted by ID alone: one term, which the (…, id) indexes serve
		// without a sort ("ORDER BY id, id" made SQLite sort each page).
		if page.After != "" {
			c, _ := core.DecodeCursor(page.After) // validated by PageArgs.Validate
			q = q.Where(table+".id > ?", c.ID)
		}
		return q.Order(table + ".id").Limit(page.First + 1)
	}
	if page.After != "" {
		c, _ := core.DecodeCursor(page.After) // validated by PageArgs.Validate
		// "col >= key" is implied by the OR, and bounds the index range (as
		// in ListRuns, where it made deep pages 5x faster on SQLite).
		q = q.Where(table+"."+col+" >= ? AND ("+table+"."+col+" > ? OR "+table+".id > ?)", c.Key, c.Key, c.ID)
	}
	return q.Order(table + "." + col).Order(table + ".id").Limit(page.First + 1)
}

// toPage turns the rows keyset fetched into a page: it drops the extra row
// and makes each item's cursor from its sort key and ID.
func toPage[R any, T any](rows []R, page core.PageArgs, conv func(R) T, key func(R) (string, string)) core.Page[T] {
	p := core.Page[T]{HasNext: len(rows) > page.First}
	if p.HasNext {
		rows = rows[:page.First]
	}
	p.Items = make([]T, len(rows))
	p.Cursors = make([]string, len(rows))
	for i, r := range rows {
		p.Items[i] = conv(r)
		k, id := key(r)
		p.Cursors[i] = core.Cursor{Key: k, ID: id}.Encode()
	}
	return p
}

// likeSubstring returns a LIKE pattern matching s anywhere, with the LIKE
// metacharacters escaped by '!' (the one escape character that means the
// same on SQLite and MySQL). Use with "LIKE ? ESCAPE '!'".
func likeSubstring(s string) string {
	r := strings.NewReplacer("!", "!!", "%", "!%", "_", "!_")
	return "%" + strings.ToLower(r.Replace(s)) + "%"
}

// chunks splits ids into slices of at most n, to keep IN lists bounded.
func chunks(ids []string, n int) [][]string {
	var out [][]string
	for len(ids) > n {
		out = append(out, ids[:n])
		ids = ids[n:]
	}
	if len(ids) > 0 {
		out = append(out, ids)
	}
	return out
}

// take loads the one row q selects into dst, reporting a missing row as a
// *core.NotFoundError for noun and id.
func take(q *gorm.DB, dst any, noun, id string) error {
	err := q.Take(dst).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return core.NotFound(noun, id)
	}
	return err
}
