-- Enrichment: what the registry, GitHub and the link checker say about an
-- item, and the job queue that keeps it fresh.
--
-- enrich_jobs has exactly one row per item: it is the item's schedule.
-- A worker claims due rows with FOR UPDATE SKIP LOCKED and leases them
-- (locked_until); a replica that dies mid-job leaves a lease that runs
-- out, and another replica takes the job. generation grows with every
-- enqueue, so a result computed for an item that changed meanwhile is
-- thrown away and the job runs again.

-- +goose Up
CREATE TABLE item_enrichment (
    item_id          uuid PRIMARY KEY REFERENCES items (id) ON DELETE CASCADE,
    registry         jsonb,
    github           jsonb,
    -- github_state holds the ETags of the last GitHub answers (conditional
    -- requests); it is never returned to clients.
    github_state     jsonb,
    links            jsonb,
    update_available boolean NOT NULL DEFAULT false,
    archived         boolean NOT NULL DEFAULT false,
    links_broken     boolean NOT NULL DEFAULT false,
    checked_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX item_enrichment_update ON item_enrichment (item_id) WHERE update_available;
CREATE INDEX item_enrichment_archived ON item_enrichment (item_id) WHERE archived;
CREATE INDEX item_enrichment_links ON item_enrichment (item_id) WHERE links_broken;

CREATE TABLE enrich_jobs (
    item_id      uuid PRIMARY KEY REFERENCES items (id) ON DELETE CASCADE,
    run_at       timestamptz NOT NULL DEFAULT now(),
    generation   bigint NOT NULL DEFAULT 1,
    attempts     integer NOT NULL DEFAULT 0,
    reason       text NOT NULL DEFAULT 'create',
    locked_by    text,
    locked_until timestamptz,
    last_error   text
);
CREATE INDEX enrich_jobs_due ON enrich_jobs (run_at);

-- Every write to an item queues its refresh in the same transaction, so
-- no writer (API, import, psql) can forget it; facts that no longer
-- describe the item (another image, source or links) are dropped at once.
-- +goose StatementBegin
CREATE FUNCTION enrich_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE TRIGGER items_enrich AFTER INSERT OR UPDATE ON items
    FOR EACH ROW EXECUTE FUNCTION enrich_enqueue();

INSERT INTO enrich_jobs (item_id, reason) SELECT id, 'migration' FROM items;

-- +goose Down
DROP TRIGGER items_enrich ON items;
DROP FUNCTION enrich_enqueue();
DROP TABLE enrich_jobs;
DROP TABLE item_enrichment;
