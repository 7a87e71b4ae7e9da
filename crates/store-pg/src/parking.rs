//! Parking in Postgres (schema `parking`, `migrations/0060_parking.sql`):
//! the site model seeded from the fare configuration, stays, the audit
//! trail of manual operations, and the reads the open-data feed, the
//! operations jobs and the rider API need.
//!
//! - [`ParkingStore::seed_site`]: upsert one site with everything under it,
//!   idempotently (a re-seed with the same data changes nothing; a changed
//!   tariff becomes a new tariff version, never an edit).
//! - [`ParkingStore::sites`], [`ParkingStore::site`]: the static model.
//! - [`ParkingStore::open_stay`] / [`ParkingStore::close_stay`]: stays,
//!   idempotent on the gate's journal key.
//! - [`ParkingStore::current_stay`] / [`ParkingStore::stay_history`]: what a
//!   rider sees (the rider API's store functions).
//! - [`ParkingStore::flag_overstays`], [`ParkingStore::record_lift`],
//!   [`ParkingStore::record_correction`], [`ParkingStore::record_uncollected`]:
//!   operations.
//! - [`ParkingStore::unapplied_gate_records`], [`ParkingStore::mark_gate_record`]:
//!   the gate journal records fare-validation stores and leaves to parking.
//! - [`ParkingStore::grant_rights`], [`ParkingStore::rights_of_event`],
//!   [`ParkingStore::account_rights`]: monthly permits granted (APDS
//!   AssignedRight), each tied to the fare event that paid for it.
//!
//! **Boundary:** plain data in and out (ids as text, amounts in dong); the
//! parking service checks ids against the fare configuration and the plate
//! rules before it writes, and the table's CHECKs refuse what slips through.

use chrono::{DateTime, SubsecRound, Utc};
use ledger::AccountId;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, Row, Transaction};
use uuid::Uuid;

use crate::error::StoreError;

/// Most stays one history page lists: a phone screen's worth several times
/// over, and a bounded query.
pub const MAX_STAY_PAGE: u32 = 100;

/// `valid_from` of the first tariff version of a site and class: "since
/// ever", so journaled entries stamped before the first seed still find
/// the tariff that priced them.
pub const FIRST_TARIFF_VALID_FROM_S: i64 = 946_684_800; // 2000-01-01T00:00:00Z

/// Most overstayed stays one job run flags: bounds the transaction; the
/// next run picks up the rest.
pub const MAX_OVERSTAY_BATCH: u32 = 1_000;

/// The journal key of a gate tap.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TapKey {
    /// The terminal.
    pub terminal_id: String,
    /// Its boot epoch.
    pub boot_epoch: u32,
    /// The record's sequence number.
    pub seq: u64,
}

impl TapKey {
    fn columns(&self) -> Result<(String, i64, i64), StoreError> {
        let seq = i64::try_from(self.seq)
            .map_err(|_| StoreError::Corrupt(format!("seq {} beyond bigint", self.seq)))?;
        Ok((self.terminal_id.clone(), i64::from(self.boot_epoch), seq))
    }
}

/// One site with everything the fare configuration and the site data say
/// about it, for [`ParkingStore::seed_site`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteSeed {
    /// The site id (= the engine's lot id).
    pub site_id: String,
    /// The operator id (= the engine's operator id).
    pub operator_id: String,
    /// The operator's display name.
    pub operator_name: String,
    /// Display name.
    pub name: String,
    /// ParkAPI `ParkingSiteType`.
    pub site_type: String,
    /// Latitude, decimal text (`10.771000`).
    pub lat: String,
    /// Longitude, decimal text.
    pub lon: String,
    /// Postal address.
    pub address: Option<String>,
    /// OSM `opening_hours`.
    pub opening_hours: String,
    /// The park-and-ride station, if any.
    pub linked_station_id: Option<String>,
    /// A page for people.
    pub public_url: Option<String>,
    /// Bays per vehicle class.
    pub capacities: Vec<(String, u32)>,
    /// Zones.
    pub zones: Vec<ZoneSeed>,
    /// Gates.
    pub gates: Vec<GateSeed>,
    /// The tariff in force, per vehicle class of `capacities`.
    pub tariffs: Vec<TariffSeed>,
    /// The monthly permits of the fare configuration that cover the site.
    pub permits: Vec<PermitSeed>,
}

/// A monthly permit that covers a site (APDS RightSpecification of kind
/// `monthly_permit`): a pass product of the fare configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PermitSeed {
    /// The fare configuration's pass product id.
    pub product_id: String,
    /// The class of the site it covers.
    pub vehicle_class: String,
    /// Display text.
    pub description: String,
    /// Its price for the default rider category, dong (the engine charges
    /// the price of the buyer's category).
    pub price_vnd: i64,
}

/// The right spec id of a permit at a site and class.
#[must_use]
pub fn permit_right_spec_id(site_id: &str, vehicle_class: &str, product_id: &str) -> String {
    format!("{site_id}:{vehicle_class}:{product_id}")
}

/// A monthly permit granted (APDS AssignedRight), to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRight {
    /// A fresh id.
    pub assigned_right_id: Uuid,
    /// The right spec ([`permit_right_spec_id`]).
    pub right_spec_id: String,
    /// The account that paid for it and holds it.
    pub account_id: AccountId,
    /// The vehicle it is for, canonical plate, if named.
    pub plate: Option<String>,
    /// First instant of validity.
    pub valid_from: DateTime<Utc>,
    /// First instant after validity.
    pub valid_until: DateTime<Utc>,
    /// The fare event (`rider.account_event.event_key`) that paid for it.
    pub event_key: String,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
}

/// A right granted, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RightRecord {
    /// Its id.
    pub assigned_right_id: Uuid,
    /// The right spec.
    pub right_spec_id: String,
    /// `monthly_permit` or `park_and_ride`.
    pub kind: String,
    /// The site it covers.
    pub site_id: String,
    /// The class it covers.
    pub vehicle_class: String,
    /// The account holding it.
    pub account_id: Option<AccountId>,
    /// The vehicle, canonical plate.
    pub plate: Option<String>,
    /// First instant of validity.
    pub valid_from: DateTime<Utc>,
    /// First instant after validity.
    pub valid_until: DateTime<Utc>,
    /// `active` or `revoked`.
    pub status: String,
    /// The fare event that paid for it.
    pub event_key: Option<String>,
}

/// A zone of a site.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneSeed {
    /// Zone id within the site.
    pub zone_id: String,
    /// Display name.
    pub name: String,
    /// The class it holds.
    pub vehicle_class: String,
    /// Its bays.
    pub capacity: u32,
}

/// A gate (lane barrier) of a site.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GateSeed {
    /// Gate id within the site (terminals name it).
    pub gate_id: String,
    /// The zone it serves, if any.
    pub zone_id: Option<String>,
    /// `entry` or `exit`.
    pub direction: String,
    /// The class the lane takes.
    pub vehicle_class: String,
}

/// The tariff of one vehicle class at a site.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TariffSeed {
    /// The class.
    pub vehicle_class: String,
    /// The fare engine's tariff id.
    pub engine_tariff_id: String,
    /// The lost-ticket fee.
    pub lost_ticket_fee_vnd: i64,
    /// Human-readable fee text.
    pub fee_description: String,
}

/// What a seed did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Seeded {
    /// The site row or one of its parts changed.
    pub changed: bool,
    /// A new tariff version was recorded.
    pub new_tariff_versions: u32,
}

