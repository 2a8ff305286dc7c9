package graph

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/guard"
)

// The error codes of the API, in extensions.code. This is the whole set:
// every error a client sees carries exactly one of them.
const (
	CodeBadUserInput    = "BAD_USER_INPUT"
	CodeNotFound        = "NOT_FOUND"
	CodeConflict        = "CONFLICT"
	CodeUnauthenticated = "UNAUTHENTICATED"
	CodeForbidden       = "FORBIDDEN"
	CodeInternal        = "INTERNAL"
)

// Codes lists every code, for documentation and tests.
func Codes() []string {
	return []string{CodeBadUserInput, CodeNotFound, CodeConflict, CodeUnauthenticated, CodeForbidden, CodeInternal}
}

// errorPresenter is the one place where errors become GraphQL errors. Core
// errors map to their code; gqlgen's own parse and validation errors (a
// wrong type, an unknown field, a complexity limit) are the client's input
// too and become BAD_USER_INPUT; anything else is INTERNAL, logged with a
// reference the client can quote, and its message replaced so that no
// internal detail (a SQL statement, a file path) leaks.
func errorPresenter(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gqlErr := graphql.DefaultErrorPresenter(ctx, err)
		if gqlErr.Extensions == nil {
			gqlErr.Extensions = map[string]any{}
		}
		var cause error = gqlErr
		if gqlErr.Err != nil {
			cause = gqlErr.Err
		}
		switch code := codeOf(cause, gqlErr); code {
		case CodeInternal:
			ref := newRef()
			log.ErrorContext(ctx, "internal error", "ref", ref, "path", gqlErr.Path.String(), "err", cause)
			gqlErr.Message = fmt.Sprintf("internal error (ref %s)", ref)
			gqlErr.Extensions = map[string]any{"code": code, "ref": ref}
		default:
			gqlErr.Extensions["code"] = code
			if field := core.FieldOf(cause); field != "" {
				gqlErr.Extensions["field"] = field
			}
			guardExtensions(gqlErr.Extensions, cause)
		}
		return gqlErr
	}
}

func codeOf(err error, gqlErr *gqlerror.Error) string {
	switch {
	case errors.Is(err, core.ErrInvalidInput):
		return CodeBadUserInput
	case errors.Is(err, core.ErrNotFound):
		return CodeNotFound
	case errors.Is(err, core.ErrConflict):
		return CodeConflict
	case errors.Is(err, core.ErrUnauthenticated):
		return CodeUnauthenticated
	case errors.Is(err, core.ErrForbidden):
		return CodeForbidden
	}
	if isIntrospectionRefusal(gqlErr) {
		return CodeBadUserInput
	}
	if gqlErr.Err == nil {
		// Errors gqlgen made itself: parse, validation, variable coercion,
		// complexity. They have no wrapped cause and describe the request.
		switch gqlErr.Extensions["code"] {
		case errcode.ParseFailed, errcode.ValidationFailed, "COMPLEXITY_LIMIT_EXCEEDED", nil:
			return CodeBadUserInput
		}
	}
	return CodeInternal
}

// isIntrospectionRefusal reports gqlgen's refusal of __schema or __type when
// introspection is off. gqlgen returns it as a plain error from the field,
// with no sentinel or code, so it is recognised by its text and its field;
// it describes the request, not a fault of the server.
func isIntrospectionRefusal(gqlErr *gqlerror.Error) bool {
	if gqlErr.Err == nil || gqlErr.Err.Error() != "introspection disabled" || len(gqlErr.Path) == 0 {
		return false
	}
	name, ok := gqlErr.Path[len(gqlErr.Path)-1].(ast.PathName)
	return ok && (name == "__schema" || name == "__type")
}

// recoverFunc turns a panic in a resolver into an INTERNAL error instead of
// a dropped connection; the presenter logs it.
func recoverFunc(log *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "panic in resolver", "panic", p)
		return fmt.Errorf("panic: %v", p)
	}
}

func newRef() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// guardExtensions says which command guard rule refused a run, so that a
// client can show it: extensions rule (its name), ruleId, step (absent for
// a run parameter) and field.
func guardExtensions(ext map[string]any, err error) {
	var blocked *guard.BlockedError
	if !errors.As(err, &blocked) {
		return
	}
	m := blocked.Match
	ext["rule"], ext["ruleId"], ext["field"] = m.RuleName, m.RuleID, m.Field
	if m.Step != "" {
		ext["step"] = m.Step
	}
}
