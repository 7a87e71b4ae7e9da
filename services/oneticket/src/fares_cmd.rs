//! `oneticket fares quote|replay`: the fare engine on the command line, with
//! no database. This file only reads files and standard input and writes
//! standard output; the pricing is `fares`.
//!
//! Exit codes: 0 success; 2 a bad request or configuration (one JSON error
//! object on standard output for `quote`, a message on standard error
//! otherwise).

use std::collections::BTreeMap;
use std::io::{BufRead, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use fares::engine::{Engine, Replay};
use fares::gtfs::Feed;

/// The most a quote request on standard input may hold: a journey of a few
/// hundred legs is a few tens of kilobytes; anything beyond is not a journey.
const MAX_QUOTE_REQUEST_BYTES: u64 = 1024 * 1024;

/// The most a feed file may hold. The largest city feeds' fare files are a
/// few megabytes; 256 MiB stops a wrong path from exhausting memory.
const MAX_FEED_FILE_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Quote a journey with a GTFS-Fares v2 feed.
    ///
    /// Reads one JSON object on standard input:
    /// `{"rider_category": id|null, "fare_media": id|null, "legs": [{"route_id",
    /// "from_stop_id", "to_stop_id", "departure", "arrival"}]}` (RFC 3339 times).
    /// Writes `{"legs": [{"fare_product_ids": [...]}], "total": {"amount": "9.50",
    /// "currency": "EUR"} | null}`. A bad request prints one JSON error object
    /// and exits with status 2.
    Quote {
        /// The feed directory (`fare_products.txt`, `fare_leg_rules.txt`, …).
        #[arg(long, value_name = "DIR")]
        feed: PathBuf,
    },
    /// Replay fare events (JSON lines on standard input) and write one decision
    /// per line, as the HCMC spec's replay contract says.
    ///
    /// Each input line is an event such as
    /// `{"account":"r1","at":"2026-03-02T07:05:00+07:00","event":"bus","route":"19","category":"adult"}`;
    /// each output line is `{"decision","amount","balance","reason"}`. Bad lines
    /// are answered with `"decision":"error"` and the run goes on.
    Replay {
        /// A configuration directory (GTFS files plus `oneticket.toml`).
        /// Default: the built-in `hcmc` configuration.
        #[arg(long, value_name = "DIR")]
        config: Option<PathBuf>,
    },
}

pub fn run(command: Command) -> ExitCode {
    match command {
        Command::Quote { feed } => quote(&feed),
        Command::Replay { config } => replay(config.as_deref()),
    }
}

fn quote(feed_dir: &Path) -> ExitCode {
    let feed = match read_dir_files(feed_dir)
        .map_err(|e| e.to_string())
        .and_then(|files| {
            Feed::load(&files).map_err(|errors| {
                format!("the feed in {} is invalid:\n{errors}", feed_dir.display())
            })
        }) {
        Ok(feed) => feed,
        Err(message) => {
            let error = serde_json::json!({"error": {"code": "invalid_feed", "message": message}});
            println!("{error}");
            return ExitCode::from(2);
        }
    };
    let mut request = String::new();
    if let Err(error) = std::io::stdin()
        .take(MAX_QUOTE_REQUEST_BYTES + 1)
        .read_to_string(&mut request)
    {
        let error = serde_json::json!({"error": {"code": "malformed", "message": format!("standard input: {error}")}});
        println!("{error}");
        return ExitCode::from(2);
    }
    if u64::try_from(request.len()).unwrap_or(u64::MAX) > MAX_QUOTE_REQUEST_BYTES {
        let error = serde_json::json!({"error": {"code": "request_too_large", "message": format!("a quote request may hold at most {MAX_QUOTE_REQUEST_BYTES} bytes")}});
        println!("{error}");
        return ExitCode::from(2);
    }
    match fares::gtfs::quote_json(&feed, &request) {
        Ok(response) => {
            println!("{response}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            println!("{}", error.to_json());
            ExitCode::from(2)
        }
    }
}

fn replay(config_dir: Option<&Path>) -> ExitCode {
    let engine = match config_dir {
        None => Engine::hcmc()
            .map_err(|errors| format!("the built-in hcmc configuration is invalid: {errors}")),
        Some(dir) => read_dir_files(dir)
            .map_err(|e| e.to_string())
            .and_then(|files| {
                Engine::from_files(&files).map_err(|errors| {
                    format!(
                        "the configuration in {} is invalid: {errors}",
                        dir.display()
                    )
                })
            }),
    };
    let engine = match engine {
        Ok(engine) => engine,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let mut replay = Replay::new(engine);
    let stdin = std::io::stdin().lock();
    let mut out = BufWriter::new(std::io::stdout().lock());
    // Lines are read as bytes so that a line of invalid UTF-8 is answered
    // like any other unreadable line instead of ending the run.
    for line in stdin.split(b'\n') {
        let line = match line {
            Ok(line) => line,
            Err(error) => {
                eprintln!("error: reading standard input: {error}");
                return ExitCode::FAILURE;
            }
        };
        let text = String::from_utf8_lossy(&line);
        let text = text.strip_suffix('\r').unwrap_or(&text);
        if writeln!(out, "{}", replay.line(text)).is_err() {
            // The reader went away (e.g. `| head`): nothing more to say.
            return ExitCode::SUCCESS;
        }
    }
    if out.flush().is_err() {
        return ExitCode::SUCCESS;
    }
    ExitCode::SUCCESS
}

/// Every regular file of `dir` (not recursive), by file name.
fn read_dir_files(dir: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    use anyhow::Context;
    let mut files = BTreeMap::new();
    for entry in
        std::fs::read_dir(dir).with_context(|| format!("reading directory {}", dir.display()))?
    {
        let entry = entry?;
        let path = entry.path();
        if !entry.file_type()?.is_file() {
            continue;
        }
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let size = entry.metadata()?.len();
        anyhow::ensure!(
            size <= MAX_FEED_FILE_BYTES,
            "{} is {size} bytes; the limit is {MAX_FEED_FILE_BYTES}",
            path.display()
        );
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {} (must be UTF-8)", path.display()))?;
        files.insert(name.to_owned(), text);
    }
    Ok(files)
}
