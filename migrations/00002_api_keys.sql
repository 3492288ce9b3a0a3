-- API keys for automation. Only a SHA-256 hash of each key is stored: a key
-- is 256 random bits, so a fast hash is enough to make a leaked table
-- useless, and lookups stay a single index probe. The key itself is shown
-- once, by `api keys create`.

-- +goose Up
CREATE TABLE api_keys (
    id           uuid PRIMARY KEY,
    name         text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    -- prefix is the key's first characters, to recognise it in listings.
    prefix       text NOT NULL CHECK (char_length(prefix) BETWEEN 1 AND 16),
    hash         bytea NOT NULL CHECK (octet_length(hash) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);

CREATE UNIQUE INDEX api_keys_hash_key ON api_keys (hash);

-- +goose Down
DROP TABLE api_keys;
