package inventory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/jobgraph/jobgraph/core"
)

// Store is what the inventory service needs from storage.
type Store interface {
	core.Transactor
	// ProjectExists returns a *core.NotFoundError if there is no such project.
	ProjectExists(ctx context.Context, id string) error
	HostStore
	GroupStore
	CredentialStore
}

// HostStore keeps hosts and their labels.
type HostStore interface {
	CreateHost(ctx context.Context, h Host) error
	UpdateHost(ctx context.Context, h Host) error
	DeleteHost(ctx context.Context, id string) error
	GetHost(ctx context.Context, id string) (Host, error)
	// ListHosts orders by name, then ID.
	ListHosts(ctx context.Context, f HostFilter, page core.PageArgs) (core.Page[Host], error)
	CountHosts(ctx context.Context, f HostFilter) (int, error)
	// MissingHosts returns those of ids that are not hosts of the project.
	MissingHosts(ctx context.Context, projectID string, ids []string) ([]string, error)
}

// GroupStore keeps host groups and static memberships.
type GroupStore interface {
	// CreateGroup stores g and, for a static group, its HostIDs.
	CreateGroup(ctx context.Context, g HostGroup) error
	// UpdateGroup stores g; a static group's memberships are replaced by
	// g.HostIDs, a selector group's are removed.
	UpdateGroup(ctx context.Context, g HostGroup) error
	DeleteGroup(ctx context.Context, id string) error
	// GetGroup returns a group without its HostIDs.
	GetGroup(ctx context.Context, id string) (HostGroup, error)
	ListGroups(ctx context.Context, f GroupFilter, page core.PageArgs) (core.Page[HostGroup], error)
	CountGroups(ctx context.Context, f GroupFilter) (int, error)
}

// CredentialStore keeps credentials and their sealed secrets.
type CredentialStore interface {
	CreateCredential(ctx context.Context, c Credential, sealed []byte) error
	// UpdateCredential stores c, and sealed unless it is nil.
	UpdateCredential(ctx context.Context, c Credential, sealed []byte) error
	DeleteCredential(ctx context.Context, id string) error
	GetCredential(ctx context.Context, id string) (Credential, error)
	// CredentialsByID returns those of ids that exist, keyed by ID.
	CredentialsByID(ctx context.Context, ids []string) (map[string]Credential, error)
	SealedSecret(ctx context.Context, id string) ([]byte, error)
	ListCredentials(ctx context.Context, f CredentialFilter, page core.PageArgs) (core.Page[Credential], error)
	CountCredentials(ctx context.Context, f CredentialFilter) (int, error)
	// CredentialUsers counts the hosts that use the credential as their default.
	CredentialUsers(ctx context.Context, id string) (int, error)
	// SealCheck returns the value VerifySealer stored, nil if none yet.
	SealCheck(ctx context.Context) ([]byte, error)
	// InitSealCheck stores it unless one exists.
	InitSealCheck(ctx context.Context, sealed []byte) error
}

// Sealer encrypts secrets at rest; *secrets.Keyring is one. aad binds a
// ciphertext to the record it belongs to.
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

// Service manages a project's hosts, groups and credentials.
type Service struct {
	store  Store
	sealer Sealer
	now    func() time.Time
}

// NewService returns a Service over store that seals secrets with sealer.
func NewService(store Store, sealer Sealer) *Service {
	return &Service{store: store, sealer: sealer, now: core.Now}
}

// ---- hosts ----

// CreateHostInput is what a new host is made of.
type CreateHostInput struct {
	ProjectID           string
	Name                string
	Address             string
	Port                *int
	OS                  OS
	Labels              map[string]string
	DefaultExecutor     string
	DefaultCredentialID string
}

