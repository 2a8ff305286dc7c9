-- Webhook triggers and the deliveries they accepted. triggers.sealed is the
-- secret, sealed with the server's key (AAD "trigger/<id>"); params is the
-- JSON list of where each job parameter's value comes from. A delivery row
-- is the replay guard: its key (trigger_id, delivery_id) is unique, and rows
-- older than 7 days are pruned. Times are stored in UTC.

-- +goose Up
CREATE TABLE triggers (
    id                VARCHAR(32) NOT NULL PRIMARY KEY,
    project_id        VARCHAR(32) NOT NULL REFERENCES projects (id),
    job_id            VARCHAR(32) NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    name              VARCHAR(63) NOT NULL,
    sealed            BLOB        NOT NULL,
    params            TEXT        NOT NULL,
    require_timestamp BOOLEAN     NOT NULL DEFAULT FALSE,
    priority          INTEGER     NOT NULL DEFAULT 0,
    enabled           BOOLEAN     NOT NULL DEFAULT TRUE,
    created_by        VARCHAR(64) NOT NULL DEFAULT '',
    created_at        DATETIME    NOT NULL,
    updated_at        DATETIME    NOT NULL,
    last_delivery_at  DATETIME
);
CREATE UNIQUE INDEX triggers_project_name ON triggers (project_id, name);
CREATE INDEX triggers_job ON triggers (job_id);

CREATE TABLE trigger_deliveries (
    trigger_id  VARCHAR(32)  NOT NULL REFERENCES triggers (id) ON DELETE CASCADE,
    delivery_id VARCHAR(128) NOT NULL,
    run_id      VARCHAR(32)  NOT NULL DEFAULT '',
    received_at DATETIME     NOT NULL,
    PRIMARY KEY (trigger_id, delivery_id)
);
CREATE INDEX trigger_deliveries_received ON trigger_deliveries (trigger_id, received_at);

-- +goose Down
DROP TABLE trigger_deliveries;
DROP TABLE triggers;
