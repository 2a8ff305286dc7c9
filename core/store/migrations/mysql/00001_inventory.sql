-- Projects, hosts, host groups and credentials.
-- Times are stored in UTC. Names use utf8mb4_bin so that they compare and sort
-- byte-wise, exactly as on SQLite.

-- +goose Up
CREATE TABLE projects (
    id          VARCHAR(32)  NOT NULL PRIMARY KEY,
    name        VARCHAR(63)  NOT NULL,
    description TEXT         NOT NULL DEFAULT '',
    created_at  DATETIME(6)  NOT NULL,
    updated_at  DATETIME(6)  NOT NULL,
    UNIQUE KEY projects_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE credentials (
    id                VARCHAR(32)  NOT NULL PRIMARY KEY,
    project_id        VARCHAR(32)  NOT NULL,
    name              VARCHAR(63)  NOT NULL,
    kind              VARCHAR(32)  NOT NULL,
    username          VARCHAR(255) NOT NULL DEFAULT '',
    description       TEXT         NOT NULL DEFAULT '',
    fingerprint       VARCHAR(128) NOT NULL DEFAULT '',
    sealed            MEDIUMBLOB   NOT NULL,
    secret_updated_at DATETIME(6)  NOT NULL,
    created_at        DATETIME(6)  NOT NULL,
    updated_at        DATETIME(6)  NOT NULL,
    UNIQUE KEY credentials_project_name (project_id, name),
    CONSTRAINT credentials_project FOREIGN KEY (project_id) REFERENCES projects (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE hosts (
    id                    VARCHAR(32)  NOT NULL PRIMARY KEY,
    project_id            VARCHAR(32)  NOT NULL,
    name                  VARCHAR(253) NOT NULL,
    address               VARCHAR(253) NOT NULL,
    port                  INT          NULL,
    os                    VARCHAR(16)  NOT NULL,
    default_executor      VARCHAR(63)  NOT NULL DEFAULT '',
    default_credential_id VARCHAR(32)  NULL,
    created_at            DATETIME(6)  NOT NULL,
    updated_at            DATETIME(6)  NOT NULL,
    UNIQUE KEY hosts_project_name (project_id, name),
    KEY hosts_default_credential (default_credential_id),
    CONSTRAINT hosts_project FOREIGN KEY (project_id) REFERENCES projects (id),
    CONSTRAINT hosts_default_credential FOREIGN KEY (default_credential_id) REFERENCES credentials (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE host_labels (
    host_id     VARCHAR(32)  NOT NULL,
    label_key   VARCHAR(317) NOT NULL,
    label_value VARCHAR(63)  NOT NULL,
    PRIMARY KEY (host_id, label_key),
    KEY host_labels_key_value (label_key, label_value),
    CONSTRAINT host_labels_host FOREIGN KEY (host_id) REFERENCES hosts (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE host_groups (
    id          VARCHAR(32) NOT NULL PRIMARY KEY,
    project_id  VARCHAR(32) NOT NULL,
    name        VARCHAR(63) NOT NULL,
    description TEXT        NOT NULL DEFAULT '',
    selector    TEXT        NULL,
    created_at  DATETIME(6) NOT NULL,
    updated_at  DATETIME(6) NOT NULL,
    UNIQUE KEY host_groups_project_name (project_id, name),
    CONSTRAINT host_groups_project FOREIGN KEY (project_id) REFERENCES projects (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE host_group_members (
    group_id VARCHAR(32) NOT NULL,
    host_id  VARCHAR(32) NOT NULL,
    PRIMARY KEY (group_id, host_id),
    KEY host_group_members_host (host_id),
    CONSTRAINT host_group_members_group FOREIGN KEY (group_id) REFERENCES host_groups (id) ON DELETE CASCADE,
    CONSTRAINT host_group_members_host FOREIGN KEY (host_id) REFERENCES hosts (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE host_group_members;
DROP TABLE host_groups;
DROP TABLE host_labels;
DROP TABLE hosts;
DROP TABLE credentials;
DROP TABLE projects;
