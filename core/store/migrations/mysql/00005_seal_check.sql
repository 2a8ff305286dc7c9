-- One value sealed with the secret key, so that a server started with
-- another key (a second replica with its own key file, say) notices before
-- it seals credentials that the others cannot open.

-- +goose Up
CREATE TABLE seal_check (
    id     INT       NOT NULL PRIMARY KEY,
    sealed VARBINARY(256) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE seal_check;
