-- One value sealed with the secret key, so that a server started with
-- another key (a second replica with its own key file, say) notices before
-- it seals credentials that the others cannot open.

-- +goose Up
CREATE TABLE seal_check (
    id     INTEGER NOT NULL PRIMARY KEY,
    sealed BLOB    NOT NULL
);

-- +goose Down
DROP TABLE seal_check;
