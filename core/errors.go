// Package core holds what every domain package of jobgraph shares: the error
// vocabulary, identifiers and pagination. It imports nothing of the project's,
// so that every other package may import it.
//
// # Errors
//
// Domain code returns the sentinels below, or the typed errors that wrap them,
// and never decides how an error is shown. graph/errors.go is the one place that
// turns them into GraphQL extensions.code values:
//
//	ErrInvalidInput    → BAD_USER_INPUT
//	ErrNotFound        → NOT_FOUND
//	ErrConflict        → CONFLICT
//	ErrUnauthenticated → UNAUTHENTICATED
//	ErrForbidden       → FORBIDDEN
//	anything else      → INTERNAL (the message is replaced, the error is logged)
//
// Error strings are lowercase, carry no trailing period, and never contain a
// secret: a validation error names the field, not the value, whenever the
// value may be sensitive.
package core

import (
	"errors"
	"fmt"
)

// The sentinel errors. Test with errors.Is.
var (
	ErrInvalidInput    = errors.New("invalid input")
	ErrNotFound        = errors.New("not found")
	ErrConflict        = errors.New("conflict")
	ErrUnauthenticated = errors.New("unauthenticated")
	ErrForbidden       = errors.New("forbidden")
)

// ValidationError reports one input field that failed validation.
// Field is the input path in the API's terms (e.g. "port", "labels.env").
type ValidationError struct {
	Field   string
	Message string
}

// Invalid returns a *ValidationError for field with a formatted message.
func Invalid(field, format string, args ...any) *ValidationError {
	return &ValidationError{Field: field, Message: fmt.Sprintf(format, args...)}
}

func (e *ValidationError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// Is makes errors.Is(err, ErrInvalidInput) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalidInput }

// NotFoundError reports that an object of Kind with ID does not exist (or,
// once authorization is in place, is not visible to the caller: the two are
// indistinguishable on purpose).
type NotFoundError struct {
	Kind string // "project", "host", ...
	ID   string
}

// NotFound returns a *NotFoundError.
func NotFound(kind, id string) *NotFoundError { return &NotFoundError{Kind: kind, ID: id} }

func (e *NotFoundError) Error() string { return fmt.Sprintf("%s %q not found", e.Kind, e.ID) }

// Is makes errors.Is(err, ErrNotFound) true.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// ConflictError reports that a change would break a uniqueness or integrity
// rule, e.g. a second host with the same name in a project.
type ConflictError struct {
	Field   string // the input field at fault, if one is
	Message string
}

// Conflict returns a *ConflictError for field with a formatted message.
func Conflict(field, format string, args ...any) *ConflictError {
	return &ConflictError{Field: field, Message: fmt.Sprintf(format, args...)}
}

func (e *ConflictError) Error() string { return e.Message }

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// FieldOf returns the input field an error names, if it is a typed error that
// names one.
func FieldOf(err error) string {
	var ve *ValidationError
	if errors.As(err, &ve) {
		return ve.Field
	}
	var ce *ConflictError
	if errors.As(err, &ce) {
		return ce.Field
	}
	return ""
}
