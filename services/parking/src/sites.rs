//! The lots the service runs: the fare configuration's lots joined with the
//! site data file (location, zones, gates), checked once at start-up,
//! turned into the Postgres seed and the in-memory lot table the gates
//! use; and the configuration's monthly permits (passes that cover lots).
//!
//! The fare configuration is the source of truth for what prices and
//! bounds a lot (id, operator, vehicle class, capacity, tariff and its
//! lost-ticket fee, park-and-ride station, the permits that cover it); the
//! site data file adds what the engine has no words for. A
//! lot missing from either side, a gate of an unknown direction, or a class
//! the gates cannot report is a start-up error listing every problem.

use std::collections::BTreeMap;

use card_protocol::messages::VehicleClass;
use fares::engine::Engine;
use fares::engine::config::{Extensions, TariffKind};
use fares::engine::state::{LotIdx, PassIdx};
use ledger::Money;
use projection::setup::DEFAULT_CATEGORY_ID;
use serde::Deserialize;
use store_pg::parking::{GateSeed, PermitSeed, SiteSeed, TariffSeed, ZoneSeed};
use store_redis::KeyPrefix;
use store_redis::occupancy::LotKeys;

/// The HCMC site data, shipped with the service.
pub const HCMC_SITES_TOML: &str = include_str!("../data/hcmc_sites.toml");

/// Most sites one file may describe: far above a city's gated lots, and it
/// bounds the start-up work and the open-data page.
pub const MAX_SITES: usize = 1_000;

/// Seconds per hour, for tariff texts.
const SECONDS_PER_HOUR: i64 = 3_600;
/// Seconds per minute, for tariff texts.
const SECONDS_PER_MINUTE: i64 = 60;

/// The site data file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteData {
    /// Operator id → display name.
    pub operators: BTreeMap<String, String>,
    /// The sites.
    #[serde(rename = "site")]
    pub sites: Vec<SiteEntry>,
}

/// One site of the data file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteEntry {
    /// = the fare configuration's lot id.
    pub site_id: String,
    /// ParkAPI `ParkingSiteType`.
    pub site_type: String,
    /// Latitude, decimal text.
    pub lat: String,
    /// Longitude, decimal text.
    pub lon: String,
    /// Postal address.
    pub address: Option<String>,
    /// OSM `opening_hours`.
    pub opening_hours: String,
    /// A page for people.
    pub public_url: Option<String>,
    /// Zones.
    pub zones: Vec<ZoneEntry>,
    /// Gates.
    pub gates: Vec<GateEntry>,
}

/// A zone of the data file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneEntry {
    /// Zone id.
    pub zone_id: String,
    /// Display name.
    pub name: String,
    /// Bays.
    pub capacity: u32,
}

/// A gate of the data file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateEntry {
    /// Gate id.
    pub gate_id: String,
    /// `entry` or `exit`.
    pub direction: String,
    /// The zone it serves.
    pub zone_id: Option<String>,
}

/// Why the lots cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum SitesError {
    /// The data file does not parse.
    #[error("the site data file does not parse: {0}")]
    Parse(String),
    /// The data and the fare configuration disagree.
    #[error("the site data does not fit the fare configuration: {}", .0.join("; "))]
    Mismatch(Vec<String>),
}

/// One lot as the gates see it.
#[derive(Clone, Debug)]
pub struct Lot {
    /// The lot (= site) id.
    pub lot_id: String,
    /// Its engine index.
    pub idx: LotIdx,
    /// Bays (the engine's, which the counter is bounded by).
    pub capacity: u32,
    /// The vehicle class it takes, as the gates report it.
    pub vehicle_class: VehicleClass,
    /// The class id of the configuration (`motorbike`).
    pub class_id: String,
    /// Its operator.
    pub operator_id: String,
    /// Its park-and-ride station.
    pub linked_station: Option<String>,
    /// Its Redis keys.
    pub keys: LotKeys,
    /// Gate id → direction is entry.
    pub gates: BTreeMap<String, bool>,
    /// The lost-ticket fee (the engine's, of the lot's tariff).
    pub lost_ticket_fee: Money,
    /// The engine's tariff of the lot (to tell a park-and-ride fee).
    pub tariff: TariffKind,
    /// Its grace, seconds.
    pub grace_s: i64,
}

/// A monthly permit of the fare configuration: a pass that covers lots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Permit {
    /// The pass product id.
    pub product_id: String,
    /// Its engine index.
    pub idx: PassIdx,
    /// Display name.
    pub name: String,
    /// Service days of validity, from the day of purchase.
    pub validity_days: u16,
    /// The lots it covers, in id order.
    pub lot_ids: Vec<String>,
    /// Price per rider category id.
    pub price_by_category: BTreeMap<String, Money>,
}

