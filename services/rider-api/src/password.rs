//! Passwords: argon2id hashes in PHC string form, computed off the async
//! runtime and at most a few at a time.
//!
//! Parameters (OWASP's password storage cheat sheet, first argon2id option:
//! 19 MiB, 2 passes, 1 lane) for a 2-core server: one lane keeps a hash on
//! one core, so a login never takes the whole machine; 19 MiB × 2 passes costs
//! an attacker with a GPU far more than bcrypt or PBKDF2 at the same server
//! time (tens of milliseconds here). At most [`MAX_CONCURRENT_HASHES`] hashes
//! run at once, which bounds memory (2 × 19 MiB) and leaves the tap path a
//! core even under a login storm; the rate limits bound the storm itself.
//!
//! The parameters are stored in every hash, so raising them later only needs
//! a re-hash at the next successful login; old hashes keep verifying.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use ring::rand::{SecureRandom, SystemRandom};
use tokio::sync::Semaphore;

/// Memory per hash, KiB (19 MiB: OWASP's minimum for argon2id).
pub const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
/// Passes over the memory (OWASP's pairing with 19 MiB).
pub const ARGON2_ITERATIONS: u32 = 2;
/// Lanes: one, so a hash uses one of the server's two cores.
pub const ARGON2_PARALLELISM: u32 = 1;
/// Hashes computed at once: one per core of the 2-core box.
pub const MAX_CONCURRENT_HASHES: usize = 2;
/// Bytes of random salt (the PHC recommendation of 16).
pub const SALT_BYTES: usize = 16;
/// Shortest password, in characters (NIST SP 800-63B's minimum of 8).
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password, in bytes: long passphrases fit; a megabyte "password"
/// does not get hashed.
pub const MAX_PASSWORD_BYTES: usize = 256;

/// A password that meets the length rules. Never printed.
#[derive(Clone)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Why a password is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("a password has at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("a password has at most {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
}

impl Password {
    /// Checks the length rules.
    ///
    /// # Errors
    /// When too short or too long.
    pub fn new(text: &str) -> Result<Password, PasswordError> {
        if text.len() > MAX_PASSWORD_BYTES {
            return Err(PasswordError::TooLong);
        }
        if text.chars().count() < MIN_PASSWORD_CHARS {
            return Err(PasswordError::TooShort);
        }
        Ok(Password(text.to_owned()))
    }
}

/// Hashing failed: a bug or the runtime shutting down, never a wrong password.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("argon2: {0}")]
    Argon2(String),
    #[error("the hashing task failed")]
    Task(#[from] tokio::task::JoinError),
    #[error("the system random number generator failed")]
    Random,
}

/// Hashes and verifies passwords with bounded concurrency.
#[derive(Clone)]
pub struct Passwords {
    argon2: Argon2<'static>,
    permits: Arc<Semaphore>,
    rng: SystemRandom,
    /// A hash of a random password: verified against when the login
    /// identifier is unknown, so the answer takes as long as for a known one.
    dummy_hash: Arc<String>,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords").finish_non_exhaustive()
    }
}

impl Passwords {
    /// The hasher with the parameters above.
    ///
    /// # Errors
    /// When the system RNG fails while making the dummy hash.
    pub fn new() -> Result<Passwords, HashError> {
        Passwords::with_params(ARGON2_MEMORY_KIB, ARGON2_ITERATIONS, ARGON2_PARALLELISM)
    }

    /// A hasher with other parameters (tests use the smallest ones so a
    /// suite of logins runs fast; production uses [`Passwords::new`]).
    ///
    /// # Errors
    /// When the parameters are invalid or the RNG fails.
    pub fn with_params(
        memory_kib: u32,
        iterations: u32,
        lanes: u32,
    ) -> Result<Passwords, HashError> {
        let params = Params::new(memory_kib, iterations, lanes, None)
            .map_err(|e| HashError::Argon2(e.to_string()))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let rng = SystemRandom::new();
        let mut random = [0u8; 32];
        rng.fill(&mut random).map_err(|_| HashError::Random)?;
        let dummy = hash_blocking(&argon2, &rng, &hex::encode(random))?;
        Ok(Passwords {
            argon2,
            permits: Arc::new(Semaphore::new(MAX_CONCURRENT_HASHES)),
            rng,
            dummy_hash: Arc::new(dummy),
        })
    }

