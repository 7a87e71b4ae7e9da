-- Planner statistics and an index that settlement's volume needs.
--
-- Every post or void of a pending transfer is checked by the foreign key
-- transfer_pending_fkey, whose cached (generic) plan picks among indexes by
-- estimated selectivity. Statistics taken while the table held mostly
-- top-ups (each credits a different wallet) say credit_account_id is
-- unique, so the plan looks a hold up through transfer_credit_account_seq:
-- every hold of a trip is credited to the metro operator, and each check
-- then walks that operator's whole credit history. Measured: a settlement
-- batch's INSERT grew from 0.3 s to 7 s within 20,000 taps.
--
-- The skew that matters is real: transfers are credited to a handful of
-- operator, unearned and penalties accounts and to wallets (top-ups). A
-- fixed estimate of 1,000 distinct credit accounts keeps generic plans off
-- that index for equality lookups by other keys (they use the unique
-- (transfer_id, kind) key), while account statements, ordered by seq with a
-- limit, still use it. ANALYZE keeps the override.
ALTER TABLE ledger.transfer ALTER COLUMN credit_account_id SET (n_distinct = 1000);

-- An account-day's statement parts are replaced by (account, day); the
-- primary key leads with the day and the operator, so without this index
-- each replacement scanned the whole day (and the cascade from
-- account_day would too).
CREATE INDEX operator_day_account_day ON settlement.operator_day (account_id, service_day);
