//! The fare configuration a projection prices with: the engine, a
//! fingerprint of its files (stamped on every state and record), and the
//! category that prices riders whose own category is not verified.

use std::collections::BTreeMap;

use fares::engine::Engine;
use fares::engine::state::CategoryIdx;
use ring::digest;

use crate::ProjectionError;

/// Hex digits kept of the configuration's SHA-256: 64 bits tell
/// configurations apart with no realistic chance of a collision and keep
/// every stored state short.
pub const CONFIG_ID_HEX_LEN: usize = 16;

/// The rider category that prices an account whose category is pending or
/// rejected: the HCMC feed's default fare category (`rider_categories.txt`,
/// `is_default_fare_category = 1`), which the engine does not expose.
pub const DEFAULT_CATEGORY_ID: &str = "adult";

/// A fingerprint of a fare configuration.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConfigId(String);

impl ConfigId {
    /// The fingerprint of a configuration's files (name → content), as
    /// `Engine::from_files` takes them: SHA-256 over every name and content,
    /// length-prefixed, in name order.
    #[must_use]
    pub fn of_files(files: &BTreeMap<String, String>) -> ConfigId {
        let mut context = digest::Context::new(&digest::SHA256);
        for (name, text) in files {
            for part in [name.as_bytes(), text.as_bytes()] {
                context.update(&u64::try_from(part.len()).unwrap_or(u64::MAX).to_be_bytes());
                context.update(part);
            }
        }
        let hex = hex::encode(context.finish());
        ConfigId(hex.chars().take(CONFIG_ID_HEX_LEN).collect())
    }

    /// An id given as text (tests, tools). `|` is replaced: it separates
    /// the fields of a stored state.
    #[must_use]
    pub fn from_text(text: &str) -> ConfigId {
        ConfigId(text.replace('|', "_"))
    }

    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An engine with its fingerprint.
#[derive(Debug)]
pub struct FareSetup {
    engine: Engine,
    config_id: ConfigId,
    default_category: CategoryIdx,
}

impl FareSetup {
    /// Wraps an engine built from files fingerprinted as `config_id`.
    ///
    /// # Errors
    /// The configuration has no [`DEFAULT_CATEGORY_ID`] category.
    pub fn new(engine: Engine, config_id: ConfigId) -> Result<FareSetup, ProjectionError> {
        let default_category = engine
            .category(DEFAULT_CATEGORY_ID)
            .ok_or(ProjectionError::UnknownId("default category"))?;
        Ok(FareSetup {
            engine,
            config_id,
            default_category,
        })
    }

    /// The shipped HCMC configuration.
    ///
    /// # Errors
    /// Only if the shipped files are broken.
    pub fn hcmc() -> Result<FareSetup, ProjectionError> {
        let files = fares::engine::hcmc_files();
        let engine = Engine::from_files(&files)
            .map_err(|e| ProjectionError::Corrupt(format!("hcmc configuration: {e}")))?;
        FareSetup::new(engine, ConfigId::of_files(&files))
    }

    /// The engine.
    #[must_use]
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The fingerprint.
    #[must_use]
    pub fn config_id(&self) -> &ConfigId {
        &self.config_id
    }

    /// The category of an account: its own when verified and known to this
    /// configuration, else the default.
    #[must_use]
    pub fn category_for(&self, category_id: &str, verified: Verification) -> CategoryIdx {
        match verified {
            Verification::Verified => self
                .engine
                .category(category_id)
                .unwrap_or(self.default_category),
            Verification::Unverified => self.default_category,
        }
    }
}

/// Whether an account's category has been checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verification {
    /// Checked: the category applies.
    Verified,
    /// Pending or rejected: the default category applies.
    Unverified,
}
