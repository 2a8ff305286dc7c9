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
    created_at    DATETIME(6)  NOT NULL,
    updated_at    DATETIME(6)  NOT NULL,
    last_login_at DATETIME(6)  NULL,
    UNIQUE KEY users_username (username)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE sessions (
    id           VARCHAR(32)  NOT NULL PRIMARY KEY,
    user_id      VARCHAR(32)  NOT NULL,
    secret_hash  CHAR(64)     NOT NULL,
    created_at   DATETIME(6)  NOT NULL,
    expires_at   DATETIME(6)  NOT NULL,
    last_seen_at DATETIME(6)  NOT NULL,
    client_addr  VARCHAR(255) NOT NULL DEFAULT '',
    user_agent   VARCHAR(512) NOT NULL DEFAULT '',
    UNIQUE KEY sessions_secret_hash (secret_hash),
    KEY sessions_user (user_id),
    KEY sessions_expires (expires_at),
    CONSTRAINT sessions_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- A token limited to a project goes with the project: left in place it
-- would block the project's deletion, and it could never be used again.
CREATE TABLE api_tokens (
    id           VARCHAR(32) NOT NULL PRIMARY KEY,
    user_id      VARCHAR(32) NOT NULL,
    name         VARCHAR(63) NOT NULL,
    secret_hash  CHAR(64)    NOT NULL,
    project_id   VARCHAR(32) NULL,
    role         VARCHAR(64) NOT NULL DEFAULT '',
    expires_at   DATETIME(6) NULL,
    created_at   DATETIME(6) NOT NULL,
    last_used_at DATETIME(6) NULL,
    revoked_at   DATETIME(6) NULL,
    UNIQUE KEY api_tokens_user_name (user_id, name),
    UNIQUE KEY api_tokens_secret_hash (secret_hash),
    KEY api_tokens_project (project_id),
    CONSTRAINT api_tokens_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT api_tokens_project FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE api_tokens;
DROP TABLE sessions;
DROP TABLE users;
