//go:build tools

// Package tools pins the code generators that go:generate and the Makefile
// run, so that `go run` uses the version in go.mod.
package tools

import (
	_ "github.com/99designs/gqlgen"
)
