//! The rider API: what the mobile app talks to. Accounts and sessions, linked
//! media, the wallet and its top-ups, passes, the QR ticket and history.
//!
//! Map (growing; the router and its state land next):
//! - [`vnpay`]: the VNPay-compatible payment protocol as pure functions
//!   (signed payment URLs, callback verification, IPN replies).
//! - [`password`]: argon2id hashing with bounded concurrency.
//! - [`token`]: session tokens (random, stored as SHA-256).
//! - [`login`]: phone and e-mail identifiers, normalised.
//! - [`settings`]: the rider API's settings from the environment.
//! - [`problems`]: the API's own problem codes.
//! - [`clock`]: the time source (a manual clock in tests).
pub mod clock;
pub mod login;
pub mod password;
pub mod problems;
pub mod settings;
pub mod token;
pub mod vnpay;