/// Capacity and tariff of one vehicle class at a site.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassRecord {
    /// The vehicle class.
    pub vehicle_class: String,
    /// Its ParkAPI purpose (`CAR`, `BIKE`, `MOTORCYCLE`).
    pub parkapi_purpose: String,
    /// Bays.
    pub capacity: u32,
    /// The tariff version in force now, if any.
    pub tariff: Option<TariffRecord>,
}

/// A tariff version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TariffRecord {
    /// When it took effect.
    pub valid_from: DateTime<Utc>,
    /// The fare engine's tariff id.
    pub engine_tariff_id: String,
    /// The lost-ticket fee.
    pub lost_ticket_fee_vnd: i64,
    /// Human-readable fee text.
    pub fee_description: String,
}

/// A site as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteRecord {
    /// The site id.
    pub site_id: String,
    /// The operator id.
    pub operator_id: String,
    /// The operator's name.
    pub operator_name: String,
    /// Display name.
    pub name: String,
    /// ParkAPI type.
    pub site_type: String,
    /// Latitude, decimal text with six places.
    pub lat: String,
    /// Longitude, decimal text with six places.
    pub lon: String,
    /// Address.
    pub address: Option<String>,
    /// OSM `opening_hours`.
    pub opening_hours: String,
    /// `open` or `closed` (by the operator).
    pub status: String,
    /// The park-and-ride station.
    pub linked_station_id: Option<String>,
    /// A page for people.
    pub public_url: Option<String>,
    /// When the static data last changed.
    pub static_updated_at: DateTime<Utc>,
    /// Capacity and tariff per class, in class order.
    pub classes: Vec<ClassRecord>,
}

/// Where a stay's entry came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntrySource {
    /// Decided on `POST /v1/parking/entries`.
    Online,
    /// An offline entry from a gate journal.
    Journal,
    /// Opened by the rule for an exit whose entry never arrived.
    ExitWithoutEntry,
}

impl EntrySource {
    /// The stored text.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            EntrySource::Online => "online",
            EntrySource::Journal => "journal",
            EntrySource::ExitWithoutEntry => "exit_without_entry",
        }
    }

    fn parse(text: &str) -> Result<EntrySource, StoreError> {
        match text {
            "online" => Ok(EntrySource::Online),
            "journal" => Ok(EntrySource::Journal),
            "exit_without_entry" => Ok(EntrySource::ExitWithoutEntry),
            other => Err(StoreError::Corrupt(format!("stay entry source {other:?}"))),
        }
    }
}

/// How a stay was closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitSource {
    /// Decided on `POST /v1/parking/exits`.
    Online,
    /// An offline exit from a gate journal.
    Journal,
    /// Closed by an operator for a rider without the entry medium.
    LostTicket,
}

impl ExitSource {
    /// The stored text.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            ExitSource::Online => "online",
            ExitSource::Journal => "journal",
            ExitSource::LostTicket => "lost_ticket",
        }
    }

    fn parse(text: &str) -> Result<ExitSource, StoreError> {
        match text {
            "online" => Ok(ExitSource::Online),
            "journal" => Ok(ExitSource::Journal),
            "lost_ticket" => Ok(ExitSource::LostTicket),
            other => Err(StoreError::Corrupt(format!("stay exit source {other:?}"))),
        }
    }
}

/// A stay to open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewStay {
    /// A fresh id (ignored when the entry key already opened a stay).
    pub stay_id: Uuid,
    /// The site.
    pub site_id: String,
    /// The vehicle class.
    pub vehicle_class: String,
    /// The account.
    pub account_id: AccountId,
    /// `transit_card`, `bank_card`, `qr`, `plate` or `operator`.
    pub medium_kind: String,
    /// The canonical plate, when the gate read one.
    pub plate: Option<String>,
    /// The entry tap; `None` for a stay opened from an exit.
    pub entry: Option<TapKey>,
    /// The entry gate.
    pub entry_gate_id: Option<String>,
    /// When the vehicle entered (the time the entry was priced with).
    pub entered_at: DateTime<Utc>,
    /// Where the entry came from.
    pub entry_source: EntrySource,
}

/// A stay to close.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseStay {
    /// The account whose open stay closes.
    pub account_id: AccountId,
    /// The site it must be open at.
    pub site_id: String,
    /// The exit tap, if a gate closed it.
    pub exit: Option<TapKey>,
    /// The exit gate.
    pub exit_gate_id: Option<String>,
    /// When the vehicle left.
    pub exited_at: DateTime<Utc>,
    /// How it was closed.
    pub exit_source: ExitSource,
    /// The fee the engine charged.
    pub fee_vnd: i64,
    /// Whether the stay earned park and ride.
    pub park_and_ride: bool,
    /// The lost-ticket fee charged on top, if any.
    pub lost_ticket_fee_vnd: Option<i64>,
    /// The permit (pass product id) that covered (part of) the stay.
    pub permit_id: Option<String>,
}

/// A stay as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StayRecord {
    /// The id.
    pub stay_id: Uuid,
    /// The site.
    pub site_id: String,
    /// The class.
    pub vehicle_class: String,
    /// The account.
    pub account_id: AccountId,
    /// How the vehicle was identified.
    pub medium_kind: String,
    /// The plate, if read.
    pub plate: Option<String>,
    /// The tariff version (its `valid_from`).
    pub tariff_valid_from: DateTime<Utc>,
    /// Open or closed.
    pub open: bool,
    /// The entry tap.
    pub entry: Option<TapKey>,
    /// The entry gate.
    pub entry_gate_id: Option<String>,
    /// Entry time.
    pub entered_at: DateTime<Utc>,
    /// Where the entry came from.
    pub entry_source: EntrySource,
    /// The exit tap.
    pub exit: Option<TapKey>,
    /// The exit gate.
    pub exit_gate_id: Option<String>,
    /// Exit time.
    pub exited_at: Option<DateTime<Utc>>,
    /// How it was closed.
    pub exit_source: Option<ExitSource>,
    /// The fee charged at exit.
    pub fee_vnd: Option<i64>,
    /// Whether park and ride was earned.
    pub park_and_ride: Option<bool>,
    /// A lost-ticket fee.
    pub lost_ticket_fee_vnd: Option<i64>,
    /// The permit that covered (part of) the stay.
    pub permit_id: Option<String>,
    /// When the overstay job flagged it.
    pub overstay_flagged_at: Option<DateTime<Utc>>,
}

/// A page position in a rider's stay history: the last stay shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StayCursor {
    /// Its entry time.
    pub entered_at: DateTime<Utc>,
    /// Its id (ties on time).
    pub stay_id: Uuid,
}

/// An audited manual barrier lift.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BarrierLift {
    /// A fresh id.
    pub lift_id: Uuid,
    /// The site.
    pub site_id: String,
    /// The gate.
    pub gate_id: String,
    /// A reason code (see the table's CHECK).
    pub reason: String,
    /// Free text; required for `other`.
    pub note: Option<String>,
    /// The admin API key that asked.
    pub actor_key_id: Uuid,
    /// Its label.
    pub actor_label: String,
    /// When.
    pub lifted_at: DateTime<Utc>,
}