// CreateHost validates in and stores a new host.
func (s *Service) CreateHost(ctx context.Context, in CreateHostInput) (Host, error) {
	if err := core.CheckID("projectId", core.KindProject, in.ProjectID); err != nil {
		return Host{}, err
	}
	now := s.now()
	h := Host{
		ID:                  core.NewID(core.KindHost),
		ProjectID:           in.ProjectID,
		Name:                strings.TrimSpace(in.Name),
		Address:             strings.TrimSpace(in.Address),
		Port:                in.Port,
		OS:                  in.OS,
		Labels:              maps.Clone(in.Labels),
		DefaultExecutor:     in.DefaultExecutor,
		DefaultCredentialID: in.DefaultCredentialID,
		CreatedAt:           now,
		UpdatedAt:           now,
	}
	if err := h.validate(); err != nil {
		return Host{}, err
	}
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.ProjectExists(ctx, h.ProjectID); err != nil {
			return err
		}
		if err := s.checkCredentialRef(ctx, h); err != nil {
			return err
		}
		return s.store.CreateHost(ctx, h)
	})
	if err != nil {
		return Host{}, err
	}
	return h, nil
}

// UpdateHostInput changes a host. Nil pointers and unset Optionals leave a
// field as it is; Labels, when not nil, replaces every label.
type UpdateHostInput struct {
	ID                  string
	Name                *string
	Address             *string
	Port                core.Optional[int]
	OS                  *OS
	Labels              map[string]string
	DefaultExecutor     core.Optional[string]
	DefaultCredentialID core.Optional[string]
}

// UpdateHost applies in to the host it names.
func (s *Service) UpdateHost(ctx context.Context, in UpdateHostInput) (Host, error) {
	if err := core.CheckID("id", core.KindHost, in.ID); err != nil {
		return Host{}, err
	}
	var h Host
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		var err error
		if h, err = s.store.GetHost(ctx, in.ID); err != nil {
			return err
		}
		if in.Name != nil {
			h.Name = strings.TrimSpace(*in.Name)
		}
		if in.Address != nil {
			h.Address = strings.TrimSpace(*in.Address)
		}
		if in.Port.Set {
			h.Port = in.Port.Value
		}
		if in.OS != nil {
			h.OS = *in.OS
		}
		if in.Labels != nil {
			h.Labels = maps.Clone(in.Labels)
		}
		if in.DefaultExecutor.Set {
			h.DefaultExecutor = deref(in.DefaultExecutor.Value)
		}
		if in.DefaultCredentialID.Set {
			h.DefaultCredentialID = deref(in.DefaultCredentialID.Value)
		}
		if err := h.validate(); err != nil {
			return err
		}
		if err := s.checkCredentialRef(ctx, h); err != nil {
			return err
		}
		h.UpdatedAt = s.now()
		return s.store.UpdateHost(ctx, h)
	})
	return h, err
}

// checkCredentialRef makes sure a host's default credential exists in the
// host's own project. A credential of another project is reported exactly as
// a missing one, so that IDs do not reveal other projects' contents.
func (s *Service) checkCredentialRef(ctx context.Context, h Host) error {
	if h.DefaultCredentialID == "" {
		return nil
	}
	c, err := s.store.GetCredential(ctx, h.DefaultCredentialID)
	if err == nil && c.ProjectID != h.ProjectID {
		err = core.NotFound("credential", h.DefaultCredentialID)
	}
	if err != nil {
		return core.Invalid("defaultCredentialId", "no credential %q in this project", h.DefaultCredentialID)
	}
	return nil
}

// DeleteHost removes a host; it leaves the static groups it was a member of.
func (s *Service) DeleteHost(ctx context.Context, id string) error {
	if err := core.CheckID("id", core.KindHost, id); err != nil {
		return err
	}
	return s.store.DeleteHost(ctx, id)
}

// GetHost returns one host.
func (s *Service) GetHost(ctx context.Context, id string) (Host, error) {
	if err := core.CheckID("id", core.KindHost, id); err != nil {
		return Host{}, err
	}
	return s.store.GetHost(ctx, id)
}

// HostQuery is the API's form of a host filter: the selector is still text.
type HostQuery struct {
	ProjectID string
	Search    string
	Selector  string
	OS        OS
}

