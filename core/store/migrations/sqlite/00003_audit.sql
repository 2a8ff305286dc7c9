-- The audit trail: who did what to which object, from where, and whether it
-- was allowed. Append-only: jobgraph never updates or deletes a row.
-- No foreign keys: the trail outlives the users, projects and objects it
-- describes. Times are stored in UTC. IDs sort by time, so (column, id) indexes
-- serve "newest first" lists.

-- +goose Up
CREATE TABLE audit_events (
    id          VARCHAR(32)  NOT NULL PRIMARY KEY,
    at          DATETIME     NOT NULL,
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
    user_agent  VARCHAR(256) NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_project ON audit_events (project_id, id);
CREATE INDEX audit_events_actor ON audit_events (actor_id, id);
CREATE INDEX audit_events_object ON audit_events (object_id);

-- +goose Down
DROP TABLE audit_events;
