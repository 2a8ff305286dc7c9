package inventory_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/inventory"
	"github.com/jobgraph/jobgraph/core/inventory/labels"
	"github.com/jobgraph/jobgraph/core/project"
	"github.com/jobgraph/jobgraph/core/secrets"
	"github.com/jobgraph/jobgraph/core/store"
	"github.com/jobgraph/jobgraph/core/store/storetest"
)

// These tests are the store conformance suite for the inventory: they run
// the service over a real store on every dialect (SQLite and MariaDB).

type testBundle struct {
	store    *store.Store
	projects *project.Service
	inv      *inventory.Service
	project  project.Project
}

func setup(t *testing.T, s *store.Store) *testBundle {
	t.Helper()
	key, err := secrets.GenerateKey()
	require.NoError(t, err)
	ring, err := secrets.NewKeyring(key)
	require.NoError(t, err)
	b := &testBundle{store: s, projects: project.NewService(s, nil), inv: inventory.NewService(s, ring)}
	b.project, err = b.projects.Create(context.Background(), project.CreateInput{Name: "ops"})
	require.NoError(t, err)
	return b
}

func (b *testBundle) host(t *testing.T, name string, lbls map[string]string) inventory.Host {
	t.Helper()
	h, err := b.inv.CreateHost(context.Background(), inventory.CreateHostInput{
		ProjectID: b.project.ID, Name: name, Address: name + ".example.com", Labels: lbls,
	})
	require.NoError(t, err)
	return h
}

func ptr[T any](v T) *T { return &v }

func TestHostLifecycle(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b := setup(t, s)
		h, err := b.inv.CreateHost(ctx, inventory.CreateHostInput{
			ProjectID: b.project.ID, Name: "web-01", Address: "10.0.0.1", Port: ptr(2222),
			Labels: map[string]string{"env": "prod", "tier": "web"}, DefaultExecutor: "ssh",
		})
		require.NoError(t, err)
		require.Equal(t, inventory.OSLinux, h.OS, "OS defaults to linux")

		got, err := b.inv.GetHost(ctx, h.ID)
		require.NoError(t, err)
		require.Equal(t, h, got)

		_, err = b.inv.CreateHost(ctx, inventory.CreateHostInput{ProjectID: b.project.ID, Name: "web-01", Address: "10.0.0.2"})
		require.ErrorIs(t, err, core.ErrConflict)
		require.Equal(t, "name", core.FieldOf(err))

		updated, err := b.inv.UpdateHost(ctx, inventory.UpdateHostInput{
			ID: h.ID, Port: core.Optional[int]{Set: true}, Labels: map[string]string{"env": "staging"},
			OS: ptr(inventory.OSWindows),
		})
		require.NoError(t, err)
		require.Nil(t, updated.Port, "a set, nil Optional clears the port")
		require.Equal(t, "10.0.0.1", updated.Address, "unset fields stay")
		got, err = b.inv.GetHost(ctx, h.ID)
		require.NoError(t, err)
		require.Equal(t, map[string]string{"env": "staging"}, got.Labels, "labels are replaced, not merged")
		require.Equal(t, inventory.OSWindows, got.OS)
		require.Equal(t, updated, got)

		require.NoError(t, b.inv.DeleteHost(ctx, h.ID))
		_, err = b.inv.GetHost(ctx, h.ID)
		require.ErrorIs(t, err, core.ErrNotFound)
		require.ErrorIs(t, b.inv.DeleteHost(ctx, h.ID), core.ErrNotFound)
	})
}

