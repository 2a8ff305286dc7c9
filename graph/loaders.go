package graph

import (
	"context"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vikstrous/dataloadgen"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/identity"
	"github.com/jobgraph/jobgraph/core/inventory"
	"github.com/jobgraph/jobgraph/core/project"
)

// loaders batch the lookups that field resolvers make once per row (a host's
// project, its default credential), so that a page of 500 hosts costs one
// query per kind instead of 500. They are made per request, because what a
// caller may see is decided per request.
type loaders struct {
	project    *dataloadgen.Loader[string, project.Project]
	credential *dataloadgen.Loader[string, inventory.Credential]
	user       *dataloadgen.Loader[string, identity.User]
}

type loadersKey struct{}

func newLoaders(r *Resolver) *loaders {
	wait := dataloadgen.WithWait(time.Millisecond)
	return &loaders{
		project:    dataloadgen.NewLoader(byIDs("project", r.projects.ByIDs), wait),
		credential: dataloadgen.NewLoader(byIDs("credential", r.inventory.CredentialsByID), wait),
		user:       dataloadgen.NewLoader(byIDs("user", r.identity.UsersByID), wait),
	}
}

// byIDs adapts a map-returning batch lookup to a loader's fetch function,
// reporting a *core.NotFoundError for each missing ID.
func byIDs[T any](noun string, get func(context.Context, []string) (map[string]T, error)) func(context.Context, []string) ([]T, []error) {
	return func(ctx context.Context, ids []string) ([]T, []error) {
		found, err := get(ctx, ids)
		out := make([]T, len(ids))
		errs := make([]error, len(ids))
		for i, id := range ids {
			switch v, ok := found[id]; {
			case err != nil:
				errs[i] = err
			case ok:
				out[i] = v
			default:
				errs[i] = core.NotFound(noun, id)
			}
		}
		return out, errs
	}
}

// withLoaders gives every operation fresh loaders, whether it came over
// HTTP or over a long-lived WebSocket (where per-connection loaders would
// serve stale data and grow without bound).
func (r *Resolver) withLoaders(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	return next(context.WithValue(ctx, loadersKey{}, newLoaders(r)))
}

// loadersFor returns the operation's loaders; a context without them (a
// direct call in a test) gets fresh ones.
func (r *Resolver) loadersFor(ctx context.Context) *loaders {
	if l, ok := ctx.Value(loadersKey{}).(*loaders); ok {
		return l
	}
	return newLoaders(r)
}
