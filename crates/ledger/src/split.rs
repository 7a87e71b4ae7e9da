//! Exact pro-rata splits of an amount, for settlement: a capped day's
//! charge apportioned to operators in proportion to their full fares, a fee
//! taken off a gross amount.
//!
//! **Remainder rule: largest remainder, ties broken by order.** Each part
//! first gets the floor of its exact share `total × weight / Σ weights`; the
//! dong left over (fewer than the number of parts) go one each to the parts
//! with the largest fractional remainders, and among equal remainders to the
//! earlier part. So the parts sum to the total exactly, each is within one
//! dong of its exact share, and the same input always gives the same split.

use crate::money::Money;

/// The most parts one split may have. A journey touches a handful of
/// operators and a statement a few hundred; 4,096 parts bound the work while
/// leaving room for any real split.
pub const MAX_SPLIT_PARTS: usize = 4_096;

/// Why a split cannot be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    /// No weights, so nothing to split into.
    #[error("a split needs at least one weight")]
    NoParts,
    /// More than `MAX_SPLIT_PARTS` weights.
    #[error("a split has at most {max} parts, got {0}", max = MAX_SPLIT_PARTS)]
    TooManyParts(usize),
    /// All weights are zero, so no share is defined.
    #[error("at least one weight must be above zero")]
    ZeroWeights,
    /// A negative total: splits apportion charges, not refunds.
    #[error("the total to split must not be negative, got {0}")]
    NegativeTotal(Money),
}

/// Splits `total` into one part per weight, pro rata, by the largest
/// remainder rule (ties to the earlier part). The parts sum to `total`.
pub fn pro_rata(total: Money, weights: &[u64]) -> Result<Vec<Money>, SplitError> {
    if weights.is_empty() {
        return Err(SplitError::NoParts);
    }
    if weights.len() > MAX_SPLIT_PARTS {
        return Err(SplitError::TooManyParts(weights.len()));
    }
    if total.is_negative() {
        return Err(SplitError::NegativeTotal(total));
    }
    // i128 holds total × weight (< 2^63 × 2^64) and Σ weights (< 2^12 × 2^64)
    // without overflow, so the arithmetic below cannot fail.
    let weight_sum: i128 = weights.iter().map(|&w| i128::from(w)).sum();
    if weight_sum == 0 {
        return Err(SplitError::ZeroWeights);
    }
    let total_vnd = i128::from(total.as_vnd());
    let mut floors = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    for (index, &weight) in weights.iter().enumerate() {
        let scaled = total_vnd * i128::from(weight);
        floors.push(scaled / weight_sum);
        remainders.push((scaled % weight_sum, index));
    }
    let allotted: i128 = floors.iter().sum();
    let leftover = usize::try_from(total_vnd - allotted)
        .expect("the leftover is below the number of parts, which is a usize");
    // Largest remainder first; equal remainders keep their order.
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, index) in remainders.iter().take(leftover) {
        if let Some(floor) = floors.get_mut(index) {
            *floor += 1;
        }
    }
    Ok(floors
        .into_iter()
        .map(|part| {
            Money::vnd(i64::try_from(part).expect("a part is at most the total, which is an i64"))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(total: i64, weights: &[u64], expected: Result<&[i64], SplitError>) {
        let got = pro_rata(Money::vnd(total), weights);
        let expected = expected.map(|parts| parts.iter().copied().map(Money::vnd).collect());
        assert_eq!(got, expected, "{total} over {weights:?}");
    }

    #[test]
    fn splits_by_largest_remainder() {
        check(100, &[1, 1, 1], Ok(&[34, 33, 33]));
        check(100, &[1, 1, 1, 1, 1, 1], Ok(&[17, 17, 17, 17, 16, 16]));
        check(10, &[3, 7], Ok(&[3, 7]));
        // Shares 7,000 × (6,000 / 19,000) = 2,210.5… and 4,789.4…: the
        // larger remainder gets the extra dong.
        check(7_000, &[6_000, 13_000], Ok(&[2_211, 4_789]));
        check(5, &[0, 2, 0, 3], Ok(&[0, 2, 0, 3]));
        check(0, &[4, 5], Ok(&[0, 0]));
        check(1, &[5, 5], Ok(&[1, 0]));
        check(
            i64::MAX,
            &[u64::MAX, u64::MAX],
            Ok(&[i64::MAX / 2 + 1, i64::MAX / 2]),
        );
    }

    #[test]
    fn refuses_undefined_splits() {
        check(10, &[], Err(SplitError::NoParts));
        check(10, &[0, 0], Err(SplitError::ZeroWeights));
        check(-1, &[1], Err(SplitError::NegativeTotal(Money::vnd(-1))));
        let many = vec![1; MAX_SPLIT_PARTS + 1];
        check(
            10,
            &many,
            Err(SplitError::TooManyParts(MAX_SPLIT_PARTS + 1)),
        );
    }

    proptest! {
        #[test]
        fn parts_sum_to_total_and_stay_within_one_dong(
            total in 0..=i64::MAX,
            weights in proptest::collection::vec(any::<u64>(), 1..40),
        ) {
            let weight_sum: i128 = weights.iter().map(|&w| i128::from(w)).sum();
            prop_assume!(weight_sum > 0);
            let parts = pro_rata(Money::vnd(total), &weights).unwrap();
            prop_assert_eq!(parts.len(), weights.len());
            let sum: i128 = parts.iter().map(|p| i128::from(p.as_vnd())).sum();
            prop_assert_eq!(sum, i128::from(total));
            for (part, &weight) in parts.iter().zip(&weights) {
                // |part − total·w/W| < 1  ⇔  |part·W − total·w| < W
                let exact_scaled = i128::from(total) * i128::from(weight);
                let diff = i128::from(part.as_vnd()) * weight_sum - exact_scaled;
                prop_assert!(diff.abs() < weight_sum, "part {part} weight {weight}");
                prop_assert!(!part.is_negative());
            }
        }

        #[test]
        fn equal_weights_differ_by_at_most_one_and_favour_earlier_parts(
            total in 0i64..1_000_000,
            n in 1usize..50,
        ) {
            let parts = pro_rata(Money::vnd(total), &vec![7; n]).unwrap();
            for pair in parts.windows(2) {
                prop_assert!(pair[0] >= pair[1]);
                prop_assert!(pair[0].as_vnd() - pair[1].as_vnd() <= 1);
            }
        }
    }
}
