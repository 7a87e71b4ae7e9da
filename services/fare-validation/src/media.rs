//! Media → accounts in memory, kept true by the change feed.
//!
//! A tap names a card (or a bank-card token, or a plate); pricing needs the
//! account and its rider category. A Postgres query per tap cost more than
//! the rest of the tap path together, and real riders tap minutes or hours
//! apart, so a cache whose entries expire after seconds misses almost
//! always. Here every resolution is kept (bounded by [`MEDIA_CACHE_ENTRIES`]
//! per table, the least recently used dropped first) until the change feed
//! says it changed: at most every [`MEDIA_FEED_POLL_MS`] one query reads the
//! media and accounts changed since the last poll (`rider.resolution_change`,
//! written by triggers, migration 0070) and forgets them. So a card linked,
//! blocked or moved to another account, or a category verified, takes effect
//! within the poll interval on every instance. Unknown media are remembered
//! for [`MEDIA_MISS_TTL_MS`] only (sooner forgotten when the feed shows a
//! link), in a table of their own so a stream of made-up card ids cannot
//! push out known riders.
//!
//! Blocked cards and bank-card tokens are also refused by the deny list,
//! which the tap path checks before the medium (refreshed every
//! second, `state::DENY_LIST_REFRESH_MS`).
//!
//! **A lookup racing a poll.** A lookup reads Postgres, then stores what it
//! read. Had a poll forgotten that entry in between, storing it would bring
//! the old value back for good. So a poll that forgets anything bumps an
//! epoch (under the write half of a lock), and a lookup stores only if the
//! epoch is the one it saw before its query (under the read half). A change
//! the poll could not see yet (committed after the poll's snapshot) belongs
//! to a transaction the new horizon could not see either, and is read by
//! the next poll (`store_pg::rider::FeedHorizon`).

