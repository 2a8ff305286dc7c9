-- Runs keep the spec they run (a job version's, or an ad-hoc action's), so a
-- run reads the same after its job changes and ad-hoc runs need no job; and
-- a cancel request is stored, so it survives a restart and reaches every
-- replica.

-- +goose Up
ALTER TABLE runs
    ADD COLUMN spec MEDIUMTEXT NULL,
    ADD COLUMN cancel_requested_at DATETIME(6) NULL;

-- +goose Down
ALTER TABLE runs
    DROP COLUMN cancel_requested_at,
    DROP COLUMN spec;
