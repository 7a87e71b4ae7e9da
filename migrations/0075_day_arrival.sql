-- When each service day last received a row that can change its settlement:
-- an account event, or a gate-accepted offline tap (a deny with an account).
-- The ingest upserts it in the batch's own transaction, from the rows that
-- batch actually inserted, so `last_ingested_at` is exactly the latest
-- `ingested_at` of those rows.
--
-- Settlement's worker asks every ten minutes "which days up to yesterday
-- received something since the last run" (late_days). Asked of the event
-- and tap tables it read every row ingested since — all of today's taps,
-- ~300 ms on 1.8 M rows and growing through the day — because the BRIN
-- indexes on ingested_at are only summarized by (auto)vacuum, which these
-- machines run without. Asked of this table it reads one row per day.
CREATE TABLE transit.day_arrival (
    service_day date PRIMARY KEY,
    last_ingested_at timestamptz NOT NULL
);

INSERT INTO transit.day_arrival (service_day, last_ingested_at)
SELECT service_day, max(ingested_at)
FROM (
    SELECT service_day, ingested_at FROM rider.account_event
    UNION ALL
    SELECT service_day, ingested_at FROM transit.tap
    WHERE decision = 'deny' AND account_id IS NOT NULL
) AS arrived
GROUP BY service_day;
