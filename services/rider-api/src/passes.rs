//! The pass catalogue: the transit pass products of the fare configuration
//! with their names, validity and price per rider category, as riders
//! browse them. Prices come from the same `oneticket.toml` the engine
//! compiled, and the engine itself charges the purchase, so the listing and
//! the charge cannot disagree.
//!
//! Parking permits (passes that cover lots) are not on sale here: the lot
//! office sells them (`services/parking`, `/v1/admin/parking/permits`),
//! which records the right and the vehicle with the sale.

use std::collections::BTreeMap;

use fares::engine::{EXTENSIONS_FILE, Engine, Extensions};
use ledger::Money;

/// One pass product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassOffer {
    /// Product id (`metro_day`).
    pub id: String,
    /// Name for receipts.
    pub name: String,
    /// Service days of validity, starting with the day of purchase.
    pub validity_days: u16,
    /// GTFS networks it covers.
    pub covers_networks: Vec<String>,
    /// Price per rider category id.
    pub price_by_category: BTreeMap<String, Money>,
}

/// Every pass product, by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassCatalog {
    offers: BTreeMap<String, PassOffer>,
}

/// The configuration's extensions file is missing or does not parse.
#[derive(Debug, thiserror::Error)]
#[error("the fare configuration's {EXTENSIONS_FILE} is missing or invalid: {0}")]
pub struct CatalogError(String);

impl PassCatalog {
    /// The passes of a configuration's files that `engine` (compiled from
    /// the same files) knows.
    ///
    /// # Errors
    /// When the extensions file is missing or invalid.
    pub fn from_files(
        files: &BTreeMap<String, String>,
        engine: &Engine,
    ) -> Result<PassCatalog, CatalogError> {
        let text = files
            .get(EXTENSIONS_FILE)
            .ok_or_else(|| CatalogError("missing".to_owned()))?;
        let extensions = Extensions::from_toml(EXTENSIONS_FILE, text)
            .map_err(|e| CatalogError(e.to_string()))?;
        let offers = extensions
            .passes
            .into_iter()
            .filter(|pass| engine.pass(&pass.id).is_some() && pass.covers_lots.is_empty())
            .map(|pass| {
                (
                    pass.id.clone(),
                    PassOffer {
                        id: pass.id,
                        name: pass.name,
                        validity_days: pass.validity_days,
                        covers_networks: pass.covers_networks,
                        price_by_category: pass.price_by_category,
                    },
                )
            })
            .collect();
        Ok(PassCatalog { offers })
    }

    /// The shipped HCMC configuration's passes.
    ///
    /// # Errors
    /// Only if the shipped files are broken.
    pub fn hcmc(engine: &Engine) -> Result<PassCatalog, CatalogError> {
        PassCatalog::from_files(&fares::engine::hcmc_files(), engine)
    }

    /// Every offer, by id.
    pub fn offers(&self) -> impl Iterator<Item = &PassOffer> {
        self.offers.values()
    }

    /// One offer.
    #[must_use]
    pub fn offer(&self, id: &str) -> Option<&PassOffer> {
        self.offers.get(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hcmc_passes_are_listed_with_every_category_price() {
        let engine = Engine::hcmc().expect("the shipped configuration compiles");
        let catalog = PassCatalog::hcmc(&engine).expect("the shipped catalogue parses");
        let ids: Vec<&str> = catalog.offers().map(|o| o.id.as_str()).collect();
        assert_eq!(ids, ["metro_3day", "metro_day", "metro_month"]);
        let month = catalog.offer("metro_month").expect("listed");
        assert_eq!(month.validity_days, 30);
        assert_eq!(
            month.price_by_category.get("student"),
            Some(&Money::vnd(150_000))
        );
        assert_eq!(
            month.price_by_category.get("adult"),
            Some(&Money::vnd(300_000))
        );
        assert_eq!(catalog.offer("metro_week"), None);
        // Parking permits are sold at the lot office, not here.
        assert_eq!(catalog.offer("parking_month_motorbike"), None);
    }
}
