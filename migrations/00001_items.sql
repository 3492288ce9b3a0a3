-- +goose Up
CREATE TABLE items (
    id               uuid PRIMARY KEY,
    name             text NOT NULL,
    image            text NOT NULL,
    image_normalized text NOT NULL,
    description      text NOT NULL DEFAULT '',
    labels           text[] NOT NULL DEFAULT '{}',
    source_url       text NOT NULL DEFAULT '',
    docs_urls        text[] NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    version          integer NOT NULL DEFAULT 1,
    CONSTRAINT items_name_key UNIQUE (name)
);

-- +goose Down
DROP TABLE items;
