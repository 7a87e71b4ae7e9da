//! `oneticket`: the one binary.
fn main() {}
