//! OneTicket extensions and the per-account fare state machine.