func TestHostValidationWritesNothing(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b := setup(t, s)
		other, err := b.projects.Create(ctx, project.CreateInput{Name: "other"})
		require.NoError(t, err)
		foreign, err := b.inv.CreateCredential(ctx, inventory.CreateCredentialInput{
			ProjectID: other.ID, Name: "tok", Kind: inventory.CredentialToken, Secret: inventory.Secret{Value: "t"},
		})
		require.NoError(t, err)

		valid := inventory.CreateHostInput{ProjectID: b.project.ID, Name: "h1", Address: "h1.example.com"}
		cases := []struct {
			name  string
			edit  func(*inventory.CreateHostInput)
			field string
			is    error
		}{
			{"empty name", func(in *inventory.CreateHostInput) { in.Name = "" }, "name", core.ErrInvalidInput},
			{"name with space", func(in *inventory.CreateHostInput) { in.Name = "web 01" }, "name", core.ErrInvalidInput},
			{"address with space", func(in *inventory.CreateHostInput) { in.Address = "not a host" }, "address", core.ErrInvalidInput},
			{"address with port", func(in *inventory.CreateHostInput) { in.Address = "db.example.com:5432" }, "address", core.ErrInvalidInput},
			{"address URL", func(in *inventory.CreateHostInput) { in.Address = "ssh://db.example.com" }, "address", core.ErrInvalidInput},
			{"bad IPv4", func(in *inventory.CreateHostInput) { in.Address = "10.0.0.300" }, "address", core.ErrInvalidInput},
			{"label dash", func(in *inventory.CreateHostInput) { in.Address = "-bad.example.com" }, "address", core.ErrInvalidInput},
			{"port zero", func(in *inventory.CreateHostInput) { in.Port = ptr(0) }, "port", core.ErrInvalidInput},
			{"port too big", func(in *inventory.CreateHostInput) { in.Port = ptr(65536) }, "port", core.ErrInvalidInput},
			{"unknown OS", func(in *inventory.CreateHostInput) { in.OS = "plan9" }, "os", core.ErrInvalidInput},
			{"bad label key", func(in *inventory.CreateHostInput) { in.Labels = map[string]string{"-x": "1"} }, "labels", core.ErrInvalidInput},
			{"bad label value", func(in *inventory.CreateHostInput) { in.Labels = map[string]string{"env": "a b"} }, "labels", core.ErrInvalidInput},
			{"bad executor", func(in *inventory.CreateHostInput) { in.DefaultExecutor = "ssh exec" }, "defaultExecutor", core.ErrInvalidInput},
			{"malformed project ID", func(in *inventory.CreateHostInput) { in.ProjectID = "nope" }, "projectId", core.ErrInvalidInput},
			{"host ID as project ID", func(in *inventory.CreateHostInput) { in.ProjectID = core.NewID(core.KindHost) }, "projectId", core.ErrInvalidInput},
			{"unknown project", func(in *inventory.CreateHostInput) { in.ProjectID = core.NewID(core.KindProject) }, "", core.ErrNotFound},
			{"unknown credential", func(in *inventory.CreateHostInput) { in.DefaultCredentialID = core.NewID(core.KindCredential) }, "defaultCredentialId", core.ErrInvalidInput},
			{"credential of another project", func(in *inventory.CreateHostInput) { in.DefaultCredentialID = foreign.ID }, "defaultCredentialId", core.ErrInvalidInput},
		}
		for _, tc := range cases {
			in := valid
			tc.edit(&in)
			_, err := b.inv.CreateHost(ctx, in)
			require.ErrorIs(t, err, tc.is, tc.name)
			require.Equal(t, tc.field, core.FieldOf(err), tc.name)
		}
		n, err := b.inv.CountHosts(ctx, inventory.HostQuery{ProjectID: b.project.ID})
		require.NoError(t, err)
		require.Zero(t, n, "no failed create may leave a row")

		for addr, want := range map[string]string{"10.0.0.1": "10.0.0.1", "::1": "::1", "[2001:DB8::1]": "2001:db8::1",
			"db-1.internal": "db-1.internal", "localhost": "localhost", "web01.example.com.": "web01.example.com."} {
			h, err := b.inv.CreateHost(ctx, inventory.CreateHostInput{ProjectID: b.project.ID, Name: "ok-" + strings.NewReplacer(":", "", "[", "", "]", "", ".", "").Replace(addr), Address: addr})
			require.NoError(t, err, addr)
			require.Equal(t, want, h.Address, "IP addresses are stored in canonical form")
		}
	})
}

