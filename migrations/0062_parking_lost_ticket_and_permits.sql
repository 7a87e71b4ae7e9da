-- Parking: lost tickets are charged through the fare engine, and monthly
-- permits are sold through it.
--
-- A stay an operator closes for a rider who lost the medium is a fare event
-- of its own kind, `park_out_lost_ticket` (the stay's fee plus the lot's
-- lost-ticket fee, priced by the engine), so a rebuild and the settlement
-- re-price it as it was charged. Like `park_out` it names its lot.
ALTER TABLE rider.account_event DROP CONSTRAINT account_event_kind_known;
ALTER TABLE rider.account_event ADD CONSTRAINT account_event_kind_known CHECK (kind IN (
    'top_up', 'bus', 'metro_in', 'metro_out', 'buy_pass', 'park_in', 'park_out',
    'park_out_lost_ticket'));

-- A monthly permit is a pass of the fare configuration that covers lots
-- (`covers_lots`); the wallet pays for it with a `buy_pass` event. Each
-- right granted records the event that paid for it, so the right and the
-- money trail meet, and a retried issue finds the rights it recorded: one
-- right per paying event and covered site.
ALTER TABLE parking.assigned_right ADD COLUMN event_key text;
ALTER TABLE parking.assigned_right ADD CONSTRAINT assigned_right_event_key
    UNIQUE (event_key, right_spec_id);
ALTER TABLE parking.assigned_right ADD CONSTRAINT assigned_right_event_key_length
    CHECK (char_length(event_key) BETWEEN 1 AND 128);

-- The permit that covered (part of) a stay at its exit, as the engine
-- reported it (the pass product id), so operators and riders see why a
-- stay cost less or nothing.
ALTER TABLE parking.stay ADD COLUMN permit_id text;
ALTER TABLE parking.stay ADD CONSTRAINT stay_permit_id_format
    CHECK (permit_id IS NULL OR permit_id ~ '^[A-Za-z0-9._:-]{1,64}$');
