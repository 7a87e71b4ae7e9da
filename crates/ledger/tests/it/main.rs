//! The ledger's integration tests: scenarios of the in-memory `Book` read
//! like the rules (`book`), and property tests that drive it with random
//! operation sequences against an independent model (`properties`).

mod book;
mod fixture;
mod properties;
