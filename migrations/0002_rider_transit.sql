-- Riders, terminals, taps, journals, the deny list and admin keys: what the
-- fare-validation service and the hot projection (crates/projection) record,
-- and what settlement reads.
--
-- Schemas:
--   rider    accounts (one per ledger wallet), their media, QR tickets, and
--            every state-changing event of an account with its state version
--            (the fold input that rebuilds the Redis hot state);
--   transit  terminals, every tap decided online or priced from a journal,
--            the journal records as uploaded, the deny list;
--   admin    scoped API keys.
--
-- Constraints are named so store-pg can map them. Column names are stable:
-- later migrations add columns, never rename.

CREATE SCHEMA rider;
CREATE SCHEMA transit;
CREATE SCHEMA admin;

-- A rider account is a ledger wallet plus what pricing needs to know.
CREATE TABLE rider.account (
    -- = ledger.account.account_id of the rider's wallet.
    account_id       uuid        NOT NULL,
    -- A rider category id of the fare configuration (checked by the service
    -- against the engine: data, not schema).
    category_id      text        NOT NULL,
    category_status  text        NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    CONSTRAINT account_pkey PRIMARY KEY (account_id),
    CONSTRAINT account_wallet_fkey FOREIGN KEY (account_id)
        REFERENCES ledger.account (account_id),
    CONSTRAINT account_category_id_format CHECK (category_id ~ '^[A-Za-z0-9._:-]{1,64}$'),
    CONSTRAINT account_category_status_known
        CHECK (category_status IN ('verified', 'pending', 'rejected'))
);

-- Cards, bank-card tokens and plates linked to accounts.
CREATE TABLE rider.medium (
    medium_id       uuid        NOT NULL,
    kind            text        NOT NULL,
    -- Card UID (lowercase hex), provider token, or canonical plate.
    value           text        NOT NULL,
    account_id      uuid        NOT NULL,
    status          text        NOT NULL,
    created_at      timestamptz NOT NULL,
    blocked_at      timestamptz,
    blocked_reason  text,
    CONSTRAINT medium_pkey PRIMARY KEY (medium_id),
    CONSTRAINT medium_account_fkey FOREIGN KEY (account_id) REFERENCES rider.account (account_id),
    CONSTRAINT medium_kind_known CHECK (kind IN ('transit_card', 'bank_card', 'plate')),
    CONSTRAINT medium_status_known CHECK (status IN ('active', 'blocked')),
    CONSTRAINT medium_value_format CHECK (CASE kind
        WHEN 'transit_card' THEN value ~ '^([0-9a-f]{8}|[0-9a-f]{14}|[0-9a-f]{20})$'
        WHEN 'bank_card' THEN value ~ '^[A-Za-z0-9_-]{16,64}$'
        WHEN 'plate' THEN value ~ '^[A-Z0-9.-]{4,16}$'
        ELSE false END),
    CONSTRAINT medium_blocked_shape CHECK (
        (status = 'blocked') = (blocked_at IS NOT NULL)
        AND (blocked_reason IS NULL OR status = 'blocked')),
    CONSTRAINT medium_blocked_reason_length CHECK (char_length(blocked_reason) <= 256)
);

-- One active medium per (kind, value): a card opens one account.
CREATE UNIQUE INDEX medium_active_value_key ON rider.medium (kind, value) WHERE status = 'active';
CREATE INDEX medium_value ON rider.medium (kind, value);
CREATE INDEX medium_account ON rider.medium (account_id);

-- QR tickets issued to accounts (the ticket carries no account; its cti
-- does). Written by the rider API when it issues a ticket.
CREATE TABLE rider.ticket (
    ticket_id   bytea       NOT NULL,
    account_id  uuid        NOT NULL,
    kid         bytea       NOT NULL,
    holder_key  bytea,
    expires_at  timestamptz NOT NULL,
    issued_at   timestamptz NOT NULL,
    CONSTRAINT ticket_pkey PRIMARY KEY (ticket_id),
    CONSTRAINT ticket_account_fkey FOREIGN KEY (account_id) REFERENCES rider.account (account_id),
    CONSTRAINT ticket_id_length CHECK (octet_length(ticket_id) = 16),
    CONSTRAINT ticket_kid_length CHECK (octet_length(kid) = 4),
    CONSTRAINT ticket_holder_key_length CHECK (holder_key IS NULL OR octet_length(holder_key) = 32)
);

CREATE INDEX ticket_account ON rider.ticket (account_id);

