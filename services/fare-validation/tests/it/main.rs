//! fare-validation through HTTP against real Postgres and Redis: requests
//! signed as terminals sign them, the hot state, the ingest, journals, the
//! deny list, QR tickets, auth failures and a Redis flush.

mod qr;
mod support;
mod taps;
