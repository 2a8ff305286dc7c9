-- Webhook triggers and the deliveries they accepted. triggers.sealed is the
-- secret, sealed with the server's key (AAD "trigger/<id>"); params is the
-- JSON list of where each job parameter's value comes from. A delivery row
-- is the replay guard: its key (trigger_id, delivery_id) is unique, and rows
-- older than 7 days are pruned. Times are stored in UTC.

-- +goose Up
CREATE TABLE triggers (
    id                VARCHAR(32) NOT NULL PRIMARY KEY,
    project_id        VARCHAR(32) NOT NULL,
    job_id            VARCHAR(32) NOT NULL,
    name              VARCHAR(63) NOT NULL,
    sealed            VARBINARY(512) NOT NULL,
    params            MEDIUMTEXT  NOT NULL,
    require_timestamp BOOLEAN     NOT NULL DEFAULT FALSE,
    priority          INT         NOT NULL DEFAULT 0,
    enabled           BOOLEAN     NOT NULL DEFAULT TRUE,
    created_by        VARCHAR(64) NOT NULL DEFAULT '',
    created_at        DATETIME(6) NOT NULL,
    updated_at        DATETIME(6) NOT NULL,
    last_delivery_at  DATETIME(6) NULL,
    UNIQUE KEY triggers_project_name (project_id, name),
    KEY triggers_job (job_id),
    CONSTRAINT triggers_project FOREIGN KEY (project_id) REFERENCES projects (id),
    CONSTRAINT triggers_job FOREIGN KEY (job_id) REFERENCES jobs (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE trigger_deliveries (
    trigger_id  VARCHAR(32)  NOT NULL,
    delivery_id VARCHAR(128) NOT NULL,
    run_id      VARCHAR(32)  NOT NULL DEFAULT '',
    received_at DATETIME(6)  NOT NULL,
    PRIMARY KEY (trigger_id, delivery_id),
    KEY trigger_deliveries_received (trigger_id, received_at),
    CONSTRAINT trigger_deliveries_trigger FOREIGN KEY (trigger_id) REFERENCES triggers (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE trigger_deliveries;
DROP TABLE triggers;