func TestHostPaginationAndFilters(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b := setup(t, s)
		var want []string
		for i := range 120 {
			name := fmt.Sprintf("node-%03d", (i*37)%120) // created out of order
			b.host(t, name, nil)
			want = append(want, name)
		}
		slices.Sort(want)
		var got []string
		page := core.PageArgs{First: 50}
		for pages := 0; ; pages++ {
			require.Less(t, pages, 5)
			p, err := b.inv.ListHosts(ctx, inventory.HostQuery{ProjectID: b.project.ID}, page)
			require.NoError(t, err)
			for _, h := range p.Items {
				got = append(got, h.Name)
			}
			if !p.HasNext {
				break
			}
			page.After = p.Cursors[len(p.Cursors)-1]
		}
		require.Equal(t, want, got, "pages cover every host once, in name order")

		// A host inserted before the cursor does not shift the next page.
		p1, err := b.inv.ListHosts(ctx, inventory.HostQuery{ProjectID: b.project.ID}, core.PageArgs{First: 10})
		require.NoError(t, err)
		b.host(t, "node-000a", nil)
		p2, err := b.inv.ListHosts(ctx, inventory.HostQuery{ProjectID: b.project.ID}, core.PageArgs{First: 10, After: p1.Cursors[9]})
		require.NoError(t, err)
		require.Equal(t, "node-010", p2.Items[0].Name)

		p, err := b.inv.ListHosts(ctx, inventory.HostQuery{ProjectID: b.project.ID, Search: "NODE-11"}, core.PageArgs{})
		require.NoError(t, err)
		require.Len(t, p.Items, 10, "search is a case-insensitive substring match")
		p, err = b.inv.ListHosts(ctx, inventory.HostQuery{ProjectID: b.project.ID, Search: "%"}, core.PageArgs{})
		require.NoError(t, err)
		require.Empty(t, p.Items, "LIKE metacharacters are literal")

		_, err = b.inv.ListHosts(ctx, inventory.HostQuery{ProjectID: b.project.ID}, core.PageArgs{First: 501})
		require.ErrorIs(t, err, core.ErrInvalidInput)
		_, err = b.inv.ListHosts(ctx, inventory.HostQuery{ProjectID: b.project.ID}, core.PageArgs{After: "garbage"})
		require.ErrorIs(t, err, core.ErrInvalidInput)
	})
}

// TestSelectorSQLMatchesGo checks the SQL translation of label selectors
// against the in-memory evaluation on random hosts.
func TestSelectorSQLMatchesGo(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b := setup(t, s)
		rng := mrand.New(mrand.NewPCG(1, 2))
		keys := []string{"env", "tier", "region", "jobgraph.io/role"}
		values := []string{"prod", "staging", "web", "db", "eu", ""}
		hosts := map[string]map[string]string{}
		for i := range 60 {
			lbls := map[string]string{}
			for _, k := range keys {
				if rng.IntN(3) > 0 {
					lbls[k] = values[rng.IntN(len(values))]
				}
			}
			h := b.host(t, fmt.Sprintf("h%02d", i), lbls)
			hosts[h.Name] = lbls
		}
		selectors := []string{
			"env=prod", "env==prod", "env!=prod", "env in (prod,staging)", "env notin (prod,staging)",
			"tier", "!tier", "env=", "env=prod,tier=web", "jobgraph.io/role in (db,web),!region",
			"env,env!=prod", "region notin (eu),tier in (db)",
		}
		for _, text := range selectors {
			sel := labels.MustParse(text)
			var want []string
			for name, l := range hosts {
				if sel.Matches(l) {
					want = append(want, name)
				}
			}
			slices.Sort(want)
			prev, err := b.inv.PreviewSelector(ctx, b.project.ID, text, core.PageArgs{First: 500})
			require.NoError(t, err, text)
			var got []string
			for _, h := range prev.Hosts.Items {
				got = append(got, h.Name)
			}
			require.Equal(t, want, got, text)
			require.Equal(t, sel.String(), prev.Selector)
		}
		_, err := b.inv.PreviewSelector(ctx, b.project.ID, "env in (", core.PageArgs{})
		require.ErrorIs(t, err, core.ErrInvalidInput)
		require.Equal(t, "selector", core.FieldOf(err))
		require.Contains(t, err.Error(), "position")
		_, err = b.inv.PreviewSelector(ctx, b.project.ID, "  ", core.PageArgs{})
		require.ErrorIs(t, err, core.ErrInvalidInput)
	})
}

