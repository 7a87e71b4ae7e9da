//! Project rules checked by a test, after rust-analyzer's `tidy.rs`: the
//! pure crates keep a short, reviewed dependency list; every member inherits
//! the workspace lints; every Rust file says what it is for; no test is
//! ignored; no floats in the money crates.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// The crates that must never do I/O, read the clock or draw randomness.
const PURE_CRATES: &[&str] = &["card-protocol", "crates/ledger", "crates/fares"];

/// Crates that bring I/O, a runtime or a network client. A pure crate that
/// names one of them (directly) fails here with the reason.
const FORBIDDEN_IN_PURE: &[&str] = &[
    "tokio",
    "sqlx",
    "redis",
    "axum",
    "hyper",
    "reqwest",
    "tower",
    "tower-http",
    "mio",
    "socket2",
    "rand",
    "getrandom",
    "tracing-subscriber",
    "service-kit",
    "store-pg",
    "store-redis",
    "test-kit",
    "async-std",
    "futures",
];

/// The dependencies a pure crate may have. Adding one is a reviewed change
/// to this list: each is computation only (no sockets, files, clock or RNG).
const ALLOWED_IN_PURE: &[&str] = &[
    "card-protocol",
    "ledger",
    "serde",
    "serde_json",
    "thiserror",
    "ring",
    "hex",
    "uuid",
    "chrono",
    "chrono-tz",
    "coset",
    "ciborium",
    "csv",
    "toml",
    "base64",
    "smallvec",
];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root exists")
}

fn manifest(dir: &Path) -> toml::Table {
    let text = fs::read_to_string(dir.join("Cargo.toml")).expect("member has a Cargo.toml");
    text.parse().expect("Cargo.toml parses")
}

fn members() -> Vec<PathBuf> {
    let root = workspace_root();
    let top = manifest(&root);
    let members = top["workspace"]["members"]
        .as_array()
        .expect("workspace.members is a list");
    members
        .iter()
        .map(|m| root.join(m.as_str().expect("member is a path")))
        .collect()
}

#[test]
fn pure_crates_have_no_io_dependencies() {
    let root = workspace_root();
    let allowed: BTreeSet<&str> = ALLOWED_IN_PURE.iter().copied().collect();
    let mut problems = Vec::new();
    for krate in PURE_CRATES {
        let m = manifest(&root.join(krate));
        for section in ["dependencies", "build-dependencies"] {
            let Some(deps) = m.get(section).and_then(|d| d.as_table()) else {
                continue;
            };
            for (name, spec) in deps {
                if FORBIDDEN_IN_PURE.contains(&name.as_str()) {
                    problems.push(format!("{krate}: [{section}] {name} does I/O or brings a runtime; pure crates take I/O results as arguments"));
                } else if !allowed.contains(name.as_str()) {
                    problems.push(format!(
                        "{krate}: [{section}] {name} is not on tidy's reviewed list for pure crates"
                    ));
                }
                let features = spec
                    .get("features")
                    .and_then(|f| f.as_array())
                    .cloned()
                    .unwrap_or_default();
                if features.iter().any(|f| {
                    matches!(
                        f.as_str(),
                        Some("clock" | "now" | "v4" | "v7" | "fast-rng" | "getrandom")
                    )
                }) {
                    problems.push(format!(
                        "{krate}: {name} enables a clock or randomness feature"
                    ));
                }
            }
        }
    }
    // The workspace-wide specs the pure crates inherit must not switch the clock on either.
    let top = manifest(&root);
    let deps = top["workspace"]["dependencies"]
        .as_table()
        .expect("workspace.dependencies");
    for name in ["chrono", "uuid"] {
        let spec = &deps[name];
        let default_off = spec.get("default-features").and_then(|v| v.as_bool()) == Some(false);
        let features = spec
            .get("features")
            .and_then(|f| f.as_array())
            .cloned()
            .unwrap_or_default();
        if !default_off
            || features
                .iter()
                .any(|f| matches!(f.as_str(), Some("clock" | "now" | "v4" | "v7")))
        {
            problems.push(format!("workspace {name} must have default-features = false and no clock/random features (pure crates inherit it)"));
        }
    }
    assert!(problems.is_empty(), "tidy: {problems:#?}");
}

#[test]
fn every_member_inherits_workspace_lints() {
    let mut problems = Vec::new();
    for dir in members() {
        let m = manifest(&dir);
        let inherits = m
            .get("lints")
            .and_then(|l| l.get("workspace"))
            .and_then(|w| w.as_bool())
            == Some(true);
        if !inherits {
            problems.push(format!("{}: add `[lints] workspace = true`", dir.display()));
        }
    }
    assert!(problems.is_empty(), "tidy: {problems:#?}");
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name == "target" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn all_rust_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in members() {
        rust_files(&dir, &mut files);
    }
    files
}

#[test]
fn every_rust_file_starts_with_module_docs() {
    let missing: Vec<String> = all_rust_files()
        .into_iter()
        .filter(|f| {
            let text = fs::read_to_string(f).unwrap_or_default();
            !text.trim_start().starts_with("//!")
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "tidy: these files need a `//!` doc saying what they are for: {missing:#?}"
    );
}

#[test]
fn no_ignored_tests() {
    let attr = ["#[", "ignore"].concat();
    let found: Vec<String> = all_rust_files()
        .into_iter()
        .filter(|f| fs::read_to_string(f).unwrap_or_default().contains(&attr))
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        found.is_empty(),
        "tidy: ignored tests never run; fix or delete them: {found:#?}"
    );
}

#[test]
fn no_floats_in_the_money_crates() {
    let root = workspace_root();
    let mut files = Vec::new();
    for krate in ["crates/ledger/src", "crates/fares/src"] {
        rust_files(&root.join(krate), &mut files);
    }
    let float_types = [["f", "32"].concat(), ["f", "64"].concat()];
    let found: Vec<String> = files
        .into_iter()
        .filter(|f| {
            let text = fs::read_to_string(f).unwrap_or_default();
            text.split(|c: char| !c.is_alphanumeric() && c != '_')
                .any(|word| float_types.iter().any(|t| t == word))
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(found.is_empty(), "tidy: floats near money: {found:#?}");
}
