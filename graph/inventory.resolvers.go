package graph

import (
	"context"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/inventory"
	"github.com/jobgraph/jobgraph/graph/generated"
	"github.com/jobgraph/jobgraph/graph/model"
)

// Project is the resolver for the project field.
func (r *credentialResolver) Project(ctx context.Context, obj *model.Credential) (*model.Project, error) {
	return r.projectByID(ctx, obj.ProjectID)
}

// TotalCount is the resolver for the totalCount field.
func (r *credentialConnectionResolver) TotalCount(ctx context.Context, obj *model.CredentialConnection) (int, error) {
	return obj.Count(ctx)
}

// Project is the resolver for the project field.
func (r *hostResolver) Project(ctx context.Context, obj *model.Host) (*model.Project, error) {
	return r.projectByID(ctx, obj.ProjectID)
}

// DefaultCredential is the resolver for the defaultCredential field.
func (r *hostResolver) DefaultCredential(ctx context.Context, obj *model.Host) (*model.Credential, error) {
	if obj.DefaultCredentialID == "" {
		return nil, nil
	}
	c, err := r.loadersFor(ctx).credential.Load(ctx, obj.DefaultCredentialID)
	if err != nil {
		return nil, err
	}
	return toModelCredential(c), nil
}

// TotalCount is the resolver for the totalCount field.
func (r *hostConnectionResolver) TotalCount(ctx context.Context, obj *model.HostConnection) (int, error) {
	return obj.Count(ctx)
}

// Project is the resolver for the project field.
func (r *hostGroupResolver) Project(ctx context.Context, obj *model.HostGroup) (*model.Project, error) {
	return r.projectByID(ctx, obj.ProjectID)
}

// Members is the resolver for the members field.
func (r *hostGroupResolver) Members(ctx context.Context, obj *model.HostGroup, first *int, after *string) (*model.HostConnection, error) {
	page, err := r.inventory.GroupMembers(ctx, obj.Group, pageArgs(first, after))
	if err != nil {
		return nil, err
	}
	return toHostConnection(page, counter(obj.Group, r.inventory.CountGroupMembers)), nil
}

// TotalCount is the resolver for the totalCount field.
func (r *hostGroupConnectionResolver) TotalCount(ctx context.Context, obj *model.HostGroupConnection) (int, error) {
	return obj.Count(ctx)
}

// CreateHost is the resolver for the createHost field.
func (r *mutationResolver) CreateHost(ctx context.Context, input model.CreateHostInput) (*model.CreateHostPayload, error) {
	lbls, err := labelsFromModel(input.Labels)
	if err != nil {
		return nil, err
	}
	h, err := r.inventory.CreateHost(ctx, inventory.CreateHostInput{
		ProjectID: input.ProjectID, Name: input.Name, Address: input.Address, Port: input.Port,
		OS: osFromModelPtr(input.Os), Labels: lbls,
		DefaultExecutor: deref(input.DefaultExecutor), DefaultCredentialID: deref(input.DefaultCredentialID),
	})
	if err != nil {
		return nil, err
	}
	return &model.CreateHostPayload{Host: toModelHost(h)}, nil
}

// UpdateHost is the resolver for the updateHost field.
func (r *mutationResolver) UpdateHost(ctx context.Context, input model.UpdateHostInput) (*model.UpdateHostPayload, error) {
	lbls, err := labelsFromModel(input.Labels)
	if err != nil {
		return nil, err
	}
	in := inventory.UpdateHostInput{
		ID: input.ID, Name: input.Name, Address: input.Address, Port: omittable(input.Port), Labels: lbls,
		DefaultExecutor: omittable(input.DefaultExecutor), DefaultCredentialID: omittable(input.DefaultCredentialID),
	}
	if input.Os != nil {
		os := osFromModelPtr(input.Os)
		in.OS = &os
	}
	h, err := r.inventory.UpdateHost(ctx, in)
	if err != nil {
		return nil, err
	}
	return &model.UpdateHostPayload{Host: toModelHost(h)}, nil
}

// DeleteHost is the resolver for the deleteHost field.
func (r *mutationResolver) DeleteHost(ctx context.Context, input model.DeleteHostInput) (*model.DeleteHostPayload, error) {
	if err := r.inventory.DeleteHost(ctx, input.ID); err != nil {
		return nil, err
	}
	return &model.DeleteHostPayload{DeletedID: input.ID}, nil
}

