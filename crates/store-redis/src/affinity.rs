//! A serving thread's own Redis connection.
//!
//! A `ConnectionManager` multiplexes commands over one connection whose
//! driver task runs on the runtime that connected it. A command sent from
//! another thread is handed to that task and its reply handed back: two
//! thread crossings a command, which on a loaded 2-core box costs more than
//! the command itself (BENCHMARKS.md, "Redis I/O on its own thread").
//!
//! `oneticket serve --threads N` therefore runs N single-threaded runtimes,
//! and each serving thread after the first connects its own connection and
//! [`pin_to_thread`]s it. The request paths ask [`on_this_thread`] for a
//! connection: the thread's own when it has one, else the process's shared
//! one (the first serving thread, the workers, tests, and a multi-threaded
//! runtime). All of them reach the same Redis, so which one a command takes
//! changes its cost, never its result.
//!
//! Blocking reads (`XREADGROUP BLOCK`) keep their own connection and never
//! come here.

use std::cell::RefCell;

use redis::aio::ConnectionManager;

use crate::StoreError;

thread_local! {
    static PINNED: RefCell<Option<ConnectionManager>> = const { RefCell::new(None) };
}

/// Makes `connection` this thread's own: [`on_this_thread`] returns it from
/// now on, on this thread only. It must be connected to the same Redis as
/// the shared connection the callers hold, on the runtime this thread runs.
pub fn pin_to_thread(connection: ConnectionManager) {
    PINNED.with_borrow_mut(|pinned| *pinned = Some(connection));
}

/// Connects to the Redis at `url` (as [`crate::connect`]) on this thread's
/// runtime and pins the connection to this thread: what a serving thread
/// does before it accepts.
///
/// # Errors
/// As [`crate::connect`]; nothing is pinned then.
pub async fn connect_and_pin(url: &str) -> Result<(), StoreError> {
    pin_to_thread(crate::connect(url).await?);
    Ok(())
}

/// This thread's own connection if one was pinned, else `shared` (cloned:
/// both are cheap handles).
#[must_use]
pub fn on_this_thread(shared: &ConnectionManager) -> ConnectionManager {
    PINNED
        .with_borrow(Clone::clone)
        .unwrap_or_else(|| shared.clone())
}
