-- A project may cap how many of its runs run at once (0: no cap); the
-- engine's admission keeps the others queued.

-- +goose Up
ALTER TABLE projects ADD COLUMN max_concurrent_runs INT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE projects DROP COLUMN max_concurrent_runs;
