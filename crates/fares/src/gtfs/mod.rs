//! GTFS-Fares v2: model, reader, validation, leg matching, transfers and quotes.
//!
//! - [`Feed::load`] reads the text of a feed's files into a checked [`Feed`],
//!   or reports every error with file, line, field and a stable code
//!   ([`FeedErrors`]).
//! - [`Feed::leg_fares`] matches one leg against fare_leg_rules.txt and
//!   returns the fare products the rider can use (the fare engine's entry).
//! - [`Feed::quote`] / [`quote_json`] price a whole journey: effective fare
//!   legs, transfer rules, and the cheapest combination.
//!
//! The normative text is the GTFS Schedule reference (google/transit
//! `gtfs/spec/en/reference.md`), sections timeframes.txt to
//! route_networks.txt; where it leaves a choice open, the choice is
//! documented on the function that makes it.

mod currency;
mod error;
mod ids;
mod journey;
mod load;
mod matching;
mod model;
mod quote;
mod table;
#[cfg(test)]
mod test_support;
mod time;

pub use currency::{Amount, AmountError, Currency, UnknownCurrency};
pub use error::{FeedError, FeedErrorCode, FeedErrors};
pub use ids::{EmptyId, FareMediaId, FareProductId, LegGroupId, RiderCategoryId};
pub use load::files;
pub use matching::{LegQuery, LegQueryError, MatchedProduct};
pub use model::{EmptyFieldMode, Feed};
pub use quote::{
    JourneyLeg, LegQuote, MAX_QUOTE_LEGS, MAX_QUOTE_REQUEST_BYTES, QuoteError, QuoteRequest,
    QuoteResponse, quote_json,
};