func (q HostQuery) filter() (HostFilter, error) {
	if err := core.CheckID("projectId", core.KindProject, q.ProjectID); err != nil {
		return HostFilter{}, err
	}
	f := HostFilter{ProjectID: q.ProjectID, Search: q.Search, OS: q.OS}
	if q.OS != "" && !q.OS.valid() {
		return HostFilter{}, core.Invalid("filter.os", "unknown OS %q", q.OS)
	}
	if q.Selector != "" {
		sel, err := parseSelector("filter.selector", q.Selector)
		if err != nil {
			return HostFilter{}, err
		}
		f.Selector = sel
	}
	return f, nil
}

// ListHosts returns one page of a project's hosts, ordered by name.
func (s *Service) ListHosts(ctx context.Context, q HostQuery, page core.PageArgs) (core.Page[Host], error) {
	f, err := q.filter()
	if err != nil {
		return core.Page[Host]{}, err
	}
	if err := page.Validate(); err != nil {
		return core.Page[Host]{}, err
	}
	return s.store.ListHosts(ctx, f, page)
}

// CountHosts counts the hosts q selects.
func (s *Service) CountHosts(ctx context.Context, q HostQuery) (int, error) {
	f, err := q.filter()
	if err != nil {
		return 0, err
	}
	return s.store.CountHosts(ctx, f)
}

// SelectorPreview is what a label selector resolves to in a project now.
type SelectorPreview struct {
	// Selector is the canonical form of the selector.
	Selector string
	Hosts    core.Page[Host]
}

// PreviewSelector parses selector and lists the hosts of the project it
// selects, so that a person can see a group's members before saving it.
func (s *Service) PreviewSelector(ctx context.Context, projectID, selector string, page core.PageArgs) (SelectorPreview, error) {
	if strings.TrimSpace(selector) == "" {
		return SelectorPreview{}, core.Invalid("selector", "must not be empty")
	}
	q := HostQuery{ProjectID: projectID, Selector: selector}
	f, err := q.filter()
	if err != nil {
		// Report the error on the argument the caller gave.
		if ve, ok := err.(*core.ValidationError); ok && ve.Field == "filter.selector" {
			ve.Field = "selector"
		}
		return SelectorPreview{}, err
	}
	if err := s.store.ProjectExists(ctx, projectID); err != nil {
		return SelectorPreview{}, err
	}
	if err := page.Validate(); err != nil {
		return SelectorPreview{}, err
	}
	hosts, err := s.store.ListHosts(ctx, f, page)
	if err != nil {
		return SelectorPreview{}, err
	}
	return SelectorPreview{Selector: f.Selector.String(), Hosts: hosts}, nil
}

// ---- groups ----

// CreateGroupInput is what a new host group is made of: either HostIDs or a
// Selector (text), not both. A group with neither is a static group with no
// members yet.
type CreateGroupInput struct {
	ProjectID   string
	Name        string
	Description string
	HostIDs     []string
	Selector    *string
}

// CreateGroup validates in and stores a new host group.
func (s *Service) CreateGroup(ctx context.Context, in CreateGroupInput) (HostGroup, error) {
	if err := core.CheckID("projectId", core.KindProject, in.ProjectID); err != nil {
		return HostGroup{}, err
	}
	now := s.now()
	g := HostGroup{
		ID:          core.NewID(core.KindHostGroup),
		ProjectID:   in.ProjectID,
		Name:        strings.TrimSpace(in.Name),
		Description: in.Description,
		HostIDs:     in.HostIDs,
		CreatedAt:   now,
		UpdatedAt:   now,
	}
	if in.Selector != nil {
		if in.HostIDs != nil {
			return HostGroup{}, core.Invalid("selector", "a group has either static members (hostIds) or a selector, not both")
		}
		sel, err := parseSelector("selector", *in.Selector)
		if err != nil {
			return HostGroup{}, err
		}
		g.Selector = sel
	}
	if err := g.validate(); err != nil {
		return HostGroup{}, err
	}
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.ProjectExists(ctx, g.ProjectID); err != nil {
			return err
		}
		if err := s.checkMembers(ctx, g); err != nil {
			return err
		}
		return s.store.CreateGroup(ctx, g)
	})
	if err != nil {
		return HostGroup{}, err
	}
	return g, nil
}