-- Every accepted (state-changing) event of an account, keyed by the state
-- version it produced. Folding them in version order through the fare
-- engine rebuilds the account's hot state. Written by the stream ingest.
CREATE TABLE rider.account_event (
    account_id       uuid        NOT NULL,
    -- The account's state version after this event (the engine bumps it by
    -- one per accepted event; gaps mean events Redis lost before ingest).
    version          bigint      NOT NULL,
    -- The idempotency key: `tap:<terminal>:<boot_epoch>:<seq>`,
    -- `top_up:<transfer id>`, … (see crates/projection EventKey).
    event_key        text        NOT NULL,
    kind             text        NOT NULL,
    -- The time the event was priced with.
    event_time       timestamptz NOT NULL,
    service_day      date        NOT NULL,
    route_id         text,
    station_id       text,
    lot_id           text,
    product_id       text,
    category_id      text,
    top_up_vnd       bigint,
    -- How much the spendable balance went down (negative: up).
    amount_vnd       bigint      NOT NULL,
    balance_vnd      bigint      NOT NULL,
    reason           text,
    -- The pass bought or used, and the GTFS product that priced the leg.
    pass_id          text,
    fare_product_id  text,
    -- The tap behind the event, if it was one.
    terminal_id      text,
    boot_epoch       bigint,
    seq              bigint,
    -- Fingerprint of the fare configuration that priced it.
    config_id        text        NOT NULL,
    decided_at       timestamptz NOT NULL,
    ingested_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT account_event_pkey PRIMARY KEY (account_id, version),
    CONSTRAINT account_event_key_key UNIQUE (event_key),
    CONSTRAINT account_event_account_fkey FOREIGN KEY (account_id)
        REFERENCES rider.account (account_id),
    CONSTRAINT account_event_version_positive CHECK (version >= 1),
    CONSTRAINT account_event_kind_known CHECK (kind IN (
        'top_up', 'bus', 'metro_in', 'metro_out', 'buy_pass', 'park_in', 'park_out')),
    CONSTRAINT account_event_shape CHECK (COALESCE(CASE kind
        WHEN 'top_up' THEN top_up_vnd > 0
        WHEN 'bus' THEN route_id IS NOT NULL AND category_id IS NOT NULL
        WHEN 'metro_in' THEN station_id IS NOT NULL AND category_id IS NOT NULL
        WHEN 'metro_out' THEN station_id IS NOT NULL
        WHEN 'buy_pass' THEN product_id IS NOT NULL AND category_id IS NOT NULL
        ELSE lot_id IS NOT NULL END, false)),
    CONSTRAINT account_event_tap_shape CHECK (
        (terminal_id IS NULL) = (boot_epoch IS NULL) AND (terminal_id IS NULL) = (seq IS NULL))
);

CREATE INDEX account_event_day ON rider.account_event (service_day, account_id);

-- Snapshots of hot states a later job may write (e.g. at day close), so a
-- rebuild folds only the events after one. Rebuild uses the latest
-- snapshot of the running configuration.
CREATE TABLE rider.account_snapshot (
    account_id  uuid        NOT NULL,
    version     bigint      NOT NULL,
    config_id   text        NOT NULL,
    state       jsonb       NOT NULL,
    taken_at    timestamptz NOT NULL,
    CONSTRAINT account_snapshot_pkey PRIMARY KEY (account_id, version),
    CONSTRAINT account_snapshot_account_fkey FOREIGN KEY (account_id)
        REFERENCES rider.account (account_id)
);

-- Validators, gates and barriers.
CREATE TABLE transit.terminal (
    terminal_id     text        NOT NULL,
    operator_id     text        NOT NULL,
    mode            text        NOT NULL,
    route_id        text,
    station_id      text,
    lot_id          text,
    gate_id         text,
    direction       text,
    status          text        NOT NULL,
    -- Version of the HKDF derivation the terminal's key was provisioned with.
    key_version     integer     NOT NULL DEFAULT 1,
    -- Bumped on every change, for GET /v1/config.
    config_version  bigint      NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    disabled_at     timestamptz,
    CONSTRAINT terminal_pkey PRIMARY KEY (terminal_id),
    CONSTRAINT terminal_id_format CHECK (terminal_id ~ '^[A-Za-z0-9._-]{1,64}$'),
    CONSTRAINT terminal_operator_id_format CHECK (operator_id ~ '^[A-Za-z0-9._:-]{1,64}$'),
    CONSTRAINT terminal_mode_known CHECK (mode IN ('bus_validator', 'metro_gate', 'parking_gate')),
    CONSTRAINT terminal_status_known CHECK (status IN ('active', 'disabled')),
    CONSTRAINT terminal_direction_known CHECK (direction IN ('entry', 'exit')),
    CONSTRAINT terminal_key_version_positive CHECK (key_version >= 1),
    CONSTRAINT terminal_config_version_positive CHECK (config_version >= 1),
    CONSTRAINT terminal_disabled_shape CHECK ((status = 'disabled') = (disabled_at IS NOT NULL)),
    CONSTRAINT terminal_placement_shape CHECK (COALESCE(CASE mode
        WHEN 'bus_validator' THEN route_id IS NOT NULL AND station_id IS NULL
            AND lot_id IS NULL AND gate_id IS NULL AND direction IS NULL
        WHEN 'metro_gate' THEN station_id IS NOT NULL AND direction IS NOT NULL
            AND route_id IS NULL AND lot_id IS NULL AND gate_id IS NULL
        ELSE lot_id IS NOT NULL AND gate_id IS NOT NULL AND direction IS NOT NULL
            AND route_id IS NULL AND station_id IS NULL END, false))
);

