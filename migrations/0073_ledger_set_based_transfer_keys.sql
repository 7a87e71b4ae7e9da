-- The transfer's three foreign keys, checked once per statement instead of
-- once per row.
--
-- A day close inserts transfers in batches of thousands. Each foreign key
-- ran one SPI query and took one key-share row lock per row: for the debit
-- and credit accounts and the pending transfer, about half the time of the
-- batch's INSERT (auto_explain: 17 + 15 + 6 ms of 78 ms for 4,700 rows;
-- BENCHMARKS.md, "Settlement"). What the keys guaranteed still holds:
--
--   * a referenced row could vanish or change its key: accounts are never
--     deleted and their key columns never change (ledger.guard_account),
--     transfers are append-only (ledger.refuse_change), so a check when the
--     transfer is inserted is a check for its whole life, and no row lock
--     is needed to keep the referenced row in place;
--   * the check itself: one statement-level trigger, over the statement's
--     new rows (a transition table), probes each distinct (account,
--     currency) once and each post or void's pending transfer once, and
--     raises foreign_key_violation under the same constraint names, so the
--     adapter's error mapping and every caller see what they saw before.
--
-- MATCH SIMPLE is kept: a row with a NULL in the pending key is not checked
-- (transfer_resolution_shape makes the key all-NULL or all-set).
--
-- transfer_pending_target_key was only the pending key's target: the probe
-- uses the primary key, so the six-column index goes too.

ALTER TABLE ledger.transfer DROP CONSTRAINT transfer_debit_account_fkey;
ALTER TABLE ledger.transfer DROP CONSTRAINT transfer_credit_account_fkey;
ALTER TABLE ledger.transfer DROP CONSTRAINT transfer_pending_fkey;
ALTER TABLE ledger.transfer DROP CONSTRAINT transfer_pending_target_key;

CREATE FUNCTION ledger.check_transfer_keys() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
    key text;
BEGIN
    -- Both accounts of every new transfer, each distinct (side, account,
    -- currency) probed once; a debit is reported before a credit.
    SELECT k.side, k.account_id, k.currency INTO bad
    FROM (SELECT DISTINCT 'debit' AS side, debit_account_id AS account_id, currency
            FROM new_transfers
          UNION ALL
          SELECT DISTINCT 'credit', credit_account_id, currency FROM new_transfers) k
    WHERE NOT EXISTS (
        SELECT 1 FROM ledger.account a
        WHERE a.account_id = k.account_id AND a.currency = k.currency)
    ORDER BY k.side DESC
    LIMIT 1;
    IF FOUND THEN
        key := format('transfer_%s_account_fkey', bad.side);
        RAISE EXCEPTION 'insert on table "transfer" violates foreign key constraint "%"', key
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = key,
                  SCHEMA = 'ledger', TABLE = 'transfer',
                  DETAIL = format('Key (%s_account_id, currency)=(%s, %s) is not present in table "account".',
                                  bad.side, bad.account_id, bad.currency);
    END IF;

    -- A post or void names a pending transfer and copies its accounts,
    -- currency and amount.
    SELECT n.transfer_id, n.pending_id INTO bad
    FROM new_transfers n
    WHERE n.pending_id IS NOT NULL AND n.pending_kind IS NOT NULL
      AND n.pending_amount_vnd IS NOT NULL
      AND NOT EXISTS (
        SELECT 1 FROM ledger.transfer p
        WHERE p.transfer_id = n.pending_id AND p.kind = n.pending_kind
          AND p.debit_account_id = n.debit_account_id
          AND p.credit_account_id = n.credit_account_id
          AND p.currency = n.currency AND p.amount_vnd = n.pending_amount_vnd)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'insert on table "transfer" violates foreign key constraint "transfer_pending_fkey"'
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'transfer_pending_fkey',
                  SCHEMA = 'ledger', TABLE = 'transfer',
                  DETAIL = format('Transfer %s names pending transfer %s, which does not match.',
                                  bad.transfer_id, bad.pending_id);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER transfer_keys
    AFTER INSERT ON ledger.transfer
    REFERENCING NEW TABLE AS new_transfers
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.check_transfer_keys();
