-- The rider API: logins and sessions, phone holder keys, idempotency records
-- of money-moving requests, top-up orders with a payment provider, and pass
-- purchases (the receipts riders see).
--
-- Everything hangs off rider.account (0002). Constraints are named so
-- store-pg can map them. Secrets are never stored: passwords as argon2id PHC
-- strings, session tokens as SHA-256.

-- How a rider logs in: one phone number or e-mail address per account.
CREATE TABLE rider.login (
    account_id       uuid        NOT NULL,
    identifier_kind  text        NOT NULL,
    -- Canonical: '+84' and 9 digits, or a lower-case ASCII e-mail address.
    identifier       text        NOT NULL,
    password_hash    text        NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    CONSTRAINT login_pkey PRIMARY KEY (account_id),
    CONSTRAINT login_identifier_key UNIQUE (identifier),
    CONSTRAINT login_account_fkey FOREIGN KEY (account_id) REFERENCES rider.account (account_id),
    CONSTRAINT login_identifier_kind_known CHECK (identifier_kind IN ('phone', 'email')),
    CONSTRAINT login_identifier_format CHECK (COALESCE(CASE identifier_kind
        WHEN 'phone' THEN identifier ~ '^\+84[35789][0-9]{8}$'
        ELSE identifier ~ '^[!-~]{1,64}@[a-z0-9.-]{3,253}$' AND identifier = lower(identifier)
             AND octet_length(identifier) <= 254 END, false)),
    CONSTRAINT login_password_hash_format CHECK (
        password_hash LIKE '$argon2id$%' AND octet_length(password_hash) <= 256)
);

-- Login sessions. A session ends at expires_at (absolute), after an idle
-- period (checked against last_seen_at by the service), or when revoked.
CREATE TABLE rider.session (
    session_id    uuid        NOT NULL,
    account_id    uuid        NOT NULL,
    token_sha256  bytea       NOT NULL,
    created_at    timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    CONSTRAINT session_pkey PRIMARY KEY (session_id),
    CONSTRAINT session_token_key UNIQUE (token_sha256),
    CONSTRAINT session_account_fkey FOREIGN KEY (account_id) REFERENCES rider.account (account_id),
    CONSTRAINT session_token_length CHECK (octet_length(token_sha256) = 32),
    CONSTRAINT session_times_ordered CHECK (created_at <= last_seen_at AND created_at < expires_at)
);

CREATE INDEX session_account ON rider.session (account_id);
CREATE INDEX session_expires_at ON rider.session (expires_at);

-- The phone's Ed25519 key that QR tickets are bound to (level-2 proofs).
CREATE TABLE rider.holder_key (
    account_id     uuid        NOT NULL,
    public_key     bytea       NOT NULL,
    registered_at  timestamptz NOT NULL,
    CONSTRAINT holder_key_pkey PRIMARY KEY (account_id),
    CONSTRAINT holder_key_account_fkey FOREIGN KEY (account_id) REFERENCES rider.account (account_id),
    CONSTRAINT holder_key_length CHECK (octet_length(public_key) = 32)
);

-- The first answer to each money-moving request, by the rider's
-- Idempotency-Key: a repeat with the same request gets it again; the same key
-- with another request is refused. status_code is NULL while the first
-- request is still running.
CREATE TABLE rider.idempotency_record (
    account_id       uuid        NOT NULL,
    idempotency_key  text        NOT NULL,
    operation        text        NOT NULL,
    request_sha256   bytea       NOT NULL,
    status_code      smallint,
    response         jsonb,
    created_at       timestamptz NOT NULL,
    completed_at     timestamptz,
    CONSTRAINT idempotency_record_pkey PRIMARY KEY (account_id, idempotency_key),
    CONSTRAINT idempotency_record_account_fkey FOREIGN KEY (account_id)
        REFERENCES rider.account (account_id),
    CONSTRAINT idempotency_record_key_format CHECK (idempotency_key ~ '^[!-~]{1,255}$'),
    CONSTRAINT idempotency_record_operation_known CHECK (operation IN ('top_up', 'buy_pass')),
    CONSTRAINT idempotency_record_hash_length CHECK (octet_length(request_sha256) = 32),
    CONSTRAINT idempotency_record_completed_shape CHECK (
        (status_code IS NULL) = (response IS NULL)
        AND (status_code IS NULL) = (completed_at IS NULL)),
    CONSTRAINT idempotency_record_status_range CHECK (status_code BETWEEN 200 AND 499)
);