-- Every tap the backend decided online or priced from a journal, exactly
-- once per (terminal, boot epoch, seq). Written by the stream ingest.
CREATE TABLE transit.tap (
    terminal_id      text        NOT NULL,
    boot_epoch       bigint      NOT NULL,
    seq              bigint      NOT NULL,
    -- 'online': answered on POST /v1/taps; 'journal': priced from an upload.
    source           text        NOT NULL,
    device_time      timestamptz NOT NULL,
    -- The time the tap was priced with (server receive time online; the
    -- device time corrected by the terminal's clock offset from a journal).
    event_time       timestamptz NOT NULL,
    service_day      date        NOT NULL,
    event_kind       text        NOT NULL,
    route_id         text,
    stop_id          text,
    station_id       text,
    lot_id           text,
    gate_id          text,
    vehicle_class    text,
    -- The terminal's operator when the tap was decided.
    operator_id      text        NOT NULL,
    medium_kind      text        NOT NULL,
    medium_id        uuid,
    ticket_id        bytea,
    -- NULL when the medium resolved to no account (unknown, rejected).
    account_id       uuid,
    category_id      text,
    decision         text        NOT NULL,
    reason           text,
    ticket_verdict   text,
    amount_vnd       bigint      NOT NULL,
    balance_vnd      bigint,
    product_id       text,
    fare_product_id  text,
    -- The account's state version after the tap (unchanged on a deny).
    account_version  bigint,
    config_id        text        NOT NULL,
    decided_at       timestamptz NOT NULL,
    ingested_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tap_pkey PRIMARY KEY (terminal_id, boot_epoch, seq),
    CONSTRAINT tap_terminal_fkey FOREIGN KEY (terminal_id) REFERENCES transit.terminal (terminal_id),
    CONSTRAINT tap_account_fkey FOREIGN KEY (account_id) REFERENCES rider.account (account_id),
    CONSTRAINT tap_medium_fkey FOREIGN KEY (medium_id) REFERENCES rider.medium (medium_id),
    CONSTRAINT tap_boot_epoch_range CHECK (boot_epoch BETWEEN 0 AND 4294967295),
    CONSTRAINT tap_seq_positive CHECK (seq >= 1),
    CONSTRAINT tap_source_known CHECK (source IN ('online', 'journal')),
    CONSTRAINT tap_event_kind_known CHECK (event_kind IN (
        'bus_boarding', 'metro_entry', 'metro_exit', 'parking_entry', 'parking_exit')),
    CONSTRAINT tap_medium_kind_known CHECK (medium_kind IN ('transit_card', 'bank_card', 'qr', 'plate')),
    CONSTRAINT tap_decision_known CHECK (decision IN ('accept', 'deny')),
    CONSTRAINT tap_deny_moves_nothing CHECK (decision = 'accept' OR amount_vnd = 0),
    CONSTRAINT tap_ticket_id_length CHECK (ticket_id IS NULL OR octet_length(ticket_id) = 16)
);

CREATE INDEX tap_account_day ON transit.tap (account_id, service_day) WHERE account_id IS NOT NULL;
CREATE INDEX tap_day ON transit.tap (service_day);

-- Journal records exactly as uploaded, once per key.
CREATE TABLE transit.journal_record (
    terminal_id        text        NOT NULL,
    boot_epoch         bigint      NOT NULL,
    seq                bigint      NOT NULL,
    -- SHA-256 of the record's canonical JSON: same key, other content → 409.
    content_sha256     bytea       NOT NULL,
    record             jsonb       NOT NULL,
    decided_by         text        NOT NULL,
    device_time        timestamptz NOT NULL,
    decision           text        NOT NULL,
    reason             text,
    amount_vnd         bigint      NOT NULL,
    deny_list_version  bigint      NOT NULL,
    key_set_version    bigint      NOT NULL,
    -- Server time minus the device time the batch reported at upload.
    clock_offset_s     bigint      NOT NULL,
    received_at        timestamptz NOT NULL,
    -- What pricing made of it: 'pending' until priced; 'applied' (priced
    -- through the projection, or a repeat of an online tap it answered
    -- before); 'known' (the tap was already recorded); 'conflict' (an
    -- online tap with this key had other content); 'unpriced' (no account or
    -- an event this service does not price).
    pricing            text        NOT NULL DEFAULT 'pending',
    priced_at          timestamptz,
    CONSTRAINT journal_record_pkey PRIMARY KEY (terminal_id, boot_epoch, seq),
    CONSTRAINT journal_record_terminal_fkey FOREIGN KEY (terminal_id)
        REFERENCES transit.terminal (terminal_id),
    CONSTRAINT journal_record_boot_epoch_range CHECK (boot_epoch BETWEEN 0 AND 4294967295),
    CONSTRAINT journal_record_seq_positive CHECK (seq >= 1),
    CONSTRAINT journal_record_hash_length CHECK (octet_length(content_sha256) = 32),
    CONSTRAINT journal_record_decided_by_known CHECK (decided_by IN ('online', 'offline')),
    CONSTRAINT journal_record_decision_known CHECK (decision IN ('accept', 'deny')),
    CONSTRAINT journal_record_pricing_known CHECK (
        pricing IN ('pending', 'applied', 'known', 'conflict', 'unpriced')),
    CONSTRAINT journal_record_priced_shape CHECK ((pricing = 'pending') = (priced_at IS NULL))
);

CREATE INDEX journal_record_pending ON transit.journal_record (terminal_id, boot_epoch, seq)
    WHERE pricing = 'pending';

-- The contiguous ack watermark per (terminal, boot epoch): every seq up to
-- it is stored. Only grows.
CREATE TABLE transit.journal_progress (
    terminal_id  text        NOT NULL,
    boot_epoch   bigint      NOT NULL,
    watermark    bigint      NOT NULL,
    updated_at   timestamptz NOT NULL,
    CONSTRAINT journal_progress_pkey PRIMARY KEY (terminal_id, boot_epoch),
    CONSTRAINT journal_progress_terminal_fkey FOREIGN KEY (terminal_id)
        REFERENCES transit.terminal (terminal_id),
    CONSTRAINT journal_progress_watermark_non_negative CHECK (watermark >= 0)
);

-- The deny list as a log of versioned changes (one version per change,
-- assigned under an advisory lock so versions commit in order) and the
-- current set.
CREATE TABLE transit.deny_list_change (
    version      bigint      NOT NULL,
    entry_kind   text        NOT NULL,
    entry_value  text        NOT NULL,
    op           text        NOT NULL,
    reason       text,
    changed_at   timestamptz NOT NULL,
    CONSTRAINT deny_list_change_pkey PRIMARY KEY (version),
    CONSTRAINT deny_list_change_version_positive CHECK (version >= 1),
    CONSTRAINT deny_list_change_kind_known
        CHECK (entry_kind IN ('card_id', 'bank_card_token', 'ticket_id', 'holder_key')),
    CONSTRAINT deny_list_change_op_known CHECK (op IN ('add', 'remove'))
);

CREATE INDEX deny_list_change_entry ON transit.deny_list_change (entry_kind, entry_value, version);

CREATE TABLE transit.deny_list_entry (
    entry_kind     text   NOT NULL,
    entry_value    text   NOT NULL,
    added_version  bigint NOT NULL,
    CONSTRAINT deny_list_entry_pkey PRIMARY KEY (entry_kind, entry_value),
    CONSTRAINT deny_list_entry_change_fkey FOREIGN KEY (added_version)
        REFERENCES transit.deny_list_change (version)
);

-- Stream entries the ingest could not decode, kept instead of dropped.
CREATE TABLE transit.ingest_dead_letter (
    stream      text        NOT NULL,
    entry_id    text        NOT NULL,
    body        text        NOT NULL,
    error       text        NOT NULL,
    failed_at   timestamptz NOT NULL,
    CONSTRAINT ingest_dead_letter_pkey PRIMARY KEY (stream, entry_id)
);

-- Scoped API keys for the admin, rider-support and finance endpoints. Only
-- a SHA-256 of the secret is stored; the key is shown once at creation.
CREATE TABLE admin.api_key (
    key_id         uuid        NOT NULL,
    secret_sha256  bytea       NOT NULL,
    scopes         text[]      NOT NULL,
    label          text        NOT NULL,
    created_at     timestamptz NOT NULL,
    revoked_at     timestamptz,
    CONSTRAINT api_key_pkey PRIMARY KEY (key_id),
    CONSTRAINT api_key_secret_key UNIQUE (secret_sha256),
    CONSTRAINT api_key_hash_length CHECK (octet_length(secret_sha256) = 32),
    CONSTRAINT api_key_scopes_known CHECK (
        cardinality(scopes) >= 1 AND scopes <@ ARRAY['terminals', 'riders', 'finance']::text[]),
    CONSTRAINT api_key_label_length CHECK (char_length(label) BETWEEN 1 AND 128)
);
