//! fare-validation through HTTP against real Postgres and Redis: requests
//! signed as terminals sign them, the hot state, the ingest, journals, the
//! deny list, QR tickets, auth failures, a Redis flush, and media resolved
//! from memory with the change feed.

mod media;
mod qr;
mod support;
mod taps;
