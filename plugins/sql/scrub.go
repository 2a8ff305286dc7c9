package sqlexec

import (
	"cmp"
	"net/url"
	"slices"
	"strings"
)

// redacted replaces a secret wherever it would appear.
const redacted = "********"

// scrubber removes a task's secrets (the DSN, its password, in every
// spelling a driver may print it) from text on its way out: output rows,
// column names, outputs, messages and errors. Drivers' errors can quote
// the DSN or the password, and a query can select it.
type scrubber struct {
	secrets []string // longest first, so that a DSN goes before its password
}

// add adds secrets (the empty string is ignored) and their URL-escaped
// spellings.
func (s *scrubber) add(secrets ...string) {
	for _, v := range secrets {
		if v == "" {
			continue
		}
		for _, form := range []string{v, url.QueryEscape(v), url.PathEscape(v), strings.TrimPrefix(url.UserPassword("u", v).String(), "u:")} {
			if form != "" && !slices.Contains(s.secrets, form) {
				s.secrets = append(s.secrets, form)
			}
		}
	}
	slices.SortFunc(s.secrets, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
}

// scrub returns text with every secret replaced.
func (s *scrubber) scrub(text string) string {
	for _, v := range s.secrets {
		if strings.Contains(text, v) {
			text = strings.ReplaceAll(text, v, redacted)
		}
	}
	return text
}

// scrubbedError is an error whose text has been scrubbed; it keeps the
// original for errors.Is and errors.As.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// error returns err with its text scrubbed (nil for nil).
func (s *scrubber) error(err error) error {
	if err == nil {
		return nil
	}
	return &scrubbedError{msg: s.scrub(err.Error()), err: err}
}
