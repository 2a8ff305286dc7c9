-- Users, console sessions and personal API tokens.
-- Times are stored in UTC. No column holds a password or a secret in clear:
-- password_hash is an argon2id PHC string and secret_hash the hex SHA-256 of
-- a session or token secret.

-- +goose Up
CREATE TABLE users (
    id            VARCHAR(32)  NOT NULL PRIMARY KEY,
    username      VARCHAR(64)  NOT NULL,
    display_name  VARCHAR(255) NOT NULL DEFAULT '',
    password_hash VARCHAR(255) NOT NULL,
    disabled      BOOLEAN      NOT NULL DEFAULT FALSE,
    created_at    DATETIME     NOT NULL,
    updated_at    DATETIME     NOT NULL,
    last_login_at DATETIME     NULL
);
CREATE UNIQUE INDEX users_username ON users (username);

CREATE TABLE sessions (
    id           VARCHAR(32)  NOT NULL PRIMARY KEY,
    user_id      VARCHAR(32)  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret_hash  CHAR(64)     NOT NULL,
    created_at   DATETIME     NOT NULL,
    expires_at   DATETIME     NOT NULL,
    last_seen_at DATETIME     NOT NULL,
    client_addr  VARCHAR(255) NOT NULL DEFAULT '',
    user_agent   VARCHAR(512) NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX sessions_secret_hash ON sessions (secret_hash);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- A token limited to a project goes with the project: left in place it
-- would block the project's deletion, and it could never be used again.
CREATE TABLE api_tokens (
    id           VARCHAR(32) NOT NULL PRIMARY KEY,
    user_id      VARCHAR(32) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         VARCHAR(63) NOT NULL,
    secret_hash  CHAR(64)    NOT NULL,
    project_id   VARCHAR(32) NULL REFERENCES projects (id) ON DELETE CASCADE,
    role         VARCHAR(64) NOT NULL DEFAULT '',
    expires_at   DATETIME    NULL,
    created_at   DATETIME    NOT NULL,
    last_used_at DATETIME    NULL,
    revoked_at   DATETIME    NULL
);
CREATE UNIQUE INDEX api_tokens_user_name ON api_tokens (user_id, name);
CREATE UNIQUE INDEX api_tokens_secret_hash ON api_tokens (secret_hash);
CREATE INDEX api_tokens_project ON api_tokens (project_id);

-- +goose Down
DROP TABLE api_tokens;
DROP TABLE sessions;
DROP TABLE users;
