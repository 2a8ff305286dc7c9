-- Authorization policies in casbin's rule shape, and a version that every
-- change bumps in the same transaction so that other replicas notice it.

-- +goose Up
CREATE TABLE casbin_rule (
    id    BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    ptype VARCHAR(8)   NOT NULL,
    v0    VARCHAR(128) NOT NULL DEFAULT '',
    v1    VARCHAR(128) NOT NULL DEFAULT '',
    v2    VARCHAR(128) NOT NULL DEFAULT '',
    v3    VARCHAR(128) NOT NULL DEFAULT '',
    v4    VARCHAR(128) NOT NULL DEFAULT '',
    v5    VARCHAR(128) NOT NULL DEFAULT '',
    UNIQUE KEY casbin_rule_unique (ptype, v0, v1, v2, v3, v4, v5)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE rbac_policy_version (
    id      INT    NOT NULL PRIMARY KEY,
    version BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
INSERT INTO rbac_policy_version (id, version) VALUES (1, 1);

-- +goose Down
DROP TABLE rbac_policy_version;
DROP TABLE casbin_rule;
