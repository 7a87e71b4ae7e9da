-- Parking: which gate journal records the parking service has dealt with,
-- and the `parking` scope for admin API keys.
--
-- The fare-validation service stores every journal record
-- (transit.journal_record) and marks the parking ones `unpriced` (it does
-- not price parking). The parking service picks those up, applies them
-- through the same gate saga as online taps, and records here what it made
-- of each, so a record is dealt with once and the outcome is reported.

CREATE TABLE parking.journal_applied (
    terminal_id   text        NOT NULL,
    boot_epoch    bigint      NOT NULL,
    seq           bigint      NOT NULL,
    -- applied: priced through the projection (accepted or denied);
    -- skipped: the gate did not let the vehicle through, nothing to apply;
    -- superseded: an entry whose exit was already charged by the
    --             exit-without-entry rule;
    -- uncollected: could not be charged (see parking.uncollected);
    -- conflict: the key was used online for another tap.
    outcome       text        NOT NULL,
    processed_at  timestamptz NOT NULL,
    CONSTRAINT journal_applied_pkey PRIMARY KEY (terminal_id, boot_epoch, seq),
    CONSTRAINT journal_applied_record_fkey FOREIGN KEY (terminal_id, boot_epoch, seq)
        REFERENCES transit.journal_record (terminal_id, boot_epoch, seq),
    CONSTRAINT journal_applied_outcome_known CHECK (
        outcome IN ('applied', 'skipped', 'superseded', 'uncollected', 'conflict'))
);

-- Parking records waiting for the parking service: the scan's index.
CREATE INDEX journal_record_parking_unpriced ON transit.journal_record (received_at)
    WHERE pricing = 'unpriced' AND record -> 'event' ->> 'kind' IN ('parking_entry', 'parking_exit');

-- Parking operations (barrier lifts, lost tickets, occupancy corrections,
-- reports) need a key of their own scope.
ALTER TABLE admin.api_key DROP CONSTRAINT api_key_scopes_known;
ALTER TABLE admin.api_key ADD CONSTRAINT api_key_scopes_known CHECK (
    cardinality(scopes) >= 1 AND scopes <@ ARRAY['terminals', 'riders', 'finance', 'parking']::text[]);
