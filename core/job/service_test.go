package job_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/core"
	"github.com/jobgraph/jobgraph/core/job"
	"github.com/jobgraph/jobgraph/core/project"
	"github.com/jobgraph/jobgraph/core/store"
	"github.com/jobgraph/jobgraph/core/store/storetest"
)

// These tests are the store conformance suite for jobs: they run the
// service over a real store on every dialect (SQLite and MariaDB).

type testBundle struct {
	jobs    *job.Service
	store   *store.Store
	project project.Project
}

func setup(t *testing.T, s *store.Store) *testBundle {
	t.Helper()
	p, err := project.NewService(s, nil).Create(context.Background(), project.CreateInput{Name: "ops"})
	require.NoError(t, err)
	return &testBundle{jobs: job.NewService(s, fakeSchemas{}), store: s, project: p}
}

func (b *testBundle) count(t *testing.T) (jobs, versions int) {
	t.Helper()
	db, err := b.store.SQLDB()
	require.NoError(t, err)
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM jobs").Scan(&jobs))
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM job_versions").Scan(&versions))
	return jobs, versions
}

func TestJobLifecycleWithVersions(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b := setup(t, s)
		j, err := b.jobs.Create(ctx, job.CreateInput{ProjectID: b.project.ID, Name: " deploy ", Description: "d", Spec: validSpec(), CreatedBy: "usr_a"})
		require.NoError(t, err)
		require.Equal(t, 1, j.Version)
		require.Equal(t, "deploy", j.Name)
		require.NoError(t, core.CheckID("id", core.KindJob, j.ID))

		got, err := b.jobs.Get(ctx, j.ID)
		require.NoError(t, err)
		require.Equal(t, j, got, "what is read is what was written")

		_, err = b.jobs.Create(ctx, job.CreateInput{ProjectID: b.project.ID, Name: "deploy", Spec: validSpec()})
		require.ErrorIs(t, err, core.ErrConflict)
		require.Equal(t, "name", core.FieldOf(err))

		// A new spec makes version 2; version 1 stays as it was.
		spec2 := validSpec()
		spec2.Steps[2].Condition = job.ConditionOnFailure
		v2, err := b.jobs.Update(ctx, job.UpdateInput{ID: j.ID, Spec: &spec2, IfVersion: 1, UpdatedBy: "usr_b"})
		require.NoError(t, err)
		require.Equal(t, 2, v2.Version)
		require.Equal(t, "usr_a", v2.CreatedBy, "the job keeps its creator")
		require.Equal(t, job.ConditionOnFailure, v2.Spec.Steps[2].Condition)

		old, err := b.jobs.GetVersion(ctx, j.ID, 1)
		require.NoError(t, err)
		require.Equal(t, j.Spec, old.Spec)
		require.Equal(t, "usr_a", old.CreatedBy)
		cur, err := b.jobs.GetVersion(ctx, j.ID, 2)
		require.NoError(t, err)
		require.Equal(t, "usr_b", cur.CreatedBy)
		require.Equal(t, v2.Spec, cur.Spec)
		_, err = b.jobs.GetVersion(ctx, j.ID, 3)
		require.ErrorIs(t, err, core.ErrNotFound)

		// The same spec, or a rename alone, makes no version.
		same, err := b.jobs.Update(ctx, job.UpdateInput{ID: j.ID, Spec: &spec2, Name: ptr("deploy-web")})
		require.NoError(t, err)
		require.Equal(t, 2, same.Version)
		require.Equal(t, "deploy-web", same.Name)

		// A stale editor is refused.
		_, err = b.jobs.Update(ctx, job.UpdateInput{ID: j.ID, Spec: ptr(validSpec()), IfVersion: 1})
		require.ErrorIs(t, err, core.ErrConflict)

		for i := 3; i <= 5; i++ {
			spec := validSpec()
			spec.Steps[0].Retries = i
			_, err := b.jobs.Update(ctx, job.UpdateInput{ID: j.ID, Spec: &spec})
			require.NoError(t, err)
		}
		var versions []int
		page := core.PageArgs{First: 2}
		for {
			p, err := b.jobs.ListVersions(ctx, j.ID, page)
			require.NoError(t, err)
			for _, v := range p.Items {
				versions = append(versions, v.Version)
			}
			if !p.HasNext {
				break
			}
			page.After = p.Cursors[len(p.Cursors)-1]
		}
		require.Equal(t, []int{5, 4, 3, 2, 1}, versions, "versions page newest first")

		require.NoError(t, b.jobs.Delete(ctx, j.ID))
		_, err = b.jobs.Get(ctx, j.ID)
		require.ErrorIs(t, err, core.ErrNotFound)
		_, err = b.jobs.GetVersion(ctx, j.ID, 1)
		require.ErrorIs(t, err, core.ErrNotFound)
		require.ErrorIs(t, b.jobs.Delete(ctx, j.ID), core.ErrNotFound)
		nj, nv := b.count(t)
		require.Zero(t, nj)
		require.Zero(t, nv, "versions go with the job")
	})
}

