//! Test helpers: fresh Postgres databases and Redis key prefixes.
