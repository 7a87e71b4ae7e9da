-- The change feed of medium resolutions: what lets the fare-validation
-- service keep every card it has resolved in memory (no Postgres query per
-- tap) and still see, within a second, a card blocked or linked to another
-- account, a new card linked, or an account's rider category decided.
--
-- Every insert, update or delete of a rider.medium row appends the
-- (kind, value) it affects; every change of an account's category appends
-- the account. Triggers write the feed, so no writer (store-pg, the rider
-- API, tools, a manual fix in psql) can change a resolution without it.
--
-- Readers poll by transaction id, not by a sequence or a time: both are
-- assigned before commit, so a slow transaction could commit a change
-- behind a reader's cursor and it would never be read. Instead a reader
-- takes `pg_snapshot_xmin(pg_current_snapshot())` (every transaction below
-- it has ended), reads the rows with `xid >=` its previous horizon, and
-- keeps the new horizon: a change still uncommitted at the first step has
-- an xid at or above the new horizon and is read by the next poll. Rows of
-- transactions still open are read again at the next poll; invalidating
-- twice is harmless.
CREATE TABLE rider.resolution_change (
    change_id     bigint      GENERATED ALWAYS AS IDENTITY,
    -- The writing transaction (the reader's cursor, see above).
    xid           xid8        NOT NULL DEFAULT pg_current_xact_id(),
    -- A medium whose resolution changed …
    medium_kind   text,
    medium_value  text,
    -- … or an account whose category changed.
    account_id    uuid,
    -- Wall-clock time of the write (not the transaction's start), for
    -- pruning rows every reader has passed.
    changed_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT resolution_change_pkey PRIMARY KEY (change_id),
    CONSTRAINT resolution_change_shape CHECK (
        (medium_kind IS NULL) = (medium_value IS NULL)
        AND (medium_kind IS NULL) <> (account_id IS NULL))
);

CREATE INDEX resolution_change_xid ON rider.resolution_change (xid);
CREATE INDEX resolution_change_changed_at ON rider.resolution_change (changed_at);

CREATE FUNCTION rider.medium_resolution_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        INSERT INTO rider.resolution_change (medium_kind, medium_value)
            VALUES (OLD.kind, OLD.value);
    END IF;
    IF TG_OP = 'INSERT'
        OR (TG_OP = 'UPDATE' AND (OLD.kind, OLD.value) IS DISTINCT FROM (NEW.kind, NEW.value)) THEN
        INSERT INTO rider.resolution_change (medium_kind, medium_value)
            VALUES (NEW.kind, NEW.value);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER medium_resolution_feed
    AFTER INSERT OR UPDATE OR DELETE ON rider.medium
    FOR EACH ROW EXECUTE FUNCTION rider.medium_resolution_changed();

CREATE FUNCTION rider.account_resolution_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rider.resolution_change (account_id) VALUES (NEW.account_id);
    RETURN NULL;
END
$$;

CREATE TRIGGER account_resolution_feed
    AFTER UPDATE ON rider.account
    FOR EACH ROW
    WHEN (OLD.category_id IS DISTINCT FROM NEW.category_id
        OR OLD.category_status IS DISTINCT FROM NEW.category_status)
    EXECUTE FUNCTION rider.account_resolution_changed();
