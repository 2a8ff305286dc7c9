-- Cron schedules and the record of their fire times. next_fire_at is the
-- next fire time by the expression, due_at the same plus the jitter drawn
-- for it; both are NULL while disabled. The scheduler moves next_fire_at
-- with a compare-and-set in the transaction that starts the run, and
-- schedule_fires' primary key holds each fire time at most once. jitter is
-- in milliseconds. Times are stored in UTC.

-- +goose Up
CREATE TABLE schedules (
    id           VARCHAR(32)  NOT NULL PRIMARY KEY,
    project_id   VARCHAR(32)  NOT NULL REFERENCES projects (id),
    job_id       VARCHAR(32)  NOT NULL,
    name         VARCHAR(63)  NOT NULL,
    expression   VARCHAR(200) NOT NULL,
    time_zone    VARCHAR(64)  NOT NULL DEFAULT '',
    params       TEXT         NOT NULL,
    priority     INTEGER      NOT NULL DEFAULT 0,
    jitter_ms    INTEGER      NOT NULL DEFAULT 0,
    overlap      VARCHAR(16)  NOT NULL,
    missed       VARCHAR(16)  NOT NULL,
    enabled      BOOLEAN      NOT NULL,
    next_fire_at DATETIME,
    due_at       DATETIME,
    last_fire_at DATETIME,
    last_run_id  VARCHAR(32)  NOT NULL DEFAULT '',
    last_error   TEXT         NOT NULL DEFAULT '',
    created_by   VARCHAR(64)  NOT NULL DEFAULT '',
    created_at   DATETIME     NOT NULL,
    updated_at   DATETIME     NOT NULL
);
CREATE UNIQUE INDEX schedules_project_name ON schedules (project_id, name);
CREATE INDEX schedules_due ON schedules (enabled, due_at);

CREATE TABLE schedule_fires (
    schedule_id VARCHAR(32) NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    fire_at     DATETIME    NOT NULL,
    fired_at    DATETIME    NOT NULL,
    outcome     VARCHAR(16) NOT NULL,
    run_id      VARCHAR(32) NOT NULL DEFAULT '',
    error       TEXT        NOT NULL DEFAULT '',
    PRIMARY KEY (schedule_id, fire_at)
);

-- +goose Down
DROP TABLE schedule_fires;
DROP TABLE schedules;