func TestGroups(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b := setup(t, s)
		web1 := b.host(t, "web1", map[string]string{"tier": "web"})
		web2 := b.host(t, "web2", map[string]string{"tier": "web"})
		db1 := b.host(t, "db1", map[string]string{"tier": "db"})
		members := func(g inventory.HostGroup) []string {
			p, err := b.inv.GroupMembers(ctx, g, core.PageArgs{})
			require.NoError(t, err)
			n, err := b.inv.CountGroupMembers(ctx, g)
			require.NoError(t, err)
			require.Len(t, p.Items, n)
			var names []string
			for _, h := range p.Items {
				names = append(names, h.Name)
			}
			return names
		}

		static, err := b.inv.CreateGroup(ctx, inventory.CreateGroupInput{ProjectID: b.project.ID, Name: "pinned", HostIDs: []string{web1.ID, db1.ID}})
		require.NoError(t, err)
		require.True(t, static.IsStatic())
		require.Equal(t, []string{"db1", "web1"}, members(static))

		byLabel, err := b.inv.CreateGroup(ctx, inventory.CreateGroupInput{ProjectID: b.project.ID, Name: "web", Selector: ptr("tier = web")})
		require.NoError(t, err)
		require.Equal(t, "tier=web", byLabel.Selector.String())
		require.Equal(t, []string{"web1", "web2"}, members(byLabel))

		// A host that gains the label joins the selector group without an edit.
		_, err = b.inv.UpdateHost(ctx, inventory.UpdateHostInput{ID: db1.ID, Labels: map[string]string{"tier": "web"}})
		require.NoError(t, err)
		require.Equal(t, []string{"db1", "web1", "web2"}, members(byLabel))

		// Renaming keeps static members; switching kinds replaces them.
		static, err = b.inv.UpdateGroup(ctx, inventory.UpdateGroupInput{ID: static.ID, Name: ptr("pinned-2")})
		require.NoError(t, err)
		require.Equal(t, []string{"db1", "web1"}, members(static))
		static, err = b.inv.UpdateGroup(ctx, inventory.UpdateGroupInput{ID: static.ID, Selector: ptr("!tier")})
		require.NoError(t, err)
		require.Empty(t, members(static))
		static, err = b.inv.UpdateGroup(ctx, inventory.UpdateGroupInput{ID: static.ID, HostIDs: []string{web2.ID}})
		require.NoError(t, err)
		require.True(t, static.IsStatic())
		require.Equal(t, []string{"web2"}, members(static))

		// Deleting a host removes it from static groups.
		require.NoError(t, b.inv.DeleteHost(ctx, web2.ID))
		require.Empty(t, members(static))

		for name, in := range map[string]inventory.CreateGroupInput{
			"both":        {ProjectID: b.project.ID, Name: "x", HostIDs: []string{web1.ID}, Selector: ptr("a")},
			"bad sel":     {ProjectID: b.project.ID, Name: "x", Selector: ptr("tier in (web")},
			"empty sel":   {ProjectID: b.project.ID, Name: "x", Selector: ptr("")},
			"unknown":     {ProjectID: b.project.ID, Name: "x", HostIDs: []string{core.NewID(core.KindHost)}},
			"twice":       {ProjectID: b.project.ID, Name: "x", HostIDs: []string{web1.ID, web1.ID}},
			"wrong kind":  {ProjectID: b.project.ID, Name: "x", HostIDs: []string{b.project.ID}},
			"duplicate":   {ProjectID: b.project.ID, Name: "web", Selector: ptr("a")},
			"bad name":    {ProjectID: b.project.ID, Name: "", Selector: ptr("a")},
			"bad project": {ProjectID: core.NewID(core.KindProject), Name: "x", Selector: ptr("a")},
		} {
			_, err := b.inv.CreateGroup(ctx, in)
			require.Error(t, err, name)
			require.False(t, core.FieldOf(err) == "" && !strings.Contains(name, "project"), "%s: %v names no field", name, err)
		}
		n, err := b.inv.CountGroups(ctx, inventory.GroupFilter{ProjectID: b.project.ID})
		require.NoError(t, err)
		require.Equal(t, 2, n)

		require.NoError(t, b.inv.DeleteGroup(ctx, byLabel.ID))
		_, err = b.inv.GetGroup(ctx, byLabel.ID)
		require.ErrorIs(t, err, core.ErrNotFound)
	})
}

