// Package graph serves jobgraph's GraphQL API. Its resolvers are thin: each
// validates the shape of its arguments, calls a core service, and converts
// the result (convert.go); errors become GraphQL errors in one place
// (errors.go). The generated executor lives in graph/generated and the
// schema in schema/*.graphqls.
package graph

import (
	"log/slog"

	"github.com/jobgraph/jobgraph/core/inventory"
	"github.com/jobgraph/jobgraph/core/project"
)

// Resolver holds the services the API calls. It never holds a database
// handle: persistence is the core's business.
type Resolver struct {
	projects  *project.Service
	inventory *inventory.Service
	log       *slog.Logger
}
