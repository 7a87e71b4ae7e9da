//! `oneticket`: the one binary. Every command is a thin shell over the crates:
//! it parses arguments, reads settings, files and keys, and calls them.
//!
//! `serve` runs the services in one process; `demo` plays a day of the city
//! through them; the other commands are the operator's tools (migrations,
//! keys, fares, audit).

mod admin_key_cmd;
mod audit_cmd;
mod demo;
mod fares_cmd;
mod hot_cmd;
mod keys_cmd;
mod keystore;
mod migrate_cmd;
mod serve_cmd;
mod settle_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc instead of the system allocator: a tap allocates dozens of
/// small, short-lived buffers (headers, JSON, keys) across the worker
/// threads, where glibc's malloc spent about a fifth of the service's CPU
/// (see BENCHMARKS.md, "Tap path").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// OneTicket: one account and one ticket for every bus, the metro and
/// parking in Ho Chi Minh City.
///
/// Settings come from environment variables (`OT_DATABASE_URL`,
/// `OT_REDIS_URL`, `OT_LISTEN`, `OT_KEY_DIR`, `OT_LOG_FORMAT`, …); see the
/// README for the full list.
#[derive(Debug, Parser)]
#[command(name = "oneticket", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the services, all or the ones named, in one process (APIs,
    /// workers, health, readiness, metrics).
    ///
    /// Without `--services`, all of them: one command runs the whole system.
    /// Split, each process runs what it names and leaves the rest to other
    /// processes on the same Postgres, Redis and `OT_REDIS_PREFIX` (e.g. the
    /// terminal API on the tap servers, `settlement` near Postgres). Taps
    /// reach Postgres only while some process runs `settlement`; until then
    /// they wait in the Redis streams. A process loads only the keys its
    /// services use, and needs `OT_VNPAY_MODE` only with `rider-api`.
    Serve(serve_cmd::Args),
    /// Apply the database migrations (creating the database if asked).
    Migrate(migrate_cmd::Args),
    /// Manage the key store: ticket signing keys and the terminal master key.
    #[command(subcommand)]
    Keys(keys_cmd::Command),
    /// Price journeys and replay tap logs with the fare engine (no database).
    #[command(subcommand)]
    Fares(fares_cmd::Command),
    /// Rebuild every ledger balance from its transfers and check every invariant.
    Audit(audit_cmd::Args),
    /// Close service days: re-price, pay every operator, write statements.
    Settle(settle_cmd::Args),
    /// The Redis hot state: rebuild accounts from Postgres.
    #[command(subcommand)]
    Hot(hot_cmd::Command),
    /// Scoped API keys for the admin endpoints.
    #[command(subcommand, name = "admin-key")]
    AdminKey(admin_key_cmd::Command),
    /// Play a day of Ho Chi Minh City through the real APIs, settle it,
    /// audit the ledger and print a summary.
    Demo(demo::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        // Offline tools that need no runtime and print machine-readable output.
        Command::Fares(command) => return fares_cmd::run(command),
        Command::Keys(command) => keys_cmd::run(command),
        Command::Serve(args) => serve_cmd::main(args),
        Command::Migrate(args) => runtime().and_then(|rt| rt.block_on(migrate_cmd::run(args))),
        Command::Audit(args) => return audit_cmd::run(args),
        Command::Settle(args) => return settle_cmd::run(args),
        Command::Demo(args) => return demo::run(args),
        Command::Hot(command) => runtime().and_then(|rt| rt.block_on(hot_cmd::run(command))),
        Command::AdminKey(command) => {
            runtime().and_then(|rt| rt.block_on(admin_key_cmd::run(command)))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The multi-threaded tokio runtime every online command runs on.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