use std::sync::{Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use ledger::AccountId;
use projection::cache::{Cache, FastHash};
use store_pg::StoreError;
use store_pg::rider::{
    CategoryStatus, FeedHorizon, MediumKind, MediumRecord, MediumStatus, ResolutionChange,
    RiderAccount, Riders,
};
use uuid::Uuid;

/// Media (and, in their own table, accounts) kept per generation: about
/// 150 bytes each, so 200,000 × 2 generations × 2 tables stay near 120 MB
/// and hold every rider of a peak hour on a busy network.
pub const MEDIA_CACHE_ENTRIES: usize = 200_000;
/// How often the change feed is read, ms: the bound on how late a link, a
/// block (for plates; cards are also on the deny list) or a category
/// decision made elsewhere takes effect. One indexed query a second.
pub const MEDIA_FEED_POLL_MS: u64 = 1_000;
/// Most feed rows read per poll: far more than media change in a second.
/// A poll that gets this many may have missed some, so it forgets every
/// cached resolution instead (correct, and rare: a bulk import of cards).
pub const MEDIA_FEED_MAX_CHANGES: u32 = 10_000;
/// How long an unknown medium is remembered, ms: long enough to absorb a
/// card tapped again and again at a gate, short enough that a medium linked
/// while the feed is unreadable is still found soon.
pub const MEDIA_MISS_TTL_MS: u64 = 5_000;
/// Unknown media remembered per generation: they are outside input, so
/// they get a table of their own, much smaller than the known media's.
pub const MEDIA_MISS_ENTRIES: usize = 20_000;
/// Feed rows older than this are deleted, in seconds: every reader passed
/// them seconds after they were written; a day leaves room to debug.
pub const MEDIA_FEED_RETENTION_S: u32 = 86_400;
/// How often this instance prunes the feed, ms (any instance may).
pub const MEDIA_FEED_PRUNE_INTERVAL_MS: u64 = 3_600_000;

type MediumKey = (MediumKind, String);

/// The medium half of a resolution: what `rider.medium` says.
#[derive(Clone, Copy, Debug)]
struct KnownMedium {
    medium_id: Uuid,
    status: MediumStatus,
    account_id: AccountId,
}

/// The account half: what `rider.account` says.
#[derive(Clone, Debug)]
struct KnownCategory {
    category_id: String,
    category_status: CategoryStatus,
}

/// Where this instance is in the feed.
#[derive(Clone, Debug, Default)]
struct FeedPosition {
    horizon: Option<FeedHorizon>,
    polled_at: Option<Instant>,
    pruned_at: Option<Instant>,
}

/// The resolutions this instance knows (see the module docs).
pub(crate) struct MediaCache {
    media: Cache<MediumKey, KnownMedium>,
    accounts: Cache<AccountId, KnownCategory, FastHash>,
    misses: Cache<MediumKey, Instant>,
    /// Bumped by every poll that forgets something; see the module docs.
    epoch: RwLock<u64>,
    position: Mutex<FeedPosition>,
    /// Held by the one request that polls; the others go on.
    poll: tokio::sync::Mutex<()>,
}

impl MediaCache {
    pub(crate) fn new() -> MediaCache {
        MediaCache {
            media: Cache::new(MEDIA_CACHE_ENTRIES),
            accounts: Cache::with_hasher(MEDIA_CACHE_ENTRIES),
            misses: Cache::new(MEDIA_MISS_ENTRIES),
            epoch: RwLock::new(0),
            position: Mutex::new(FeedPosition::default()),
            poll: tokio::sync::Mutex::new(()),
        }
    }

    /// The medium with this value and its account: from memory when known,
    /// else from Postgres (and then remembered).
    pub(crate) async fn resolve(
        &self,
        riders: &Riders,
        kind: MediumKind,
        value: &str,
    ) -> Result<Option<MediumRecord>, StoreError> {
        self.follow_feed(riders, Poll::WhenDue).await?;
        let key = (kind, value.to_owned());
        if let Some(medium) = self.media.get(&key) {
            if let Some(category) = self.accounts.get(&medium.account_id) {
                return Ok(Some(record(kind, medium, category)));
            }
            let epoch = self.epoch();
            if let Some(account) = Box::pin(riders.account(medium.account_id)).await? {
                self.keep_account(epoch, &account);
                return Ok(Some(MediumRecord {
                    medium_id: medium.medium_id,
                    kind,
                    status: medium.status,
                    account,
                }));
            }
        } else if self
            .misses
            .get(&key)
            .is_some_and(|at| at.elapsed() < Duration::from_millis(MEDIA_MISS_TTL_MS))
        {
            return Ok(None);
        }
        let epoch = self.epoch();
        // A miss (boxed, like every Postgres read on the tap path: see
        // `follow_feed`).
        let found = Box::pin(riders.find_medium(kind, value)).await?;
        self.keep(epoch, key, found.as_ref());
        Ok(found)
    }

    /// Reads the feed now (`Poll::Now`) or when the interval has passed,
    /// by one request at a time; the first read waits for everyone (nothing
    /// may be cached before the feed has a horizon).
    pub(crate) async fn follow_feed(&self, riders: &Riders, poll: Poll) -> Result<(), StoreError> {
        let (polled_at, has_horizon) = self.polled();
        let due = poll == Poll::Now
            || polled_at.is_none_or(|at| at.elapsed() >= Duration::from_millis(MEDIA_FEED_POLL_MS));
        if !due {
            return Ok(());
        }
        let guard = if !has_horizon || poll == Poll::Now {
            Some(self.poll.lock().await)
        } else {
            self.poll.try_lock().ok()
        };
        // A poll that finished while we waited answers for us (a forced
        // poll always reads: its caller wants changes made before it).
        if let Some(_guard) = guard
            && (poll == Poll::Now || self.polled().0 == polled_at)
        {
            // Boxed: a rare path whose queries would otherwise make every
            // tap's future (copied and touched per tap) kilobytes larger.
            Box::pin(self.read_feed(riders)).await?;
        }
        Ok(())
    }

    /// Forgets a medium now (after a block made by this instance).
    pub(crate) fn forget(&self, kind: MediumKind, value: &str) {
        let key = (kind, value.to_owned());
        let mut epoch = self.epoch.write().unwrap_or_else(PoisonError::into_inner);
        *epoch += 1;
        self.media.remove(&key);
        self.misses.remove(&key);
    }

    fn epoch(&self) -> u64 {
        *self.epoch.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// When the feed was last read and whether it has a horizon: what every
    /// lookup checks, without copying the horizon (its in-progress ids).
    fn polled(&self) -> (Option<Instant>, bool) {
        let position = self.position.lock().unwrap_or_else(PoisonError::into_inner);
        (position.polled_at, position.horizon.is_some())
    }

    fn position(&self) -> FeedPosition {
        self.position
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Remembers what a lookup read, unless a poll forgot something since
    /// the lookup began (`epoch`).
    fn keep(&self, epoch: u64, key: MediumKey, found: Option<&MediumRecord>) {
        let current = self.epoch.read().unwrap_or_else(PoisonError::into_inner);
        if *current != epoch {
            return;
        }
        match found {
            Some(record) => {
                self.misses.remove(&key);
                self.media.put(
                    key,
                    KnownMedium {
                        medium_id: record.medium_id,
                        status: record.status,
                        account_id: record.account.account_id,
                    },
                );
                self.accounts
                    .put(record.account.account_id, category_of(&record.account));
            }
            None => self.misses.put(key, Instant::now()),
        }
    }

    fn keep_account(&self, epoch: u64, account: &RiderAccount) {
        let current = self.epoch.read().unwrap_or_else(PoisonError::into_inner);
        if *current == epoch {
            self.accounts.put(account.account_id, category_of(account));
        }
    }

    /// One poll: the new horizon first, then every change since the old one
    /// (so nothing committed in between is skipped), then forget them.
    async fn read_feed(&self, riders: &Riders) -> Result<(), StoreError> {
        let horizon = riders.resolution_horizon().await?;
        let seen = self.position();
        if let Some(since) = &seen.horizon {
            let changes = riders
                .resolution_changes(since, MEDIA_FEED_MAX_CHANGES)
                .await?;
            if !changes.is_empty() {
                let overflow =
                    u32::try_from(changes.len()).map_or(true, |n| n >= MEDIA_FEED_MAX_CHANGES);
                let mut epoch = self.epoch.write().unwrap_or_else(PoisonError::into_inner);
                *epoch += 1;
                if overflow {
                    self.media.clear();
                    self.accounts.clear();
                    self.misses.clear();
                } else {
                    for change in changes {
                        match change {
                            ResolutionChange::Medium { kind, value } => {
                                let key = (kind, value);
                                self.media.remove(&key);
                                self.misses.remove(&key);
                            }
                            ResolutionChange::Account(account) => self.accounts.remove(&account),
                        }
                    }
                }
            }
        }
        let prune = seen
            .pruned_at
            .is_none_or(|at| at.elapsed() >= Duration::from_millis(MEDIA_FEED_PRUNE_INTERVAL_MS));
        if prune {
            riders
                .prune_resolution_changes(MEDIA_FEED_RETENTION_S)
                .await?;
        }
        let mut position = self.position.lock().unwrap_or_else(PoisonError::into_inner);
        position.horizon = Some(horizon);
        position.polled_at = Some(Instant::now());
        if prune {
            position.pruned_at = position.polled_at;
        }
        Ok(())
    }
}

/// When [`MediaCache::follow_feed`] reads the feed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Poll {
    /// If [`MEDIA_FEED_POLL_MS`] passed since the last read.
    WhenDue,
    /// Now (an admin change, a test that does not wait for the interval).
    Now,
}

fn category_of(account: &RiderAccount) -> KnownCategory {
    KnownCategory {
        category_id: account.category_id.clone(),
        category_status: account.category_status,
    }
}

fn record(kind: MediumKind, medium: KnownMedium, category: KnownCategory) -> MediumRecord {
    MediumRecord {
        medium_id: medium.medium_id,
        kind,
        status: medium.status,
        account: RiderAccount {
            account_id: medium.account_id,
            category_id: category.category_id,
            category_status: category.category_status,
        },
    }
}