// CreateHostGroup is the resolver for the createHostGroup field.
func (r *mutationResolver) CreateHostGroup(ctx context.Context, input model.CreateHostGroupInput) (*model.CreateHostGroupPayload, error) {
	g, err := r.inventory.CreateGroup(ctx, inventory.CreateGroupInput{
		ProjectID: input.ProjectID, Name: input.Name, Description: deref(input.Description),
		HostIDs: input.HostIds, Selector: input.Selector,
	})
	if err != nil {
		return nil, err
	}
	return &model.CreateHostGroupPayload{HostGroup: toModelHostGroup(g)}, nil
}

// UpdateHostGroup is the resolver for the updateHostGroup field.
func (r *mutationResolver) UpdateHostGroup(ctx context.Context, input model.UpdateHostGroupInput) (*model.UpdateHostGroupPayload, error) {
	g, err := r.inventory.UpdateGroup(ctx, inventory.UpdateGroupInput{
		ID: input.ID, Name: input.Name, Description: input.Description, HostIDs: input.HostIds, Selector: input.Selector,
	})
	if err != nil {
		return nil, err
	}
	return &model.UpdateHostGroupPayload{HostGroup: toModelHostGroup(g)}, nil
}

// DeleteHostGroup is the resolver for the deleteHostGroup field.
func (r *mutationResolver) DeleteHostGroup(ctx context.Context, input model.DeleteHostGroupInput) (*model.DeleteHostGroupPayload, error) {
	if err := r.inventory.DeleteGroup(ctx, input.ID); err != nil {
		return nil, err
	}
	return &model.DeleteHostGroupPayload{DeletedID: input.ID}, nil
}

// CreateCredential is the resolver for the createCredential field.
func (r *mutationResolver) CreateCredential(ctx context.Context, input model.CreateCredentialInput) (*model.CreateCredentialPayload, error) {
	c, err := r.inventory.CreateCredential(ctx, inventory.CreateCredentialInput{
		ProjectID: input.ProjectID, Name: input.Name, Kind: credentialKindFromModel[input.Kind],
		Username: deref(input.Username), Description: deref(input.Description),
		Secret: inventory.Secret{Value: input.Secret, Passphrase: deref(input.Passphrase)},
	})
	if err != nil {
		return nil, err
	}
	return &model.CreateCredentialPayload{Credential: toModelCredential(c)}, nil
}

// UpdateCredential is the resolver for the updateCredential field.
func (r *mutationResolver) UpdateCredential(ctx context.Context, input model.UpdateCredentialInput) (*model.UpdateCredentialPayload, error) {
	in := inventory.UpdateCredentialInput{ID: input.ID, Name: input.Name, Username: input.Username, Description: input.Description}
	if input.Secret == nil && input.Passphrase != nil {
		return nil, core.Invalid("passphrase", "a passphrase goes with the secret it unlocks: give both")
	}
	if input.Secret != nil {
		in.Secret = &inventory.Secret{Value: *input.Secret, Passphrase: deref(input.Passphrase)}
	}
	c, err := r.inventory.UpdateCredential(ctx, in)
	if err != nil {
		return nil, err
	}
	return &model.UpdateCredentialPayload{Credential: toModelCredential(c)}, nil
}

// DeleteCredential is the resolver for the deleteCredential field.
func (r *mutationResolver) DeleteCredential(ctx context.Context, input model.DeleteCredentialInput) (*model.DeleteCredentialPayload, error) {
	if err := r.inventory.DeleteCredential(ctx, input.ID); err != nil {
		return nil, err
	}
	return &model.DeleteCredentialPayload{DeletedID: input.ID}, nil
}

// Host is the resolver for the host field.
func (r *queryResolver) Host(ctx context.Context, id string) (*model.Host, error) {
	h, err := r.inventory.GetHost(ctx, id)
	if err != nil {
		return nil, err
	}
	return toModelHost(h), nil
}

