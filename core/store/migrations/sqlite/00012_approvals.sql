-- Approvals (core/approval): a run held by a command guard rule (step_run_id
-- NULL), or an approval step of a run, waiting for people holding role to
-- vote. approvals and rejections count the votes, so that a vote is one
-- conditional UPDATE (which also serialises concurrent votes) plus one
-- INSERT. The primary key of approval_votes allows one vote per person.

-- +goose Up
CREATE TABLE approvals (
    id           VARCHAR(32)  NOT NULL PRIMARY KEY,
    project_id   VARCHAR(32)  NOT NULL REFERENCES projects (id),
    run_id       VARCHAR(32)  NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step_run_id  VARCHAR(32)  NULL,
    step         VARCHAR(63)  NOT NULL DEFAULT '',
    role         VARCHAR(63)  NOT NULL,
    required     INTEGER      NOT NULL,
    status       VARCHAR(16)  NOT NULL,
    message      TEXT         NOT NULL DEFAULT '',
    reason       TEXT         NOT NULL DEFAULT '',
    requested_by VARCHAR(64)  NOT NULL DEFAULT '',
    approvals    INTEGER      NOT NULL DEFAULT 0,
    rejections   INTEGER      NOT NULL DEFAULT 0,
    deadline     DATETIME     NOT NULL,
    created_at   DATETIME     NOT NULL,
    decided_at   DATETIME     NULL
);
CREATE INDEX approvals_project_status_created ON approvals (project_id, status, created_at, id);
CREATE INDEX approvals_status_created ON approvals (status, created_at, id);
CREATE INDEX approvals_run ON approvals (run_id);

CREATE TABLE approval_votes (
    approval_id VARCHAR(32)   NOT NULL REFERENCES approvals (id) ON DELETE CASCADE,
    user_id     VARCHAR(64)   NOT NULL,
    decision    VARCHAR(8)    NOT NULL,
    comment     TEXT          NOT NULL DEFAULT '',
    at          DATETIME      NOT NULL,
    PRIMARY KEY (approval_id, user_id)
);

-- +goose Down
DROP TABLE approval_votes;
DROP TABLE approvals;
