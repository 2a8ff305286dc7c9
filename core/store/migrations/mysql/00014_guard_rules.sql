-- Command guards: a project's own rules, and the built-in rules (which live
-- in code) that a project disabled. A project's rules go with the project.
-- Times are stored in UTC.

-- +goose Up
CREATE TABLE guard_rules (
    id            VARCHAR(32) NOT NULL PRIMARY KEY,
    project_id    VARCHAR(32) NOT NULL,
    name          VARCHAR(63) NOT NULL,
    pattern       TEXT        NOT NULL,
    severity      VARCHAR(16) NOT NULL,
    approver_role VARCHAR(63) NOT NULL DEFAULT '',
    description   TEXT        NOT NULL DEFAULT '',
    enabled       BOOLEAN     NOT NULL,
    created_at    DATETIME(6) NOT NULL,
    updated_at    DATETIME(6) NOT NULL,
    created_by    VARCHAR(64) NOT NULL DEFAULT '',
    UNIQUE KEY guard_rules_project_name (project_id, name),
    CONSTRAINT guard_rules_project FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE guard_builtins_disabled (
    project_id  VARCHAR(32) NOT NULL,
    rule_id     VARCHAR(32) NOT NULL,
    disabled_at DATETIME(6) NOT NULL,
    disabled_by VARCHAR(64) NOT NULL DEFAULT '',
    PRIMARY KEY (project_id, rule_id),
    CONSTRAINT guard_builtins_disabled_project FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE guard_builtins_disabled;
DROP TABLE guard_rules;
