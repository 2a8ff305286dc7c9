-- The run list filtered by status pages by (created_at, id) descending
-- within one status. InnoDB already appends the primary key (id) to every
-- secondary index, so (project_id, status, created_at) served it; the index
-- is renamed and spelled out with id to match SQLite's (where the id had to
-- be added: see the SQLite migration 00015) and to say what it is for.

-- +goose Up
ALTER TABLE runs DROP INDEX runs_project_status_created, ADD INDEX runs_project_status_created_id (project_id, status, created_at, id);

-- +goose Down
ALTER TABLE runs DROP INDEX runs_project_status_created_id, ADD INDEX runs_project_status_created (project_id, status, created_at);
