-- Job definitions and their immutable versions. jobs.latest_version points
-- at the newest row of job_versions; the spec is the JSON document of
-- job.EncodeSpec. Times are stored in UTC.

-- +goose Up
CREATE TABLE jobs (
    id             VARCHAR(32) NOT NULL PRIMARY KEY,
    project_id     VARCHAR(32) NOT NULL,
    name           VARCHAR(63) NOT NULL,
    description    TEXT        NOT NULL DEFAULT '',
    latest_version INT         NOT NULL,
    created_at     DATETIME(6) NOT NULL,
    updated_at     DATETIME(6) NOT NULL,
    created_by     VARCHAR(64) NOT NULL DEFAULT '',
    UNIQUE KEY jobs_project_name (project_id, name),
    CONSTRAINT jobs_project FOREIGN KEY (project_id) REFERENCES projects (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE job_versions (
    job_id     VARCHAR(32) NOT NULL,
    version    INT         NOT NULL,
    spec       MEDIUMTEXT  NOT NULL,
    created_at DATETIME(6) NOT NULL,
    created_by VARCHAR(64) NOT NULL DEFAULT '',
    PRIMARY KEY (job_id, version),
    CONSTRAINT job_versions_job FOREIGN KEY (job_id) REFERENCES jobs (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE job_versions;
DROP TABLE jobs;
