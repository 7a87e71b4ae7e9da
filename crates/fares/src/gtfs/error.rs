//! Feed errors: every problem found while loading a feed, each naming the
//! file, the line (1-based, as a text editor shows it, the header being line
//! 1) and the field, with a stable code.
//!
//! The codes mirror MobilityData's gtfs-validator notices (snake_case of the
//! notice class without `Notice`) so that an operator can look the same
//! problem up in the validator's documentation.

use std::fmt;

/// A stable, machine-readable code for one kind of feed problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FeedErrorCode {
    /// A file the fare model cannot work without is absent.
    MissingRequiredFile,
    /// A required column is absent from a file's header.
    MissingRequiredColumn,
    /// The same column name appears twice in a header.
    DuplicatedColumn,
    /// A row has a different number of fields than the header.
    InvalidRowLength,
    /// The CSV text itself cannot be read.
    CsvParsingFailed,
    /// A required field is empty.
    MissingRequiredField,
    /// Two rows share a primary key.
    DuplicateKey,
    /// A field references an id that no file defines.
    ForeignKeyViolation,
    /// An enum field holds a value outside its documented options.
    UnexpectedEnumValue,
    /// A field that must be an integer is not.
    InvalidInteger,
    /// A number is outside the range its field allows.
    NumberOutOfRange,
    /// A time field is not `H:MM:SS` / `HH:MM:SS`.
    InvalidTime,
    /// A date field is not a valid `YYYYMMDD` date.
    InvalidDate,
    /// A timezone is not an IANA timezone name.
    InvalidTimezone,
    /// A currency code is not one this reader knows the ISO 4217 exponent of.
    InvalidCurrency,
    /// An amount is not a decimal with at most the currency's decimals.
    InvalidCurrencyAmount,
    /// `duration_limit` is set but `duration_limit_type` is empty.
    FareTransferRuleDurationLimitWithoutType,
    /// `duration_limit_type` is set but `duration_limit` is empty.
    FareTransferRuleDurationLimitTypeWithoutDurationLimit,
    /// `transfer_count` is 0 or below -1.
    FareTransferRuleInvalidTransferCount,
    /// `from_leg_group_id` equals `to_leg_group_id` but `transfer_count` is empty.
    FareTransferRuleMissingTransferCount,
    /// `from_leg_group_id` differs from `to_leg_group_id` but `transfer_count` is set.
    FareTransferRuleWithForbiddenTransferCount,
    /// One fare product is eligible for several default rider categories.
    FareProductWithMultipleDefaultRiderCategories,
    /// Two timeframes of one group and service overlap.
    TimeframeOverlap,
    /// A timeframe has a start time without an end time or vice versa.
    TimeframeOnlyStartOrEndTimeSpecified,
    /// A timeframe time is later than 24:00:00.
    TimeframeStartOrEndTimeGreaterThanTwentyFourHours,
    /// `routes.network_id` exists together with networks.txt or route_networks.txt.
    RouteNetworksSpecifiedInMoreThanOneFile,
    /// Agencies of one feed name different timezones.
    InconsistentAgencyTimezone,
    /// Warning: two fare media share name and type.
    DuplicateFareMedia,
    /// Warning: a row has no value at all.
    EmptyRow,
}

