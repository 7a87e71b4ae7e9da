//! What settlement reads from the fare configuration beyond the engine:
//! who owns each pass (the operator that receives the price of a pass that
//! was never used).
//!
//! **Rule:** a pass's owner is the GTFS agency of the first network (in id
//! order) it covers, through `route_networks.txt` and `routes.txt`, its id
//! upper-cased into an operator code; a parking permit (a pass that covers
//! lots and no network) belongs to the operator of its first lot (in id
//! order), from `oneticket.toml`'s `parking.lots`. For `hcmc` every metro
//! pass covers `metro_l1`, whose route `L1` is run by `hurc1`: owner
//! `HURC1`; the motorbike permit's lots are `hurc1`'s, the car permit's
//! `d1_parking`'s. Deriving it from the configuration keeps it data, like
//! every other fare rule.

use std::collections::BTreeMap;

use fares::engine::state::PassIdx;
use fares::engine::{EXTENSIONS_FILE, Engine, Extensions};
use ledger::OperatorId;

/// Why pass owners cannot be derived.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A file the rule needs is missing.
    #[error("the fare configuration has no {0}")]
    MissingFile(&'static str),
    /// A file does not parse.
    #[error("{file}: {reason}")]
    Unreadable {
        /// The file.
        file: &'static str,
        /// Why.
        reason: String,
    },
    /// A pass whose networks and lots lead to no operator.
    #[error("pass {0} covers no network with a route and an agency, and no lot")]
    NoOwner(String),
}

fn csv_rows(
    files: &BTreeMap<String, String>,
    file: &'static str,
    columns: [&str; 2],
) -> Result<Vec<(String, String)>, ConfigError> {
    let text = files.get(file).ok_or(ConfigError::MissingFile(file))?;
    let unreadable = |reason: String| ConfigError::Unreadable { file, reason };
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| unreadable(e.to_string()))?
        .clone();
    let index = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim_start_matches('\u{feff}') == name)
            .ok_or_else(|| unreadable(format!("no column {name}")))
    };
    let (a, b) = (index(columns[0])?, index(columns[1])?);
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| unreadable(e.to_string()))?;
        if let (Some(x), Some(y)) = (record.get(a), record.get(b)) {
            rows.push((x.to_owned(), y.to_owned()));
        }
    }
    Ok(rows)
}

/// The owner of every pass of `engine`, derived from the configuration's
/// `files` (see the module docs).
///
/// # Errors
/// A missing or unreadable file, or a pass with no owner.
pub fn pass_owners(
    engine: &Engine,
    files: &BTreeMap<String, String>,
) -> Result<BTreeMap<PassIdx, OperatorId>, ConfigError> {
    let toml = files
        .get(EXTENSIONS_FILE)
        .ok_or(ConfigError::MissingFile("oneticket.toml"))?;
    let extensions =
        Extensions::from_toml(EXTENSIONS_FILE, toml).map_err(|e| ConfigError::Unreadable {
            file: "oneticket.toml",
            reason: e.to_string(),
        })?;
    let agency_of_route: BTreeMap<String, String> =
        csv_rows(files, "routes.txt", ["route_id", "agency_id"])?
            .into_iter()
            .collect();
    let mut agency_of_network: BTreeMap<String, String> = BTreeMap::new();
    for (network, route) in csv_rows(files, "route_networks.txt", ["network_id", "route_id"])? {
        if let Some(agency) = agency_of_route.get(&route) {
            agency_of_network
                .entry(network)
                .or_insert_with(|| agency.clone());
        }
    }
    let mut owners = BTreeMap::new();
    for pass in &extensions.passes {
        let Some(idx) = engine.pass(&pass.id) else {
            continue;
        };
        let mut networks = pass.covers_networks.clone();
        networks.sort();
        let mut lots = pass.covers_lots.clone();
        lots.sort();
        let lot_operators = lots.iter().filter_map(|id| {
            extensions
                .parking
                .lots
                .iter()
                .find(|lot| &lot.id == id)
                .map(|lot| &lot.operator_id)
        });
        let owner = networks
            .iter()
            .filter_map(|n| agency_of_network.get(n))
            .chain(lot_operators)
            .find_map(|operator| OperatorId::parse(&operator.to_ascii_uppercase()).ok())
            .ok_or_else(|| ConfigError::NoOwner(pass.id.clone()))?;
        owners.insert(idx, owner);
    }
    Ok(owners)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fares::engine::hcmc_files;

    #[test]
    fn hcmc_passes_belong_to_the_metro_operator() {
        let engine = Engine::hcmc().unwrap();
        let owners = pass_owners(&engine, &hcmc_files()).unwrap();
        let check = |pass: &str, expected: &str| {
            let idx = engine.pass(pass).unwrap();
            assert_eq!(
                owners.get(&idx).map(OperatorId::as_str),
                Some(expected),
                "{pass}"
            );
        };
        check("metro_day", "HURC1");
        check("metro_3day", "HURC1");
        check("metro_month", "HURC1");
        check("parking_month_motorbike", "HURC1");
        check("parking_month_car", "D1_PARKING");
        assert_eq!(owners.len(), 5);
    }

    #[test]
    fn a_pass_without_a_route_has_no_owner() {
        let engine = Engine::hcmc().unwrap();
        let mut files = hcmc_files();
        files.insert(
            "route_networks.txt".into(),
            "network_id,route_id\nbus_le15,01\n".into(),
        );
        assert_eq!(
            pass_owners(&engine, &files),
            Err(ConfigError::NoOwner("metro_3day".into()))
        );
        files.remove("routes.txt");
        assert_eq!(
            pass_owners(&engine, &files),
            Err(ConfigError::MissingFile("routes.txt"))
        );
    }
}
