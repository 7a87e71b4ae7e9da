//! The `hcmc` configuration shipped in the repository (`config/hcmc/`),
//! embedded at build time so the CLI's default needs no directory and the
//! tests check the very files that ship.

use std::collections::BTreeMap;

use super::compiled::Engine;
use super::config::ConfigErrors;

/// Every file of `config/hcmc/`, by name.
pub const HCMC_FILES: [(&str, &str); 13] = [
    (
        "oneticket.toml",
        include_str!("../../../../config/hcmc/oneticket.toml"),
    ),
    (
        "agency.txt",
        include_str!("../../../../config/hcmc/agency.txt"),
    ),
    (
        "routes.txt",
        include_str!("../../../../config/hcmc/routes.txt"),
    ),
    (
        "networks.txt",
        include_str!("../../../../config/hcmc/networks.txt"),
    ),
    (
        "route_networks.txt",
        include_str!("../../../../config/hcmc/route_networks.txt"),
    ),
    (
        "stops.txt",
        include_str!("../../../../config/hcmc/stops.txt"),
    ),
    (
        "areas.txt",
        include_str!("../../../../config/hcmc/areas.txt"),
    ),
    (
        "stop_areas.txt",
        include_str!("../../../../config/hcmc/stop_areas.txt"),
    ),
    (
        "rider_categories.txt",
        include_str!("../../../../config/hcmc/rider_categories.txt"),
    ),
    (
        "fare_media.txt",
        include_str!("../../../../config/hcmc/fare_media.txt"),
    ),
    (
        "fare_products.txt",
        include_str!("../../../../config/hcmc/fare_products.txt"),
    ),
    (
        "fare_leg_rules.txt",
        include_str!("../../../../config/hcmc/fare_leg_rules.txt"),
    ),
    (
        "fare_transfer_rules.txt",
        include_str!("../../../../config/hcmc/fare_transfer_rules.txt"),
    ),
];

/// The `hcmc` files as the map [`Engine::from_files`] takes.
#[must_use]
pub fn hcmc_files() -> BTreeMap<String, String> {
    HCMC_FILES
        .iter()
        .map(|(name, text)| ((*name).to_owned(), (*text).to_owned()))
        .collect()
}

impl Engine {
    /// The engine of the shipped `hcmc` configuration.
    ///
    /// # Errors
    /// Only if the shipped files are broken (a test guards against it).
    pub fn hcmc() -> Result<Engine, ConfigErrors> {
        Engine::from_files(&hcmc_files())
    }
}
