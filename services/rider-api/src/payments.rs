//! The payment provider as the API uses it: which merchant signs, where the
//! payment page is, and the ids that make a provider's money arrive once.
//!
//! A top-up succeeds exactly once per provider transaction: the ledger
//! transfer's id is derived from the provider and its transaction number
//! (`vnp_TransactionNo`), the projection's `TopUp` event is keyed by that
//! transfer id (`top_up:<id>`), and both steps are idempotent on it
//! (`projection::funding::fund_wallet`).

use ledger::{ProviderId, TransferId};
use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom, SystemRandom};

use crate::settings::PaymentMode;
use crate::vnpay::Merchant;

/// The provider code of VNPay in the chart of accounts.
pub const VNPAY_PROVIDER: &str = "VNPAY";
/// The sandbox's terminal code (8 characters, like VNPay's).
pub const SANDBOX_TMN_CODE: &str = "OTSANDBX";
/// Bytes of the random hash secret a sandbox draws at start.
pub const SANDBOX_SECRET_BYTES: usize = 32;
/// The sandbox's payment page, relative to the API's public URL.
pub const SANDBOX_PAY_PATH: &str = "/sandbox/vnpay/pay";

/// Live VNPay or the local sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// VNPay.
    Live,
    /// The sandbox in this process.
    Sandbox,
}

/// Everything the top-up routes need to know about the provider.
#[derive(Debug, Clone)]
pub struct Payments {
    /// The merchant credentials (sign requests, verify callbacks).
    pub merchant: Merchant,
    /// The payment page URL.
    pub pay_url: String,
    /// Live or sandbox.
    pub provider: Provider,
    /// The provider's code in the ledger.
    pub provider_id: ProviderId,
}

/// The RNG refused a sandbox secret.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the system random number generator failed")]
pub struct NoRandom;

impl Payments {
    /// From the settings: VNPay itself, or a sandbox with a fresh random
    /// secret (so nothing outside this process can sign for it).
    ///
    /// # Errors
    /// When the RNG fails.
    pub fn from_mode(
        mode: &PaymentMode,
        public_url: &str,
        rng: &SystemRandom,
    ) -> Result<Payments, NoRandom> {
        match mode {
            PaymentMode::Live {
                pay_url,
                tmn_code,
                hash_secret,
            } => Ok(Payments {
                merchant: Merchant::new(tmn_code, hash_secret.expose().as_bytes()),
                pay_url: pay_url.clone(),
                provider: Provider::Live,
                provider_id: vnpay_provider(),
            }),
            PaymentMode::Sandbox => {
                let mut secret = [0u8; SANDBOX_SECRET_BYTES];
                rng.fill(&mut secret).map_err(|_| NoRandom)?;
                Ok(Payments::sandbox(public_url, &secret))
            }
        }
    }

    /// A sandbox provider with a known secret (tests sign callbacks with it).
    #[must_use]
    pub fn sandbox(public_url: &str, secret: &[u8]) -> Payments {
        Payments {
            merchant: Merchant::new(SANDBOX_TMN_CODE, secret),
            pay_url: format!("{public_url}{SANDBOX_PAY_PATH}"),
            provider: Provider::Sandbox,
            provider_id: vnpay_provider(),
        }
    }
}

fn vnpay_provider() -> ProviderId {
    ProviderId::parse(VNPAY_PROVIDER).expect("VNPAY is a valid provider code")
}

/// The ledger transfer crediting provider transaction `txn_no`: SHA-256 of
/// `"ot-topup" ‖ provider ‖ 0x00 ‖ txn_no` as a UUIDv8, the same in every
/// process and on every retry of the callback.
#[must_use]
pub fn topup_transfer_id(provider: &ProviderId, txn_no: &str) -> TransferId {
    let input = [
        b"ot-topup".as_slice(),
        provider.as_str().as_bytes(),
        &[0],
        txn_no.as_bytes(),
    ]
    .concat();
    let hash = digest(&SHA256, &input);
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(hash.as_ref().get(..16).unwrap_or(&[1; 16]));
    let uuid = uuid::Builder::from_custom_bytes(bytes).into_uuid();
    // A UUIDv8 has its version and variant bits set, so it is neither nil
    // nor max, which is all TransferId refuses.
    TransferId::new(uuid).expect("a UUIDv8 is neither nil nor max")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The id depends on the transaction number and nothing else, and
        /// different numbers give different ids.
        #[test]
        fn transfer_ids_are_deterministic_and_distinct(a in "[0-9]{1,20}", b in "[0-9]{1,20}") {
            let provider = vnpay_provider();
            prop_assert_eq!(topup_transfer_id(&provider, &a), topup_transfer_id(&provider, &a));
            prop_assert_eq!(a == b, topup_transfer_id(&provider, &a) == topup_transfer_id(&provider, &b));
        }
    }

    #[test]
    fn sandbox_pays_at_its_own_page() {
        let payments = Payments::sandbox("http://localhost:8080", b"s");
        assert_eq!(payments.pay_url, "http://localhost:8080/sandbox/vnpay/pay");
        assert_eq!(payments.merchant.tmn_code(), SANDBOX_TMN_CODE);
        assert_eq!(payments.provider, Provider::Sandbox);
    }
}
