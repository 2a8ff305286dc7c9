-- Approvals (core/approval): a run held by a command guard rule (step_run_id
-- NULL), or an approval step of a run, waiting for people holding role to
-- vote. approvals and rejections count the votes, so that a vote is one
-- conditional UPDATE (which also locks the row: concurrent votes are
-- counted one after the other) plus one INSERT. The primary key of
-- approval_votes allows one vote per person.

-- +goose Up
CREATE TABLE approvals (
    id           VARCHAR(32)  NOT NULL PRIMARY KEY,
    project_id   VARCHAR(32)  NOT NULL,
    run_id       VARCHAR(32)  NOT NULL,
    step_run_id  VARCHAR(32)  NULL,
    step         VARCHAR(63)  NOT NULL DEFAULT '',
    role         VARCHAR(63)  NOT NULL,
    required     INT          NOT NULL,
    status       VARCHAR(16)  NOT NULL,
    message      TEXT         NOT NULL,
    reason       TEXT         NOT NULL,
    requested_by VARCHAR(64)  NOT NULL DEFAULT '',
    approvals    INT          NOT NULL DEFAULT 0,
    rejections   INT          NOT NULL DEFAULT 0,
    deadline     DATETIME(6)  NOT NULL,
    created_at   DATETIME(6)  NOT NULL,
    decided_at   DATETIME(6)  NULL,
    KEY approvals_project_status_created (project_id, status, created_at, id),
    KEY approvals_status_created (status, created_at, id),
    KEY approvals_run (run_id),
    CONSTRAINT approvals_project FOREIGN KEY (project_id) REFERENCES projects (id),
    CONSTRAINT approvals_run FOREIGN KEY (run_id) REFERENCES runs (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE approval_votes (
    approval_id VARCHAR(32)  NOT NULL,
    user_id     VARCHAR(64)  NOT NULL,
    decision    VARCHAR(8)   NOT NULL,
    comment     TEXT         NOT NULL,
    at          DATETIME(6)  NOT NULL,
    PRIMARY KEY (approval_id, user_id),
    CONSTRAINT approval_votes_approval FOREIGN KEY (approval_id) REFERENCES approvals (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE approval_votes;
DROP TABLE approvals;
