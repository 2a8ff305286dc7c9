-- Notification channels and the deliveries outbox (core/notify). Times are
-- stored in UTC. A channel's settings are JSON in clear; its secrets are
-- sealed (core/secrets). Deleting a project deletes its channels, and
-- deleting a channel its deliveries. deliveries.next_attempt_at is when a
-- pending delivery is due, or when a sending one's lease ends.

-- +goose Up
CREATE TABLE notification_channels (
    id         VARCHAR(32)  NOT NULL PRIMARY KEY,
    project_id VARCHAR(32)  NOT NULL,
    name       VARCHAR(63)  NOT NULL,
    kind       VARCHAR(32)  NOT NULL,
    events     VARCHAR(255) NOT NULL,
    enabled    BOOLEAN      NOT NULL DEFAULT TRUE,
    settings   TEXT         NOT NULL,
    sealed     BLOB         NOT NULL,
    created_by VARCHAR(64)  NOT NULL DEFAULT '',
    created_at DATETIME(6)  NOT NULL,
    updated_at DATETIME(6)  NOT NULL,
    UNIQUE KEY notification_channels_project_name (project_id, name),
    CONSTRAINT notification_channels_project FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE notification_deliveries (
    id              VARCHAR(32) NOT NULL PRIMARY KEY,
    channel_id      VARCHAR(32) NOT NULL,
    project_id      VARCHAR(32) NOT NULL,
    run_id          VARCHAR(32) NOT NULL DEFAULT '',
    event           VARCHAR(32) NOT NULL,
    payload         MEDIUMTEXT  NOT NULL,
    status          VARCHAR(16) NOT NULL,
    attempts        INT         NOT NULL DEFAULT 0,
    next_attempt_at DATETIME(6) NOT NULL,
    last_error      TEXT        NOT NULL,
    created_at      DATETIME(6) NOT NULL,
    sent_at         DATETIME(6) NULL,
    KEY notification_deliveries_due (status, next_attempt_at),
    KEY notification_deliveries_project (project_id, id),
    KEY notification_deliveries_channel (channel_id, id),
    KEY notification_deliveries_created (created_at),
    CONSTRAINT notification_deliveries_channel_fk FOREIGN KEY (channel_id) REFERENCES notification_channels (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE notification_deliveries;
DROP TABLE notification_channels;