impl FeedErrorCode {
    /// The code as written in reports (`snake_case`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::MissingRequiredFile => "missing_required_file",
            Self::MissingRequiredColumn => "missing_required_column",
            Self::DuplicatedColumn => "duplicated_column",
            Self::InvalidRowLength => "invalid_row_length",
            Self::CsvParsingFailed => "csv_parsing_failed",
            Self::MissingRequiredField => "missing_required_field",
            Self::DuplicateKey => "duplicate_key",
            Self::ForeignKeyViolation => "foreign_key_violation",
            Self::UnexpectedEnumValue => "unexpected_enum_value",
            Self::InvalidInteger => "invalid_integer",
            Self::NumberOutOfRange => "number_out_of_range",
            Self::InvalidTime => "invalid_time",
            Self::InvalidDate => "invalid_date",
            Self::InvalidTimezone => "invalid_timezone",
            Self::InvalidCurrency => "invalid_currency",
            Self::InvalidCurrencyAmount => "invalid_currency_amount",
            Self::FareTransferRuleDurationLimitWithoutType => {
                "fare_transfer_rule_duration_limit_without_type"
            }
            Self::FareTransferRuleDurationLimitTypeWithoutDurationLimit => {
                "fare_transfer_rule_duration_limit_type_without_duration_limit"
            }
            Self::FareTransferRuleInvalidTransferCount => {
                "fare_transfer_rule_invalid_transfer_count"
            }
            Self::FareTransferRuleMissingTransferCount => {
                "fare_transfer_rule_missing_transfer_count"
            }
            Self::FareTransferRuleWithForbiddenTransferCount => {
                "fare_transfer_rule_with_forbidden_transfer_count"
            }
            Self::FareProductWithMultipleDefaultRiderCategories => {
                "fare_product_with_multiple_default_rider_categories"
            }
            Self::TimeframeOverlap => "timeframe_overlap",
            Self::TimeframeOnlyStartOrEndTimeSpecified => {
                "timeframe_only_start_or_end_time_specified"
            }
            Self::TimeframeStartOrEndTimeGreaterThanTwentyFourHours => {
                "timeframe_start_or_end_time_greater_than_twenty_four_hours"
            }
            Self::RouteNetworksSpecifiedInMoreThanOneFile => {
                "route_networks_specified_in_more_than_one_file"
            }
            Self::InconsistentAgencyTimezone => "inconsistent_agency_timezone",
            Self::DuplicateFareMedia => "duplicate_fare_media",
            Self::EmptyRow => "empty_row",
        }
    }
}

impl fmt::Display for FeedErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem in a feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedError {
    /// What kind of problem.
    pub code: FeedErrorCode,
    /// The file it is in (`"fare_products.txt"`).
    pub file: &'static str,
    /// The 1-based line (header = 1); `None` for a problem of the whole file.
    pub line: Option<u64>,
    /// The field (column) concerned, when there is one.
    pub field: Option<&'static str>,
    /// A sentence for people, naming the offending value.
    pub message: String,
}

impl fmt::Display for FeedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(field) = self.field {
            write!(f, " [{field}]")?;
        }
        write!(f, ": {}: {}", self.code, self.message)
    }
}

/// Every error of a rejected feed, plus the warnings found on the way.
#[derive(Clone, Debug, Default, PartialEq, Eq, thiserror::Error)]
pub struct FeedErrors {
    /// Problems that make the feed unusable; never empty in a returned `Err`.
    pub errors: Vec<FeedError>,
    /// Problems worth reporting that do not change fares.
    pub warnings: Vec<FeedError>,
}

impl FeedErrors {
    /// True when the feed has an error with `code` at `file`:`line` in `field`.
    #[must_use]
    pub fn contains(
        &self,
        code: FeedErrorCode,
        file: &str,
        line: Option<u64>,
        field: Option<&str>,
    ) -> bool {
        self.errors
            .iter()
            .any(|e| e.code == code && e.file == file && e.line == line && e.field == field)
    }
}

impl fmt::Display for FeedErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the feed has {} error(s)", self.errors.len())?;
        for error in &self.errors {
            write!(f, "\n  {error}")?;
        }
        Ok(())
    }
}

/// Collects errors and warnings while a feed loads, so that every problem
/// is reported at once instead of the first one only.
#[derive(Debug, Default)]
pub(crate) struct Sink {
    pub(crate) errors: Vec<FeedError>,
    pub(crate) warnings: Vec<FeedError>,
}

impl Sink {
    pub(crate) fn error(
        &mut self,
        code: FeedErrorCode,
        file: &'static str,
        line: Option<u64>,
        field: Option<&'static str>,
        message: String,
    ) {
        self.errors.push(FeedError {
            code,
            file,
            line,
            field,
            message,
        });
    }

    pub(crate) fn warning(
        &mut self,
        code: FeedErrorCode,
        file: &'static str,
        line: Option<u64>,
        field: Option<&'static str>,
        message: String,
    ) {
        self.warnings.push(FeedError {
            code,
            file,
            line,
            field,
            message,
        });
    }
}