func ptr[T any](v T) *T { return &v }

func TestJobFailuresWriteNothing(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b := setup(t, s)
		bad := validSpec()
		bad.Steps[0].Needs = []string{"restart"}
		cases := []struct {
			name  string
			in    job.CreateInput
			field string
			is    error
		}{
			{"cycle", job.CreateInput{ProjectID: b.project.ID, Name: "a", Spec: bad}, "steps[1].needs", core.ErrInvalidInput},
			{"bad name", job.CreateInput{ProjectID: b.project.ID, Name: "a b", Spec: validSpec()}, "name", core.ErrInvalidInput},
			{"malformed project", job.CreateInput{ProjectID: "prj", Name: "a", Spec: validSpec()}, "projectId", core.ErrInvalidInput},
			{"unknown project", job.CreateInput{ProjectID: core.NewID(core.KindProject), Name: "a", Spec: validSpec()}, "", core.ErrNotFound},
		}
		for _, tc := range cases {
			_, err := b.jobs.Create(ctx, tc.in)
			require.ErrorIs(t, err, tc.is, tc.name)
			require.Equal(t, tc.field, core.FieldOf(err), tc.name)
		}
		nj, nv := b.count(t)
		require.Zero(t, nj+nv, "no failed create may leave a row")

		j, err := b.jobs.Create(ctx, job.CreateInput{ProjectID: b.project.ID, Name: "a", Spec: validSpec()})
		require.NoError(t, err)
		_, err = b.jobs.Create(ctx, job.CreateInput{ProjectID: b.project.ID, Name: "b", Spec: validSpec()})
		require.NoError(t, err)
		_, err = b.jobs.Update(ctx, job.UpdateInput{ID: j.ID, Spec: &bad})
		require.ErrorIs(t, err, core.ErrInvalidInput)
		_, err = b.jobs.Update(ctx, job.UpdateInput{ID: j.ID, Name: ptr("b"), Spec: ptr(validSpec())})
		require.ErrorIs(t, err, core.ErrConflict, "renaming onto another job")
		_, err = b.jobs.Update(ctx, job.UpdateInput{ID: core.NewID(core.KindJob), Name: ptr("c")})
		require.ErrorIs(t, err, core.ErrNotFound)
		got, err := b.jobs.Get(ctx, j.ID)
		require.NoError(t, err)
		require.Equal(t, j, got, "failed updates change nothing")
		nj, nv = b.count(t)
		require.Equal(t, [2]int{2, 2}, [2]int{nj, nv})

		// The delete guard runs in the transaction and may refuse.
		b.jobs.SetDeleteGuard(func(ctx context.Context, id string) error {
			return core.Conflict("id", "job %s has runs", id)
		})
		require.ErrorIs(t, b.jobs.Delete(ctx, j.ID), core.ErrConflict)
		_, err = b.jobs.Get(ctx, j.ID)
		require.NoError(t, err)
	})
}