// UpdateGroupInput changes a host group. Setting HostIDs turns the group
// into a static one with those members; setting Selector turns it into a
// selector group.
type UpdateGroupInput struct {
	ID          string
	Name        *string
	Description *string
	HostIDs     []string // nil: unchanged
	Selector    *string  // nil: unchanged
}

// UpdateGroup applies in to the group it names.
func (s *Service) UpdateGroup(ctx context.Context, in UpdateGroupInput) (HostGroup, error) {
	if err := core.CheckID("id", core.KindHostGroup, in.ID); err != nil {
		return HostGroup{}, err
	}
	if in.HostIDs != nil && in.Selector != nil {
		return HostGroup{}, core.Invalid("selector", "a group has either static members (hostIds) or a selector, not both")
	}
	var g HostGroup
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		var err error
		if g, err = s.store.GetGroup(ctx, in.ID); err != nil {
			return err
		}
		if in.Name != nil {
			g.Name = strings.TrimSpace(*in.Name)
		}
		if in.Description != nil {
			g.Description = *in.Description
		}
		switch {
		case in.Selector != nil:
			if g.Selector, err = parseSelector("selector", *in.Selector); err != nil {
				return err
			}
		case in.HostIDs != nil:
			g.Selector, g.HostIDs = nil, in.HostIDs
		case g.IsStatic():
			// Members unchanged: the store keeps them when HostIDs is nil.
			g.HostIDs = nil
		}
		if err := g.validate(); err != nil {
			return err
		}
		if err := s.checkMembers(ctx, g); err != nil {
			return err
		}
		g.UpdatedAt = s.now()
		return s.store.UpdateGroup(ctx, g)
	})
	return g, err
}

func (s *Service) checkMembers(ctx context.Context, g HostGroup) error {
	if len(g.HostIDs) == 0 {
		return nil
	}
	missing, err := s.store.MissingHosts(ctx, g.ProjectID, g.HostIDs)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		return core.Invalid("hostIds", "no host %q in this project", missing[0])
	}
	return nil
}

// DeleteGroup removes a host group (never its hosts).
func (s *Service) DeleteGroup(ctx context.Context, id string) error {
	if err := core.CheckID("id", core.KindHostGroup, id); err != nil {
		return err
	}
	return s.store.DeleteGroup(ctx, id)
}

// GetGroup returns one host group.
func (s *Service) GetGroup(ctx context.Context, id string) (HostGroup, error) {
	if err := core.CheckID("id", core.KindHostGroup, id); err != nil {
		return HostGroup{}, err
	}
	return s.store.GetGroup(ctx, id)
}

// ListGroups returns one page of a project's host groups, ordered by name.
func (s *Service) ListGroups(ctx context.Context, f GroupFilter, page core.PageArgs) (core.Page[HostGroup], error) {
	if err := core.CheckID("projectId", core.KindProject, f.ProjectID); err != nil {
		return core.Page[HostGroup]{}, err
	}
	if err := page.Validate(); err != nil {
		return core.Page[HostGroup]{}, err
	}
	return s.store.ListGroups(ctx, f, page)
}

// CountGroups counts the groups f selects.
func (s *Service) CountGroups(ctx context.Context, f GroupFilter) (int, error) {
	return s.store.CountGroups(ctx, f)
}

// memberFilter is the host filter that resolves g now.
func memberFilter(g HostGroup) HostFilter {
	if g.Selector != nil {
		return HostFilter{ProjectID: g.ProjectID, Selector: g.Selector}
	}
	return HostFilter{ProjectID: g.ProjectID, StaticGroupID: g.ID}
}

