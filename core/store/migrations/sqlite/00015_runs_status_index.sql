-- The run list filtered by status (the console's status filter) pages by
-- (created_at, id) descending within one status: with id in the index,
-- SQLite reads such a page as a range of runs_project_status_created_id
-- and sorts nothing. Without it, SQLite walked runs_project_created and
-- filtered by status every run before the page (BenchmarkHistory in graph,
-- EXPLAIN QUERY PLAN).

-- +goose Up
DROP INDEX runs_project_status_created;
CREATE INDEX runs_project_status_created_id ON runs (project_id, status, created_at, id);

-- +goose Down
DROP INDEX runs_project_status_created_id;
CREATE INDEX runs_project_status_created ON runs (project_id, status, created_at);