/// An audited occupancy correction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OccupancyCorrection {
    /// A fresh id.
    pub correction_id: Uuid,
    /// The site.
    pub site_id: String,
    /// The class.
    pub vehicle_class: String,
    /// The counted vehicles.
    pub counted: u32,
    /// The counter it replaced (`None`: there was none).
    pub previous: Option<u32>,
    /// Free text.
    pub note: Option<String>,
    /// The admin API key that asked.
    pub actor_key_id: Uuid,
    /// Its label.
    pub actor_label: String,
    /// When.
    pub corrected_at: DateTime<Utc>,
}

/// A gate record that could not be applied to an account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uncollected {
    /// The record's key.
    pub tap: TapKey,
    /// The site.
    pub site_id: String,
    /// `parking_entry` or `parking_exit`.
    pub event_kind: String,
    /// The account, when the medium resolved.
    pub account_id: Option<AccountId>,
    /// Why (a reason code).
    pub reason: String,
    /// The terminal's clock at the tap.
    pub device_time: DateTime<Utc>,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
}

/// A gate journal record the fare-validation service stored and left to
/// parking (`pricing = 'unpriced'`), not dealt with yet.
#[derive(Clone, Debug, PartialEq)]
pub struct GateJournalRecord {
    /// Its key.
    pub tap: TapKey,
    /// The record as uploaded (card protocol `JournalRecord`).
    pub record: serde_json::Value,
    /// Server time minus the terminal's time at upload, seconds.
    pub clock_offset_s: i64,
    /// When it arrived.
    pub received_at: DateTime<Utc>,
}

/// What the parking service made of a gate journal record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JournalOutcome {
    /// Priced through the projection.
    Applied,
    /// The gate did not let the vehicle through: nothing to apply.
    Skipped,
    /// An entry whose exit was already charged without it.
    Superseded,
    /// Could not be charged (see [`Uncollected`]).
    Uncollected,
    /// The key was used online for another tap.
    Conflict,
}

impl JournalOutcome {
    const fn as_str(self) -> &'static str {
        match self {
            JournalOutcome::Applied => "applied",
            JournalOutcome::Skipped => "skipped",
            JournalOutcome::Superseded => "superseded",
            JournalOutcome::Uncollected => "uncollected",
            JournalOutcome::Conflict => "conflict",
        }
    }
}

/// The parking store. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ParkingStore {
    pool: PgPool,
}

const STAY_COLUMNS: &str = "stay_id, site_id, vehicle_class, account_id, medium_kind, plate, \
    tariff_valid_from, status, entry_terminal_id, entry_boot_epoch, entry_seq, entry_gate_id, \
    entered_at, entry_source, exit_terminal_id, exit_boot_epoch, exit_seq, exit_gate_id, \
    exited_at, exit_source, fee_vnd, park_and_ride, lost_ticket_fee_vnd, permit_id, \
    overstay_flagged_at";

fn tap_from(row: &PgRow, prefix: &str) -> Result<Option<TapKey>, StoreError> {
    let terminal: Option<String> = row.try_get(format!("{prefix}_terminal_id").as_str())?;
    let epoch: Option<i64> = row.try_get(format!("{prefix}_boot_epoch").as_str())?;
    let seq: Option<i64> = row.try_get(format!("{prefix}_seq").as_str())?;
    match (terminal, epoch, seq) {
        (Some(terminal_id), Some(epoch), Some(seq)) => Ok(Some(TapKey {
            terminal_id,
            boot_epoch: u32::try_from(epoch)
                .map_err(|_| StoreError::Corrupt(format!("boot epoch {epoch}")))?,
            seq: u64::try_from(seq).map_err(|_| StoreError::Corrupt(format!("seq {seq}")))?,
        })),
        (None, None, None) => Ok(None),
        _ => Err(StoreError::Corrupt("half a tap key on a stay".into())),
    }
}

fn stay_from(row: &PgRow) -> Result<StayRecord, StoreError> {
    let status: String = row.try_get("status")?;
    let exit_source: Option<String> = row.try_get("exit_source")?;
    let entry_source: String = row.try_get("entry_source")?;
    Ok(StayRecord {
        stay_id: row.try_get("stay_id")?,
        site_id: row.try_get("site_id")?,
        vehicle_class: row.try_get("vehicle_class")?,
        account_id: account_of(row.try_get("account_id")?)?,
        medium_kind: row.try_get("medium_kind")?,
        plate: row.try_get("plate")?,
        tariff_valid_from: row.try_get("tariff_valid_from")?,
        open: match status.as_str() {
            "open" => true,
            "closed" => false,
            other => return Err(StoreError::Corrupt(format!("stay status {other:?}"))),
        },
        entry: tap_from(row, "entry")?,
        entry_gate_id: row.try_get("entry_gate_id")?,
        entered_at: row.try_get("entered_at")?,
        entry_source: EntrySource::parse(&entry_source)?,
        exit: tap_from(row, "exit")?,
        exit_gate_id: row.try_get("exit_gate_id")?,
        exited_at: row.try_get("exited_at")?,
        exit_source: exit_source.as_deref().map(ExitSource::parse).transpose()?,
        fee_vnd: row.try_get("fee_vnd")?,
        park_and_ride: row.try_get("park_and_ride")?,
        lost_ticket_fee_vnd: row.try_get("lost_ticket_fee_vnd")?,
        permit_id: row.try_get("permit_id")?,
        overstay_flagged_at: row.try_get("overstay_flagged_at")?,
    })
}

fn account_of(uuid: Uuid) -> Result<AccountId, StoreError> {
    AccountId::new(uuid).map_err(|e| StoreError::Corrupt(format!("account id {uuid}: {e}")))
}

fn count_u32(value: i32, what: &str) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} {value}")))
}

fn count_i32(value: u32, what: &str) -> Result<i32, StoreError> {
    i32::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} {value} beyond integer")))
}

impl ParkingStore {
    /// A store on `pool`.
    #[must_use]
    pub fn new(pool: PgPool) -> ParkingStore {
        ParkingStore { pool }
    }

