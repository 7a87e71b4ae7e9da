-- The stream ingest's tables without per-row foreign-key probes.
--
-- transit.tap and rider.account_event are append-only, and only the stream
-- ingest writes them, from entries the services produced after resolving
-- the terminal (registry), the medium and the account (rider.medium /
-- rider.account) in Postgres; terminals, media and accounts are never
-- deleted (they are disabled or blocked: the ledger and the registry keep
-- them). So every id these rows carry existed when the tap was decided and
-- still exists. The foreign keys re-checked that with one index probe and a
-- row lock per key per row — four per accepted tap, most of the ingest's
-- Postgres time at thousands of taps a second (BENCHMARKS.md, "Tap path") —
-- and a row one of them refused would have failed its whole batch again
-- and again, stalling the stream. Integrity is kept where the ids are made.
ALTER TABLE transit.tap DROP CONSTRAINT tap_terminal_fkey;
ALTER TABLE transit.tap DROP CONSTRAINT tap_account_fkey;
ALTER TABLE transit.tap DROP CONSTRAINT tap_medium_fkey;
ALTER TABLE rider.account_event DROP CONSTRAINT account_event_account_fkey;
