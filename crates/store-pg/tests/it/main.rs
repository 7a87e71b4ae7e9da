//! store-pg against a real Postgres: a fresh database per test (test-kit).
//! Posting and idempotency, two-phase transfers, the schema's constraints
//! on their own, concurrency on one wallet, the audit, and the media
//! resolution feed.

mod audit;
mod concurrency;
mod constraints;
mod fixture;
mod posting;
mod resolution_feed;
mod two_phase;
