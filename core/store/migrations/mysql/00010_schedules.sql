-- Cron schedules and the record of their fire times. next_fire_at is the
-- next fire time by the expression, due_at the same plus the jitter drawn
-- for it; both are NULL while disabled. The scheduler moves next_fire_at
-- with a compare-and-set in the transaction that starts the run, and
-- schedule_fires' primary key holds each fire time at most once. jitter is
-- in milliseconds. Times are stored in UTC.

-- +goose Up
CREATE TABLE schedules (
    id           VARCHAR(32)  NOT NULL PRIMARY KEY,
    project_id   VARCHAR(32)  NOT NULL,
    job_id       VARCHAR(32)  NOT NULL,
    name         VARCHAR(63)  NOT NULL,
    expression   VARCHAR(200) NOT NULL,
    time_zone    VARCHAR(64)  NOT NULL DEFAULT '',
    params       MEDIUMTEXT   NOT NULL,
    priority     INT          NOT NULL DEFAULT 0,
    jitter_ms    BIGINT       NOT NULL DEFAULT 0,
    overlap      VARCHAR(16)  NOT NULL,
    missed       VARCHAR(16)  NOT NULL,
    enabled      BOOLEAN      NOT NULL,
    next_fire_at DATETIME(6)  NULL,
    due_at       DATETIME(6)  NULL,
    last_fire_at DATETIME(6)  NULL,
    last_run_id  VARCHAR(32)  NOT NULL DEFAULT '',
    last_error   TEXT         NOT NULL,
    created_by   VARCHAR(64)  NOT NULL DEFAULT '',
    created_at   DATETIME(6)  NOT NULL,
    updated_at   DATETIME(6)  NOT NULL,
    UNIQUE KEY schedules_project_name (project_id, name),
    KEY schedules_due (enabled, due_at),
    CONSTRAINT schedules_project FOREIGN KEY (project_id) REFERENCES projects (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE schedule_fires (
    schedule_id VARCHAR(32) NOT NULL,
    fire_at     DATETIME(6) NOT NULL,
    fired_at    DATETIME(6) NOT NULL,
    outcome     VARCHAR(16) NOT NULL,
    run_id      VARCHAR(32) NOT NULL DEFAULT '',
    error       TEXT        NOT NULL,
    PRIMARY KEY (schedule_id, fire_at),
    CONSTRAINT schedule_fires_schedule FOREIGN KEY (schedule_id) REFERENCES schedules (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE schedule_fires;
DROP TABLE schedules;
