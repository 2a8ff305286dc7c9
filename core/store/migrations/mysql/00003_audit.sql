-- The audit trail: who did what to which object, from where, and whether it
-- was allowed. Append-only: jobgraph never updates or deletes a row.
-- No foreign keys: the trail outlives the users, projects and objects it
-- describes. Times are stored in UTC. IDs sort by time, so (column, id) indexes
-- serve "newest first" lists. VARCHAR lengths count characters (utf8mb4);
-- the audit package truncates to them before writing.

-- +goose Up
CREATE TABLE audit_events (
    id          VARCHAR(32)  NOT NULL PRIMARY KEY,
    at          DATETIME(6)  NOT NULL,
    actor_id    VARCHAR(64)  NOT NULL DEFAULT '',
    actor_name  VARCHAR(128) NOT NULL DEFAULT '',
    token_id    VARCHAR(32)  NOT NULL DEFAULT '',
    action      VARCHAR(64)  NOT NULL DEFAULT '',
    object_kind VARCHAR(32)  NOT NULL DEFAULT '',
    object_id   VARCHAR(64)  NOT NULL DEFAULT '',
    project_id  VARCHAR(32)  NOT NULL DEFAULT '',
    outcome     VARCHAR(16)  NOT NULL DEFAULT '',
    reason      VARCHAR(512) NOT NULL DEFAULT '',
    client_addr VARCHAR(64)  NOT NULL DEFAULT '',
    user_agent  VARCHAR(256) NOT NULL DEFAULT '',
    KEY audit_events_project (project_id, id),
    KEY audit_events_actor (actor_id, id),
    KEY audit_events_object (object_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE audit_events;
