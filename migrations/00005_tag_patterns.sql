-- Per-item tag patterns for update detection: tag_include and tag_exclude
-- are regular expressions (RE2, matched against the whole tag) that the
-- API validates; empty means no pattern. The bound repeats the API's.
--
-- Update facts computed under other patterns no longer describe the item,
-- so changing a pattern drops the registry facts like changing the image
-- does (the refresh that every write queues fills them again).

-- +goose Up
ALTER TABLE items
    ADD COLUMN tag_include text NOT NULL DEFAULT '' CHECK (octet_length(tag_include) <= 256),
    ADD COLUMN tag_exclude text NOT NULL DEFAULT '' CHECK (octet_length(tag_exclude) <= 256);

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION enrich_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    same_image boolean;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        same_image := NEW.image_normalized = OLD.image_normalized
            AND NEW.tag_include = OLD.tag_include AND NEW.tag_exclude = OLD.tag_exclude;
        UPDATE item_enrichment SET
            registry = CASE WHEN same_image THEN registry END,
            update_available = CASE WHEN same_image THEN update_available ELSE false END,
            github = CASE WHEN NEW.source_url = OLD.source_url THEN github END,
            github_state = CASE WHEN NEW.source_url = OLD.source_url THEN github_state END,
            archived = CASE WHEN NEW.source_url = OLD.source_url THEN archived ELSE false END,
            links = CASE WHEN NEW.source_url = OLD.source_url AND NEW.docs_urls = OLD.docs_urls THEN links END,
            links_broken = CASE WHEN NEW.source_url = OLD.source_url AND NEW.docs_urls = OLD.docs_urls THEN links_broken ELSE false END
        WHERE item_id = NEW.id;
    END IF;
    INSERT INTO enrich_jobs (item_id, reason) VALUES (NEW.id, lower(TG_OP))
    ON CONFLICT (item_id) DO UPDATE SET
        run_at = now(), generation = enrich_jobs.generation + 1,
        attempts = 0, reason = EXCLUDED.reason;
    RETURN NEW;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION enrich_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        UPDATE item_enrichment SET
            registry = CASE WHEN NEW.image_normalized = OLD.image_normalized THEN registry END,
            update_available = CASE WHEN NEW.image_normalized = OLD.image_normalized THEN update_available ELSE false END,
            github = CASE WHEN NEW.source_url = OLD.source_url THEN github END,
            github_state = CASE WHEN NEW.source_url = OLD.source_url THEN github_state END,
            archived = CASE WHEN NEW.source_url = OLD.source_url THEN archived ELSE false END,
            links = CASE WHEN NEW.source_url = OLD.source_url AND NEW.docs_urls = OLD.docs_urls THEN links END,
            links_broken = CASE WHEN NEW.source_url = OLD.source_url AND NEW.docs_urls = OLD.docs_urls THEN links_broken ELSE false END
        WHERE item_id = NEW.id;
    END IF;
    INSERT INTO enrich_jobs (item_id, reason) VALUES (NEW.id, lower(TG_OP))
    ON CONFLICT (item_id) DO UPDATE SET
        run_at = now(), generation = enrich_jobs.generation + 1,
        attempts = 0, reason = EXCLUDED.reason;
    RETURN NEW;
END
$$;
-- +goose StatementEnd
ALTER TABLE items DROP COLUMN tag_exclude, DROP COLUMN tag_include;
