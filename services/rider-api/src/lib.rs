//! The rider API: what the mobile app talks to. Accounts and sessions, linked
//! media, the wallet and its top-ups, passes, the QR ticket and history,
//! documented as OpenAPI 3.1 at `/openapi.json`.
//!
//! ```text
//! app ──HTTP──▶ routes::* ──▶ store_pg (logins, sessions, orders, history, riders, ledger)
//!                    │    └─▶ projection (spendable balance, BuyPass, TopUp)
//!                    └─▶ tickets (key ring) ─▶ card-protocol QR
//! VNPay (or the sandbox) ──IPN──▶ ipn::process ──▶ ledger transfer + TopUp event, once
//! ```
//!
//! Map:
//! - [`router`] / [`routes`]: every route, registered with its OpenAPI
//!   operation; one module per area (accounts, media, wallet, passes,
//!   ticket, history, sandbox, docs).
//! - [`state`]: [`AppState`], built once from [`Parts`].
//! - [`auth`]: the session extractor ([`auth::Rider`]) and the admin API
//!   key extractor.
//! - [`http`]: client IP, `Idempotency-Key` handling, cursors, the problem
//!   schema.
//! - [`ipn`]: the payment callback — the one place money arrives.
//! - [`vnpay`]: the VNPay-compatible protocol as pure functions.
//! - [`payments`]: the provider (live or sandbox) and deterministic top-up
//!   transfer ids.
//! - [`tickets`]: the ticket key ring, reloaded when the key store changes.
//! - [`passes`]: the pass catalogue from the fare configuration.
//! - [`ratelimit`]: fixed-window limits in Redis.
//! - [`password`], [`token`], [`login`]: argon2id, session tokens,
//!   normalised logins.
//! - [`worker`]: housekeeping (old idempotency records, ended sessions).
//! - [`settings`], [`problems`], [`clock`].
//!
//! **Invariant:** a rider reaches only their own rows: every id-bearing
//! route looks ids up scoped to the session's account, and another rider's
//! id answers 404 like an unknown one.
//!
//! **Invariant:** money arrives only through a verified IPN, exactly once per
//! provider transaction (see [`ipn`]).

pub mod auth;
pub mod clock;
pub mod http;
pub mod ipn;
pub mod login;
pub mod passes;
pub mod password;
pub mod payments;
pub mod problems;
pub mod ratelimit;
pub mod routes;
pub mod settings;
pub mod state;
pub mod tickets;
pub mod token;
pub mod vnpay;
pub mod worker;

pub use routes::router;
pub use state::{AppState, Parts};