/// The lot table and the seed, built together so they agree.
#[derive(Clone, Debug)]
pub struct Lots {
    lots: BTreeMap<String, Lot>,
    seeds: Vec<SiteSeed>,
    permits: BTreeMap<String, Permit>,
}

impl Lots {
    /// Joins the fare configuration's lots with the site data.
    ///
    /// # Errors
    /// Every disagreement, in one [`SitesError::Mismatch`].
    pub fn build(
        engine: &Engine,
        extensions: &Extensions,
        data: &SiteData,
        prefix: &KeyPrefix,
    ) -> Result<Lots, SitesError> {
        let mut problems = Vec::new();
        if data.sites.len() > MAX_SITES {
            problems.push(format!("more than {MAX_SITES} sites"));
        }
        let parking = &extensions.parking;
        let mut lots = BTreeMap::new();
        let mut seeds = Vec::new();
        for lot in &parking.lots {
            let Some(site) = data.sites.iter().find(|s| s.site_id == lot.id) else {
                problems.push(format!("lot {} has no site data", lot.id));
                continue;
            };
            let Some(idx) = engine.lot(&lot.id) else {
                problems.push(format!("lot {} is not in the engine", lot.id));
                continue;
            };
            let Some(vehicle_class) = wire_class(&lot.vehicle_class) else {
                problems.push(format!(
                    "lot {}: vehicle class {} is not one a gate reports",
                    lot.id, lot.vehicle_class
                ));
                continue;
            };
            let Some(tariff) = parking.tariffs.iter().find(|t| t.id == lot.tariff) else {
                problems.push(format!("lot {}: tariff {} missing", lot.id, lot.tariff));
                continue;
            };
            let Some(operator_name) = data.operators.get(&lot.operator_id) else {
                problems.push(format!(
                    "operator {} has no name in the site data",
                    lot.operator_id
                ));
                continue;
            };
            let keys = match LotKeys::new(prefix, &lot.id) {
                Ok(keys) => keys,
                Err(error) => {
                    problems.push(format!("lot {}: {error}", lot.id));
                    continue;
                }
            };
            let mut gates = BTreeMap::new();
            for gate in &site.gates {
                let entry = match gate.direction.as_str() {
                    "entry" => true,
                    "exit" => false,
                    other => {
                        problems.push(format!(
                            "lot {} gate {}: direction {other}",
                            lot.id, gate.gate_id
                        ));
                        continue;
                    }
                };
                if gates.insert(gate.gate_id.clone(), entry).is_some() {
                    problems.push(format!("lot {} gate {} listed twice", lot.id, gate.gate_id));
                }
            }
            let permits: Vec<PermitSeed> = extensions
                .passes
                .iter()
                .filter(|pass| pass.covers_lots.contains(&lot.id))
                .map(|pass| PermitSeed {
                    product_id: pass.id.clone(),
                    vehicle_class: lot.vehicle_class.clone(),
                    description: pass.name.clone(),
                    price_vnd: pass
                        .price_by_category
                        .get(DEFAULT_CATEGORY_ID)
                        .or_else(|| pass.price_by_category.values().max())
                        .map_or(0, |price| price.as_vnd()),
                })
                .collect();
            seeds.push(SiteSeed {
                site_id: lot.id.clone(),
                operator_id: lot.operator_id.clone(),
                operator_name: operator_name.clone(),
                name: lot.name.clone(),
                site_type: site.site_type.clone(),
                lat: site.lat.clone(),
                lon: site.lon.clone(),
                address: site.address.clone(),
                opening_hours: site.opening_hours.clone(),
                linked_station_id: lot.linked_station.clone(),
                public_url: site.public_url.clone(),
                capacities: vec![(lot.vehicle_class.clone(), lot.capacity)],
                zones: site
                    .zones
                    .iter()
                    .map(|z| ZoneSeed {
                        zone_id: z.zone_id.clone(),
                        name: z.name.clone(),
                        vehicle_class: lot.vehicle_class.clone(),
                        capacity: z.capacity,
                    })
                    .collect(),
                gates: site
                    .gates
                    .iter()
                    .map(|g| GateSeed {
                        gate_id: g.gate_id.clone(),
                        zone_id: g.zone_id.clone(),
                        direction: g.direction.clone(),
                        vehicle_class: lot.vehicle_class.clone(),
                    })
                    .collect(),
                tariffs: vec![TariffSeed {
                    vehicle_class: lot.vehicle_class.clone(),
                    engine_tariff_id: tariff.id.clone(),
                    lost_ticket_fee_vnd: tariff.lost_ticket.as_vnd(),
                    fee_description: fee_description(
                        tariff.kind,
                        tariff.grace_s,
                        lot.linked_station.as_deref(),
                    ),
                }],
                permits,
            });
            lots.insert(
                lot.id.clone(),
                Lot {
                    lot_id: lot.id.clone(),
                    idx,
                    capacity: lot.capacity,
                    vehicle_class,
                    class_id: lot.vehicle_class.clone(),
                    operator_id: lot.operator_id.clone(),
                    linked_station: lot.linked_station.clone(),
                    keys,
                    gates,
                    lost_ticket_fee: tariff.lost_ticket,
                    tariff: tariff.kind,
                    grace_s: tariff.grace_s,
                },
            );
        }
        for site in &data.sites {
            if !parking.lots.iter().any(|l| l.id == site.site_id) {
                problems.push(format!(
                    "site {} is not a lot of the fare configuration",
                    site.site_id
                ));
            }
        }
        let mut permits = BTreeMap::new();
        for pass in extensions
            .passes
            .iter()
            .filter(|p| !p.covers_lots.is_empty())
        {
            let Some(idx) = engine.pass(&pass.id) else {
                problems.push(format!("permit {} is not in the engine", pass.id));
                continue;
            };
            let mut lot_ids = pass.covers_lots.clone();
            lot_ids.sort();
            permits.insert(
                pass.id.clone(),
                Permit {
                    product_id: pass.id.clone(),
                    idx,
                    name: pass.name.clone(),
                    validity_days: pass.validity_days,
                    lot_ids,
                    price_by_category: pass.price_by_category.clone(),
                },
            );
        }
        if problems.is_empty() {
            Ok(Lots {
                lots,
                seeds,
                permits,
            })
        } else {
            Err(SitesError::Mismatch(problems))
        }
    }