CREATE INDEX idempotency_record_created_at ON rider.idempotency_record (created_at);

-- A top-up: an order sent to a payment provider, confirmed (or failed) by
-- its signed callback. pending → confirming (a verified success callback
-- claimed it; the ledger transfer and the projection are being written) →
-- succeeded; or pending → failed. A success is credited exactly once: the
-- transfer id is derived from the provider's transaction number.
CREATE TABLE rider.topup (
    topup_id                uuid        NOT NULL,
    account_id              uuid        NOT NULL,
    provider_id             text        NOT NULL,
    -- The reference sent to the provider (vnp_TxnRef).
    txn_ref                 text        NOT NULL,
    amount_vnd              bigint      NOT NULL,
    status                  text        NOT NULL,
    provider_txn_no         text,
    provider_response_code  text,
    transfer_id             uuid,
    created_at              timestamptz NOT NULL,
    expires_at              timestamptz NOT NULL,
    confirmed_at            timestamptz,
    CONSTRAINT topup_pkey PRIMARY KEY (topup_id),
    CONSTRAINT topup_txn_ref_key UNIQUE (provider_id, txn_ref),
    CONSTRAINT topup_provider_txn_key UNIQUE (provider_id, provider_txn_no),
    CONSTRAINT topup_transfer_key UNIQUE (transfer_id),
    CONSTRAINT topup_account_fkey FOREIGN KEY (account_id) REFERENCES rider.account (account_id),
    CONSTRAINT topup_provider_id_format CHECK (provider_id ~ '^[A-Z0-9_-]{1,32}$'),
    CONSTRAINT topup_txn_ref_format CHECK (txn_ref ~ '^[A-Za-z0-9]{1,100}$'),
    CONSTRAINT topup_amount_positive CHECK (amount_vnd > 0),
    CONSTRAINT topup_status_known CHECK (status IN ('pending', 'confirming', 'succeeded', 'failed')),
    CONSTRAINT topup_provider_txn_no_length CHECK (char_length(provider_txn_no) BETWEEN 1 AND 64),
    CONSTRAINT topup_status_shape CHECK (COALESCE(CASE status
        WHEN 'pending' THEN provider_txn_no IS NULL AND transfer_id IS NULL AND confirmed_at IS NULL
        WHEN 'confirming' THEN provider_txn_no IS NOT NULL AND transfer_id IS NOT NULL
            AND confirmed_at IS NULL
        WHEN 'succeeded' THEN provider_txn_no IS NOT NULL AND transfer_id IS NOT NULL
            AND confirmed_at IS NOT NULL
        ELSE provider_txn_no IS NULL AND transfer_id IS NULL AND confirmed_at IS NOT NULL END, false)),
    CONSTRAINT topup_expiry_after_creation CHECK (expires_at > created_at)
);

CREATE INDEX topup_account_created ON rider.topup (account_id, created_at DESC, topup_id DESC);

-- A pass bought from the wallet through the API (the projection decides and
-- records the event itself; this row is the rider's receipt).
CREATE TABLE rider.pass_purchase (
    purchase_id   uuid        NOT NULL,
    account_id    uuid        NOT NULL,
    product_id    text        NOT NULL,
    category_id   text        NOT NULL,
    price_vnd     bigint      NOT NULL,
    -- The projection's idempotency key of the BuyPass event.
    event_key     text        NOT NULL,
    first_day     date        NOT NULL,
    last_day      date        NOT NULL,
    bought_at     timestamptz NOT NULL,
    CONSTRAINT pass_purchase_pkey PRIMARY KEY (purchase_id),
    CONSTRAINT pass_purchase_event_key UNIQUE (event_key),
    CONSTRAINT pass_purchase_account_fkey FOREIGN KEY (account_id)
        REFERENCES rider.account (account_id),
    CONSTRAINT pass_purchase_product_id_format CHECK (product_id ~ '^[A-Za-z0-9._:-]{1,64}$'),
    CONSTRAINT pass_purchase_price_non_negative CHECK (price_vnd >= 0),
    CONSTRAINT pass_purchase_days_ordered CHECK (first_day <= last_day)
);

CREATE INDEX pass_purchase_account_bought ON rider.pass_purchase (account_id, bought_at DESC, purchase_id DESC);
