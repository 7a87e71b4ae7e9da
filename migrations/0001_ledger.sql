-- The double-entry ledger: the book of record for every dong.
--
-- Modelled on TigerBeetle (see crates/ledger): accounts carry four running
-- totals that only transfers change; transfers are immutable and keyed by a
-- caller-chosen id; a pending transfer is resolved at most once, by a post,
-- a void or its expiry. Constraints are named so that store-pg's error.rs
-- can map each one to a domain error, and they make the bad states the Rust
-- code also refuses unrepresentable here:
--   * ids unique, never nil or max; amounts positive; no self-transfer;
--   * both accounts of a transfer in the transfer's currency (composite FK);
--   * a post or void touches exactly the accounts, currency and amount of
--     its pending transfer, and a post never exceeds it (composite FK + CHECK);
--   * a pending transfer resolved at most once (primary key of
--     pending_resolution) and every post or void recorded as its resolution
--     (deferred FK);
--   * account totals never negative and never past their balance limit;
--   * transfers and resolutions append-only (triggers refuse UPDATE, DELETE
--     and TRUNCATE); an account's description never changes.

CREATE SCHEMA ledger;

CREATE TABLE ledger.account (
    account_id          uuid        NOT NULL,
    currency            smallint    NOT NULL,
    kind                text        NOT NULL,
    operator_id         text,
    provider_id         text,
    limit_kind          text        NOT NULL,
    overdraft_limit_vnd bigint      NOT NULL,
    debits_pending_vnd  bigint      NOT NULL DEFAULT 0,
    debits_posted_vnd   bigint      NOT NULL DEFAULT 0,
    credits_pending_vnd bigint      NOT NULL DEFAULT 0,
    credits_posted_vnd  bigint      NOT NULL DEFAULT 0,
    created_at          timestamptz NOT NULL,
    CONSTRAINT account_pkey PRIMARY KEY (account_id),
    -- Target of the transfers' (account, currency) foreign keys.
    CONSTRAINT account_currency_key UNIQUE (account_id, currency),
    CONSTRAINT account_id_not_reserved CHECK (
        account_id <> '00000000-0000-0000-0000-000000000000'
        AND account_id <> 'ffffffff-ffff-ffff-ffff-ffffffffffff'),
    CONSTRAINT account_currency_iso CHECK (currency BETWEEN 1 AND 999),
    CONSTRAINT account_kind_known CHECK (kind IN (
        'rider_wallet', 'provider_clearing', 'unearned_pass_revenue',
        'operator_revenue', 'penalties', 'platform_fee')),
    CONSTRAINT account_operator_iff_operator_revenue
        CHECK ((kind = 'operator_revenue') = (operator_id IS NOT NULL)),
    CONSTRAINT account_provider_iff_provider_clearing
        CHECK ((kind = 'provider_clearing') = (provider_id IS NOT NULL)),
    CONSTRAINT account_operator_id_format CHECK (operator_id ~ '^[A-Z0-9_-]{1,32}$'),
    CONSTRAINT account_provider_id_format CHECK (provider_id ~ '^[A-Z0-9_-]{1,32}$'),
    CONSTRAINT account_limit_kind_known CHECK (limit_kind IN (
        'none', 'debits_must_not_exceed_credits', 'credits_must_not_exceed_debits')),
    CONSTRAINT account_overdraft_limit_valid CHECK (
        overdraft_limit_vnd >= 0 AND (limit_kind <> 'none' OR overdraft_limit_vnd = 0)),
    CONSTRAINT account_totals_non_negative CHECK (
        debits_pending_vnd >= 0 AND debits_posted_vnd >= 0
        AND credits_pending_vnd >= 0 AND credits_posted_vnd >= 0),
    -- The hard bound: no transfer, even one allowed to overdraw, may take an
    -- account past its overdraft limit. The stricter per-transfer floor (0
    -- unless the transfer allows overdraft) is checked by the adapter under
    -- the row lock. numeric: the sums cannot overflow.
    CONSTRAINT account_debits_within_limit CHECK (
        limit_kind <> 'debits_must_not_exceed_credits'
        OR debits_pending_vnd::numeric + debits_posted_vnd
           <= credits_posted_vnd::numeric + overdraft_limit_vnd),
    CONSTRAINT account_credits_within_limit CHECK (
        limit_kind <> 'credits_must_not_exceed_debits'
        OR credits_pending_vnd::numeric + credits_posted_vnd
           <= debits_posted_vnd::numeric + overdraft_limit_vnd)
);

-- One revenue account per operator and currency.
CREATE UNIQUE INDEX account_one_revenue_per_operator
    ON ledger.account (operator_id, currency) WHERE kind = 'operator_revenue';