// Hosts is the resolver for the hosts field.
func (r *queryResolver) Hosts(ctx context.Context, projectID string, first *int, after *string, filter *model.HostFilter) (*model.HostConnection, error) {
	q := inventory.HostQuery{ProjectID: projectID}
	if filter != nil {
		q.Search, q.Selector, q.OS = deref(filter.Search), deref(filter.Selector), osFromModelPtr(filter.Os)
	}
	page, err := r.inventory.ListHosts(ctx, q, pageArgs(first, after))
	if err != nil {
		return nil, err
	}
	return toHostConnection(page, counter(q, r.inventory.CountHosts)), nil
}

// HostGroup is the resolver for the hostGroup field.
func (r *queryResolver) HostGroup(ctx context.Context, id string) (*model.HostGroup, error) {
	g, err := r.inventory.GetGroup(ctx, id)
	if err != nil {
		return nil, err
	}
	return toModelHostGroup(g), nil
}

// HostGroups is the resolver for the hostGroups field.
func (r *queryResolver) HostGroups(ctx context.Context, projectID string, first *int, after *string, filter *model.HostGroupFilter) (*model.HostGroupConnection, error) {
	f := inventory.GroupFilter{ProjectID: projectID}
	if filter != nil {
		f.Search = deref(filter.Search)
	}
	page, err := r.inventory.ListGroups(ctx, f, pageArgs(first, after))
	if err != nil {
		return nil, err
	}
	return toHostGroupConnection(page, counter(f, r.inventory.CountGroups)), nil
}

// SelectorPreview is the resolver for the selectorPreview field.
func (r *queryResolver) SelectorPreview(ctx context.Context, projectID string, selector string, first *int, after *string) (*model.SelectorPreview, error) {
	prev, err := r.inventory.PreviewSelector(ctx, projectID, selector, pageArgs(first, after))
	if err != nil {
		return nil, err
	}
	q := inventory.HostQuery{ProjectID: projectID, Selector: prev.Selector}
	return &model.SelectorPreview{Selector: prev.Selector, Hosts: toHostConnection(prev.Hosts, counter(q, r.inventory.CountHosts))}, nil
}

// Credential is the resolver for the credential field.
func (r *queryResolver) Credential(ctx context.Context, id string) (*model.Credential, error) {
	c, err := r.inventory.GetCredential(ctx, id)
	if err != nil {
		return nil, err
	}
	return toModelCredential(c), nil
}

// Credentials is the resolver for the credentials field.
func (r *queryResolver) Credentials(ctx context.Context, projectID string, first *int, after *string, filter *model.CredentialFilter) (*model.CredentialConnection, error) {
	f := inventory.CredentialFilter{ProjectID: projectID}
	if filter != nil {
		f.Search = deref(filter.Search)
		if filter.Kind != nil {
			f.Kind = credentialKindFromModel[*filter.Kind]
		}
	}
	page, err := r.inventory.ListCredentials(ctx, f, pageArgs(first, after))
	if err != nil {
		return nil, err
	}
	return toCredentialConnection(page, counter(f, r.inventory.CountCredentials)), nil
}

// Credential returns generated.CredentialResolver implementation.
func (r *Resolver) Credential() generated.CredentialResolver { return &credentialResolver{r} }

// CredentialConnection returns generated.CredentialConnectionResolver implementation.
func (r *Resolver) CredentialConnection() generated.CredentialConnectionResolver {
	return &credentialConnectionResolver{r}
}

// Host returns generated.HostResolver implementation.
func (r *Resolver) Host() generated.HostResolver { return &hostResolver{r} }

// HostConnection returns generated.HostConnectionResolver implementation.
func (r *Resolver) HostConnection() generated.HostConnectionResolver {
	return &hostConnectionResolver{r}
}

// HostGroup returns generated.HostGroupResolver implementation.
func (r *Resolver) HostGroup() generated.HostGroupResolver { return &hostGroupResolver{r} }

// HostGroupConnection returns generated.HostGroupConnectionResolver implementation.
func (r *Resolver) HostGroupConnection() generated.HostGroupConnectionResolver {
	return &hostGroupConnectionResolver{r}
}

type (
	credentialResolver           struct{ *Resolver }
	credentialConnectionResolver struct{ *Resolver }
	hostResolver                 struct{ *Resolver }
	hostConnectionResolver       struct{ *Resolver }
	hostGroupResolver            struct{ *Resolver }
	hostGroupConnectionResolver  struct{ *Resolver }
)
