-- The resolution and open-pending keys, checked once per statement, as
-- 0073 did for the transfer's: every post or void of a day close writes a
-- resolution row, whose two foreign keys ran one SPI query and took one
-- key-share lock on a transfer row each, per row (about 9 ms of every
-- 4,700-transfer batch). Transfers are append-only, so a check when the
-- row is inserted holds for its whole life.
--
-- With these keys gone, two unique indexes of ledger.transfer were only
-- their targets — (transfer_id, kind) and (transfer_id, pending_id), both
-- implied by the primary key — and every transfer paid for them: they go.
--
-- The deferred key "every post or void is recorded as its pending
-- transfer's resolution, by the end of its transaction"
-- (transfer_resolution_recorded_fkey) stays a foreign key: it must wait
-- for the commit, which only a row-level constraint trigger can.

ALTER TABLE ledger.pending_resolution DROP CONSTRAINT pending_resolution_pending_fkey;
ALTER TABLE ledger.pending_resolution DROP CONSTRAINT pending_resolution_transfer_fkey;
ALTER TABLE ledger.pending_open DROP CONSTRAINT pending_open_pending_fkey;
ALTER TABLE ledger.transfer DROP CONSTRAINT transfer_kind_target_key;
ALTER TABLE ledger.transfer DROP CONSTRAINT transfer_resolution_target_key;

-- One function for the three triggers below; each names its statement's
-- rows `new_rows`. (PL/pgSQL plans a trigger function's statements per
-- table, on first use, so the resolution-only check is never planned
-- against pending_open's rows.)
CREATE FUNCTION ledger.check_pending_keys() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
    key text := TG_TABLE_NAME || '_pending_fkey';
BEGIN
    -- The pending transfer named is a pending transfer.
    SELECT n.pending_id INTO bad
    FROM new_rows n
    WHERE n.pending_kind IS NOT NULL
      AND NOT EXISTS (
        SELECT 1 FROM ledger.transfer t
        WHERE t.transfer_id = n.pending_id AND t.kind = n.pending_kind)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'insert on table "%" violates foreign key constraint "%"', TG_TABLE_NAME, key
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = key,
                  SCHEMA = 'ledger', TABLE = TG_TABLE_NAME,
                  DETAIL = format('Pending transfer %s does not exist.', bad.pending_id);
    END IF;
    IF TG_TABLE_NAME = 'pending_resolution' THEN
        -- The resolving transfer exists and names this pending transfer.
        SELECT n.pending_id, n.resolving_transfer_id INTO bad
        FROM new_rows n
        WHERE n.resolving_transfer_id IS NOT NULL
          AND NOT EXISTS (
            SELECT 1 FROM ledger.transfer t
            WHERE t.transfer_id = n.resolving_transfer_id AND t.pending_id = n.pending_id)
        LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'insert on table "pending_resolution" violates foreign key constraint "pending_resolution_transfer_fkey"'
                USING ERRCODE = 'foreign_key_violation',
                      CONSTRAINT = 'pending_resolution_transfer_fkey',
                      SCHEMA = 'ledger', TABLE = 'pending_resolution',
                      DETAIL = format('Transfer %s does not resolve pending transfer %s.',
                                      bad.resolving_transfer_id, bad.pending_id);
        END IF;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER pending_resolution_keys
    AFTER INSERT ON ledger.pending_resolution
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.check_pending_keys();

CREATE TRIGGER pending_open_keys
    AFTER INSERT ON ledger.pending_open
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.check_pending_keys();

-- pending_open is a queue (rows are deleted, not append-only): a changed
-- row is checked like a new one.
CREATE TRIGGER pending_open_keys_on_update
    AFTER UPDATE ON ledger.pending_open
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.check_pending_keys();
