//! The rider API's own problem types (stable `code`s clients branch on), on top
//! of service-kit's generic ones (`validation_failed`, `unauthorized`,
//! `not_found`, `rate_limited`, …).
//!
//! | Code | Status | When |
//! |---|---|---|
//! | `identifier_taken` | 409 | registering a phone or e-mail that already has an account |
//! | `idempotency_key_required` | 400 | a POST that moves money without an `Idempotency-Key` header |
//! | `idempotency_key_invalid` | 400 | the header is not 1–255 visible ASCII characters |
//! | `idempotency_key_reused` | 409 | the key was used before with a different request |
//! | `idempotency_request_in_progress` | 409 | the first request with this key has not finished |
//! | `insufficient_funds` | 409 | the wallet's spendable balance is below the price (409, not 402: the request is valid and conflicts with the wallet's current state; 402 is reserved by RFC 9110) |
//! | `pass_limit` | 409 | the account already holds the most passes it may |
//! | `medium_taken` | 409 | the card or token is already linked to an active account |
//! | `account_busy` | 409 | the account changed concurrently too often; retry |

use service_kit::ProblemType;

pub const IDENTIFIER_TAKEN: ProblemType = ProblemType::new(
    "identifier_taken",
    "An account with this phone number or e-mail exists",
);
pub const IDEMPOTENCY_KEY_REQUIRED: ProblemType = ProblemType::new(
    "idempotency_key_required",
    "This request needs an Idempotency-Key header",
);
pub const IDEMPOTENCY_KEY_INVALID: ProblemType = ProblemType::new(
    "idempotency_key_invalid",
    "The Idempotency-Key header is invalid",
);
pub const IDEMPOTENCY_KEY_REUSED: ProblemType = ProblemType::new(
    "idempotency_key_reused",
    "The Idempotency-Key was used for a different request",
);
pub const IDEMPOTENCY_IN_PROGRESS: ProblemType = ProblemType::new(
    "idempotency_request_in_progress",
    "A request with this Idempotency-Key is still being processed",
);
pub const INSUFFICIENT_FUNDS: ProblemType =
    ProblemType::new("insufficient_funds", "The wallet balance is too low");
pub const PASS_LIMIT: ProblemType =
    ProblemType::new("pass_limit", "The account holds the most passes it may");
pub const MEDIUM_TAKEN: ProblemType = ProblemType::new(
    "medium_taken",
    "This card or token is linked to an account already",
);
pub const ACCOUNT_BUSY: ProblemType =
    ProblemType::new("account_busy", "The account is busy; retry");