    /// Upserts one site with its operator, capacities, zones, gates, the
    /// tariff in force per class and its park-and-ride right, in one
    /// transaction. Idempotent: the same seed twice changes nothing the
    /// second time; a tariff that differs from the version in force is
    /// recorded as a new version from `now`.
    ///
    /// # Errors
    /// A value a constraint refuses, or the database failing.
    #[tracing::instrument(skip_all, fields(site_id = %seed.site_id))]
    pub async fn seed_site(
        &self,
        seed: &SiteSeed,
        now: DateTime<Utc>,
    ) -> Result<Seeded, StoreError> {
        let now = now.trunc_subsecs(6);
        let mut tx = self.pool.begin().await?;
        let mut seeded = Seeded::default();
        sqlx::query(
            "INSERT INTO parking.operator (operator_id, name, created_at, updated_at) \
             VALUES ($1, $2, $3, $3) \
             ON CONFLICT (operator_id) DO UPDATE SET name = EXCLUDED.name, updated_at = EXCLUDED.updated_at \
             WHERE parking.operator.name IS DISTINCT FROM EXCLUDED.name",
        )
        .bind(&seed.operator_id)
        .bind(&seed.operator_name)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let site = sqlx::query(
            "INSERT INTO parking.site (site_id, operator_id, name, site_type, lat, lon, address, \
                 opening_hours, status, linked_station_id, public_url, created_at, static_updated_at) \
             VALUES ($1, $2, $3, $4, $5::numeric, $6::numeric, $7, $8, 'open', $9, $10, $11, $11) \
             ON CONFLICT (site_id) DO UPDATE SET operator_id = EXCLUDED.operator_id, \
                 name = EXCLUDED.name, site_type = EXCLUDED.site_type, lat = EXCLUDED.lat, \
                 lon = EXCLUDED.lon, address = EXCLUDED.address, \
                 opening_hours = EXCLUDED.opening_hours, \
                 linked_station_id = EXCLUDED.linked_station_id, \
                 public_url = EXCLUDED.public_url, static_updated_at = EXCLUDED.static_updated_at \
             WHERE (parking.site.operator_id, parking.site.name, parking.site.site_type, \
                    parking.site.lat, parking.site.lon, parking.site.address, \
                    parking.site.opening_hours, parking.site.linked_station_id, \
                    parking.site.public_url) \
                IS DISTINCT FROM (EXCLUDED.operator_id, EXCLUDED.name, EXCLUDED.site_type, \
                    EXCLUDED.lat, EXCLUDED.lon, EXCLUDED.address, EXCLUDED.opening_hours, \
                    EXCLUDED.linked_station_id, EXCLUDED.public_url)",
        )
        .bind(&seed.site_id)
        .bind(&seed.operator_id)
        .bind(&seed.name)
        .bind(&seed.site_type)
        .bind(&seed.lat)
        .bind(&seed.lon)
        .bind(&seed.address)
        .bind(&seed.opening_hours)
        .bind(&seed.linked_station_id)
        .bind(&seed.public_url)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        seeded.changed |= site.rows_affected() > 0;

        for (class, capacity) in &seed.capacities {
            let done = sqlx::query(
                "INSERT INTO parking.site_capacity (site_id, vehicle_class, capacity) VALUES ($1, $2, $3) \
                 ON CONFLICT (site_id, vehicle_class) DO UPDATE SET capacity = EXCLUDED.capacity \
                 WHERE parking.site_capacity.capacity <> EXCLUDED.capacity",
            )
            .bind(&seed.site_id)
            .bind(class)
            .bind(count_i32(*capacity, "capacity")?)
            .execute(&mut *tx)
            .await?;
            seeded.changed |= done.rows_affected() > 0;
        }
        for zone in &seed.zones {
            let done = sqlx::query(
                "INSERT INTO parking.zone (site_id, zone_id, name, vehicle_class, capacity) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (site_id, zone_id) DO UPDATE SET name = EXCLUDED.name, \
                     vehicle_class = EXCLUDED.vehicle_class, capacity = EXCLUDED.capacity \
                 WHERE (parking.zone.name, parking.zone.vehicle_class, parking.zone.capacity) \
                     IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.vehicle_class, EXCLUDED.capacity)",
            )
            .bind(&seed.site_id)
            .bind(&zone.zone_id)
            .bind(&zone.name)
            .bind(&zone.vehicle_class)
            .bind(count_i32(zone.capacity, "zone capacity")?)
            .execute(&mut *tx)
            .await?;
            seeded.changed |= done.rows_affected() > 0;
        }
        for gate in &seed.gates {
            let done = sqlx::query(
                "INSERT INTO parking.gate (site_id, gate_id, zone_id, direction, vehicle_class) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (site_id, gate_id) DO UPDATE SET zone_id = EXCLUDED.zone_id, \
                     direction = EXCLUDED.direction, vehicle_class = EXCLUDED.vehicle_class \
                 WHERE (parking.gate.zone_id, parking.gate.direction, parking.gate.vehicle_class) \
                     IS DISTINCT FROM (EXCLUDED.zone_id, EXCLUDED.direction, EXCLUDED.vehicle_class)",
            )
            .bind(&seed.site_id)
            .bind(&gate.gate_id)
            .bind(&gate.zone_id)
            .bind(&gate.direction)
            .bind(&gate.vehicle_class)
            .execute(&mut *tx)
            .await?;
            seeded.changed |= done.rows_affected() > 0;
        }
        for tariff in &seed.tariffs {
            if seed_tariff(&mut tx, &seed.site_id, tariff, now).await? {
                seeded.new_tariff_versions += 1;
            }
        }
        if let Some(station) = &seed.linked_station_id {
            for (class, _) in &seed.capacities {
                let done = sqlx::query(
                    "INSERT INTO parking.right_spec (right_spec_id, kind, site_id, vehicle_class, \
                         description, linked_station_id, created_at) \
                     VALUES ($1, 'park_and_ride', $2, $3, $4, $5, $6) \
                     ON CONFLICT (right_spec_id) DO UPDATE SET linked_station_id = EXCLUDED.linked_station_id, \
                         description = EXCLUDED.description \
                     WHERE (parking.right_spec.linked_station_id, parking.right_spec.description) \
                         IS DISTINCT FROM (EXCLUDED.linked_station_id, EXCLUDED.description)",
                )
                .bind(format!("{}:{class}:park_and_ride", seed.site_id))
                .bind(&seed.site_id)
                .bind(class)
                .bind(format!(
                    "Park and ride: the discounted tariff when the account taps in at station {station} during the stay"
                ))
                .bind(station)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                seeded.changed |= done.rows_affected() > 0;
            }
        }
        for permit in &seed.permits {
            let done = sqlx::query(
                "INSERT INTO parking.right_spec (right_spec_id, kind, site_id, vehicle_class, \
                     description, price_vnd, created_at) \
                 VALUES ($1, 'monthly_permit', $2, $3, $4, $5, $6) \
                 ON CONFLICT (right_spec_id) DO UPDATE SET description = EXCLUDED.description, \
                     price_vnd = EXCLUDED.price_vnd \
                 WHERE (parking.right_spec.description, parking.right_spec.price_vnd) \
                     IS DISTINCT FROM (EXCLUDED.description, EXCLUDED.price_vnd)",
            )
            .bind(permit_right_spec_id(
                &seed.site_id,
                &permit.vehicle_class,
                &permit.product_id,
            ))
            .bind(&seed.site_id)
            .bind(&permit.vehicle_class)
            .bind(&permit.description)
            .bind(permit.price_vnd)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            seeded.changed |= done.rows_affected() > 0;
        }
        tx.commit().await?;
        Ok(seeded)
    }

    /// Every site with its capacities and the tariff in force at `now`, in
    /// site id order.
    ///
    /// # Errors
    /// The database failing, or a row that does not decode.
    pub async fn sites(&self, now: DateTime<Utc>) -> Result<Vec<SiteRecord>, StoreError> {
        self.load_sites(None, now).await
    }

