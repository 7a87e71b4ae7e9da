//! The parking service (work in progress).

pub mod plate;
