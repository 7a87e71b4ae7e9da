//! store-pg against a real Postgres: a fresh database per test (test-kit).
//! Posting and idempotency, two-phase transfers, the schema's constraints
//! on their own, concurrency on one wallet, the audit, the media
//! resolution feed, and what settlement reads of the ingest's rows.

mod audit;
mod concurrency;
mod constraints;
mod fixture;
mod ingest_to_settlement;
mod posting;
mod resolution_feed;
mod two_phase;
