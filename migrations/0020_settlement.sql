-- Settlement: what the day-close job records beside the ledger.
--
-- The ledger holds the money (every settlement transfer carries the
-- reference 'S:<service day>:<wallet account id>'); these tables hold what
-- the job needs to re-run safely and to explain every dong:
--   account_day   one row per settled account-day: the fingerprint of its
--                 inputs (so a re-run skips what has not changed), the state
--                 carried to the next day, and its totals;
--   account_due   the day an account must be settled even without events
--                 (a metro trip open at the close, a pass expiring);
--   operator_day  each account-day's part of each operator's statement;
--   day           the run bookkeeping of each service day;
--   failure       account-days the last run could not settle, and why.
-- Constraints are named so store-pg can map them.

CREATE SCHEMA settlement;

CREATE TABLE settlement.account_day (
    account_id              uuid        NOT NULL,
    service_day             date        NOT NULL,
    -- Fingerprint of the inputs: SHA-256 over the start state and every
    -- event key in order. Equal fingerprint: nothing to settle again.
    input_digest            bytea       NOT NULL,
    event_count             integer     NOT NULL,
    -- The state carried into the next day (settlement's Carry, JSON).
    carry                   jsonb       NOT NULL,
    carry_digest            bytea       NOT NULL,
    -- What the gates and the app charged on the day (Σ of the accepted
    -- events' amounts, holds included) and what settlement charged
    -- (rider debits plus the change of the open hold).
    provisional_vnd         bigint      NOT NULL,
    settled_vnd             bigint      NOT NULL,
    rider_debits_vnd        bigint      NOT NULL,
    operator_credits_vnd    bigint      NOT NULL,
    penalties_vnd           bigint      NOT NULL,
    platform_fees_vnd       bigint      NOT NULL,
    pass_sales_vnd          bigint      NOT NULL,
    pass_recognitions_vnd   bigint      NOT NULL,
    -- Σ of the amounts of every Adjustment transfer posted for the day.
    adjustments_vnd         bigint      NOT NULL,
    -- How many times the day was posted (1 = settled once, no adjustment).
    rounds                  integer     NOT NULL,
    settled_at              timestamptz NOT NULL,
    CONSTRAINT account_day_pkey PRIMARY KEY (account_id, service_day),
    CONSTRAINT account_day_wallet_fkey FOREIGN KEY (account_id)
        REFERENCES ledger.account (account_id),
    CONSTRAINT account_day_digest_length CHECK (
        octet_length(input_digest) = 32 AND octet_length(carry_digest) = 32),
    CONSTRAINT account_day_counts CHECK (event_count >= 0 AND rounds >= 1),
    CONSTRAINT account_day_amounts_non_negative CHECK (
        rider_debits_vnd >= 0 AND operator_credits_vnd >= 0 AND penalties_vnd >= 0
        AND platform_fees_vnd >= 0 AND pass_sales_vnd >= 0 AND pass_recognitions_vnd >= 0
        AND adjustments_vnd >= 0),
    -- The plan's identity: every dong the rider paid went somewhere.
    CONSTRAINT account_day_balanced CHECK (
        rider_debits_vnd::numeric = operator_credits_vnd::numeric + penalties_vnd
            + platform_fees_vnd + pass_sales_vnd - pass_recognitions_vnd)
);

CREATE INDEX account_day_day ON settlement.account_day (service_day, account_id);

CREATE TABLE settlement.account_due (
    account_id   uuid NOT NULL,
    -- The settled day whose carry made the account due.
    source_day   date NOT NULL,
    due_day      date NOT NULL,
    CONSTRAINT account_due_pkey PRIMARY KEY (account_id),
    CONSTRAINT account_due_after_source CHECK (due_day > source_day)
);

CREATE INDEX account_due_day ON settlement.account_due (due_day, account_id);

CREATE TABLE settlement.operator_day (
    service_day              date    NOT NULL,
    operator_id              text    NOT NULL,
    account_id               uuid    NOT NULL,
    legs                     integer NOT NULL,
    full_fares_vnd           bigint  NOT NULL,
    discounts_vnd            bigint  NOT NULL,
    cap_reductions_vnd       bigint  NOT NULL,
    fares_charged_vnd        bigint  NOT NULL,
    fares_settled_vnd        bigint  NOT NULL,
    incomplete_vnd           bigint  NOT NULL,
    pass_recognised_vnd      bigint  NOT NULL,
    parking_vnd              bigint  NOT NULL,
    CONSTRAINT operator_day_pkey PRIMARY KEY (service_day, operator_id, account_id),
    CONSTRAINT operator_day_account_day_fkey FOREIGN KEY (account_id, service_day)
        REFERENCES settlement.account_day (account_id, service_day) ON DELETE CASCADE,
    CONSTRAINT operator_day_operator_format CHECK (operator_id ~ '^[A-Z0-9_-]{1,32}$'),
    CONSTRAINT operator_day_amounts_non_negative CHECK (
        legs >= 0 AND full_fares_vnd >= 0 AND discounts_vnd >= 0 AND cap_reductions_vnd >= 0
        AND fares_charged_vnd >= 0 AND fares_settled_vnd >= 0 AND incomplete_vnd >= 0
        AND pass_recognised_vnd >= 0 AND parking_vnd >= 0)
);

CREATE TABLE settlement.day (
    service_day      date        NOT NULL,
    first_settled_at timestamptz NOT NULL,
    last_settled_at  timestamptz NOT NULL,
    -- Events ingested before this instant were seen by the last complete
    -- run (minus a margin for transactions still in flight).
    seen_through     timestamptz NOT NULL,
    CONSTRAINT day_pkey PRIMARY KEY (service_day)
);

CREATE TABLE settlement.failure (
    account_id   uuid        NOT NULL,
    service_day  date        NOT NULL,
    error        text        NOT NULL,
    failed_at    timestamptz NOT NULL,
    CONSTRAINT failure_pkey PRIMARY KEY (account_id, service_day),
    CONSTRAINT failure_error_length CHECK (char_length(error) BETWEEN 1 AND 1024)
);

-- Late events: which days received events (or gate-accepted offline taps
-- the backend denied) after their last run.
CREATE INDEX account_event_ingested_at ON rider.account_event (ingested_at);
CREATE INDEX tap_ingested_at ON transit.tap (ingested_at);

-- What settled an account-day: re-settlement reads it back by reference,
-- statements by day prefix (pattern ops: LIKE 'S:<day>:%' uses it under
-- any collation).
CREATE INDEX transfer_settlement_reference ON ledger.transfer (reference text_pattern_ops)
    WHERE reference LIKE 'S:%';
