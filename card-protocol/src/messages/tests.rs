//! Tests of the message types: field rules, cross-field rules, limits, and
//! the journal and deny-list state machines.