func newSSHKey(t *testing.T, passphrase string) string {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	var block *pem.Block
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "test")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "test", []byte(passphrase))
	}
	require.NoError(t, err)
	return string(pem.EncodeToMemory(block))
}

func TestCredentials(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b := setup(t, s)
		key := newSSHKey(t, "")
		c, err := b.inv.CreateCredential(ctx, inventory.CreateCredentialInput{
			ProjectID: b.project.ID, Name: "deploy", Kind: inventory.CredentialSSHKey, Username: "root", Secret: inventory.Secret{Value: key},
		})
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(c.Fingerprint, "SHA256:"), c.Fingerprint)
		got, err := b.inv.GetCredential(ctx, c.ID)
		require.NoError(t, err)
		require.Equal(t, c, got)

		sealed, err := s.SealedSecret(ctx, c.ID)
		require.NoError(t, err)
		require.NotContains(t, string(sealed), "PRIVATE KEY", "the secret is sealed at rest")
		sec, err := b.inv.OpenSecret(ctx, c.ID)
		require.NoError(t, err)
		require.Equal(t, key, sec.Value)
		require.NotContains(t, fmt.Sprintf("%v %+v %#v", sec, sec, sec), "PRIVATE")

		encrypted := newSSHKey(t, "s3cret-pass")
		cases := map[string]struct {
			in    inventory.CreateCredentialInput
			field string
		}{
			"encrypted, no passphrase": {inventory.CreateCredentialInput{Kind: inventory.CredentialSSHKey, Secret: inventory.Secret{Value: encrypted}}, "passphrase"},
			"wrong passphrase":         {inventory.CreateCredentialInput{Kind: inventory.CredentialSSHKey, Secret: inventory.Secret{Value: encrypted, Passphrase: "nope"}}, "passphrase"},
			"plain key, passphrase":    {inventory.CreateCredentialInput{Kind: inventory.CredentialSSHKey, Secret: inventory.Secret{Value: key, Passphrase: "x"}}, "passphrase"},
			"not a key":                {inventory.CreateCredentialInput{Kind: inventory.CredentialSSHKey, Secret: inventory.Secret{Value: "hunter2-not-a-key"}}, "secret"},
			"empty secret":             {inventory.CreateCredentialInput{Kind: inventory.CredentialToken}, "secret"},
			"password, no username":    {inventory.CreateCredentialInput{Kind: inventory.CredentialPassword, Secret: inventory.Secret{Value: "hunter2-not-a-key"}}, "username"},
			"unknown kind":             {inventory.CreateCredentialInput{Kind: "magic", Secret: inventory.Secret{Value: "hunter2-not-a-key"}}, "kind"},
			"token with passphrase":    {inventory.CreateCredentialInput{Kind: inventory.CredentialToken, Secret: inventory.Secret{Value: "hunter2-not-a-key", Passphrase: "p"}}, "passphrase"},
		}
		for name, tc := range cases {
			tc.in.ProjectID, tc.in.Name = b.project.ID, "c"
			_, err := b.inv.CreateCredential(ctx, tc.in)
			require.ErrorIs(t, err, core.ErrInvalidInput, name)
			require.Equal(t, tc.field, core.FieldOf(err), name)
			require.NotContains(t, err.Error(), "hunter2", "errors never quote a secret")
			require.NotContains(t, err.Error(), "s3cret")
		}
		withPass, err := b.inv.CreateCredential(ctx, inventory.CreateCredentialInput{
			ProjectID: b.project.ID, Name: "enc", Kind: inventory.CredentialSSHKey, Secret: inventory.Secret{Value: encrypted, Passphrase: "s3cret-pass"},
		})
		require.NoError(t, err)
		sec, err = b.inv.OpenSecret(ctx, withPass.ID)
		require.NoError(t, err)
		require.Equal(t, "s3cret-pass", sec.Passphrase)

		_, err = b.inv.CreateCredential(ctx, inventory.CreateCredentialInput{
			ProjectID: b.project.ID, Name: "deploy", Kind: inventory.CredentialToken, Secret: inventory.Secret{Value: "t"},
		})
		require.ErrorIs(t, err, core.ErrConflict)

		// Rotating the secret changes the fingerprint and the time; the kind stays.
		rotated, err := b.inv.UpdateCredential(ctx, inventory.UpdateCredentialInput{ID: c.ID, Secret: &inventory.Secret{Value: newSSHKey(t, "")}})
		require.NoError(t, err)
		require.NotEqual(t, c.Fingerprint, rotated.Fingerprint)
		require.False(t, rotated.SecretUpdatedAt.Before(c.SecretUpdatedAt))
		renamed, err := b.inv.UpdateCredential(ctx, inventory.UpdateCredentialInput{ID: c.ID, Description: ptr("prod deploy key")})
		require.NoError(t, err)
		require.Equal(t, rotated.Fingerprint, renamed.Fingerprint, "an update without a secret keeps it")

		// A credential in use cannot be deleted.
		h, err := b.inv.CreateHost(ctx, inventory.CreateHostInput{ProjectID: b.project.ID, Name: "h", Address: "h", DefaultCredentialID: c.ID})
		require.NoError(t, err)
		require.ErrorIs(t, b.inv.DeleteCredential(ctx, c.ID), core.ErrConflict)
		_, err = b.inv.UpdateHost(ctx, inventory.UpdateHostInput{ID: h.ID, DefaultCredentialID: core.Optional[string]{Set: true}})
		require.NoError(t, err)
		require.NoError(t, b.inv.DeleteCredential(ctx, c.ID))

		page, err := b.inv.ListCredentials(ctx, inventory.CredentialFilter{ProjectID: b.project.ID, Kind: inventory.CredentialSSHKey}, core.PageArgs{})
		require.NoError(t, err)
		require.Len(t, page.Items, 1)
		require.Equal(t, "enc", page.Items[0].Name)
	})
}