// GroupMembers returns one page of the hosts g holds now, ordered by name.
func (s *Service) GroupMembers(ctx context.Context, g HostGroup, page core.PageArgs) (core.Page[Host], error) {
	if err := page.Validate(); err != nil {
		return core.Page[Host]{}, err
	}
	return s.store.ListHosts(ctx, memberFilter(g), page)
}

// CountGroupMembers counts the hosts g holds now.
func (s *Service) CountGroupMembers(ctx context.Context, g HostGroup) (int, error) {
	return s.store.CountHosts(ctx, memberFilter(g))
}

// ---- credentials ----

// CreateCredentialInput is what a new credential is made of.
type CreateCredentialInput struct {
	ProjectID   string
	Name        string
	Kind        CredentialKind
	Username    string
	Description string
	Secret      Secret
}

// CreateCredential validates in, seals the secret and stores the credential.
func (s *Service) CreateCredential(ctx context.Context, in CreateCredentialInput) (Credential, error) {
	if err := core.CheckID("projectId", core.KindProject, in.ProjectID); err != nil {
		return Credential{}, err
	}
	now := s.now()
	c := Credential{
		ID:              core.NewID(core.KindCredential),
		ProjectID:       in.ProjectID,
		Name:            strings.TrimSpace(in.Name),
		Kind:            in.Kind,
		Username:        in.Username,
		Description:     in.Description,
		SecretUpdatedAt: now,
		CreatedAt:       now,
		UpdatedAt:       now,
	}
	if err := c.validate(); err != nil {
		return Credential{}, err
	}
	fp, err := checkSecret(c.Kind, in.Secret)
	if err != nil {
		return Credential{}, err
	}
	c.Fingerprint = fp
	sealed, err := s.seal(c.ID, in.Secret)
	if err != nil {
		return Credential{}, err
	}
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.ProjectExists(ctx, c.ProjectID); err != nil {
			return err
		}
		return s.store.CreateCredential(ctx, c, sealed)
	})
	if err != nil {
		return Credential{}, err
	}
	return c, nil
}

// UpdateCredentialInput changes a credential; a non-nil Secret replaces the
// secret. The kind of a credential never changes.
type UpdateCredentialInput struct {
	ID          string
	Name        *string
	Username    *string
	Description *string
	Secret      *Secret
}

// UpdateCredential applies in to the credential it names.
func (s *Service) UpdateCredential(ctx context.Context, in UpdateCredentialInput) (Credential, error) {
	if err := core.CheckID("id", core.KindCredential, in.ID); err != nil {
		return Credential{}, err
	}
	var c Credential
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		var err error
		if c, err = s.store.GetCredential(ctx, in.ID); err != nil {
			return err
		}
		if in.Name != nil {
			c.Name = strings.TrimSpace(*in.Name)
		}
		if in.Username != nil {
			c.Username = *in.Username
		}
		if in.Description != nil {
			c.Description = *in.Description
		}
		if err := c.validate(); err != nil {
			return err
		}
		now := s.now()
		var sealed []byte
		if in.Secret != nil {
			if c.Fingerprint, err = checkSecret(c.Kind, *in.Secret); err != nil {
				return err
			}
			if sealed, err = s.seal(c.ID, *in.Secret); err != nil {
				return err
			}
			c.SecretUpdatedAt = now
		}
		c.UpdatedAt = now
		return s.store.UpdateCredential(ctx, c, sealed)
	})
	return c, err
}

// DeleteCredential removes a credential that no host uses as its default.
func (s *Service) DeleteCredential(ctx context.Context, id string) error {
	if err := core.CheckID("id", core.KindCredential, id); err != nil {
		return err
	}
	return s.store.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.store.GetCredential(ctx, id); err != nil {
			return err
		}
		n, err := s.store.CredentialUsers(ctx, id)
		if err != nil {
			return err
		}
		if n > 0 {
			return core.Conflict("id", "credential is the default credential of %d hosts; change them first", n)
		}
		return s.store.DeleteCredential(ctx, id)
	})
}

