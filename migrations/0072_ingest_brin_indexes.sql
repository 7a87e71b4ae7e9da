-- The ingest appends every tap and account event with ingested_at = now(),
-- and a service day's rows arrive during that day (late ones trickle in
-- after). The three indexes that serve "what arrived since" and "the day's
-- taps" follow insertion order, so a BRIN index (one summary per 128 heap
-- pages) answers them by scanning a few block ranges, at almost no cost per
-- inserted row; the B-trees they replace cost a leaf insert per row on the
-- hot path's ingest (cargo bench -p store-pg --bench ingest).
--
-- Readers: settlement's late_days (ingested_at >= $1), its journal gap and
-- unknown-media reports (transit.tap WHERE service_day = $1). Both recheck
-- every row a BRIN range yields, so results are unchanged.
DROP INDEX rider.account_event_ingested_at;
DROP INDEX transit.tap_ingested_at;
DROP INDEX transit.tap_day;

CREATE INDEX account_event_ingested_at ON rider.account_event USING brin (ingested_at);
CREATE INDEX tap_ingested_at ON transit.tap USING brin (ingested_at);
CREATE INDEX tap_day ON transit.tap USING brin (service_day);
