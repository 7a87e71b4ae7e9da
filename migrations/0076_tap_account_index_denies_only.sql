-- transit.tap (account_id, service_day) has one reader: settlement's page
-- of a day's events, which takes from transit.tap only the gate-accepted
-- offline taps — denies with an account (`t.decision = 'deny'`). Indexed
-- for every tap with an account, it cost a B-tree insert per accepted tap
-- on the ingest, for entries nothing reads. Narrowed to denies, accepted
-- taps (nearly all of them) skip it, and the reader's index holds only
-- what it looks for.
DROP INDEX transit.tap_account_day;
CREATE INDEX tap_account_day ON transit.tap (account_id, service_day)
    WHERE decision = 'deny' AND account_id IS NOT NULL;