    /// One site, as in [`ParkingStore::sites`].
    ///
    /// # Errors
    /// As [`ParkingStore::sites`].
    pub async fn site(
        &self,
        site_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<SiteRecord>, StoreError> {
        Ok(self
            .load_sites(Some(site_id), now)
            .await?
            .into_iter()
            .next())
    }

    async fn load_sites(
        &self,
        only: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Vec<SiteRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT s.site_id, s.operator_id, o.name AS operator_name, s.name, s.site_type, \
                 s.lat::text AS lat, s.lon::text AS lon, s.address, s.opening_hours, s.status, \
                 s.linked_station_id, s.public_url, s.static_updated_at \
             FROM parking.site s JOIN parking.operator o USING (operator_id) \
             WHERE $1::text IS NULL OR s.site_id = $1 ORDER BY s.site_id",
        )
        .bind(only)
        .fetch_all(&self.pool)
        .await?;
        let classes = sqlx::query(
            "SELECT c.site_id, c.vehicle_class, v.parkapi_purpose, c.capacity, \
                 t.valid_from, t.engine_tariff_id, t.lost_ticket_fee_vnd, t.fee_description \
             FROM parking.site_capacity c \
             JOIN parking.vehicle_class v USING (vehicle_class) \
             LEFT JOIN LATERAL ( \
                 SELECT valid_from, engine_tariff_id, lost_ticket_fee_vnd, fee_description \
                 FROM parking.tariff_version tv \
                 WHERE tv.site_id = c.site_id AND tv.vehicle_class = c.vehicle_class \
                   AND tv.valid_from <= $2 \
                 ORDER BY tv.valid_from DESC LIMIT 1) t ON true \
             WHERE $1::text IS NULL OR c.site_id = $1 \
             ORDER BY c.site_id, c.vehicle_class",
        )
        .bind(only)
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        let mut sites = Vec::with_capacity(rows.len());
        for row in &rows {
            sites.push(SiteRecord {
                site_id: row.try_get("site_id")?,
                operator_id: row.try_get("operator_id")?,
                operator_name: row.try_get("operator_name")?,
                name: row.try_get("name")?,
                site_type: row.try_get("site_type")?,
                lat: row.try_get("lat")?,
                lon: row.try_get("lon")?,
                address: row.try_get("address")?,
                opening_hours: row.try_get("opening_hours")?,
                status: row.try_get("status")?,
                linked_station_id: row.try_get("linked_station_id")?,
                public_url: row.try_get("public_url")?,
                static_updated_at: row.try_get("static_updated_at")?,
                classes: Vec::new(),
            });
        }
        for row in &classes {
            let site_id: String = row.try_get("site_id")?;
            let valid_from: Option<DateTime<Utc>> = row.try_get("valid_from")?;
            let tariff = match valid_from {
                Some(valid_from) => Some(TariffRecord {
                    valid_from,
                    engine_tariff_id: row.try_get("engine_tariff_id")?,
                    lost_ticket_fee_vnd: row.try_get("lost_ticket_fee_vnd")?,
                    fee_description: row.try_get("fee_description")?,
                }),
                None => None,
            };
            let class = ClassRecord {
                vehicle_class: row.try_get("vehicle_class")?,
                parkapi_purpose: row.try_get("parkapi_purpose")?,
                capacity: count_u32(row.try_get("capacity")?, "capacity")?,
                tariff,
            };
            if let Some(site) = sites.iter_mut().find(|s| s.site_id == site_id) {
                site.classes.push(class);
            }
        }
        Ok(sites)
    }

    /// Sets a site open or closed by the operator.
    ///
    /// # Errors
    /// The database failing. `Ok(false)` when there is no such site.
    pub async fn set_site_status(
        &self,
        site_id: &str,
        open: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE parking.site SET status = $2, static_updated_at = $3 \
             WHERE site_id = $1 AND status <> $2",
        )
        .bind(site_id)
        .bind(if open { "open" } else { "closed" })
        .bind(now.trunc_subsecs(6))
        .execute(&self.pool)
        .await?;
        if done.rows_affected() > 0 {
            return Ok(true);
        }
        let exists: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM parking.site WHERE site_id = $1")
                .bind(site_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(exists.is_some())
    }

