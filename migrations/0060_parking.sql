-- Parking: the APDS (ISO/TS 5206-1) style model of operators, sites, zones,
-- lanes and gates, capacities per vehicle class, versioned tariffs, rights
-- (monthly permits, park and ride), stays, and the audit trail of manual
-- operations. Written by the parking service (services/parking) through
-- store_pg::parking.
--
--   operator ─< site ─< zone
--                 ├─< gate            (a lane's barrier; terminals name it)
--                 ├─< site_capacity   (bays per vehicle class)
--                 ├─< tariff_version  (which fare-engine tariff, from when)
--                 ├─< right_spec ─< assigned_right   (permits, P+R)
--                 └─< stay            (entry → exit of one vehicle)
--
-- The fare engine's configuration (config/<name>/oneticket.toml) is the
-- source of truth for lots, capacities and tariffs: the service seeds these
-- tables from it at start-up, idempotently, and adds what the engine has no
-- words for (coordinates, zones, gates, lost-ticket fees, rights). A site
-- id is the engine's lot id.
--
-- Constraints are named so store-pg can map them. Column names are stable:
-- later migrations add columns, never rename.

CREATE SCHEMA parking;

-- Who runs sites and earns their fees (= the engine's operator_id, which
-- names the ledger revenue account).
CREATE TABLE parking.operator (
    operator_id  text        NOT NULL,
    name         text        NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    CONSTRAINT operator_pkey PRIMARY KEY (operator_id),
    CONSTRAINT operator_id_format CHECK (operator_id ~ '^[A-Za-z0-9._:-]{1,64}$'),
    CONSTRAINT operator_name_length CHECK (char_length(name) BETWEEN 1 AND 200)
);

-- Vehicle classes a gate tells apart (card-protocol's `vehicle_class`) and
-- the ParkAPI purpose each is published under.
CREATE TABLE parking.vehicle_class (
    vehicle_class    text NOT NULL,
    parkapi_purpose  text NOT NULL,
    description      text NOT NULL,
    CONSTRAINT vehicle_class_pkey PRIMARY KEY (vehicle_class),
    CONSTRAINT vehicle_class_purpose_known CHECK (parkapi_purpose IN ('CAR', 'BIKE', 'MOTORCYCLE'))
);

INSERT INTO parking.vehicle_class (vehicle_class, parkapi_purpose, description) VALUES
    ('bicycle', 'BIKE', 'Bicycle, including e-bikes'),
    ('motorbike', 'MOTORCYCLE', 'Motorbike under 175 cc, or electric motorbike'),
    ('large_motorbike', 'MOTORCYCLE', 'Scooter or motorbike of 175 cc and more'),
    ('car', 'CAR', 'Car with at most 9 seats'),
    ('large_car', 'CAR', 'Car or van with more than 9 seats');

-- A site (APDS Place; ParkAPI ParkingSite): one lot behind its gates.
CREATE TABLE parking.site (
    site_id            text          NOT NULL,
    operator_id        text          NOT NULL,
    name               text          NOT NULL,
    -- ParkAPI ParkingSiteType.
    site_type          text          NOT NULL,
    -- WGS 84, six decimals (~0.1 m); published as decimal strings.
    lat                numeric(8, 6) NOT NULL,
    lon                numeric(9, 6) NOT NULL,
    address            text,
    -- OSM opening_hours syntax (`24/7`).
    opening_hours      text          NOT NULL,
    -- An operator may close a site (works, flooding): published as closed,
    -- not as full, and entries are refused.
    status             text          NOT NULL,
    -- A metro station whose tap in during the stay earns park and ride.
    linked_station_id  text,
    public_url         text,
    created_at         timestamptz   NOT NULL,
    -- When the static data (this row, capacities, tariffs) last changed.
    static_updated_at  timestamptz   NOT NULL,
    CONSTRAINT site_pkey PRIMARY KEY (site_id),
    CONSTRAINT site_operator_fkey FOREIGN KEY (operator_id) REFERENCES parking.operator (operator_id),
    CONSTRAINT site_id_format CHECK (site_id ~ '^[A-Za-z0-9._:-]{1,64}$'),
    CONSTRAINT site_name_length CHECK (char_length(name) BETWEEN 1 AND 200),
    CONSTRAINT site_type_known CHECK (site_type IN (
        'ON_STREET', 'OFF_STREET_PARKING_GROUND', 'UNDERGROUND', 'CAR_PARK', 'BUILDING', 'OTHER')),
    CONSTRAINT site_lat_range CHECK (lat BETWEEN -90 AND 90),
    CONSTRAINT site_lon_range CHECK (lon BETWEEN -180 AND 180),
    CONSTRAINT site_opening_hours_length CHECK (char_length(opening_hours) BETWEEN 1 AND 255),
    CONSTRAINT site_status_known CHECK (status IN ('open', 'closed')),
    CONSTRAINT site_station_format CHECK (
        linked_station_id IS NULL OR linked_station_id ~ '^[A-Za-z0-9._:-]{1,64}$')
);

-- Bays per vehicle class (APDS Supply). The gate counters in Redis never
-- leave [0, capacity].
CREATE TABLE parking.site_capacity (
    site_id        text    NOT NULL,
    vehicle_class  text    NOT NULL,
    capacity       integer NOT NULL,
    CONSTRAINT site_capacity_pkey PRIMARY KEY (site_id, vehicle_class),
    CONSTRAINT site_capacity_site_fkey FOREIGN KEY (site_id) REFERENCES parking.site (site_id),
    CONSTRAINT site_capacity_class_fkey FOREIGN KEY (vehicle_class)
        REFERENCES parking.vehicle_class (vehicle_class),
    CONSTRAINT site_capacity_range CHECK (capacity BETWEEN 0 AND 1000000)
);

-- Zones within a site (levels, sections): APDS SubplaceElement.
CREATE TABLE parking.zone (
    site_id        text    NOT NULL,
    zone_id        text    NOT NULL,
    name           text    NOT NULL,
    vehicle_class  text    NOT NULL,
    capacity       integer NOT NULL,
    CONSTRAINT zone_pkey PRIMARY KEY (site_id, zone_id),
    CONSTRAINT zone_site_fkey FOREIGN KEY (site_id) REFERENCES parking.site (site_id),
    CONSTRAINT zone_class_fkey FOREIGN KEY (vehicle_class)
        REFERENCES parking.vehicle_class (vehicle_class),
    CONSTRAINT zone_id_format CHECK (zone_id ~ '^[A-Za-z0-9._:-]{1,64}$'),
    CONSTRAINT zone_capacity_range CHECK (capacity BETWEEN 0 AND 1000000)
);

-- Lanes and their barriers (APDS VehicularAccess). A parking terminal
-- (transit.terminal) names its lot and gate; the service checks the pair.
CREATE TABLE parking.gate (
    site_id        text NOT NULL,
    gate_id        text NOT NULL,
    zone_id        text,
    direction      text NOT NULL,
    vehicle_class  text NOT NULL,
    CONSTRAINT gate_pkey PRIMARY KEY (site_id, gate_id),
    CONSTRAINT gate_site_fkey FOREIGN KEY (site_id) REFERENCES parking.site (site_id),
    CONSTRAINT gate_zone_fkey FOREIGN KEY (site_id, zone_id) REFERENCES parking.zone (site_id, zone_id),
    CONSTRAINT gate_class_fkey FOREIGN KEY (vehicle_class)
        REFERENCES parking.vehicle_class (vehicle_class),
    CONSTRAINT gate_id_format CHECK (gate_id ~ '^[A-Za-z0-9._:-]{1,64}$'),
    CONSTRAINT gate_direction_known CHECK (direction IN ('entry', 'exit'))
);

-- Which fare-engine tariff prices a site and class, from when (APDS
-- RateTable with its OverallPeriod). The version in force at an instant is
-- the latest `valid_from` at or before it; a stay keeps the version of its
-- entry. `lost_ticket_fee_vnd` is what an exit without the entry medium
-- costs (the engine has no such rule).
CREATE TABLE parking.tariff_version (
    site_id              text        NOT NULL,
    vehicle_class        text        NOT NULL,
    valid_from           timestamptz NOT NULL,
    engine_tariff_id     text        NOT NULL,
    lost_ticket_fee_vnd  bigint      NOT NULL,
    -- Human-readable, for the open-data feed (ParkAPI fee_description).
    fee_description      text        NOT NULL,
    created_at           timestamptz NOT NULL,
    CONSTRAINT tariff_version_pkey PRIMARY KEY (site_id, vehicle_class, valid_from),
    CONSTRAINT tariff_version_capacity_fkey FOREIGN KEY (site_id, vehicle_class)
        REFERENCES parking.site_capacity (site_id, vehicle_class),
    CONSTRAINT tariff_version_tariff_format CHECK (engine_tariff_id ~ '^[A-Za-z0-9._:-]{1,64}$'),
    CONSTRAINT tariff_version_lost_fee_range CHECK (lost_ticket_fee_vnd BETWEEN 0 AND 100000000),
    CONSTRAINT tariff_version_description_length CHECK (char_length(fee_description) <= 1000)
);

-- Rights (APDS RightSpecification): a template of a permission at a site.
--   monthly_permit  park at the site during the validity;
--   park_and_ride   the discounted tariff when the account taps in at the
--                   linked station during the stay (the engine applies it).
CREATE TABLE parking.right_spec (
    right_spec_id      text        NOT NULL,
    kind               text        NOT NULL,
    site_id            text        NOT NULL,
    vehicle_class      text        NOT NULL,
    description        text        NOT NULL,
    price_vnd          bigint,
    linked_station_id  text,
    created_at         timestamptz NOT NULL,
    CONSTRAINT right_spec_pkey PRIMARY KEY (right_spec_id),
    CONSTRAINT right_spec_capacity_fkey FOREIGN KEY (site_id, vehicle_class)
        REFERENCES parking.site_capacity (site_id, vehicle_class),
    CONSTRAINT right_spec_id_format CHECK (right_spec_id ~ '^[A-Za-z0-9._:-]{1,64}$'),
    CONSTRAINT right_spec_kind_known CHECK (kind IN ('monthly_permit', 'park_and_ride')),
    CONSTRAINT right_spec_price_range CHECK (price_vnd IS NULL OR price_vnd BETWEEN 0 AND 100000000),
    CONSTRAINT right_spec_shape CHECK (CASE kind
        WHEN 'monthly_permit' THEN price_vnd IS NOT NULL AND linked_station_id IS NULL
        ELSE linked_station_id IS NOT NULL END)
);

-- Rights granted (APDS AssignedRight) to an account, a vehicle (plate), or
-- both.
CREATE TABLE parking.assigned_right (
    assigned_right_id  uuid        NOT NULL,
    right_spec_id      text        NOT NULL,
    account_id         uuid,
    -- Canonical plate (services/parking plate rules).
    plate              text,
    valid_from         timestamptz NOT NULL,
    valid_until        timestamptz NOT NULL,
    status             text        NOT NULL,
    created_at         timestamptz NOT NULL,
    revoked_at         timestamptz,
    CONSTRAINT assigned_right_pkey PRIMARY KEY (assigned_right_id),
    CONSTRAINT assigned_right_spec_fkey FOREIGN KEY (right_spec_id)
        REFERENCES parking.right_spec (right_spec_id),
    CONSTRAINT assigned_right_account_fkey FOREIGN KEY (account_id)
        REFERENCES rider.account (account_id),
    CONSTRAINT assigned_right_holder CHECK (account_id IS NOT NULL OR plate IS NOT NULL),
    CONSTRAINT assigned_right_plate_format CHECK (plate IS NULL OR plate ~ '^[A-Z0-9.-]{4,16}$'),
    CONSTRAINT assigned_right_validity CHECK (valid_from < valid_until),
    CONSTRAINT assigned_right_status_known CHECK (status IN ('active', 'revoked')),
    CONSTRAINT assigned_right_revoked_shape CHECK ((status = 'revoked') = (revoked_at IS NOT NULL))
);

CREATE INDEX assigned_right_account ON parking.assigned_right (account_id) WHERE account_id IS NOT NULL;
CREATE INDEX assigned_right_plate ON parking.assigned_right (plate) WHERE plate IS NOT NULL;

-- A stay (APDS Session): one vehicle of one account between entry and
-- exit. The entry and exit taps are the journal keys of the gate
-- terminals; each opens or closes at most one stay.
CREATE TABLE parking.stay (
    stay_id              uuid        NOT NULL,
    site_id              text        NOT NULL,
    vehicle_class        text        NOT NULL,
    account_id           uuid        NOT NULL,
    -- How the vehicle was identified at entry.
    medium_kind          text        NOT NULL,
    plate                text,
    -- The tariff version in force at entry (its valid_from).
    tariff_valid_from    timestamptz NOT NULL,
    status               text        NOT NULL,
    -- NULL when the exit's entry never reached the backend (the stay was
    -- opened from the exit by the stated rule).
    entry_terminal_id    text,
    entry_boot_epoch     bigint,
    entry_seq            bigint,
    entry_gate_id        text,
    entered_at           timestamptz NOT NULL,
    entry_source         text        NOT NULL,
    exit_terminal_id     text,
    exit_boot_epoch      bigint,
    exit_seq             bigint,
    exit_gate_id         text,
    exited_at            timestamptz,
    exit_source          text,
    -- What the engine charged at exit (provisional; settlement re-prices).
    fee_vnd              bigint,
    park_and_ride        boolean,
    -- The lost-ticket fee charged when the stay was closed by an operator.
    lost_ticket_fee_vnd  bigint,
    overstay_flagged_at  timestamptz,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    CONSTRAINT stay_pkey PRIMARY KEY (stay_id),
    CONSTRAINT stay_capacity_fkey FOREIGN KEY (site_id, vehicle_class)
        REFERENCES parking.site_capacity (site_id, vehicle_class),
    CONSTRAINT stay_account_fkey FOREIGN KEY (account_id) REFERENCES rider.account (account_id),
    CONSTRAINT stay_tariff_fkey FOREIGN KEY (site_id, vehicle_class, tariff_valid_from)
        REFERENCES parking.tariff_version (site_id, vehicle_class, valid_from),
    CONSTRAINT stay_entry_key UNIQUE (entry_terminal_id, entry_boot_epoch, entry_seq),
    CONSTRAINT stay_exit_key UNIQUE (exit_terminal_id, exit_boot_epoch, exit_seq),
    CONSTRAINT stay_medium_kind_known CHECK (medium_kind IN ('transit_card', 'bank_card', 'qr', 'plate', 'operator')),
    CONSTRAINT stay_plate_format CHECK (plate IS NULL OR plate ~ '^[A-Z0-9.-]{4,16}$'),
    CONSTRAINT stay_status_known CHECK (status IN ('open', 'closed')),
    CONSTRAINT stay_entry_tap_shape CHECK (
        (entry_terminal_id IS NULL) = (entry_boot_epoch IS NULL)
        AND (entry_terminal_id IS NULL) = (entry_seq IS NULL)),
    CONSTRAINT stay_exit_tap_shape CHECK (
        (exit_terminal_id IS NULL) = (exit_boot_epoch IS NULL)
        AND (exit_terminal_id IS NULL) = (exit_seq IS NULL)),
    CONSTRAINT stay_source_known CHECK (
        entry_source IN ('online', 'journal', 'exit_without_entry')
        AND (exit_source IS NULL OR exit_source IN ('online', 'journal', 'lost_ticket'))),
    CONSTRAINT stay_closed_shape CHECK ((status = 'closed') = (exited_at IS NOT NULL)
        AND (status = 'closed') = (exit_source IS NOT NULL)
        AND (status = 'closed') = (fee_vnd IS NOT NULL)),
    CONSTRAINT stay_times_ordered CHECK (exited_at IS NULL OR entered_at <= exited_at),
    CONSTRAINT stay_fee_range CHECK (fee_vnd IS NULL OR fee_vnd BETWEEN 0 AND 100000000),
    CONSTRAINT stay_lost_fee_range CHECK (
        lost_ticket_fee_vnd IS NULL OR lost_ticket_fee_vnd BETWEEN 0 AND 100000000)
);

-- An account has at most one open stay anywhere (the engine's
-- `already_parked`), so the rider's "open stay" is one row.
CREATE UNIQUE INDEX stay_open_account_key ON parking.stay (account_id) WHERE status = 'open';
CREATE INDEX stay_account_history ON parking.stay (account_id, entered_at DESC, stay_id);
CREATE INDEX stay_open_site ON parking.stay (site_id, entered_at) WHERE status = 'open';

-- Every manual barrier lift: who, when, why, which gate (Bolink
-- upload_liftrod). Append-only.
CREATE TABLE parking.barrier_lift (
    lift_id      uuid        NOT NULL,
    site_id      text        NOT NULL,
    gate_id      text        NOT NULL,
    reason       text        NOT NULL,
    note         text,
    -- The admin API key that asked, and its label at the time.
    actor_key_id uuid        NOT NULL,
    actor_label  text        NOT NULL,
    lifted_at    timestamptz NOT NULL,
    CONSTRAINT barrier_lift_pkey PRIMARY KEY (lift_id),
    CONSTRAINT barrier_lift_gate_fkey FOREIGN KEY (site_id, gate_id)
        REFERENCES parking.gate (site_id, gate_id),
    CONSTRAINT barrier_lift_reason_known CHECK (reason IN (
        'emergency_vehicle', 'equipment_fault', 'medium_unreadable', 'payment_dispute',
        'lost_ticket', 'maintenance', 'other')),
    CONSTRAINT barrier_lift_note_length CHECK (char_length(note) <= 1000),
    CONSTRAINT barrier_lift_other_needs_note CHECK (reason <> 'other' OR note IS NOT NULL)
);

CREATE INDEX barrier_lift_gate ON parking.barrier_lift (site_id, gate_id, lifted_at);

-- Occupancy corrections: the counter set to a counted value, with the
-- value it replaced. Append-only.
CREATE TABLE parking.occupancy_correction (
    correction_id   uuid        NOT NULL,
    site_id         text        NOT NULL,
    vehicle_class   text        NOT NULL,
    counted         integer     NOT NULL,
    previous        integer,
    note            text,
    actor_key_id    uuid        NOT NULL,
    actor_label     text        NOT NULL,
    corrected_at    timestamptz NOT NULL,
    CONSTRAINT occupancy_correction_pkey PRIMARY KEY (correction_id),
    CONSTRAINT occupancy_correction_capacity_fkey FOREIGN KEY (site_id, vehicle_class)
        REFERENCES parking.site_capacity (site_id, vehicle_class),
    CONSTRAINT occupancy_correction_counted_range CHECK (counted >= 0),
    CONSTRAINT occupancy_correction_note_length CHECK (char_length(note) <= 1000)
);

-- Gate records that could not be applied to an account when they arrived
-- (offline entry refused by the account's state, exit with no stay and no
-- way to open one): the "offline, unable to collect" report of operations.
CREATE TABLE parking.uncollected (
    terminal_id    text        NOT NULL,
    boot_epoch     bigint      NOT NULL,
    seq            bigint      NOT NULL,
    site_id        text        NOT NULL,
    event_kind     text        NOT NULL,
    account_id     uuid,
    reason         text        NOT NULL,
    device_time    timestamptz NOT NULL,
    recorded_at    timestamptz NOT NULL,
    CONSTRAINT uncollected_pkey PRIMARY KEY (terminal_id, boot_epoch, seq),
    CONSTRAINT uncollected_event_kind_known CHECK (event_kind IN ('parking_entry', 'parking_exit')),
    CONSTRAINT uncollected_reason_length CHECK (char_length(reason) BETWEEN 1 AND 64)
);

-- Append-only audit tables: corrections are new rows.
CREATE FUNCTION parking.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'parking.% is append-only', TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$;

CREATE TRIGGER barrier_lift_append_only BEFORE UPDATE OR DELETE ON parking.barrier_lift
    FOR EACH ROW EXECUTE FUNCTION parking.refuse_change();
CREATE TRIGGER occupancy_correction_append_only BEFORE UPDATE OR DELETE ON parking.occupancy_correction
    FOR EACH ROW EXECUTE FUNCTION parking.refuse_change();