    /// The lots of the shipped `hcmc` fare configuration with the shipped
    /// site data ([`HCMC_SITES_TOML`]).
    ///
    /// # Errors
    /// The shipped files disagree (a test guards against it).
    pub fn hcmc(engine: &Engine, prefix: &KeyPrefix) -> Result<Lots, SitesError> {
        let files = fares::engine::hcmc_files();
        let text = files.get(fares::engine::EXTENSIONS_FILE).ok_or_else(|| {
            SitesError::Parse("the hcmc configuration has no extensions file".into())
        })?;
        let extensions = Extensions::from_toml(fares::engine::EXTENSIONS_FILE, text)
            .map_err(|e| SitesError::Parse(e.to_string()))?;
        Lots::build(
            engine,
            &extensions,
            &parse_site_data(HCMC_SITES_TOML)?,
            prefix,
        )
    }

    /// The lot with this id.
    #[must_use]
    pub fn get(&self, lot_id: &str) -> Option<&Lot> {
        self.lots.get(lot_id)
    }

    /// Every lot, in id order.
    pub fn iter(&self) -> impl Iterator<Item = &Lot> {
        self.lots.values()
    }

    /// What to seed Postgres with.
    #[must_use]
    pub fn seeds(&self) -> &[SiteSeed] {
        &self.seeds
    }

    /// The monthly permit with this product id.
    #[must_use]
    pub fn permit(&self, product_id: &str) -> Option<&Permit> {
        self.permits.get(product_id)
    }

    /// Every monthly permit, in id order.
    pub fn permits(&self) -> impl Iterator<Item = &Permit> {
        self.permits.values()
    }
}

/// Parses a site data file.
///
/// # Errors
/// [`SitesError::Parse`] naming the problem.
pub fn parse_site_data(text: &str) -> Result<SiteData, SitesError> {
    toml::from_str(text).map_err(|e| SitesError::Parse(e.to_string()))
}

/// The wire class of a configuration class id.
fn wire_class(id: &str) -> Option<VehicleClass> {
    serde_json::from_value(serde_json::Value::String(id.to_owned())).ok()
}