    /// The PHC string of `password` with a fresh salt.
    ///
    /// # Errors
    /// A [`HashError`] (never for a valid password).
    pub async fn hash(&self, password: &Password) -> Result<String, HashError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| HashError::Random)?;
        let (argon2, rng, text) = (self.argon2.clone(), self.rng.clone(), password.0.clone());
        tokio::task::spawn_blocking(move || hash_blocking(&argon2, &rng, &text)).await?
    }

    /// Whether `password` matches `stored`; with `None` (unknown login) it
    /// spends the same time and answers `false`.
    ///
    /// # Errors
    /// A [`HashError`] when the work could not run; a corrupt stored hash is
    /// `Ok(false)` and logged.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> Result<bool, HashError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| HashError::Random)?;
        let known = stored.is_some();
        let stored = stored.map_or_else(|| self.dummy_hash.as_str().to_owned(), str::to_owned);
        let (argon2, text) = (self.argon2.clone(), password.to_owned());
        let matches = tokio::task::spawn_blocking(move || match PasswordHash::new(&stored) {
            Ok(hash) => argon2.verify_password(text.as_bytes(), &hash).is_ok(),
            Err(error) => {
                tracing::error!(%error, "a stored password hash does not parse");
                false
            }
        })
        .await?;
        Ok(known && matches)
    }
}

fn hash_blocking(argon2: &Argon2<'_>, rng: &SystemRandom, text: &str) -> Result<String, HashError> {
    let mut salt = [0u8; SALT_BYTES];
    rng.fill(&mut salt).map_err(|_| HashError::Random)?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| HashError::Argon2(e.to_string()))?;
    argon2
        .hash_password(text.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| HashError::Argon2(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_rules() {
        let check = |text: &str, expected: Result<(), PasswordError>| {
            assert_eq!(Password::new(text).map(drop), expected, "{text:?}");
        };
        check("1234567", Err(PasswordError::TooShort));
        check("12345678", Ok(()));
        // Characters, not bytes, count toward the minimum.
        check("mậtkhẩu1", Ok(()));
        check(&"x".repeat(MAX_PASSWORD_BYTES), Ok(()));
        check(
            &"x".repeat(MAX_PASSWORD_BYTES + 1),
            Err(PasswordError::TooLong),
        );
    }

    #[tokio::test]
    async fn hashes_verify_only_their_password() {
        let passwords = Passwords::with_params(8, 1, 1).expect("valid params");
        let password = Password::new("correct horse").expect("valid");
        let hash = passwords.hash(&password).await.expect("hashes");
        assert!(hash.starts_with("$argon2id$v=19$m=8,t=1,p=1$"), "{hash}");
        let check = |attempt: &'static str, stored: Option<String>, expected: bool| {
            let passwords = passwords.clone();
            async move {
                let got = passwords
                    .verify(attempt, stored.as_deref())
                    .await
                    .expect("runs");
                assert_eq!(got, expected, "{attempt:?}");
            }
        };
        check("correct horse", Some(hash.clone()), true).await;
        check("correct horsE", Some(hash.clone()), false).await;
        check("correct horse", None, false).await;
        check("correct horse", Some("not a phc string".to_owned()), false).await;
        // Two hashes of one password differ (fresh salt).
        assert_ne!(passwords.hash(&password).await.expect("hashes"), hash);
    }

    #[test]
    fn production_parameters_are_valid() {
        assert!(
            Params::new(
                ARGON2_MEMORY_KIB,
                ARGON2_ITERATIONS,
                ARGON2_PARALLELISM,
                None
            )
            .is_ok()
        );
    }
}
