-- Runs, their step runs and tasks, and the tasks' logs (core/run).
-- Times are stored in UTC. runs.job_id has no foreign key, and neither has
-- tasks.host_id: a run's history outlives the job and the hosts it ran on,
-- which is why runs keep the job's name and tasks the host's name.
-- runs.project_id has one: a project with runs cannot be deleted.
-- Step-run counts are not stored: they are computed from tasks on read.
-- tasks (status, id) serves the dispatcher's SELECT … FOR UPDATE SKIP LOCKED
-- without a lock scan.

-- +goose Up
CREATE TABLE runs (
    id            VARCHAR(32)  NOT NULL PRIMARY KEY,
    project_id    VARCHAR(32)  NOT NULL,
    job_id        VARCHAR(32)  NULL,
    job_version   INT          NOT NULL DEFAULT 0,
    name          VARCHAR(255) NOT NULL,
    status        VARCHAR(16)  NOT NULL,
    priority      INT          NOT NULL DEFAULT 0,
    trigger_kind  VARCHAR(16)  NOT NULL,
    trigger_actor VARCHAR(64)  NOT NULL DEFAULT '',
    retry_of      VARCHAR(32)  NULL,
    params        MEDIUMTEXT   NOT NULL,
    secret_params TEXT         NOT NULL,
    created_at    DATETIME(6)  NOT NULL,
    started_at    DATETIME(6)  NULL,
    finished_at   DATETIME(6)  NULL,
    KEY runs_project_created (project_id, created_at, id),
    KEY runs_project_status_created (project_id, status, created_at),
    KEY runs_job_created (job_id, created_at),
    KEY runs_created (created_at, id),
    KEY runs_status (status, id),
    KEY runs_retry_of (retry_of),
    CONSTRAINT runs_project FOREIGN KEY (project_id) REFERENCES projects (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE step_runs (
    id          VARCHAR(32) NOT NULL PRIMARY KEY,
    run_id      VARCHAR(32) NOT NULL,
    name        VARCHAR(63) NOT NULL,
    idx         INT         NOT NULL,
    status      VARCHAR(16) NOT NULL,
    started_at  DATETIME(6) NULL,
    finished_at DATETIME(6) NULL,
    UNIQUE KEY step_runs_run_idx (run_id, idx),
    UNIQUE KEY step_runs_run_name (run_id, name),
    CONSTRAINT step_runs_run FOREIGN KEY (run_id) REFERENCES runs (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE tasks (
    id            VARCHAR(32)  NOT NULL PRIMARY KEY,
    run_id        VARCHAR(32)  NOT NULL,
    step_run_id   VARCHAR(32)  NOT NULL,
    host_id       VARCHAR(32)  NOT NULL DEFAULT '',
    host_name     VARCHAR(253) NOT NULL DEFAULT '',
    status        VARCHAR(16)  NOT NULL,
    attempt       INT          NOT NULL DEFAULT 1,
    exit_code     INT          NULL,
    error         TEXT         NOT NULL,
    outputs       MEDIUMTEXT   NULL,
    worker_id     VARCHAR(64)  NOT NULL DEFAULT '',
    heartbeat_at  DATETIME(6)  NULL,
    log_bytes     BIGINT       NOT NULL DEFAULT 0,
    log_truncated BOOLEAN      NOT NULL DEFAULT FALSE,
    created_at    DATETIME(6)  NOT NULL,
    queued_at     DATETIME(6)  NULL,
    started_at    DATETIME(6)  NULL,
    finished_at   DATETIME(6)  NULL,
    KEY tasks_run (run_id, id),
    KEY tasks_step_status (step_run_id, status, id),
    KEY tasks_status (status, id),
    KEY tasks_status_heartbeat (status, heartbeat_at),
    KEY tasks_host_run (host_id, run_id),
    KEY tasks_finished (finished_at),
    CONSTRAINT tasks_run FOREIGN KEY (run_id) REFERENCES runs (id) ON DELETE CASCADE,
    CONSTRAINT tasks_step_run FOREIGN KEY (step_run_id) REFERENCES step_runs (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE task_logs (
    task_id VARCHAR(32) NOT NULL,
    seq     BIGINT      NOT NULL,
    stream  VARCHAR(8)  NOT NULL,
    data    MEDIUMBLOB  NOT NULL,
    at      DATETIME(6) NOT NULL,
    PRIMARY KEY (task_id, seq),
    CONSTRAINT task_logs_task FOREIGN KEY (task_id) REFERENCES tasks (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE task_logs;
DROP TABLE tasks;
DROP TABLE step_runs;
DROP TABLE runs;