CREATE TABLE ledger.transfer (
    transfer_id         uuid        NOT NULL,
    -- Acceptance order, for the log and for paging.
    seq                 bigint      GENERATED ALWAYS AS IDENTITY,
    kind                text        NOT NULL,
    code                smallint    NOT NULL,
    reference           text,
    debit_account_id    uuid        NOT NULL,
    credit_account_id   uuid        NOT NULL,
    currency            smallint    NOT NULL,
    -- direct: posted; pending: held; post: posted; void: released.
    amount_vnd          bigint      NOT NULL,
    -- direct and pending only: 'forbidden' or 'allowed'.
    overdraft           text,
    -- pending only.
    timeout_s           integer,
    expires_at          timestamptz,
    -- post and void only: the pending transfer and what it held.
    pending_id          uuid,
    pending_kind        text,
    pending_amount_vnd  bigint,
    -- post only: the amount asked for; NULL means "all of it".
    post_requested_vnd  bigint,
    accepted_at         timestamptz NOT NULL,
    CONSTRAINT transfer_pkey PRIMARY KEY (transfer_id),
    CONSTRAINT transfer_seq_key UNIQUE (seq),
    -- Targets of the post/void → pending and resolution → transfer keys.
    CONSTRAINT transfer_pending_target_key UNIQUE (
        transfer_id, kind, debit_account_id, credit_account_id, currency, amount_vnd),
    CONSTRAINT transfer_resolution_target_key UNIQUE (transfer_id, pending_id),
    CONSTRAINT transfer_kind_target_key UNIQUE (transfer_id, kind),
    CONSTRAINT transfer_id_not_reserved CHECK (
        transfer_id <> '00000000-0000-0000-0000-000000000000'
        AND transfer_id <> 'ffffffff-ffff-ffff-ffff-ffffffffffff'),
    CONSTRAINT transfer_kind_known CHECK (kind IN ('direct', 'pending', 'post', 'void')),
    CONSTRAINT transfer_code_known CHECK (code BETWEEN 1 AND 10),
    CONSTRAINT transfer_reference_format CHECK (
        octet_length(reference) BETWEEN 1 AND 64 AND reference ~ '^[ -~]+$'),
    CONSTRAINT transfer_amount_positive CHECK (amount_vnd > 0),
    CONSTRAINT transfer_not_self CHECK (debit_account_id <> credit_account_id),
    -- COALESCE: a CHECK that yields NULL passes, so a missing column must
    -- make these false, not unknown.
    CONSTRAINT transfer_overdraft_shape CHECK (COALESCE(
        CASE WHEN kind IN ('direct', 'pending')
             THEN overdraft IN ('forbidden', 'allowed')
             ELSE overdraft IS NULL END, false)),
    CONSTRAINT transfer_timeout_shape CHECK (COALESCE(
        CASE WHEN kind = 'pending'
             THEN timeout_s BETWEEN 1 AND 2678400
                  AND expires_at = accepted_at + make_interval(secs => timeout_s)
             ELSE timeout_s IS NULL AND expires_at IS NULL END, false)),
    CONSTRAINT transfer_resolution_shape CHECK (COALESCE(
        CASE WHEN kind IN ('post', 'void')
             THEN pending_id IS NOT NULL AND pending_kind = 'pending'
                  AND pending_amount_vnd IS NOT NULL
             ELSE pending_id IS NULL AND pending_kind IS NULL AND pending_amount_vnd IS NULL
        END, false)),
    CONSTRAINT transfer_post_within_pending CHECK (COALESCE(
        CASE kind
            WHEN 'post' THEN amount_vnd <= pending_amount_vnd
                AND (post_requested_vnd IS NULL OR post_requested_vnd = amount_vnd)
            WHEN 'void' THEN amount_vnd = pending_amount_vnd AND post_requested_vnd IS NULL
            ELSE post_requested_vnd IS NULL END, false)),
    CONSTRAINT transfer_debit_account_fkey FOREIGN KEY (debit_account_id, currency)
        REFERENCES ledger.account (account_id, currency),
    CONSTRAINT transfer_credit_account_fkey FOREIGN KEY (credit_account_id, currency)
        REFERENCES ledger.account (account_id, currency),
    -- A post or void names a pending transfer and copies its accounts,
    -- currency and amount: anything else does not match the key.
    CONSTRAINT transfer_pending_fkey FOREIGN KEY (
            pending_id, pending_kind, debit_account_id, credit_account_id, currency,
            pending_amount_vnd)
        REFERENCES ledger.transfer (
            transfer_id, kind, debit_account_id, credit_account_id, currency, amount_vnd)
);

CREATE INDEX transfer_debit_account_seq ON ledger.transfer (debit_account_id, seq);
CREATE INDEX transfer_credit_account_seq ON ledger.transfer (credit_account_id, seq);