    /// The direction and class of a gate, when it exists.
    ///
    /// # Errors
    /// The database failing.
    pub async fn gate(&self, site_id: &str, gate_id: &str) -> Result<Option<GateSeed>, StoreError> {
        let row = sqlx::query(
            "SELECT gate_id, zone_id, direction, vehicle_class FROM parking.gate \
             WHERE site_id = $1 AND gate_id = $2",
        )
        .bind(site_id)
        .bind(gate_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(GateSeed {
                gate_id: row.try_get("gate_id")?,
                zone_id: row.try_get("zone_id")?,
                direction: row.try_get("direction")?,
                vehicle_class: row.try_get("vehicle_class")?,
            })
        })
        .transpose()
    }

    /// Opens a stay. Idempotent on the entry tap: a repeat returns the stay
    /// that tap opened.
    ///
    /// # Errors
    /// `Duplicate { constraint: "stay_open_account_key" }` when the account
    /// has another open stay; `NotFound`-like `Constraint` when the site,
    /// class or tariff version does not exist; the database failing.
    #[tracing::instrument(skip_all, fields(site_id = %stay.site_id))]
    pub async fn open_stay(&self, stay: &NewStay) -> Result<StayRecord, StoreError> {
        let entry = stay.entry.as_ref().map(TapKey::columns).transpose()?;
        let (terminal, epoch, seq) = match entry {
            Some((t, e, s)) => (Some(t), Some(e), Some(s)),
            None => (None, None, None),
        };
        let entered_at = stay.entered_at.trunc_subsecs(6);
        let inserted = sqlx::query(&format!(
            "INSERT INTO parking.stay (stay_id, site_id, vehicle_class, account_id, medium_kind, plate, \
                 tariff_valid_from, status, entry_terminal_id, entry_boot_epoch, entry_seq, \
                 entry_gate_id, entered_at, entry_source, created_at, updated_at) \
             SELECT $1, $2, $3, $4, $5, $6, tv.valid_from, 'open', $7, $8, $9, $10, $11, $12, now(), now() \
             FROM parking.tariff_version tv \
             WHERE tv.site_id = $2 AND tv.vehicle_class = $3 AND tv.valid_from <= $11 \
             ORDER BY tv.valid_from DESC LIMIT 1 \
             ON CONFLICT (entry_terminal_id, entry_boot_epoch, entry_seq) DO NOTHING \
             RETURNING {STAY_COLUMNS}"
        ))
        .bind(stay.stay_id)
        .bind(&stay.site_id)
        .bind(&stay.vehicle_class)
        .bind(stay.account_id.as_uuid())
        .bind(&stay.medium_kind)
        .bind(&stay.plate)
        .bind(&terminal)
        .bind(epoch)
        .bind(seq)
        .bind(&stay.entry_gate_id)
        .bind(entered_at)
        .bind(stay.entry_source.as_str())
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = inserted {
            return stay_from(&row);
        }
        if let (Some(terminal), Some(epoch), Some(seq)) = (terminal, epoch, seq) {
            let existing = sqlx::query(&format!(
                "SELECT {STAY_COLUMNS} FROM parking.stay \
                 WHERE entry_terminal_id = $1 AND entry_boot_epoch = $2 AND entry_seq = $3"
            ))
            .bind(terminal)
            .bind(epoch)
            .bind(seq)
            .fetch_optional(&self.pool)
            .await?;
            if let Some(row) = existing {
                return stay_from(&row);
            }
        }
        // Nothing inserted and no stay of this tap: no tariff version covers
        // the entry time.
        Err(StoreError::Constraint {
            constraint: "stay_tariff_fkey".into(),
        })
    }

    /// Closes the account's open stay at `site_id`. Idempotent on the exit
    /// tap: a repeat returns the stay that tap closed. `Ok(None)` when there
    /// is no open stay there and the tap closed none.
    ///
    /// # Errors
    /// The database failing, or a value a constraint refuses.
    #[tracing::instrument(skip_all, fields(site_id = %close.site_id))]
    pub async fn close_stay(&self, close: &CloseStay) -> Result<Option<StayRecord>, StoreError> {
        let exit = close.exit.as_ref().map(TapKey::columns).transpose()?;
        let (terminal, epoch, seq) = match exit {
            Some((t, e, s)) => (Some(t), Some(e), Some(s)),
            None => (None, None, None),
        };
        if let (Some(terminal), Some(epoch), Some(seq)) = (&terminal, epoch, seq) {
            let existing = sqlx::query(&format!(
                "SELECT {STAY_COLUMNS} FROM parking.stay \
                 WHERE exit_terminal_id = $1 AND exit_boot_epoch = $2 AND exit_seq = $3"
            ))
            .bind(terminal)
            .bind(epoch)
            .bind(seq)
            .fetch_optional(&self.pool)
            .await?;
            if let Some(row) = existing {
                return Ok(Some(stay_from(&row)?));
            }
        }
        let row = sqlx::query(&format!(
            "UPDATE parking.stay SET status = 'closed', exit_terminal_id = $3, exit_boot_epoch = $4, \
                 exit_seq = $5, exit_gate_id = $6, exited_at = GREATEST($7, entered_at), \
                 exit_source = $8, fee_vnd = $9, park_and_ride = $10, lost_ticket_fee_vnd = $11, \
                 permit_id = $12, updated_at = now() \
             WHERE account_id = $1 AND site_id = $2 AND status = 'open' \
             RETURNING {STAY_COLUMNS}"
        ))
        .bind(close.account_id.as_uuid())
        .bind(&close.site_id)
        .bind(&terminal)
        .bind(epoch)
        .bind(seq)
        .bind(&close.exit_gate_id)
        .bind(close.exited_at.trunc_subsecs(6))
        .bind(close.exit_source.as_str())
        .bind(close.fee_vnd)
        .bind(close.park_and_ride)
        .bind(close.lost_ticket_fee_vnd)
        .bind(&close.permit_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(stay_from).transpose()
    }

    /// The stay the exit tap `exit` closed, if any.
    ///
    /// # Errors
    /// The database failing.
    pub async fn stay_closed_by(&self, exit: &TapKey) -> Result<Option<StayRecord>, StoreError> {
        let (terminal, epoch, seq) = exit.columns()?;
        let row = sqlx::query(&format!(
            "SELECT {STAY_COLUMNS} FROM parking.stay \
             WHERE exit_terminal_id = $1 AND exit_boot_epoch = $2 AND exit_seq = $3"
        ))
        .bind(terminal)
        .bind(epoch)
        .bind(seq)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(stay_from).transpose()
    }

    /// A stay by id.
    ///
    /// # Errors
    /// The database failing.
    pub async fn stay(&self, stay_id: Uuid) -> Result<Option<StayRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {STAY_COLUMNS} FROM parking.stay WHERE stay_id = $1"
        ))
        .bind(stay_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(stay_from).transpose()
    }

    /// The account's open stay, if any: what the rider API shows as "parked
    /// now".
    ///
    /// # Errors
    /// The database failing.
    pub async fn current_stay(&self, account: AccountId) -> Result<Option<StayRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {STAY_COLUMNS} FROM parking.stay WHERE account_id = $1 AND status = 'open'"
        ))
        .bind(account.as_uuid())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(stay_from).transpose()
    }

    /// The account's stays, newest entry first, after `cursor` (the last
    /// stay of the previous page), at most `limit` (capped at
    /// [`MAX_STAY_PAGE`]). Only the account's own stays: the rider API
    /// passes the authenticated account.
    ///
    /// # Errors
    /// The database failing.
    pub async fn stay_history(
        &self,
        account: AccountId,
        cursor: Option<&StayCursor>,
        limit: u32,
    ) -> Result<Vec<StayRecord>, StoreError> {
        let limit = i64::from(limit.clamp(1, MAX_STAY_PAGE));
        let rows = sqlx::query(&format!(
            "SELECT {STAY_COLUMNS} FROM parking.stay \
             WHERE account_id = $1 \
               AND ($2::timestamptz IS NULL OR (entered_at, stay_id) < ($2, $3)) \
             ORDER BY entered_at DESC, stay_id DESC LIMIT $4"
        ))
        .bind(account.as_uuid())
        .bind(cursor.map(|c| c.entered_at))
        .bind(cursor.map(|c| c.stay_id))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(stay_from).collect()
    }

    /// The open stay of a vehicle at a site, by canonical plate (the
    /// attendant's lookup for a rider who lost the medium).
    ///
    /// # Errors
    /// The database failing.
    pub async fn open_stay_by_plate(
        &self,
        site_id: &str,
        plate: &str,
    ) -> Result<Option<StayRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {STAY_COLUMNS} FROM parking.stay \
             WHERE site_id = $1 AND plate = $2 AND status = 'open' \
             ORDER BY entered_at DESC LIMIT 1"
        ))
        .bind(site_id)
        .bind(plate)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(stay_from).transpose()
    }

    /// Open stays per (site, class): what the occupancy counters rebuild
    /// from, and what the drift report compares them with.
    ///
    /// # Errors
    /// The database failing.
    pub async fn open_stay_counts(&self) -> Result<Vec<(String, String, u32)>, StoreError> {
        let rows = sqlx::query(
            "SELECT site_id, vehicle_class, count(*)::int AS n FROM parking.stay \
             WHERE status = 'open' GROUP BY site_id, vehicle_class ORDER BY site_id, vehicle_class",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("site_id")?,
                    row.try_get("vehicle_class")?,
                    count_u32(row.try_get("n")?, "open stays")?,
                ))
            })
            .collect()
    }

    /// Flags open stays that entered before `cutoff` and were not flagged
    /// yet (at most [`MAX_OVERSTAY_BATCH`]), and returns them.
    ///
    /// # Errors
    /// The database failing.
    pub async fn flag_overstays(
        &self,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<StayRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "UPDATE parking.stay SET overstay_flagged_at = $2, updated_at = now() \
             WHERE stay_id IN ( \
                 SELECT stay_id FROM parking.stay \
                 WHERE status = 'open' AND entered_at < $1 AND overstay_flagged_at IS NULL \
                 ORDER BY entered_at LIMIT $3 FOR UPDATE SKIP LOCKED) \
             RETURNING {STAY_COLUMNS}"
        ))
        .bind(cutoff)
        .bind(now.trunc_subsecs(6))
        .bind(i64::from(MAX_OVERSTAY_BATCH))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(stay_from).collect()
    }

    /// Every open stay flagged as an overstay, oldest first (the report).
    ///
    /// # Errors
    /// The database failing.
    pub async fn overstays(&self) -> Result<Vec<StayRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {STAY_COLUMNS} FROM parking.stay \
             WHERE status = 'open' AND overstay_flagged_at IS NOT NULL \
             ORDER BY entered_at LIMIT $1"
        ))
        .bind(i64::from(MAX_OVERSTAY_BATCH))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(stay_from).collect()
    }

    /// Records a manual barrier lift.
    ///
    /// # Errors
    /// `Constraint` for an unknown gate or reason; the database failing.
    pub async fn record_lift(&self, lift: &BarrierLift) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO parking.barrier_lift (lift_id, site_id, gate_id, reason, note, \
                 actor_key_id, actor_label, lifted_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(lift.lift_id)
        .bind(&lift.site_id)
        .bind(&lift.gate_id)
        .bind(&lift.reason)
        .bind(&lift.note)
        .bind(lift.actor_key_id)
        .bind(&lift.actor_label)
        .bind(lift.lifted_at.trunc_subsecs(6))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The lifts at a site, newest first (at most [`MAX_STAY_PAGE`]).
    ///
    /// # Errors
    /// The database failing.
    pub async fn lifts(&self, site_id: &str) -> Result<Vec<BarrierLift>, StoreError> {
        let rows = sqlx::query(
            "SELECT lift_id, site_id, gate_id, reason, note, actor_key_id, actor_label, lifted_at \
             FROM parking.barrier_lift WHERE site_id = $1 ORDER BY lifted_at DESC, lift_id LIMIT $2",
        )
        .bind(site_id)
        .bind(i64::from(MAX_STAY_PAGE))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(BarrierLift {
                    lift_id: row.try_get("lift_id")?,
                    site_id: row.try_get("site_id")?,
                    gate_id: row.try_get("gate_id")?,
                    reason: row.try_get("reason")?,
                    note: row.try_get("note")?,
                    actor_key_id: row.try_get("actor_key_id")?,
                    actor_label: row.try_get("actor_label")?,
                    lifted_at: row.try_get("lifted_at")?,
                })
            })
            .collect()
    }

    /// Records an occupancy correction.
    ///
    /// # Errors
    /// `Constraint` for an unknown site or class; the database failing.
    pub async fn record_correction(
        &self,
        correction: &OccupancyCorrection,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO parking.occupancy_correction (correction_id, site_id, vehicle_class, \
                 counted, previous, note, actor_key_id, actor_label, corrected_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(correction.correction_id)
        .bind(&correction.site_id)
        .bind(&correction.vehicle_class)
        .bind(count_i32(correction.counted, "counted")?)
        .bind(
            correction
                .previous
                .map(|p| count_i32(p, "previous"))
                .transpose()?,
        )
        .bind(&correction.note)
        .bind(correction.actor_key_id)
        .bind(&correction.actor_label)
        .bind(correction.corrected_at.trunc_subsecs(6))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The corrections at a site, newest first (at most [`MAX_STAY_PAGE`]).
    ///
    /// # Errors
    /// The database failing.
    pub async fn corrections(&self, site_id: &str) -> Result<Vec<OccupancyCorrection>, StoreError> {
        let rows = sqlx::query(
            "SELECT correction_id, site_id, vehicle_class, counted, previous, note, actor_key_id, \
                 actor_label, corrected_at FROM parking.occupancy_correction \
             WHERE site_id = $1 ORDER BY corrected_at DESC, correction_id LIMIT $2",
        )
        .bind(site_id)
        .bind(i64::from(MAX_STAY_PAGE))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let previous: Option<i32> = row.try_get("previous")?;
                Ok(OccupancyCorrection {
                    correction_id: row.try_get("correction_id")?,
                    site_id: row.try_get("site_id")?,
                    vehicle_class: row.try_get("vehicle_class")?,
                    counted: count_u32(row.try_get("counted")?, "counted")?,
                    previous: previous.map(|p| count_u32(p, "previous")).transpose()?,
                    note: row.try_get("note")?,
                    actor_key_id: row.try_get("actor_key_id")?,
                    actor_label: row.try_get("actor_label")?,
                    corrected_at: row.try_get("corrected_at")?,
                })
            })
            .collect()
    }

    /// Records a gate record that could not be applied; idempotent on its
    /// key.
    ///
    /// # Errors
    /// The database failing.
    pub async fn record_uncollected(&self, record: &Uncollected) -> Result<(), StoreError> {
        let (terminal, epoch, seq) = record.tap.columns()?;
        sqlx::query(
            "INSERT INTO parking.uncollected (terminal_id, boot_epoch, seq, site_id, event_kind, \
                 account_id, reason, device_time, recorded_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (terminal_id, boot_epoch, seq) DO NOTHING",
        )
        .bind(terminal)
        .bind(epoch)
        .bind(seq)
        .bind(&record.site_id)
        .bind(&record.event_kind)
        .bind(record.account_id.map(AccountId::as_uuid))
        .bind(&record.reason)
        .bind(record.device_time.trunc_subsecs(6))
        .bind(record.recorded_at.trunc_subsecs(6))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The uncollected records, newest first (at most [`MAX_OVERSTAY_BATCH`]).
    ///
    /// # Errors
    /// The database failing.
    pub async fn uncollected(&self) -> Result<Vec<Uncollected>, StoreError> {
        let rows = sqlx::query(
            "SELECT terminal_id, boot_epoch, seq, site_id, event_kind, account_id, reason, \
                 device_time, recorded_at FROM parking.uncollected \
             ORDER BY recorded_at DESC, terminal_id, boot_epoch, seq LIMIT $1",
        )
        .bind(i64::from(MAX_OVERSTAY_BATCH))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let epoch: i64 = row.try_get("boot_epoch")?;
                let seq: i64 = row.try_get("seq")?;
                let account: Option<Uuid> = row.try_get("account_id")?;
                Ok(Uncollected {
                    tap: TapKey {
                        terminal_id: row.try_get("terminal_id")?,
                        boot_epoch: u32::try_from(epoch)
                            .map_err(|_| StoreError::Corrupt(format!("boot epoch {epoch}")))?,
                        seq: u64::try_from(seq)
                            .map_err(|_| StoreError::Corrupt(format!("seq {seq}")))?,
                    },
                    site_id: row.try_get("site_id")?,
                    event_kind: row.try_get("event_kind")?,
                    account_id: account.map(account_of).transpose()?,
                    reason: row.try_get("reason")?,
                    device_time: row.try_get("device_time")?,
                    recorded_at: row.try_get("recorded_at")?,
                })
            })
            .collect()
    }
}

