-- Projects, hosts, host groups and credentials.
-- Times are stored in UTC. Names compare byte-wise (as on MySQL with utf8mb4_bin).

-- +goose Up
CREATE TABLE projects (
    id          VARCHAR(32)  NOT NULL PRIMARY KEY,
    name        VARCHAR(63)  NOT NULL,
    description TEXT         NOT NULL DEFAULT '',
    created_at  DATETIME     NOT NULL,
    updated_at  DATETIME     NOT NULL
);
CREATE UNIQUE INDEX projects_name ON projects (name);

CREATE TABLE credentials (
    id                VARCHAR(32)  NOT NULL PRIMARY KEY,
    project_id        VARCHAR(32)  NOT NULL REFERENCES projects (id),
    name              VARCHAR(63)  NOT NULL,
    kind              VARCHAR(32)  NOT NULL,
    username          VARCHAR(255) NOT NULL DEFAULT '',
    description       TEXT         NOT NULL DEFAULT '',
    fingerprint       VARCHAR(128) NOT NULL DEFAULT '',
    sealed            BLOB         NOT NULL,
    secret_updated_at DATETIME     NOT NULL,
    created_at        DATETIME     NOT NULL,
    updated_at        DATETIME     NOT NULL
);
CREATE UNIQUE INDEX credentials_project_name ON credentials (project_id, name);

CREATE TABLE hosts (
    id                    VARCHAR(32)  NOT NULL PRIMARY KEY,
    project_id            VARCHAR(32)  NOT NULL REFERENCES projects (id),
    name                  VARCHAR(253) NOT NULL,
    address               VARCHAR(253) NOT NULL,
    port                  INTEGER      NULL,
    os                    VARCHAR(16)  NOT NULL,
    default_executor      VARCHAR(63)  NOT NULL DEFAULT '',
    default_credential_id VARCHAR(32)  NULL REFERENCES credentials (id),
    created_at            DATETIME     NOT NULL,
    updated_at            DATETIME     NOT NULL
);
CREATE UNIQUE INDEX hosts_project_name ON hosts (project_id, name);
CREATE INDEX hosts_default_credential ON hosts (default_credential_id);

CREATE TABLE host_labels (
    host_id     VARCHAR(32)  NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    label_key   VARCHAR(317) NOT NULL,
    label_value VARCHAR(63)  NOT NULL,
    PRIMARY KEY (host_id, label_key)
);
CREATE INDEX host_labels_key_value ON host_labels (label_key, label_value);

CREATE TABLE host_groups (
    id          VARCHAR(32) NOT NULL PRIMARY KEY,
    project_id  VARCHAR(32) NOT NULL REFERENCES projects (id),
    name        VARCHAR(63) NOT NULL,
    description TEXT        NOT NULL DEFAULT '',
    selector    TEXT        NULL,
    created_at  DATETIME    NOT NULL,
    updated_at  DATETIME    NOT NULL
);
CREATE UNIQUE INDEX host_groups_project_name ON host_groups (project_id, name);

CREATE TABLE host_group_members (
    group_id VARCHAR(32) NOT NULL REFERENCES host_groups (id) ON DELETE CASCADE,
    host_id  VARCHAR(32) NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, host_id)
);
CREATE INDEX host_group_members_host ON host_group_members (host_id);

-- +goose Down
DROP TABLE host_group_members;
DROP TABLE host_groups;
DROP TABLE host_labels;
DROP TABLE hosts;
DROP TABLE credentials;
DROP TABLE projects;
