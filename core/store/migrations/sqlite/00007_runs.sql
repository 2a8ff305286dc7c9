-- Runs, their step runs and tasks, and the tasks' logs (core/run).
-- Times are stored in UTC. runs.job_id has no foreign key, and neither has
-- tasks.host_id: a run's history outlives the job and the hosts it ran on,
-- which is why runs keep the job's name and tasks the host's name.
-- runs.project_id has one: a project with runs cannot be deleted.
-- Step-run counts are not stored: they are computed from tasks on read.

-- +goose Up
CREATE TABLE runs (
    id            VARCHAR(32) NOT NULL PRIMARY KEY,
    project_id    VARCHAR(32) NOT NULL REFERENCES projects (id),
    job_id        VARCHAR(32) NULL,
    job_version   INTEGER     NOT NULL DEFAULT 0,
    name          VARCHAR(255) NOT NULL,
    status        VARCHAR(16) NOT NULL,
    priority      INTEGER     NOT NULL DEFAULT 0,
    trigger_kind  VARCHAR(16) NOT NULL,
    trigger_actor VARCHAR(64) NOT NULL DEFAULT '',
    retry_of      VARCHAR(32) NULL,
    params        TEXT        NOT NULL DEFAULT '{}',
    secret_params TEXT        NOT NULL DEFAULT '[]',
    created_at    DATETIME    NOT NULL,
    started_at    DATETIME    NULL,
    finished_at   DATETIME    NULL
);
CREATE INDEX runs_project_created ON runs (project_id, created_at, id);
CREATE INDEX runs_project_status_created ON runs (project_id, status, created_at);
CREATE INDEX runs_job_created ON runs (job_id, created_at);
CREATE INDEX runs_created ON runs (created_at, id);
CREATE INDEX runs_status ON runs (status, id);
CREATE INDEX runs_retry_of ON runs (retry_of);

CREATE TABLE step_runs (
    id          VARCHAR(32) NOT NULL PRIMARY KEY,
    run_id      VARCHAR(32) NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    name        VARCHAR(63) NOT NULL,
    idx         INTEGER     NOT NULL,
    status      VARCHAR(16) NOT NULL,
    started_at  DATETIME    NULL,
    finished_at DATETIME    NULL
);
CREATE UNIQUE INDEX step_runs_run_idx ON step_runs (run_id, idx);
CREATE UNIQUE INDEX step_runs_run_name ON step_runs (run_id, name);

CREATE TABLE tasks (
    id            VARCHAR(32)  NOT NULL PRIMARY KEY,
    run_id        VARCHAR(32)  NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step_run_id   VARCHAR(32)  NOT NULL REFERENCES step_runs (id) ON DELETE CASCADE,
    host_id       VARCHAR(32)  NOT NULL DEFAULT '',
    host_name     VARCHAR(253) NOT NULL DEFAULT '',
    status        VARCHAR(16)  NOT NULL,
    attempt       INTEGER      NOT NULL DEFAULT 1,
    exit_code     INTEGER      NULL,
    error         TEXT         NOT NULL DEFAULT '',
    outputs       TEXT         NULL,
    worker_id     VARCHAR(64)  NOT NULL DEFAULT '',
    heartbeat_at  DATETIME     NULL,
    log_bytes     INTEGER      NOT NULL DEFAULT 0,
    log_truncated BOOLEAN      NOT NULL DEFAULT FALSE,
    created_at    DATETIME     NOT NULL,
    queued_at     DATETIME     NULL,
    started_at    DATETIME     NULL,
    finished_at   DATETIME     NULL
);
CREATE INDEX tasks_run ON tasks (run_id, id);
CREATE INDEX tasks_step_status ON tasks (step_run_id, status, id);
CREATE INDEX tasks_status ON tasks (status, id);
CREATE INDEX tasks_status_heartbeat ON tasks (status, heartbeat_at);
CREATE INDEX tasks_host_run ON tasks (host_id, run_id);
CREATE INDEX tasks_finished ON tasks (finished_at);

CREATE TABLE task_logs (
    task_id VARCHAR(32) NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    seq     INTEGER     NOT NULL,
    stream  VARCHAR(8)  NOT NULL,
    data    BLOB        NOT NULL,
    at      DATETIME    NOT NULL,
    PRIMARY KEY (task_id, seq)
);

-- +goose Down
DROP TABLE task_logs;
DROP TABLE tasks;
DROP TABLE step_runs;
DROP TABLE runs;
