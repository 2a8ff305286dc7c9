package core

import "unicode/utf8"

// CheckName validates the name of a project, host, group or credential: 1 to
// max characters of letters, digits, '.', '_' and '-', starting and ending
// with a letter or digit. Names appear in URLs, logs, YAML and shell output,
// so they are kept to characters that need no quoting anywhere.
func CheckName(field, name string, max int) error {
	if name == "" {
		return Invalid(field, "must not be empty")
	}
	if n := utf8.RuneCountInString(name); n > max {
		return Invalid(field, "must be at most %d characters, got %d", max, n)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && c != '.' && c != '_' && c != '-' {
			return Invalid(field, "%q may contain only letters, digits, '.', '_' and '-'", truncate(name, 64))
		}
		if !alnum && (i == 0 || i == len(name)-1) {
			return Invalid(field, "%q must start and end with a letter or digit", truncate(name, 64))
		}
	}
	return nil
}

// CheckText validates a free-text field such as a description: valid UTF-8
// and at most max bytes.
func CheckText(field, s string, max int) error {
	if !utf8.ValidString(s) {
		return Invalid(field, "must be valid UTF-8")
	}
	if len(s) > max {
		return Invalid(field, "must be at most %d bytes, got %d", max, len(s))
	}
	return nil
}