func TestJobListAndSearch(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b := setup(t, s)
		other, err := project.NewService(s, nil).Create(ctx, project.CreateInput{Name: "other"})
		require.NoError(t, err)
		for i := range 25 {
			_, err := b.jobs.Create(ctx, job.CreateInput{ProjectID: b.project.ID, Name: fmt.Sprintf("job-%02d", (i*7)%25), Spec: validSpec()})
			require.NoError(t, err)
		}
		_, err = b.jobs.Create(ctx, job.CreateInput{ProjectID: other.ID, Name: "job-00", Spec: validSpec()})
		require.NoError(t, err, "names are unique per project only")

		var names []string
		page := core.PageArgs{First: 10}
		for {
			p, err := b.jobs.List(ctx, job.Filter{ProjectID: b.project.ID}, page)
			require.NoError(t, err)
			for _, j := range p.Items {
				names = append(names, j.Name)
				require.Len(t, j.Spec.Steps, 3, "list items carry their latest spec")
			}
			if !p.HasNext {
				break
			}
			page.After = p.Cursors[len(p.Cursors)-1]
		}
		require.Len(t, names, 25)
		require.IsIncreasing(t, names)

		p, err := b.jobs.List(ctx, job.Filter{ProjectID: b.project.ID, Search: "JOB-1"}, core.PageArgs{})
		require.NoError(t, err)
		require.Len(t, p.Items, 10)
		n, err := b.jobs.Count(ctx, job.Filter{ProjectID: b.project.ID, Search: "_"})
		require.NoError(t, err)
		require.Zero(t, n, "LIKE metacharacters are literal")
	})
}

func TestJobImportExport(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b := setup(t, s)
		j, err := b.jobs.Create(ctx, job.CreateInput{ProjectID: b.project.ID, Name: "deploy", Description: "first", Spec: validSpec()})
		require.NoError(t, err)
		doc, err := b.jobs.ExportYAML(ctx, j.ID, 0)
		require.NoError(t, err)

		// Importing what was exported changes nothing.
		same, err := b.jobs.ImportYAML(ctx, b.project.ID, doc, "usr_x")
		require.NoError(t, err)
		require.Equal(t, j, same)

		// An edited document makes a new version of the job of that name.
		edited := append(append([]byte{}, doc...), []byte("    retries: 4\n")...)
		v2, err := b.jobs.ImportYAML(ctx, b.project.ID, edited, "usr_x")
		require.NoError(t, err)
		require.Equal(t, j.ID, v2.ID)
		require.Equal(t, 2, v2.Version)
		require.Equal(t, 4, v2.Spec.Steps[2].Retries)
		old, err := b.jobs.ExportYAML(ctx, j.ID, 1)
		require.NoError(t, err)
		require.Equal(t, string(doc), string(old), "old versions export as they were")

		// A new name creates a job.
		renamed := []byte(string(doc[:0]) + replaceOnce(string(doc), "name: deploy\n", "name: deploy2\n"))
		j2, err := b.jobs.ImportYAML(ctx, b.project.ID, renamed, "usr_y")
		require.NoError(t, err)
		require.NotEqual(t, j.ID, j2.ID)
		require.Equal(t, 1, j2.Version)
		require.Equal(t, "usr_y", j2.CreatedBy)

		// Bad documents write nothing.
		before1, before2 := b.count(t)
		broken := replaceOnce(string(doc), "needs: [fetch]", "needs: [notify]")
		_, err = b.jobs.ImportYAML(ctx, b.project.ID, []byte(broken), "")
		require.ErrorIs(t, err, core.ErrInvalidInput)
		require.Contains(t, err.Error(), "cycle")
		_, err = b.jobs.ImportYAML(ctx, b.project.ID, []byte(string(doc)+"    bogus: 1\n"), "")
		require.Equal(t, "yaml", core.FieldOf(err))
		_, err = b.jobs.ImportYAML(ctx, core.NewID(core.KindProject), doc, "")
		require.ErrorIs(t, err, core.ErrNotFound)
		after1, after2 := b.count(t)
		require.Equal(t, [2]int{before1, before2}, [2]int{after1, after2})

		_, err = b.jobs.ExportYAML(ctx, j.ID, 9)
		require.ErrorIs(t, err, core.ErrNotFound)
	})
}

func replaceOnce(s, old, new string) string {
	for i := 0; i+len(old) <= len(s); i++ {
		if s[i:i+len(old)] == old {
			return s[:i] + new + s[i+len(old):]
		}
	}
	panic("not found: " + old)
}
