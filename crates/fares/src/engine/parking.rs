//! Parking fees: a pure function of the tariff, the length of the stay and
//! whether the stay earned park and ride.

use ledger::{Money, Overflow};

use super::calendar::SECONDS_PER_HOUR;
use super::config::TariffKind;
use super::state::ParkAndRide;

/// Number of started blocks of `block_s` seconds in `stay_s` seconds
/// (`stay_s ≥ 1`, `block_s ≥ 1`): a stay of exactly one block is one block.
fn started_blocks(stay_s: i64, block_s: i64) -> i64 {
    stay_s / block_s + i64::from(stay_s % block_s != 0)
}

/// The fee of a stay of `stay_s` seconds (negative stays count as 0).
///
/// # Errors
/// `Overflow` when the fee does not fit in `Money` (a stay of many
/// millennia).
pub fn parking_fee(
    tariff: TariffKind,
    grace_s: i64,
    stay_s: i64,
    park_and_ride: ParkAndRide,
) -> Result<Money, Overflow> {
    if stay_s <= grace_s || stay_s <= 0 {
        return Ok(Money::ZERO);
    }
    match tariff {
        TariffKind::PerStartedBlock {
            block_s,
            block,
            park_and_ride_block,
        } => {
            let price = match (park_and_ride, park_and_ride_block) {
                (ParkAndRide::Earned, Some(discounted)) => discounted,
                _ => block,
            };
            price.checked_mul(started_blocks(stay_s, block_s.max(1)))
        }
        TariffKind::HourlyWithBlockMax {
            hour,
            max_block_s,
            max_per_block,
        } => {
            let max_block_s = max_block_s.max(1);
            let full_blocks = stay_s / max_block_s;
            let rest_s = stay_s % max_block_s;
            let per_full_block = hour
                .checked_mul(started_blocks(max_block_s, SECONDS_PER_HOUR))?
                .min(max_per_block);
            let rest = if rest_s == 0 {
                Money::ZERO
            } else {
                hour.checked_mul(started_blocks(rest_s, SECONDS_PER_HOUR))?
                    .min(max_per_block)
            };
            per_full_block.checked_mul(full_blocks)?.checked_add(rest)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MIN_S: i64 = 60;
    const HOUR_S: i64 = 3_600;
    const GRACE_S: i64 = 10 * MIN_S;

    fn motorbike() -> TariffKind {
        TariffKind::PerStartedBlock {
            block_s: 12 * HOUR_S,
            block: Money::vnd(4_000),
            park_and_ride_block: Some(Money::vnd(2_000)),
        }
    }

    fn car() -> TariffKind {
        TariffKind::HourlyWithBlockMax {
            hour: Money::vnd(25_000),
            max_block_s: 24 * HOUR_S,
            max_per_block: Money::vnd(150_000),
        }
    }

    fn check(tariff: TariffKind, stay_s: i64, pr: ParkAndRide, expected_vnd: i64) {
        assert_eq!(
            parking_fee(tariff, GRACE_S, stay_s, pr),
            Ok(Money::vnd(expected_vnd)),
            "stay of {stay_s} s, {pr:?}"
        );
    }

    #[test]
    fn motorbike_pays_per_started_twelve_hours() {
        let no = ParkAndRide::NotEarned;
        check(motorbike(), 0, no, 0);
        check(motorbike(), 10 * MIN_S, no, 0);
        check(motorbike(), 10 * MIN_S + 1, no, 4_000);
        check(motorbike(), 2 * HOUR_S, no, 4_000);
        check(motorbike(), 12 * HOUR_S, no, 4_000);
        check(motorbike(), 12 * HOUR_S + 1, no, 8_000);
        check(motorbike(), 36 * HOUR_S + 1, no, 16_000);
        check(motorbike(), -HOUR_S, no, 0);
    }

    #[test]
    fn park_and_ride_halves_the_motorbike_block() {
        let yes = ParkAndRide::Earned;
        check(motorbike(), 2 * HOUR_S, yes, 2_000);
        check(motorbike(), 13 * HOUR_S, yes, 4_000);
        check(motorbike(), 5 * MIN_S, yes, 0);
        // A tariff without a park-and-ride price ignores the flag.
        check(car(), 2 * HOUR_S, yes, 50_000);
    }

    #[test]
    fn car_pays_per_started_hour_capped_per_day_block() {
        let no = ParkAndRide::NotEarned;
        check(car(), 10 * MIN_S, no, 0);
        check(car(), 11 * MIN_S, no, 25_000);
        check(car(), HOUR_S, no, 25_000);
        check(car(), HOUR_S + 1, no, 50_000);
        check(car(), 6 * HOUR_S, no, 150_000);
        check(car(), 24 * HOUR_S, no, 150_000);
        check(car(), 24 * HOUR_S + 1, no, 175_000);
        check(car(), 26 * HOUR_S, no, 200_000);
        check(car(), 48 * HOUR_S + 30 * MIN_S, no, 325_000);
    }

    proptest! {
        #[test]
        fn fee_never_decreases_with_a_longer_stay(a in 0i64..10_000_000, extra in 0i64..1_000_000) {
            for tariff in [motorbike(), car()] {
                for pr in [ParkAndRide::NotEarned, ParkAndRide::Earned] {
                    let short = parking_fee(tariff, GRACE_S, a, pr).expect("small stays fit");
                    let long = parking_fee(tariff, GRACE_S, a + extra, pr).expect("small stays fit");
                    prop_assert!(short <= long);
                }
            }
        }

        #[test]
        fn park_and_ride_never_costs_more(stay_s in 0i64..10_000_000) {
            let normal = parking_fee(motorbike(), GRACE_S, stay_s, ParkAndRide::NotEarned).expect("fits");
            let discounted = parking_fee(motorbike(), GRACE_S, stay_s, ParkAndRide::Earned).expect("fits");
            prop_assert!(discounted <= normal);
        }

        #[test]
        fn huge_stays_overflow_as_errors_not_panics(stay_s in any::<i64>()) {
            for tariff in [motorbike(), car()] {
                let _ = parking_fee(tariff, GRACE_S, stay_s, ParkAndRide::NotEarned);
            }
        }
    }
}
