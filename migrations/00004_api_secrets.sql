-- Secrets every replica must share and that outlive restarts, made by the
-- api itself the first time it needs one (so a deployment needs no extra
-- secret): today the key that signs list cursors, unless CURSOR_KEY gives
-- one. Deleting a row makes the next replica to start a new value (every
-- replica must then restart; old cursors are refused).

-- +goose Up
CREATE TABLE api_secrets (
    name       text PRIMARY KEY CHECK (char_length(name) BETWEEN 1 AND 64),
    value      bytea NOT NULL CHECK (octet_length(value) BETWEEN 32 AND 1024),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE api_secrets;
