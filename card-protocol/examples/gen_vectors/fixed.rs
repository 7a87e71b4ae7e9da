//! The fixed inputs every vector is derived from (besides the key labels in
//! each generator).

/// The time most cases are checked at: 2026-01-01T00:00:00Z, the first
/// second of a level-2 time step.
pub const NOW_S: u64 = 1_767_225_600;
