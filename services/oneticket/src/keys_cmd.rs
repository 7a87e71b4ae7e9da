//! `oneticket keys generate|rotate|list`: create and rotate the keys in the
//! key store. Randomness comes from the operating system (`ring`'s
//! `SystemRandom`); the pure `ledger::keyring` does the rest.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use card_protocol::ticket::Issuer;
use ledger::keyring::{KeyMaterial, KeyRing, KeySeed, SEED_BYTES};
use ring::rand::{SecureRandom, SystemRandom};

use crate::keystore::{
    DEFAULT_ISSUER, KeyStore, RingFile, TERMINAL_MASTER_KEY_BYTES, refuse_overwrite,
};

/// How long a ticket signing key may sign tickets by default: 90 days, a
/// common rotation period for online signing keys; rotate sooner at will.
const DEFAULT_KEY_LIFETIME_DAYS: u64 = 90;
const SECONDS_PER_DAY: u64 = 86_400;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create the key store: the terminal master key and a first ticket signing key.
    Generate {
        /// Do nothing (and succeed) when the key store already holds keys.
        #[arg(long)]
        if_missing: bool,
        /// Days the signing key stays valid; no ticket it signs expires later.
        #[arg(long, default_value_t = DEFAULT_KEY_LIFETIME_DAYS, value_parser = clap::value_parser!(u64).range(1..=3650))]
        lifetime_days: u64,
    },
    /// Make a new ticket signing key; the old one keeps verifying until its end of validity.
    Rotate {
        /// Days the new signing key stays valid.
        #[arg(long, default_value_t = DEFAULT_KEY_LIFETIME_DAYS, value_parser = clap::value_parser!(u64).range(1..=3650))]
        lifetime_days: u64,
    },
    /// List the ticket keys (ids and validity; never secrets).
    List,
}

pub fn run(command: Command) -> anyhow::Result<()> {
    let store = KeyStore::from_env();
    let now_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("the clock is before 1970")?
        .as_secs();
    match command {
        Command::Generate {
            if_missing,
            lifetime_days,
        } => {
            if if_missing && store.is_complete() {
                eprintln!(
                    "key store {} already holds keys; nothing to do",
                    store.dir().display()
                );
                return Ok(());
            }
            refuse_overwrite(&store)?;
            // Everything is built before anything is written, so a failure leaves no half store.
            let rng = SystemRandom::new();
            let mut master = [0u8; TERMINAL_MASTER_KEY_BYTES];
            rng.fill(&mut master)
                .map_err(|_| anyhow::anyhow!("the OS random source failed"))?;
            let signing = KeyMaterial {
                seed: random_seed(&rng)?,
                not_before_s: now_s,
                not_after_s: now_s + lifetime_days * SECONDS_PER_DAY,
            };
            let issuer = Issuer::parse(DEFAULT_ISSUER).map_err(|e| anyhow::anyhow!("{e}"))?;
            let ring = KeyRing::new(issuer.clone(), &signing)?;
            let kid = ring.signing_kid();
            store.create_dir()?;
            store.write_ring(&RingFile { ring, issuer })?;
            store.write_terminal_master(&master)?;
            eprintln!(
                "created key store {} with signing key {kid}",
                store.dir().display()
            );
        }
        Command::Rotate { lifetime_days } => {
            let RingFile { mut ring, issuer } = store.ring()?;
            let next = random_seed(&SystemRandom::new())?;
            let not_after_s = now_s + lifetime_days * SECONDS_PER_DAY;
            let old_kid = ring.signing_kid();
            ring.rotate(&next, now_s, not_after_s)?;
            eprintln!(
                "signing key is now {}; {old_kid} keeps verifying until its tickets expire",
                ring.signing_kid()
            );
            store.write_ring(&RingFile { ring, issuer })?;
        }
        Command::List => {
            let set = store.public_keys()?;
            let ring = store.ring().ok();
            let signing = ring.as_ref().map(|r| r.ring.signing_kid());
            println!("key set version {}", set.version);
            println!(
                "{:<10} {:<9} {:<22} {:<22}",
                "kid", "role", "not_before", "not_after"
            );
            for key in &set.keys {
                let role = if Some(key.kid) == signing {
                    "signing"
                } else {
                    "verifying"
                };
                println!(
                    "{:<10} {:<9} {:<22} {:<22}",
                    key.kid.to_string(),
                    role,
                    rfc3339(key.not_before_s),
                    rfc3339(key.not_after_s)
                );
            }
        }
    }
    Ok(())
}

fn random_seed(rng: &SystemRandom) -> anyhow::Result<KeySeed> {
    let mut seed = [0u8; SEED_BYTES];
    rng.fill(&mut seed)
        .map_err(|_| anyhow::anyhow!("the OS random source failed"))?;
    Ok(KeySeed::from_bytes(seed))
}

fn rfc3339(unix_s: u64) -> String {
    i64::try_from(unix_s)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map_or_else(
            || unix_s.to_string(),
            |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        )
}