func TestProjects(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b := setup(t, s)
		_, err := b.projects.Create(ctx, project.CreateInput{Name: "ops"})
		require.ErrorIs(t, err, core.ErrConflict)
		_, err = b.projects.Create(ctx, project.CreateInput{Name: "Ops"})
		require.NoError(t, err, "names are case-sensitive on every dialect")
		_, err = b.projects.Create(ctx, project.CreateInput{Name: "-ops"})
		require.ErrorIs(t, err, core.ErrInvalidInput)

		b.host(t, "h1", nil)
		err = b.projects.Delete(ctx, b.project.ID)
		require.ErrorIs(t, err, core.ErrConflict)
		require.Contains(t, err.Error(), "1 hosts")

		empty, err := b.projects.Create(ctx, project.CreateInput{Name: "empty", Description: "nothing here"})
		require.NoError(t, err)
		renamed, err := b.projects.Update(ctx, project.UpdateInput{ID: empty.ID, Name: ptr("emptied")})
		require.NoError(t, err)
		require.Equal(t, "nothing here", renamed.Description)
		_, err = b.projects.Update(ctx, project.UpdateInput{ID: empty.ID, Name: ptr("ops")})
		require.ErrorIs(t, err, core.ErrConflict)
		require.NoError(t, b.projects.Delete(ctx, empty.ID))
		_, err = b.projects.Get(ctx, empty.ID)
		require.ErrorIs(t, err, core.ErrNotFound)

		p, err := b.projects.List(ctx, project.Filter{}, core.PageArgs{})
		require.NoError(t, err)
		require.Len(t, p.Items, 2)
		require.Equal(t, "Ops", p.Items[0].Name, "byte order: upper case first")
	})
}

func TestVerifySealerRefusesAnotherKey(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b := setup(t, s)
		require.NoError(t, b.inv.VerifySealer(ctx), "the first server stores the check")
		require.NoError(t, b.inv.VerifySealer(ctx), "and passes it again")

		other, err := secrets.GenerateKey()
		require.NoError(t, err)
		ring, err := secrets.NewKeyring(other)
		require.NoError(t, err)
		err = inventory.NewService(s, ring).VerifySealer(ctx)
		require.ErrorIs(t, err, inventory.ErrWrongKey, "a server with its own key is refused")
	})
}