impl ParkingStore {
    /// Gate journal records left to parking and not dealt with yet, oldest
    /// first, at most `limit`.
    ///
    /// # Errors
    /// The database failing, or a row that does not decode.
    pub async fn unapplied_gate_records(
        &self,
        limit: u32,
    ) -> Result<Vec<GateJournalRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT j.terminal_id, j.boot_epoch, j.seq, j.record, j.clock_offset_s, j.received_at \
             FROM transit.journal_record j \
             WHERE j.pricing = 'unpriced' \
               AND j.record -> 'event' ->> 'kind' IN ('parking_entry', 'parking_exit') \
               AND NOT EXISTS (SELECT 1 FROM parking.journal_applied a \
                   WHERE a.terminal_id = j.terminal_id AND a.boot_epoch = j.boot_epoch AND a.seq = j.seq) \
             ORDER BY j.received_at, j.terminal_id, j.boot_epoch, j.seq LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let epoch: i64 = row.try_get("boot_epoch")?;
                let seq: i64 = row.try_get("seq")?;
                Ok(GateJournalRecord {
                    tap: TapKey {
                        terminal_id: row.try_get("terminal_id")?,
                        boot_epoch: u32::try_from(epoch)
                            .map_err(|_| StoreError::Corrupt(format!("boot epoch {epoch}")))?,
                        seq: u64::try_from(seq)
                            .map_err(|_| StoreError::Corrupt(format!("seq {seq}")))?,
                    },
                    record: row.try_get("record")?,
                    clock_offset_s: row.try_get("clock_offset_s")?,
                    received_at: row.try_get("received_at")?,
                })
            })
            .collect()
    }

    /// Records what parking made of a gate journal record (once; a repeat
    /// changes nothing), and marks an applied one `applied` in the journal.
    ///
    /// # Errors
    /// The database failing.
    pub async fn mark_gate_record(
        &self,
        tap: &TapKey,
        outcome: JournalOutcome,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (terminal, epoch, seq) = tap.columns()?;
        let now = now.trunc_subsecs(6);
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO parking.journal_applied (terminal_id, boot_epoch, seq, outcome, processed_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (terminal_id, boot_epoch, seq) DO NOTHING",
        )
        .bind(&terminal)
        .bind(epoch)
        .bind(seq)
        .bind(outcome.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if outcome == JournalOutcome::Applied {
            sqlx::query(
                "UPDATE transit.journal_record SET pricing = 'applied', priced_at = $4 \
                 WHERE terminal_id = $1 AND boot_epoch = $2 AND seq = $3 AND pricing = 'unpriced'",
            )
            .bind(&terminal)
            .bind(epoch)
            .bind(seq)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// What parking made of a gate journal record, if anything yet.
    ///
    /// # Errors
    /// The database failing.
    pub async fn gate_record_outcome(&self, tap: &TapKey) -> Result<Option<String>, StoreError> {
        let (terminal, epoch, seq) = tap.columns()?;
        Ok(sqlx::query_scalar(
            "SELECT outcome FROM parking.journal_applied WHERE terminal_id = $1 AND boot_epoch = $2 AND seq = $3",
        )
        .bind(terminal)
        .bind(epoch)
        .bind(seq)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Whether the account has a stay at `site_id` opened by the
    /// exit-without-entry rule whose exit is at or after `at`: an entry
    /// record at `at` arriving now belongs to that already-charged stay.
    ///
    /// # Errors
    /// The database failing.
    pub async fn charged_without_entry_after(
        &self,
        account: AccountId,
        site_id: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let found: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM parking.stay WHERE account_id = $1 AND site_id = $2 \
               AND entry_source = 'exit_without_entry' AND exited_at >= $3 LIMIT 1",
        )
        .bind(account.as_uuid())
        .bind(site_id)
        .bind(at)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }
}

/// Records `tariff` as a new version from `now` unless the version in force
/// says the same. Returns whether a version was added.
async fn seed_tariff(
    tx: &mut Transaction<'_, Postgres>,
    site_id: &str,
    tariff: &TariffSeed,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let current = sqlx::query(
        "SELECT engine_tariff_id, lost_ticket_fee_vnd, fee_description FROM parking.tariff_version \
         WHERE site_id = $1 AND vehicle_class = $2 AND valid_from <= $3 \
         ORDER BY valid_from DESC LIMIT 1",
    )
    .bind(site_id)
    .bind(&tariff.vehicle_class)
    .bind(now)
    .fetch_optional(&mut **tx)
    .await?;
    let valid_from = match current {
        Some(row) => {
            let same = row.try_get::<String, _>("engine_tariff_id")? == tariff.engine_tariff_id
                && row.try_get::<i64, _>("lost_ticket_fee_vnd")? == tariff.lost_ticket_fee_vnd
                && row.try_get::<String, _>("fee_description")? == tariff.fee_description;
            if same {
                return Ok(false);
            }
            now
        }
        None => DateTime::from_timestamp(FIRST_TARIFF_VALID_FROM_S, 0).unwrap_or(now),
    };
    let done = sqlx::query(
        "INSERT INTO parking.tariff_version (site_id, vehicle_class, valid_from, engine_tariff_id, \
             lost_ticket_fee_vnd, fee_description, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (site_id, vehicle_class, valid_from) DO NOTHING",
    )
    .bind(site_id)
    .bind(&tariff.vehicle_class)
    .bind(valid_from)
    .bind(&tariff.engine_tariff_id)
    .bind(tariff.lost_ticket_fee_vnd)
    .bind(&tariff.fee_description)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() > 0)
}

const RIGHT_COLUMNS: &str = "r.assigned_right_id, r.right_spec_id, s.kind, s.site_id, \
    s.vehicle_class, r.account_id, r.plate, r.valid_from, r.valid_until, r.status, r.event_key";

fn right_from(row: &PgRow) -> Result<RightRecord, StoreError> {
    let account: Option<Uuid> = row.try_get("account_id")?;
    Ok(RightRecord {
        assigned_right_id: row.try_get("assigned_right_id")?,
        right_spec_id: row.try_get("right_spec_id")?,
        kind: row.try_get("kind")?,
        site_id: row.try_get("site_id")?,
        vehicle_class: row.try_get("vehicle_class")?,
        account_id: account.map(account_of).transpose()?,
        plate: row.try_get("plate")?,
        valid_from: row.try_get("valid_from")?,
        valid_until: row.try_get("valid_until")?,
        status: row.try_get("status")?,
        event_key: row.try_get("event_key")?,
    })
}

impl ParkingStore {
    /// Records the rights one paying fare event granted, in one
    /// transaction, and returns every right of that event. Idempotent on
    /// (event, right spec): a retry records nothing new and returns the
    /// first rights (with their first ids).
    ///
    /// # Errors
    /// A right spec that does not exist, a value a constraint refuses, or
    /// the database failing.
    #[tracing::instrument(skip_all, fields(rights = rights.len()))]
    pub async fn grant_rights(&self, rights: &[NewRight]) -> Result<Vec<RightRecord>, StoreError> {
        let mut tx = self.pool.begin().await?;
        for right in rights {
            sqlx::query(
                "INSERT INTO parking.assigned_right (assigned_right_id, right_spec_id, account_id, \
                     plate, valid_from, valid_until, status, created_at, event_key) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $8) \
                 ON CONFLICT (event_key, right_spec_id) DO NOTHING",
            )
            .bind(right.assigned_right_id)
            .bind(&right.right_spec_id)
            .bind(right.account_id.as_uuid())
            .bind(&right.plate)
            .bind(right.valid_from.trunc_subsecs(6))
            .bind(right.valid_until.trunc_subsecs(6))
            .bind(right.created_at.trunc_subsecs(6))
            .bind(&right.event_key)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        match rights.first() {
            Some(first) => self.rights_of_event(&first.event_key).await,
            None => Ok(Vec::new()),
        }
    }

    /// The rights the fare event `event_key` paid for, by site.
    ///
    /// # Errors
    /// The database failing, or a row that does not decode.
    pub async fn rights_of_event(&self, event_key: &str) -> Result<Vec<RightRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {RIGHT_COLUMNS} FROM parking.assigned_right r \
             JOIN parking.right_spec s ON s.right_spec_id = r.right_spec_id \
             WHERE r.event_key = $1 ORDER BY s.site_id, r.right_spec_id"
        ))
        .bind(event_key)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(right_from).collect()
    }

    /// An account's rights still valid at `now` or later, by start of
    /// validity, at most [`MAX_STAY_PAGE`].
    ///
    /// # Errors
    /// The database failing, or a row that does not decode.
    pub async fn account_rights(
        &self,
        account: AccountId,
        now: DateTime<Utc>,
    ) -> Result<Vec<RightRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {RIGHT_COLUMNS} FROM parking.assigned_right r \
             JOIN parking.right_spec s ON s.right_spec_id = r.right_spec_id \
             WHERE r.account_id = $1 AND r.valid_until > $2 \
             ORDER BY r.valid_from, s.site_id, r.assigned_right_id LIMIT $3"
        ))
        .bind(account.as_uuid())
        .bind(now.trunc_subsecs(6))
        .bind(i64::from(MAX_STAY_PAGE))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(right_from).collect()
    }
}