-- How each pending transfer was resolved. Its primary key is the rule "a
-- pending transfer is resolved at most once".
CREATE TABLE ledger.pending_resolution (
    pending_id            uuid        NOT NULL,
    pending_kind          text        NOT NULL DEFAULT 'pending',
    resolution            text        NOT NULL,
    -- The post or void transfer; NULL for an expiry.
    resolving_transfer_id uuid,
    resolved_at           timestamptz NOT NULL,
    CONSTRAINT pending_resolution_pkey PRIMARY KEY (pending_id),
    CONSTRAINT pending_resolution_transfer_key UNIQUE (resolving_transfer_id),
    CONSTRAINT pending_resolution_kind_known
        CHECK (resolution IN ('posted', 'voided', 'expired')),
    CONSTRAINT pending_resolution_pending_kind CHECK (pending_kind = 'pending'),
    CONSTRAINT pending_resolution_shape
        CHECK ((resolution = 'expired') = (resolving_transfer_id IS NULL)),
    CONSTRAINT pending_resolution_pending_fkey FOREIGN KEY (pending_id, pending_kind)
        REFERENCES ledger.transfer (transfer_id, kind),
    CONSTRAINT pending_resolution_transfer_fkey FOREIGN KEY (resolving_transfer_id, pending_id)
        REFERENCES ledger.transfer (transfer_id, pending_id)
);

-- Every post or void must be recorded as its pending transfer's resolution,
-- naming this very transfer, by the end of its transaction.
ALTER TABLE ledger.pending_resolution
    ADD CONSTRAINT pending_resolution_by_key UNIQUE (pending_id, resolving_transfer_id);
ALTER TABLE ledger.transfer
    ADD CONSTRAINT transfer_resolution_recorded_fkey FOREIGN KEY (pending_id, transfer_id)
        REFERENCES ledger.pending_resolution (pending_id, resolving_transfer_id)
        DEFERRABLE INITIALLY DEFERRED;

-- Open pending transfers by expiry: a work queue for the expiry job, kept
-- exactly in step with pending_resolution by the adapter (and checked by the
-- audit). Rows are deleted when the pending transfer resolves.
CREATE TABLE ledger.pending_open (
    pending_id   uuid        NOT NULL,
    pending_kind text        NOT NULL DEFAULT 'pending',
    expires_at   timestamptz NOT NULL,
    CONSTRAINT pending_open_pkey PRIMARY KEY (pending_id),
    CONSTRAINT pending_open_pending_kind CHECK (pending_kind = 'pending'),
    CONSTRAINT pending_open_pending_fkey FOREIGN KEY (pending_id, pending_kind)
        REFERENCES ledger.transfer (transfer_id, kind)
);

CREATE INDEX pending_open_expires_at ON ledger.pending_open (expires_at, pending_id);

-- Append-only: transfers and resolutions are never changed or removed; a
-- correction is a new transfer. The error names a constraint so the adapter
-- maps it like any other.
CREATE FUNCTION ledger.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%.% is append-only: % refused', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'integrity_constraint_violation',
              CONSTRAINT = TG_TABLE_NAME || '_append_only';
END;
$$;

CREATE TRIGGER transfer_append_only
    BEFORE UPDATE OR DELETE ON ledger.transfer
    FOR EACH ROW EXECUTE FUNCTION ledger.refuse_change();
CREATE TRIGGER transfer_no_truncate
    BEFORE TRUNCATE ON ledger.transfer
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.refuse_change();
CREATE TRIGGER pending_resolution_append_only
    BEFORE UPDATE OR DELETE ON ledger.pending_resolution
    FOR EACH ROW EXECUTE FUNCTION ledger.refuse_change();
CREATE TRIGGER pending_resolution_no_truncate
    BEFORE TRUNCATE ON ledger.pending_resolution
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.refuse_change();

-- Accounts are never deleted (retire one by zeroing it) and only their
-- totals change.
CREATE FUNCTION ledger.guard_account() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE'
       OR (NEW.account_id, NEW.currency, NEW.kind, NEW.operator_id, NEW.provider_id,
           NEW.limit_kind, NEW.overdraft_limit_vnd, NEW.created_at)
          IS DISTINCT FROM
          (OLD.account_id, OLD.currency, OLD.kind, OLD.operator_id, OLD.provider_id,
           OLD.limit_kind, OLD.overdraft_limit_vnd, OLD.created_at) THEN
        RAISE EXCEPTION 'ledger.account: only the totals of an account may change (% refused)', TG_OP
            USING ERRCODE = 'integrity_constraint_violation',
                  CONSTRAINT = 'account_immutable';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER account_immutable
    BEFORE UPDATE OR DELETE ON ledger.account
    FOR EACH ROW EXECUTE FUNCTION ledger.guard_account();
CREATE TRIGGER account_no_truncate
    BEFORE TRUNCATE ON ledger.account
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.refuse_change();
