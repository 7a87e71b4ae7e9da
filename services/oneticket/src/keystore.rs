//! The key store: the one place private keys live.
//!
//! A directory (`OT_KEY_DIR`, default `.oneticket/keys`) readable by the
//! service's user only (mode 0700; refused when group or others can read it),
//! kept apart from ordinary data (never in the database, never logged):
//!
//! | File | Mode | Holds | Read by |
//! |---|---|---|---|
//! | `terminal-master.key` | 0600 | the 32-byte master key terminals' HMAC keys derive from (hex) | services that authenticate terminals |
//! | `ticket-ring.secret.json` | 0600 | the ticket signing ring: version, issuer, every key's seed (hex) and validity | services that issue tickets |
//! | `ticket-keys.json` | 0644 | the public key set (the `GET /v1/keys` message) | services that verify tickets |
//!
//! Files are written whole to a temporary name and renamed, so a reader never
//! sees half a key. Each service reads only the file it needs.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail, ensure};
use card_protocol::messages::KeySet;
use card_protocol::ticket::Issuer;
use ledger::keyring::{KeyMaterial, KeyRing, KeySeed, SEED_BYTES};
use serde::{Deserialize, Serialize};

/// The default key directory, relative to the working directory: a
/// development default; production sets `OT_KEY_DIR`.
pub const DEFAULT_KEY_DIR: &str = ".oneticket/keys";
/// The issuer code written into tickets.
pub const DEFAULT_ISSUER: &str = "OT-HCM";
/// Bytes of the terminal master key (HKDF input keying material).
pub const TERMINAL_MASTER_KEY_BYTES: usize = 32;

const TERMINAL_MASTER_FILE: &str = "terminal-master.key";
const RING_FILE: &str = "ticket-ring.secret.json";
const PUBLIC_KEYS_FILE: &str = "ticket-keys.json";
/// Owner-only directory.
const DIR_MODE: u32 = 0o700;
/// Owner-only secret file.
const SECRET_MODE: u32 = 0o600;
/// The public key set may be read by anyone who can enter the directory.
const PUBLIC_MODE: u32 = 0o644;

/// The key directory.
#[derive(Debug, Clone)]
pub struct KeyStore {
    dir: PathBuf,
}

/// The stored form of the ticket ring (secret).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredRing {
    version: u64,
    issuer: String,
    signing: StoredKey,
    previous: Vec<StoredKey>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredKey {
    seed: String,
    not_before_s: u64,
    not_after_s: u64,
}

impl StoredKey {
    fn from_material(m: &KeyMaterial) -> StoredKey {
        StoredKey {
            seed: hex::encode(m.seed.as_bytes()),
            not_before_s: m.not_before_s,
            not_after_s: m.not_after_s,
        }
    }

    fn to_material(&self) -> anyhow::Result<KeyMaterial> {
        let seed: [u8; SEED_BYTES] = hex::decode(&self.seed)
            .ok()
            .and_then(|b| b.try_into().ok())
            .context("a key seed is not 64 hex digits")?;
        Ok(KeyMaterial {
            seed: KeySeed::from_bytes(seed),
            not_before_s: self.not_before_s,
            not_after_s: self.not_after_s,
        })
    }
}

/// A stored ring and the issuer it signs for.
pub struct RingFile {
    pub ring: KeyRing,
    pub issuer: Issuer,
}