/// `4000` → `4,000`.
fn grouped(money: Money) -> String {
    let digits = money.as_vnd().unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if money.is_negative() {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A rider-readable text of a tariff (the ParkAPI `fee_description`),
/// written from the engine's own numbers so it cannot disagree with them.
#[must_use]
pub fn fee_description(kind: TariffKind, grace_s: i64, station: Option<&str>) -> String {
    let grace_min = grace_s / SECONDS_PER_MINUTE;
    let grace = if grace_min > 0 {
        format!("; stays of up to {grace_min} min are free")
    } else {
        String::new()
    };
    match kind {
        TariffKind::PerStartedBlock {
            block_s,
            block,
            park_and_ride_block,
        } => {
            let hours = block_s / SECONDS_PER_HOUR;
            let pnr = match (park_and_ride_block, station) {
                (Some(discounted), Some(station)) => format!(
                    "; {} VND per block with a metro tap-in at {station} during the stay",
                    grouped(discounted)
                ),
                _ => String::new(),
            };
            format!(
                "{} VND per started {hours} h of stay{pnr}{grace}",
                grouped(block)
            )
        }
        TariffKind::HourlyWithBlockMax {
            hour,
            max_block_s,
            max_per_block,
        } => format!(
            "{} VND per started hour, at most {} VND per started {} h{grace}",
            grouped(hour),
            grouped(max_per_block),
            max_block_s / SECONDS_PER_HOUR
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hcmc() -> (Engine, Extensions) {
        let files = fares::engine::hcmc_files();
        let engine = Engine::from_files(&files).expect("the shipped configuration compiles");
        let text = files
            .get(fares::engine::EXTENSIONS_FILE)
            .expect("the shipped configuration has its extensions");
        let extensions = Extensions::from_toml(fares::engine::EXTENSIONS_FILE, text)
            .expect("the shipped extensions load");
        (engine, extensions)
    }

    fn prefix() -> KeyPrefix {
        KeyPrefix::new("ot").expect("valid prefix")
    }

    #[test]
    fn the_shipped_sites_fit_the_shipped_configuration() {
        let (engine, extensions) = hcmc();
        let data = parse_site_data(HCMC_SITES_TOML).expect("the shipped site data parses");
        let lots = Lots::build(&engine, &extensions, &data, &prefix()).expect("they agree");
        let ids: Vec<&str> = lots.iter().map(|l| l.lot_id.as_str()).collect();
        assert_eq!(ids, ["BTH-P", "BXS-P", "D1-CAR", "TDI-P"]);
        let bth = lots.get("BTH-P").expect("listed");
        assert_eq!(
            (
                bth.capacity,
                bth.vehicle_class,
                bth.linked_station.as_deref()
            ),
            (450, VehicleClass::Motorbike, Some("BTH"))
        );
        assert_eq!(
            lots.get("D1-CAR").map(|l| l.vehicle_class),
            Some(VehicleClass::Car)
        );
        assert_eq!(lots.seeds().len(), 4);
        // Lost-ticket fees come from the engine's tariffs.
        assert_eq!(bth.lost_ticket_fee, Money::vnd(8_000));
        assert_eq!(
            lots.get("D1-CAR").map(|l| l.lost_ticket_fee),
            Some(Money::vnd(150_000))
        );
        // Permits: the motorbike permit covers the three metro lots.
        let permits: Vec<(&str, Vec<&str>)> = lots
            .permits()
            .map(|p| {
                (
                    p.product_id.as_str(),
                    p.lot_ids.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            permits,
            [
                ("parking_month_car", vec!["D1-CAR"]),
                ("parking_month_motorbike", vec!["BTH-P", "BXS-P", "TDI-P"]),
            ]
        );
        let seed = |lot: &str| {
            lots.seeds()
                .iter()
                .find(|s| s.site_id == lot)
                .expect("seeded")
                .clone()
        };
        assert_eq!(
            seed("TDI-P").permits,
            [PermitSeed {
                product_id: "parking_month_motorbike".into(),
                vehicle_class: "motorbike".into(),
                description: "Metro station motorbike parks monthly permit".into(),
                price_vnd: 100_000,
            }]
        );
        assert_eq!(seed("D1-CAR").tariffs[0].lost_ticket_fee_vnd, 150_000);
        assert!(
            lots.permit("metro_day").is_none(),
            "transit passes are not permits"
        );
    }

    #[test]
    fn disagreements_are_listed_together() {
        let (engine, extensions) = hcmc();
        let mut data = parse_site_data(HCMC_SITES_TOML).expect("parses");
        data.sites.retain(|s| s.site_id != "TDI-P");
        if let Some(site) = data.sites.first_mut() {
            site.gates[0].direction = "sideways".into();
        }
        data.sites.push(SiteEntry {
            site_id: "NOWHERE".into(),
            ..data.sites[0].clone()
        });
        let error = Lots::build(&engine, &extensions, &data, &prefix()).expect_err("refused");
        let SitesError::Mismatch(problems) = error else {
            panic!("a mismatch, got {error}");
        };
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(parse_site_data("[[site]]\nsite_id = 1").is_err());
    }

    #[test]
    fn fee_texts_come_from_the_engine_numbers() {
        let check = |kind: TariffKind, station: Option<&str>, expected: &str| {
            assert_eq!(fee_description(kind, 600, station), expected);
        };
        check(
            TariffKind::PerStartedBlock {
                block_s: 12 * 3_600,
                block: Money::vnd(4_000),
                park_and_ride_block: Some(Money::vnd(2_000)),
            },
            Some("BTH"),
            "4,000 VND per started 12 h of stay; 2,000 VND per block with a metro tap-in at BTH during the stay; stays of up to 10 min are free",
        );
        check(
            TariffKind::HourlyWithBlockMax {
                hour: Money::vnd(25_000),
                max_block_s: 24 * 3_600,
                max_per_block: Money::vnd(1_150_000),
            },
            None,
            "25,000 VND per started hour, at most 1,150,000 VND per started 24 h; stays of up to 10 min are free",
        );
    }
}
