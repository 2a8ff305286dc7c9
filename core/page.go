package core

import (
	"encoding/base64"
	"encoding/json"
)

// Page sizes for list queries.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// PageArgs asks for one page of a list in forward keyset pagination: First
// items after the item whose cursor is After ("" for the first page).
type PageArgs struct {
	First int
	After string
}

// Validate checks the page arguments and fills in the default page size.
func (a *PageArgs) Validate() error {
	switch {
	case a.First == 0:
		a.First = DefaultPageSize
	case a.First < 0 || a.First > MaxPageSize:
		return Invalid("first", "must be between 1 and %d", MaxPageSize)
	}
	if a.After != "" {
		if _, err := DecodeCursor(a.After); err != nil {
			return err
		}
	}
	return nil
}

// Page is one page of a list. Cursors[i] is the opaque cursor of Items[i].
type Page[T any] struct {
	Items   []T
	Cursors []string
	HasNext bool
}

// Cursor is a position in a list ordered by (Key, ID). Lists order by a
// unique pair so that the order is total and stable under concurrent inserts,
// which offsets are not.
type Cursor struct {
	Key string `json:"k"`
	ID  string `json:"i"`
}

// Encode returns the cursor's opaque string form.
func (c Cursor) Encode() string {
	b, _ := json.Marshal(c) // two strings: cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor parses a cursor made by Cursor.Encode.
func DecodeCursor(s string) (Cursor, error) {
	var c Cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &c) != nil || c.ID == "" {
		return Cursor{}, Invalid("after", "malformed cursor")
	}
	return c, nil
}
