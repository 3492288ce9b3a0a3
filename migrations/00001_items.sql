-- Items: one container image a stack depends on.
--
-- Bounds are enforced twice on purpose: the API validates every field and
-- answers 422 with per-field messages; these CHECKs keep the table honest
-- against any other writer.

-- +goose Up
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE items (
    id               uuid PRIMARY KEY,
    name             text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    image            text NOT NULL CHECK (char_length(image) BETWEEN 1 AND 512),
    -- image_normalized is the canonical reference, e.g.
    -- docker.io/library/postgres:17-alpine; image_repository is its name
    -- without tag or digest (docker.io/library/postgres), the image filter.
    image_normalized text NOT NULL CHECK (char_length(image_normalized) BETWEEN 1 AND 600),
    image_repository text NOT NULL CHECK (char_length(image_repository) BETWEEN 1 AND 512),
    description      text NOT NULL DEFAULT '' CHECK (char_length(description) <= 2000),
    labels           text[] NOT NULL DEFAULT '{}' CHECK (cardinality(labels) <= 20),
    source_url       text NOT NULL DEFAULT '' CHECK (char_length(source_url) <= 2048),
    docs_urls        text[] NOT NULL DEFAULT '{}' CHECK (cardinality(docs_urls) <= 10),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    -- version counts writes; the API's ETag is derived from it.
    version          bigint NOT NULL DEFAULT 1 CHECK (version >= 1)
);

-- Names are unique regardless of case: "Postgres" and "postgres" are the
-- same item to a person.
CREATE UNIQUE INDEX items_name_key ON items (lower(name));
-- The q filter is a case-insensitive substring match on the name.
CREATE INDEX items_name_trgm ON items USING gin (lower(name) gin_trgm_ops);
CREATE INDEX items_labels ON items USING gin (labels);
CREATE INDEX items_image_repository ON items (image_repository);

-- +goose Down
DROP TABLE items;
DROP EXTENSION IF EXISTS pg_trgm;
