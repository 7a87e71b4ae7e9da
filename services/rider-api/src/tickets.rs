//! The ticket key ring as the API uses it: loaded from the key store through
//! a [`RingSource`], re-read at most every [`RING_RECHECK_S`] seconds and
//! whenever signing fails for want of a valid key, so `oneticket keys rotate`
//! takes effect without a restart. Tickets signed by a replaced key stay
//! valid until their own `exp`: the replaced key stays in the published key
//! set until its `not_after_s`, which bounds every `exp` it signed.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use ledger::keyring::{IssueError, IssuedTicket, KeyRing, TicketRequest};

/// How often the key store is re-read, seconds: a rotation reaches every
/// instance within this, far inside the overlap a rotated key keeps (its
/// tickets' lifetime).
pub const RING_RECHECK_S: u64 = 10;

/// Where the ring comes from (the key store's `ticket-ring.secret.json` in
/// production; a ring in memory in tests).
pub trait RingSource: Send + Sync + 'static {
    /// Loads the ring as it is now.
    ///
    /// # Errors
    /// When the store cannot be read or does not parse.
    fn load(&self) -> Result<KeyRing, Box<dyn std::error::Error + Send + Sync>>;
}

impl<F> RingSource for F
where
    F: Fn() -> Result<KeyRing, Box<dyn std::error::Error + Send + Sync>> + Send + Sync + 'static,
{
    fn load(&self) -> Result<KeyRing, Box<dyn std::error::Error + Send + Sync>> {
        self()
    }
}

/// Why no ticket was issued.
#[derive(Debug, thiserror::Error)]
pub enum TicketIssueError {
    /// The ring refused even after a reload (e.g. its key expired and nobody
    /// rotated).
    #[error(transparent)]
    Issue(#[from] IssueError),
    /// The key store could not be read.
    #[error("the key store could not be read")]
    Load(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The current ring and how to refresh it.
pub struct Tickets {
    source: Box<dyn RingSource>,
    ring: RwLock<Arc<KeyRing>>,
    checked: Mutex<Instant>,
    recheck: Duration,
}

impl std::fmt::Debug for Tickets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tickets").finish_non_exhaustive()
    }
}

impl Tickets {
    /// Loads the ring once now.
    ///
    /// # Errors
    /// When the source cannot load it.
    pub fn new(source: impl RingSource) -> Result<Tickets, TicketIssueError> {
        Tickets::with_recheck(source, Duration::from_secs(RING_RECHECK_S))
    }

    /// Loads the ring once now and re-reads it every `recheck` (tests use
    /// zero: every ticket sees the key store as it is).
    ///
    /// # Errors
    /// When the source cannot load it.
    pub fn with_recheck(
        source: impl RingSource,
        recheck: Duration,
    ) -> Result<Tickets, TicketIssueError> {
        let ring = source.load().map_err(TicketIssueError::Load)?;
        Ok(Tickets {
            source: Box::new(source),
            ring: RwLock::new(Arc::new(ring)),
            checked: Mutex::new(Instant::now()),
            recheck,
        })
    }

    fn current(&self) -> Arc<KeyRing> {
        self.ring
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Re-reads the source and swaps the ring if its version moved.
    fn reload(&self) -> Result<(), TicketIssueError> {
        let ring = self.source.load().map_err(TicketIssueError::Load)?;
        *self
            .checked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Instant::now();
        let mut current = self
            .ring
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if ring.version() != current.version() || ring.signing_kid() != current.signing_kid() {
            tracing::info!(version = ring.version(), kid = %ring.signing_kid(), "ticket key ring reloaded");
            *current = Arc::new(ring);
        }
        Ok(())
    }

    fn due(&self) -> bool {
        self.checked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .elapsed()
            >= self.recheck
    }

    /// Signs `request` at `now_s` with the current signing key, re-reading
    /// the key store first when due or when the current key cannot sign.
    /// Blocking (a small file read at most every few seconds): call it from
    /// `spawn_blocking`.
    ///
    /// # Errors
    /// When no key can sign the request.
    pub fn issue(
        &self,
        request: &TicketRequest,
        now_s: u64,
    ) -> Result<IssuedTicket, TicketIssueError> {
        // Keep signing with the ring we have when the re-read fails: a
        // broken file must not stop tickets while the current key is good.
        if self.due()
            && let Err(error) = self.reload()
        {
            tracing::warn!(%error, "could not re-read the ticket key ring");
        }
        match self.current().issue(request, now_s) {
            Ok(ticket) => Ok(ticket),
            Err(
                IssueError::SigningKeyExpired
                | IssueError::SigningKeyNotYetActive
                | IssueError::ExceedsKeyValidity { .. },
            ) => {
                self.reload()?;
                Ok(self.current().issue(request, now_s)?)
            }
            Err(other) => Err(other.into()),
        }
    }

    /// The public key set of the current ring (what terminals verify with).
    #[must_use]
    pub fn key_set(&self) -> card_protocol::messages::KeySet {
        self.current().key_set()
    }

    /// Forces a re-read now (after a rotation, in tests and tools).
    ///
    /// # Errors
    /// When the source cannot load the ring.
    pub fn refresh(&self) -> Result<(), TicketIssueError> {
        self.reload()
    }
}