impl KeyStore {
    /// The directory named by `OT_KEY_DIR`, or the development default.
    pub fn from_env() -> KeyStore {
        let dir = std::env::var_os("OT_KEY_DIR")
            .filter(|v| !v.is_empty())
            .map_or_else(|| PathBuf::from(DEFAULT_KEY_DIR), PathBuf::from);
        KeyStore { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates the directory with mode 0700 if it does not exist.
    pub fn create_dir(&self) -> anyhow::Result<()> {
        if !self.dir.exists() {
            fs::create_dir_all(&self.dir)
                .with_context(|| format!("creating {}", self.dir.display()))?;
            fs::set_permissions(&self.dir, fs::Permissions::from_mode(DIR_MODE))?;
        }
        self.check_dir()
    }

    /// Refuses a directory that group or others can read or enter.
    fn check_dir(&self) -> anyhow::Result<()> {
        let meta = fs::metadata(&self.dir).with_context(|| {
            format!(
                "the key store {} does not exist; create it with `oneticket keys generate`",
                self.dir.display()
            )
        })?;
        ensure!(meta.is_dir(), "{} is not a directory", self.dir.display());
        let mode = meta.permissions().mode() & 0o777;
        ensure!(
            mode & 0o077 == 0,
            "the key store {} has mode {mode:o}; it must be 700 (chmod 700 {0})",
            self.dir.display()
        );
        Ok(())
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Writes `bytes` to `name` with `mode`, atomically (temporary file, fsync, rename).
    fn write_file(&self, name: &str, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
        self.check_dir()?;
        let tmp = self.path(&format!(".{name}.tmp"));
        let _ = fs::remove_file(&tmp);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .with_context(|| format!("writing {}", tmp.display()))?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, self.path(name))?;
        Ok(())
    }

    /// Reads a secret file, refusing one that group or others can read.
    fn read_secret(&self, name: &str) -> anyhow::Result<String> {
        self.check_dir()?;
        let path = self.path(name);
        let meta = fs::metadata(&path).with_context(|| {
            format!(
                "{} is missing; run `oneticket keys generate`",
                path.display()
            )
        })?;
        let mode = meta.permissions().mode() & 0o777;
        ensure!(
            mode & 0o077 == 0,
            "{} has mode {mode:o}; secret files must be 600",
            path.display()
        );
        fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
    }

    /// True when every key file exists.
    pub fn is_complete(&self) -> bool {
        [TERMINAL_MASTER_FILE, RING_FILE, PUBLIC_KEYS_FILE]
            .iter()
            .all(|f| self.path(f).is_file())
    }

    /// True when any key file exists.
    pub fn has_any(&self) -> bool {
        [TERMINAL_MASTER_FILE, RING_FILE, PUBLIC_KEYS_FILE]
            .iter()
            .any(|f| self.path(f).exists())
    }

    /// Stores the terminal master key.
    pub fn write_terminal_master(
        &self,
        key: &[u8; TERMINAL_MASTER_KEY_BYTES],
    ) -> anyhow::Result<()> {
        self.write_file(
            TERMINAL_MASTER_FILE,
            format!("{}\n", hex::encode(key)).as_bytes(),
            SECRET_MODE,
        )
    }

    /// The terminal master key.
    pub fn terminal_master(&self) -> anyhow::Result<[u8; TERMINAL_MASTER_KEY_BYTES]> {
        let text = self.read_secret(TERMINAL_MASTER_FILE)?;
        hex::decode(text.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .with_context(|| {
                format!(
                    "{TERMINAL_MASTER_FILE} must hold {} hex digits",
                    TERMINAL_MASTER_KEY_BYTES * 2
                )
            })
    }

    /// Stores the ring (secret) and its public key set.
    pub fn write_ring(&self, ring: &RingFile) -> anyhow::Result<()> {
        let material = ring.ring.material();
        let stored = StoredRing {
            version: material.version,
            issuer: ring.issuer.as_str().to_owned(),
            signing: StoredKey::from_material(&material.signing),
            previous: material
                .previous
                .iter()
                .map(StoredKey::from_material)
                .collect(),
        };
        self.write_file(RING_FILE, &serde_json::to_vec_pretty(&stored)?, SECRET_MODE)?;
        self.write_file(
            PUBLIC_KEYS_FILE,
            &serde_json::to_vec_pretty(&ring.ring.key_set())?,
            PUBLIC_MODE,
        )
    }

    /// The ticket signing ring, with its seeds.
    pub fn ring(&self) -> anyhow::Result<RingFile> {
        let stored: StoredRing = serde_json::from_str(&self.read_secret(RING_FILE)?)
            .with_context(|| format!("parsing {RING_FILE}"))?;
        let issuer = Issuer::parse(&stored.issuer)
            .map_err(|e| anyhow::anyhow!("{RING_FILE}: issuer: {e}"))?;
        let signing = stored.signing.to_material()?;
        let previous = stored
            .previous
            .iter()
            .map(StoredKey::to_material)
            .collect::<anyhow::Result<Vec<_>>>()?;
        let ring = KeyRing::restore(issuer.clone(), stored.version, &signing, &previous)
            .with_context(|| format!("restoring {RING_FILE}"))?;
        Ok(RingFile { ring, issuer })
    }

    /// The public key set (what verifiers need; no secrets).
    pub fn public_keys(&self) -> anyhow::Result<KeySet> {
        self.check_dir()?;
        let path = self.path(PUBLIC_KEYS_FILE);
        let text = fs::read_to_string(&path).with_context(|| {
            format!(
                "{} is missing; run `oneticket keys generate`",
                path.display()
            )
        })?;
        let set: KeySet =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        Ok(set)
    }
}

/// Refuses to overwrite a populated key store.
pub fn refuse_overwrite(store: &KeyStore) -> anyhow::Result<()> {
    if store.has_any() {
        bail!(
            "the key store {} already holds keys; use `oneticket keys rotate` to replace the signing key (or --if-missing to keep them)",
            store.dir().display()
        );
    }
    Ok(())
}