// GetCredential returns one credential (never its secret).
func (s *Service) GetCredential(ctx context.Context, id string) (Credential, error) {
	if err := core.CheckID("id", core.KindCredential, id); err != nil {
		return Credential{}, err
	}
	return s.store.GetCredential(ctx, id)
}

// CredentialsByID returns those of ids that exist, keyed by ID.
func (s *Service) CredentialsByID(ctx context.Context, ids []string) (map[string]Credential, error) {
	return s.store.CredentialsByID(ctx, ids)
}

// ListCredentials returns one page of a project's credentials, ordered by name.
func (s *Service) ListCredentials(ctx context.Context, f CredentialFilter, page core.PageArgs) (core.Page[Credential], error) {
	if err := core.CheckID("projectId", core.KindProject, f.ProjectID); err != nil {
		return core.Page[Credential]{}, err
	}
	if err := page.Validate(); err != nil {
		return core.Page[Credential]{}, err
	}
	return s.store.ListCredentials(ctx, f, page)
}

// CountCredentials counts the credentials f selects.
func (s *Service) CountCredentials(ctx context.Context, f CredentialFilter) (int, error) {
	return s.store.CountCredentials(ctx, f)
}

// OpenSecret unseals a credential's secret. Only the engine calls it, to
// hand the secret to an executor; no API returns it.
func (s *Service) OpenSecret(ctx context.Context, id string) (Secret, error) {
	sealed, err := s.store.SealedSecret(ctx, id)
	if err != nil {
		return Secret{}, err
	}
	plain, err := s.sealer.Open(sealed, credentialAAD(id))
	if err != nil {
		return Secret{}, fmt.Errorf("open secret of credential %s: %w", id, err)
	}
	var sec Secret
	if err := json.Unmarshal(plain, &sec); err != nil {
		return Secret{}, fmt.Errorf("open secret of credential %s: malformed plaintext", id)
	}
	return sec, nil
}

// ErrWrongKey reports a secret key other than the one the database's
// credentials are sealed with.
var ErrWrongKey = errors.New("the secret key is not the one this database's credentials are sealed with: " +
	"give every server the same secret_key or secret_key_file")

var sealCheckAAD = []byte("seal-check")

// VerifySealer makes sure the sealer opens what this database was sealed
// with: the first server to start stores a value sealed with its key, and
// every server checks it on start. Replicas that each generated their own
// key would otherwise write credentials the others cannot read.
func (s *Service) VerifySealer(ctx context.Context) error {
	sealed, err := s.store.SealCheck(ctx)
	if err != nil {
		return fmt.Errorf("read seal check: %w", err)
	}
	if sealed == nil {
		if sealed, err = s.sealer.Seal([]byte("jobgraph"), sealCheckAAD); err != nil {
			return err
		}
		if err := s.store.InitSealCheck(ctx, sealed); err != nil {
			return fmt.Errorf("store seal check: %w", err)
		}
		if sealed, err = s.store.SealCheck(ctx); err != nil { // another server may have won
			return fmt.Errorf("read seal check: %w", err)
		}
	}
	if _, err := s.sealer.Open(sealed, sealCheckAAD); err != nil {
		return fmt.Errorf("%w (%v)", ErrWrongKey, err)
	}
	return nil
}

func (s *Service) seal(id string, sec Secret) ([]byte, error) {
	plain, err := json.Marshal(sec)
	if err != nil {
		return nil, fmt.Errorf("seal secret of credential %s: %w", id, err)
	}
	sealed, err := s.sealer.Seal(plain, credentialAAD(id))
	if err != nil {
		return nil, fmt.Errorf("seal secret of credential %s: %w", id, err)
	}
	return sealed, nil
}

// credentialAAD binds a sealed secret to its credential, so that a
// ciphertext copied onto another row does not open.
func credentialAAD(id string) []byte { return []byte("credential/" + id) }

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
