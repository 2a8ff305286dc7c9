-- Notification channels and the deliveries outbox (core/notify). Times are
-- stored in UTC. A channel's settings are JSON in clear; its secrets are
-- sealed (core/secrets). Deleting a project deletes its channels, and
-- deleting a channel its deliveries. deliveries.next_attempt_at is when a
-- pending delivery is due, or when a sending one's lease ends.

-- +goose Up
CREATE TABLE notification_channels (
    id         VARCHAR(32)  NOT NULL PRIMARY KEY,
    project_id VARCHAR(32)  NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name       VARCHAR(63)  NOT NULL,
    kind       VARCHAR(32)  NOT NULL,
    events     VARCHAR(255) NOT NULL,
    enabled    BOOLEAN      NOT NULL DEFAULT TRUE,
    settings   TEXT         NOT NULL,
    sealed     BLOB         NOT NULL,
    created_by VARCHAR(64)  NOT NULL DEFAULT '',
    created_at DATETIME     NOT NULL,
    updated_at DATETIME     NOT NULL
);
CREATE UNIQUE INDEX notification_channels_project_name ON notification_channels (project_id, name);

CREATE TABLE notification_deliveries (
    id              VARCHAR(32) NOT NULL PRIMARY KEY,
    channel_id      VARCHAR(32) NOT NULL REFERENCES notification_channels (id) ON DELETE CASCADE,
    project_id      VARCHAR(32) NOT NULL,
    run_id          VARCHAR(32) NOT NULL DEFAULT '',
    event           VARCHAR(32) NOT NULL,
    payload         TEXT        NOT NULL,
    status          VARCHAR(16) NOT NULL,
    attempts        INTEGER     NOT NULL DEFAULT 0,
    next_attempt_at DATETIME    NOT NULL,
    last_error      TEXT        NOT NULL DEFAULT '',
    created_at      DATETIME    NOT NULL,
    sent_at         DATETIME    NULL
);
CREATE INDEX notification_deliveries_due ON notification_deliveries (status, next_attempt_at);
CREATE INDEX notification_deliveries_project ON notification_deliveries (project_id, id);
CREATE INDEX notification_deliveries_channel ON notification_deliveries (channel_id, id);
CREATE INDEX notification_deliveries_created ON notification_deliveries (created_at);

-- +goose Down
DROP TABLE notification_deliveries;
DROP TABLE notification_channels;
