//! The HCMC configuration replayed end to end.
