package sqlexec

import (
	"bytes"
	"database/sql"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The output formats.
const (
	formatTable = "table"
	formatCSV   = "csv"
	formatJSONL = "jsonl"
)

// tableSample is how many rows the table format reads before it fixes
// its column widths; later rows are printed at once with those widths
// (a longer value widens its own line only).
const tableSample = 100

// maxColumnWidth caps a table column's width; longer values overflow.
const maxColumnWidth = 60

// cell is one value of a row, as printed.
type cell struct {
	text string          // the value as text ("" for NULL)
	null bool            // SQL NULL
	json json.RawMessage // the value as a JSON number or boolean, when it is one
}

// column is what the formats need to know about a result column.
type column struct {
	name    string // scrubbed
	numeric bool   // the database says it is a number: JSON lines print it unquoted
	date    bool   // a DATE: printed without a time of day
}

// numericTypes are DatabaseTypeName values of numeric columns, across the
// three drivers.
var numericTypes = map[string]bool{
	"TINYINT": true, "SMALLINT": true, "MEDIUMINT": true, "INT": true, "INTEGER": true, "BIGINT": true,
	"DECIMAL": true, "NUMERIC": true, "FLOAT": true, "DOUBLE": true, "REAL": true, "YEAR": true,
	"INT2": true, "INT4": true, "INT8": true, "FLOAT4": true, "FLOAT8": true,
	"UNSIGNED TINYINT": true, "UNSIGNED SMALLINT": true, "UNSIGNED MEDIUMINT": true, "UNSIGNED INT": true, "UNSIGNED BIGINT": true,
}

func columnsOf(types []*sql.ColumnType, sc *scrubber) []column {
	cols := make([]column, len(types))
	for i, t := range types {
		name := strings.ToUpper(t.DatabaseTypeName())
		cols[i] = column{name: sc.scrub(t.Name()), numeric: numericTypes[name], date: name == "DATE"}
	}
	return cols
}

// cellOf turns a scanned value into a cell, scrubbed.
func cellOf(v any, col column, sc *scrubber) cell {
	var c cell
	switch v := v.(type) {
	case nil:
		return cell{null: true}
	case []byte:
		if utf8.Valid(v) {
			c.text = string(v)
		} else {
			c.text = `\x` + hex.EncodeToString(v)
		}
	case string:
		c.text = v
	case int64:
		c.text = strconv.FormatInt(v, 10)
		c.json = json.RawMessage(c.text)
	case float64:
		c.text = strconv.FormatFloat(v, 'g', -1, 64)
		if !math.IsInf(v, 0) && !math.IsNaN(v) {
			c.json = json.RawMessage(c.text)
		}
	case bool:
		c.text = strconv.FormatBool(v)
		c.json = json.RawMessage(c.text)
	case time.Time:
		if col.date {
			c.text = v.Format(time.DateOnly)
		} else {
			c.text = v.Format(time.RFC3339Nano)
		}
	default:
		c.text = fmt.Sprint(v)
	}
	if col.numeric && c.json == nil && json.Valid([]byte(c.text)) && looksNumeric(c.text) {
		c.json = json.RawMessage(c.text)
	}
	if s := sc.scrub(c.text); s != c.text {
		c.text, c.json = s, nil
	}
	return c
}

func looksNumeric(s string) bool {
	return s != "" && (s[0] == '-' || s[0] >= '0' && s[0] <= '9')
}

// resultWriter prints one result set as it is read.
type resultWriter interface {
	row(cells []cell) error
	// end finishes the result set after n rows.
	end(n int) error
}

// lineWriter writes whole lines to w, scrubbed once more as a whole.
type lineWriter struct {
	w  io.Writer
	sc *scrubber
}

func (l lineWriter) write(b []byte) error {
	if len(l.sc.secrets) > 0 {
		b = []byte(l.sc.scrub(string(b)))
	}
	_, err := l.w.Write(b)
	return err
}

// newResultWriter returns the writer of a result set in format, printing
// rows to out and the row count to notes.
func newResultWriter(format string, cols []column, out, notes lineWriter) (resultWriter, error) {
	switch format {
	case formatCSV:
		w := &csvWriter{out: out, notes: notes}
		names := make([]string, len(cols))
		for i, c := range cols {
			names[i] = c.name
		}
		return w, w.record(names)
	case formatJSONL:
		keys := make([][]byte, len(cols))
		for i, c := range cols {
			keys[i], _ = json.Marshal(c.name)
		}
		return &jsonlWriter{out: out, notes: notes, keys: keys}, nil
	default:
		return &tableWriter{out: out, cols: cols}, nil
	}
}

// csvWriter prints RFC 4180 CSV: a header, then one record per row; NULL
// is an empty field.
type csvWriter struct {
	out, notes lineWriter
	buf        bytes.Buffer
}

func (w *csvWriter) record(fields []string) error {
	w.buf.Reset()
	cw := csv.NewWriter(&w.buf)
	if err := cw.Write(fields); err != nil {
		return err
	}
	cw.Flush()
	return w.out.write(w.buf.Bytes())
}

func (w *csvWriter) row(cells []cell) error {
	fields := make([]string, len(cells))
	for i, c := range cells {
		fields[i] = c.text
	}
	return w.record(fields)
}

func (w *csvWriter) end(n int) error { return rowCount(w.notes, n) }

// jsonlWriter prints one JSON object per row, keys in column order:
// numbers and booleans as such, NULL as null, everything else as strings.
type jsonlWriter struct {
	out, notes lineWriter
	keys       [][]byte // JSON-encoded column names
	buf        bytes.Buffer
}

func (w *jsonlWriter) row(cells []cell) error {
	w.buf.Reset()
	w.buf.WriteByte('{')
	for i, c := range cells {
		if i > 0 {
			w.buf.WriteByte(',')
		}
		w.buf.Write(w.keys[i])
		w.buf.WriteByte(':')
		switch {
		case c.null:
			w.buf.WriteString("null")
		case c.json != nil:
			w.buf.Write(c.json)
		default:
			b, _ := json.Marshal(c.text)
			w.buf.Write(b)
		}
	}
	w.buf.WriteString("}\n")
	return w.out.write(w.buf.Bytes())
}

func (w *jsonlWriter) end(n int) error { return rowCount(w.notes, n) }

// tableWriter prints an aligned text table. It keeps the first
// tableSample rows to size the columns, then prints each row as it comes.
type tableWriter struct {
	out     lineWriter
	cols    []column
	widths  []int // nil until fixed
	pending [][]string
	buf     bytes.Buffer
}

// tableText is how a cell reads in a table: NULL is NULL, and control
// characters are escaped so that a row stays on one line.
func tableText(c cell) string {
	if c.null {
		return "NULL"
	}
	if strings.ContainsAny(c.text, "\n\r\t") {
		return strings.NewReplacer("\n", `\n`, "\r", `\r`, "\t", `\t`).Replace(c.text)
	}
	return c.text
}

func (w *tableWriter) row(cells []cell) error {
	texts := make([]string, len(cells))
	for i, c := range cells {
		texts[i] = tableText(c)
	}
	if w.widths != nil {
		return w.print(texts)
	}
	w.pending = append(w.pending, texts)
	if len(w.pending) >= tableSample {
		return w.flush()
	}
	return nil
}

// flush fixes the widths and prints the header and the kept rows.
func (w *tableWriter) flush() error {
	w.widths = make([]int, len(w.cols))
	for i, c := range w.cols {
		w.widths[i] = min(utf8.RuneCountInString(c.name), maxColumnWidth)
	}
	for _, r := range w.pending {
		for i, t := range r {
			w.widths[i] = max(w.widths[i], min(utf8.RuneCountInString(t), maxColumnWidth))
		}
	}
	names := make([]string, len(w.cols))
	for i, c := range w.cols {
		names[i] = c.name
	}
	if err := w.print(names); err != nil {
		return err
	}
	w.buf.Reset()
	for i, n := range w.widths {
		if i > 0 {
			w.buf.WriteString("-+-")
		}
		w.buf.WriteString(strings.Repeat("-", n))
	}
	w.buf.WriteByte('\n')
	if err := w.out.write(w.buf.Bytes()); err != nil {
		return err
	}
	for _, r := range w.pending {
		if err := w.print(r); err != nil {
			return err
		}
	}
	w.pending = nil
	return nil
}

func (w *tableWriter) print(texts []string) error {
	w.buf.Reset()
	for i, t := range texts {
		if i > 0 {
			w.buf.WriteString(" | ")
		}
		w.buf.WriteString(t)
		if i < len(texts)-1 {
			if pad := w.widths[i] - utf8.RuneCountInString(t); pad > 0 {
				w.buf.WriteString(strings.Repeat(" ", pad))
			}
		}
	}
	w.buf.WriteByte('\n')
	return w.out.write(w.buf.Bytes())
}

func (w *tableWriter) end(n int) error {
	if w.widths == nil {
		if err := w.flush(); err != nil {
			return err
		}
	}
	return rowCount(w.out, n)
}

// rowCount prints "(n rows)".
func rowCount(w lineWriter, n int) error {
	return w.write(fmt.Appendf(nil, "(%d %s)\n", n, plural(n, "row", "rows")))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
