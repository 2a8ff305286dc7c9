-- Job definitions and their immutable versions. jobs.latest_version points
-- at the newest row of job_versions; the spec is the JSON document of
-- job.EncodeSpec. Times are stored in UTC.

-- +goose Up
CREATE TABLE jobs (
    id             VARCHAR(32) NOT NULL PRIMARY KEY,
    project_id     VARCHAR(32) NOT NULL REFERENCES projects (id),
    name           VARCHAR(63) NOT NULL,
    description    TEXT        NOT NULL DEFAULT '',
    latest_version INTEGER     NOT NULL,
    created_at     DATETIME    NOT NULL,
    updated_at     DATETIME    NOT NULL,
    created_by     VARCHAR(64) NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX jobs_project_name ON jobs (project_id, name);

CREATE TABLE job_versions (
    job_id     VARCHAR(32) NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    version    INTEGER     NOT NULL,
    spec       TEXT        NOT NULL,
    created_at DATETIME    NOT NULL,
    created_by VARCHAR(64) NOT NULL DEFAULT '',
    PRIMARY KEY (job_id, version)
);

-- +goose Down
DROP TABLE job_versions;
DROP TABLE jobs;
