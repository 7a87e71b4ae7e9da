//! Parking lot counters and the gate saga's reservations.
//!
//! A lot's counter is shared by every account, so it cannot live in an
//! account's slot: it has its own hash tag (`{lot:<id>}`), and an entry or
//! exit crosses two slots in steps, each one atomic script:
//!
//! ```text
//! entry: begin_entry ──held──▶ projection.apply (account slot) ──▶ settle(accept|deny)
//!           └──full──▶ projection.apply with a full lot (engine says lot_full) ──▶ settle(deny)
//! exit:  begin_exit ──exiting──▶ projection.apply ──▶ settle(accept → −1 | deny)
//! ```
//!
//! Keys, all in the lot's slot:
//! - `…:{lot:<id>}:occ` — hash: `n` vehicles inside, `cap` the capacity it
//!   was checked against, `at` the last time (unix ms) a gate or an
//!   operator wrote it (the open-data feed's source time), `closed` (`1`:
//!   the operator closed the lot, entries are `Full`);
//! - `…:{lot:<id>}:gate:<terminal>:<epoch>:<seq>` — the saga record of one
//!   gate tap: `h` request hash, `s` step, `b` the request, `a` account,
//!   `t` event time (ms), `c` created (ms), `o` origin (`online`,
//!   `journal`); kept for the idempotency retention;
//! - `…:{lot:<id>}:pending` — sorted set of the records not settled yet,
//!   scored by creation time, for the healing sweep.
//!
//! **Invariant:** `0 ≤ n ≤ cap`. `begin_entry` adds one only below `cap`;
//! `settle` takes one away only from a record that added or is exiting, and
//! never below 0; `set` refuses a value above `cap`. Each record moves one
//! way through its steps (`held → in | released`, `exiting → out | kept`,
//! `full` is final), so a retry of any step changes nothing twice.

use std::sync::LazyLock;

use redis::aio::ConnectionLike;
use redis::{Script, Value};

use crate::connection::StoreError;
use crate::keys::{HashTag, KeyName, KeyPrefix};

const OCC: KeyName = KeyName::new("occ");
const PENDING: KeyName = KeyName::new("pending");

/// The Redis keys of one lot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LotKeys {
    prefix: KeyPrefix,
    tag: HashTag,
}

impl LotKeys {
    /// The keys of lot `lot_id` under `prefix`.
    ///
    /// # Errors
    /// A lot id that cannot be part of a hash tag (see [`HashTag::new`]).
    pub fn new(prefix: &KeyPrefix, lot_id: &str) -> Result<LotKeys, crate::InvalidKeyPart> {
        Ok(LotKeys {
            prefix: prefix.clone(),
            tag: HashTag::new(&format!("lot:{lot_id}"))?,
        })
    }

    /// The counter hash.
    #[must_use]
    pub fn occupancy(&self) -> String {
        self.prefix.tagged_key(&self.tag, OCC)
    }

    /// The set of unsettled records.
    #[must_use]
    pub fn pending(&self) -> String {
        self.prefix.tagged_key(&self.tag, PENDING)
    }

    /// The saga record of the tap `tap` (`<terminal>:<epoch>:<seq>`).
    #[must_use]
    pub fn record(&self, tap: &str) -> String {
        // `tagged_key` takes only static names; this is its layout with the
        // tap as the last part.
        format!(
            "{}:{{{}}}:gate:{tap}",
            self.prefix.as_str(),
            self.tag.as_str()
        )
    }
}

/// The step a gate tap's saga record is at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Entry: a place is reserved (counted); the account's answer is not
    /// known yet.
    Held,
    /// Entry: accepted; the place stays counted.
    In,
    /// Entry: denied; the place was given back.
    Released,
    /// Entry: the lot was full; nothing was counted.
    Full,
    /// Exit: the account's answer is not known yet.
    Exiting,
    /// Exit: accepted; the place was given back.
    Out,
    /// Exit: denied; nothing changed.
    Kept,
}

impl Step {
    fn parse(text: &[u8]) -> Option<Step> {
        Some(match text {
            b"held" => Step::Held,
            b"in" => Step::In,
            b"released" => Step::Released,
            b"full" => Step::Full,
            b"exiting" => Step::Exiting,
            b"out" => Step::Out,
            b"kept" => Step::Kept,
            _ => return None,
        })
    }

    /// Whether the record still waits for the account's answer.
    #[must_use]
    pub const fn is_open(self) -> bool {
        matches!(self, Step::Held | Step::Exiting)
    }
}

/// What a `begin_*` script found or did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Begun {
    /// A new record at `step`; `occupied` is the counter after the step.
    New {
        /// `Held`, `Full` or `Exiting`.
        step: Step,
        /// Vehicles counted after the step.
        occupied: u32,
    },
    /// The tap was seen before with the same request: its record.
    Seen(Record),
    /// The tap was seen before with another request.
    Conflict,
    /// The lot has no counter yet: initialise it ([`init`]) and retry.
    NoCounter,
}

/// A saga record as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Where it is.
    pub step: Step,
    /// The request bytes (the gate's JSON tap).
    pub request: Vec<u8>,
    /// The account, as text.
    pub account: String,
    /// The event time the request is priced with, unix ms.
    pub event_ms: i64,
    /// When the record was made, unix ms.
    pub created_ms: i64,
    /// How the backend learned of the tap (`online`, `journal`).
    pub origin: String,
}

/// A new record's contents.
#[derive(Clone, Copy, Debug)]
pub struct NewRecord<'a> {
    /// The tap, `<terminal>:<epoch>:<seq>`.
    pub tap: &'a str,
    /// SHA-256 of the canonical request, hex.
    pub request_hash: &'a str,
    /// The request bytes, kept so a sweep can finish the saga.
    pub request: &'a [u8],
    /// The account, as text.
    pub account: &'a str,
    /// The event time, unix ms.
    pub event_ms: i64,
    /// Now, unix ms.
    pub now_ms: i64,
    /// How long the record lives, in seconds.
    pub retention_s: u64,
    /// How the backend learned of the tap (`online`, `journal`).
    pub origin: &'a str,
}

/// A lot's counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Occupancy {
    /// Vehicles inside.
    pub occupied: u32,
    /// The capacity it is bounded by.
    pub capacity: u32,
    /// When a gate or an operator last wrote it, unix ms.
    pub updated_ms: i64,
}

// Shared by the begin scripts: the record lookup and idempotency check.
// KEYS: occ, record, pending. ARGV: hash, request, account, event_ms, now_ms,
// retention_s, capacity (entries; ignored by exits), origin.
const BEGIN_PRELUDE: &str = r"
local seen = redis.call('HMGET', KEYS[2], 'h', 's', 'b', 'a', 't', 'c', 'o')
if seen[1] then
  if seen[1] == ARGV[1] then
    return {1, seen[2], seen[3], seen[4], seen[5], seen[6], seen[7]}
  end
  return {2}
end
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {4}
end
local n = tonumber(redis.call('HGET', KEYS[1], 'n'))
local function record(step)
  redis.call('HSET', KEYS[2], 'h', ARGV[1], 's', step, 'b', ARGV[2], 'a', ARGV[3],
    't', ARGV[4], 'c', ARGV[5], 'o', ARGV[8])
  redis.call('EXPIRE', KEYS[2], ARGV[6])
end
";

static BEGIN_ENTRY: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{BEGIN_PRELUDE}
local cap = tonumber(ARGV[7])
if n >= cap or redis.call('HGET', KEYS[1], 'closed') == '1' then
  record('full')
  return {{0, 'full', n}}
end
n = n + 1
redis.call('HSET', KEYS[1], 'n', n, 'cap', cap, 'at', ARGV[5])
record('held')
redis.call('ZADD', KEYS[3], ARGV[5], KEYS[2])
return {{0, 'held', n}}
"
    ))
});

static BEGIN_EXIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{BEGIN_PRELUDE}
record('exiting')
redis.call('ZADD', KEYS[3], ARGV[5], KEYS[2])
return {{0, 'exiting', n}}
"
    ))
});

// KEYS: occ, record, pending. ARGV: 'accept' | 'deny', now_ms.
static SETTLE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local step = redis.call('HGET', KEYS[2], 's')
if not step then
  return {3}
end
local n = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
local accept = ARGV[1] == 'accept'
local give_back = false
local next_step = step
if step == 'held' then
  if accept then next_step = 'in' else next_step = 'released'; give_back = true end
elseif step == 'exiting' then
  if accept then next_step = 'out'; give_back = true else next_step = 'kept' end
end
if give_back and redis.call('EXISTS', KEYS[1]) == 1 then
  if n > 0 then n = n - 1 end
  redis.call('HSET', KEYS[1], 'n', n, 'at', ARGV[2])
end
if next_step ~= step then
  redis.call('HSET', KEYS[2], 's', next_step)
end
redis.call('ZREM', KEYS[3], KEYS[2])
return {0, next_step, n}
",
    )
});

// KEYS: occ. ARGV: count, capacity, now_ms, closed ('1' or '0'). Creates
// the counter only when missing; answers the counter.
static INIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 0 then
  local n = tonumber(ARGV[1])
  local cap = tonumber(ARGV[2])
  if n > cap then n = cap end
  redis.call('HSET', KEYS[1], 'n', n, 'cap', cap, 'at', ARGV[3], 'closed', ARGV[4])
end
return redis.call('HMGET', KEYS[1], 'n', 'cap', 'at')
",
    )
});

// KEYS: occ. ARGV: '1' | '0'.
static SET_CLOSED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'closed', ARGV[1])
end
return 0
",
    )
});

// KEYS: occ. ARGV: expected, now_ms. Answers n (nil without a counter).
static TOUCH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local n = redis.call('HGET', KEYS[1], 'n')
if not n then return nil end
if tonumber(n) == tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'at', ARGV[2])
end
return tonumber(n)
",
    )
});

// KEYS: occ. ARGV: counted, capacity, now_ms. Answers {previous or -1, n}.
static SET: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local counted = tonumber(ARGV[1])
local cap = tonumber(ARGV[2])
if counted < 0 or counted > cap then
  return {-2, 0}
end
local prev = redis.call('HGET', KEYS[1], 'n')
redis.call('HSET', KEYS[1], 'n', counted, 'cap', cap, 'at', ARGV[3])
if prev then return {tonumber(prev), counted} end
return {-1, counted}
",
    )
});

fn unexpected(value: &Value) -> StoreError {
    StoreError::UnexpectedReply(format!("{value:?}"))
}

fn int(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Int(n) => Some(*n),
        Value::BulkString(bytes) => std::str::from_utf8(bytes).ok()?.parse().ok(),
        Value::SimpleString(text) => text.parse().ok(),
        _ => None,
    }
}

fn bytes(value: Option<&Value>) -> Option<Vec<u8>> {
    match value? {
        Value::BulkString(bytes) => Some(bytes.clone()),
        Value::SimpleString(text) => Some(text.clone().into_bytes()),
        _ => None,
    }
}

fn count(value: Option<&Value>, whole: &Value) -> Result<u32, StoreError> {
    int(value)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| unexpected(whole))
}

fn parse_begun(value: &Value) -> Result<Begun, StoreError> {
    let Value::Array(items) = value else {
        return Err(unexpected(value));
    };
    match int(items.first()) {
        Some(0) => {
            let step = bytes(items.get(1))
                .as_deref()
                .and_then(Step::parse)
                .ok_or_else(|| unexpected(value))?;
            Ok(Begun::New {
                step,
                occupied: count(items.get(2), value)?,
            })
        }
        Some(1) => {
            let step = bytes(items.get(1))
                .as_deref()
                .and_then(Step::parse)
                .ok_or_else(|| unexpected(value))?;
            Ok(Begun::Seen(Record {
                step,
                request: bytes(items.get(2)).unwrap_or_default(),
                account: String::from_utf8(bytes(items.get(3)).unwrap_or_default())
                    .map_err(|e| StoreError::UnexpectedReply(e.to_string()))?,
                event_ms: int(items.get(4)).ok_or_else(|| unexpected(value))?,
                created_ms: int(items.get(5)).ok_or_else(|| unexpected(value))?,
                origin: String::from_utf8(bytes(items.get(6)).unwrap_or_default())
                    .map_err(|e| StoreError::UnexpectedReply(e.to_string()))?,
            }))
        }
        Some(2) => Ok(Begun::Conflict),
        Some(4) => Ok(Begun::NoCounter),
        _ => Err(unexpected(value)),
    }
}

/// Starts an entry: reserves a place when the lot has one (`Held`), else
/// records `Full`. A repeat of the tap answers its record.
///
/// # Errors
/// Redis failing or answering outside the script's contract.
pub async fn begin_entry(
    connection: &mut impl ConnectionLike,
    keys: &LotKeys,
    record: NewRecord<'_>,
    capacity: u32,
) -> Result<Begun, StoreError> {
    let value: Value = BEGIN_ENTRY
        .key(keys.occupancy())
        .key(keys.record(record.tap))
        .key(keys.pending())
        .arg(record.request_hash)
        .arg(record.request)
        .arg(record.account)
        .arg(record.event_ms)
        .arg(record.now_ms)
        .arg(record.retention_s)
        .arg(capacity)
        .arg(record.origin)
        .invoke_async(connection)
        .await
        .map_err(StoreError::Command)?;
    parse_begun(&value)
}

/// Starts an exit: records `Exiting` (the counter moves at [`settle`]). A
/// repeat of the tap answers its record.
///
/// # Errors
/// As [`begin_entry`].
pub async fn begin_exit(
    connection: &mut impl ConnectionLike,
    keys: &LotKeys,
    record: NewRecord<'_>,
) -> Result<Begun, StoreError> {
    let value: Value = BEGIN_EXIT
        .key(keys.occupancy())
        .key(keys.record(record.tap))
        .key(keys.pending())
        .arg(record.request_hash)
        .arg(record.request)
        .arg(record.account)
        .arg(record.event_ms)
        .arg(record.now_ms)
        .arg(record.retention_s)
        .arg(0)
        .arg(record.origin)
        .invoke_async(connection)
        .await
        .map_err(StoreError::Command)?;
    parse_begun(&value)
}

/// The account's answer for a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The account's event was accepted.
    Accept,
    /// It was denied.
    Deny,
}

/// Moves a record to its final step for `answer` (giving a place back for
/// a denied entry or an accepted exit, once) and drops it from the pending
/// set. Returns the final step and the counter; `None` when the record is
/// gone (expired).
///
/// # Errors
/// As [`begin_entry`].
pub async fn settle(
    connection: &mut impl ConnectionLike,
    keys: &LotKeys,
    tap: &str,
    answer: Answer,
    now_ms: i64,
) -> Result<Option<(Step, u32)>, StoreError> {
    let value: Value = SETTLE
        .key(keys.occupancy())
        .key(keys.record(tap))
        .key(keys.pending())
        .arg(match answer {
            Answer::Accept => "accept",
            Answer::Deny => "deny",
        })
        .arg(now_ms)
        .invoke_async(connection)
        .await
        .map_err(StoreError::Command)?;
    let Value::Array(items) = &value else {
        return Err(unexpected(&value));
    };
    match int(items.first()) {
        Some(0) => {
            let step = bytes(items.get(1))
                .as_deref()
                .and_then(Step::parse)
                .ok_or_else(|| unexpected(&value))?;
            Ok(Some((step, count(items.get(2), &value)?)))
        }
        Some(3) => Ok(None),
        _ => Err(unexpected(&value)),
    }
}

fn parse_occupancy(value: &Value) -> Result<Option<Occupancy>, StoreError> {
    let Value::Array(items) = value else {
        return Err(unexpected(value));
    };
    if items.iter().all(|v| matches!(v, Value::Nil)) {
        return Ok(None);
    }
    Ok(Some(Occupancy {
        occupied: count(items.first(), value)?,
        capacity: count(items.get(1), value)?,
        updated_ms: int(items.get(2)).ok_or_else(|| unexpected(value))?,
    }))
}

/// Creates the lot's counter at `count` (capped at `capacity`), open or
/// `closed`, unless it exists, and answers the counter. The caller counts open stays in
/// Postgres: that is how a flushed Redis is rebuilt.
///
/// # Errors
/// As [`begin_entry`].
pub async fn init(
    connection: &mut impl ConnectionLike,
    keys: &LotKeys,
    count: u32,
    capacity: u32,
    now_ms: i64,
    closed: bool,
) -> Result<Occupancy, StoreError> {
    let value: Value = INIT
        .key(keys.occupancy())
        .arg(count)
        .arg(capacity)
        .arg(now_ms)
        .arg(if closed { "1" } else { "0" })
        .invoke_async(connection)
        .await
        .map_err(StoreError::Command)?;
    parse_occupancy(&value)?.ok_or_else(|| unexpected(&value))
}

/// The lot's counter, `None` when it has none.
///
/// # Errors
/// As [`begin_entry`].
pub async fn read(
    connection: &mut impl ConnectionLike,
    keys: &LotKeys,
) -> Result<Option<Occupancy>, StoreError> {
    let value: Value = redis::cmd("HMGET")
        .arg(keys.occupancy())
        .arg("n")
        .arg("cap")
        .arg("at")
        .query_async(connection)
        .await
        .map_err(StoreError::Command)?;
    parse_occupancy(&value)
}

/// Opens or closes the lot to entries (a closed lot's entries are `Full`).
/// No effect on a lot without a counter: [`init`] takes the flag then.
///
/// # Errors
/// As [`begin_entry`].
pub async fn set_closed(
    connection: &mut impl ConnectionLike,
    keys: &LotKeys,
    closed: bool,
) -> Result<(), StoreError> {
    let _: Value = SET_CLOSED
        .key(keys.occupancy())
        .arg(if closed { "1" } else { "0" })
        .invoke_async(connection)
        .await
        .map_err(StoreError::Command)?;
    Ok(())
}

/// Stamps the counter's source time with `now_ms` when it holds `expected`
/// (the counter check found it equal to the open stays), and answers what
/// it holds (`None`: no counter).
///
/// # Errors
/// As [`begin_entry`].
pub async fn touch(
    connection: &mut impl ConnectionLike,
    keys: &LotKeys,
    expected: u32,
    now_ms: i64,
) -> Result<Option<u32>, StoreError> {
    let value: Value = TOUCH
        .key(keys.occupancy())
        .arg(expected)
        .arg(now_ms)
        .invoke_async(connection)
        .await
        .map_err(StoreError::Command)?;
    match &value {
        Value::Nil => Ok(None),
        other => int(Some(other))
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| unexpected(other)),
    }
}

/// Drops a tap from the pending set (its record expired: nothing is left
/// to finish).
///
/// # Errors
/// As [`begin_entry`].
pub async fn forget(
    connection: &mut impl ConnectionLike,
    keys: &LotKeys,
    tap: &str,
) -> Result<(), StoreError> {
    let _: i64 = redis::cmd("ZREM")
        .arg(keys.pending())
        .arg(keys.record(tap))
        .query_async(connection)
        .await
        .map_err(StoreError::Command)?;
    Ok(())
}

/// Why [`set`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AboveCapacity;

/// Sets the counter to a counted value (an operator's correction). Answers
/// the value it replaced (`None`: there was no counter), or `AboveCapacity`
/// when `counted > capacity`.
///
/// # Errors
/// As [`begin_entry`].
pub async fn set(
    connection: &mut impl ConnectionLike,
    keys: &LotKeys,
    counted: u32,
    capacity: u32,
    now_ms: i64,
) -> Result<Result<Option<u32>, AboveCapacity>, StoreError> {
    let value: Value = SET
        .key(keys.occupancy())
        .arg(counted)
        .arg(capacity)
        .arg(now_ms)
        .invoke_async(connection)
        .await
        .map_err(StoreError::Command)?;
    let Value::Array(items) = &value else {
        return Err(unexpected(&value));
    };
    match int(items.first()) {
        Some(-2) => Ok(Err(AboveCapacity)),
        Some(-1) => Ok(Ok(None)),
        Some(n) => Ok(Ok(Some(u32::try_from(n).map_err(|_| unexpected(&value))?))),
        None => Err(unexpected(&value)),
    }
}

/// Records still waiting for the account's answer that were created at or
/// before `older_than_ms`, oldest first, at most `limit`: the healing
/// sweep's work list (tap keys `<terminal>:<epoch>:<seq>`).
///
/// # Errors
/// As [`begin_entry`].
pub async fn stale(
    connection: &mut impl ConnectionLike,
    keys: &LotKeys,
    older_than_ms: i64,
    limit: usize,
) -> Result<Vec<String>, StoreError> {
    let members: Vec<String> = redis::cmd("ZRANGE")
        .arg(keys.pending())
        .arg("-inf")
        .arg(older_than_ms)
        .arg("BYSCORE")
        .arg("LIMIT")
        .arg(0)
        .arg(limit)
        .query_async(connection)
        .await
        .map_err(StoreError::Command)?;
    let record_prefix = keys.record("");
    Ok(members
        .into_iter()
        .filter_map(|m| m.strip_prefix(&record_prefix).map(str::to_owned))
        .collect())
}

/// A saga record, `None` when it is gone.
///
/// # Errors
/// As [`begin_entry`].
pub async fn record(
    connection: &mut impl ConnectionLike,
    keys: &LotKeys,
    tap: &str,
) -> Result<Option<Record>, StoreError> {
    let value: Value = redis::cmd("HMGET")
        .arg(keys.record(tap))
        .arg("s")
        .arg("b")
        .arg("a")
        .arg("t")
        .arg("c")
        .arg("o")
        .query_async(connection)
        .await
        .map_err(StoreError::Command)?;
    let Value::Array(items) = &value else {
        return Err(unexpected(&value));
    };
    let Some(step) = bytes(items.first()).as_deref().and_then(Step::parse) else {
        return Ok(None);
    };
    Ok(Some(Record {
        step,
        request: bytes(items.get(1)).unwrap_or_default(),
        account: String::from_utf8(bytes(items.get(2)).unwrap_or_default())
            .map_err(|e| StoreError::UnexpectedReply(e.to_string()))?,
        event_ms: int(items.get(3)).ok_or_else(|| unexpected(&value))?,
        created_ms: int(items.get(4)).ok_or_else(|| unexpected(&value))?,
        origin: String::from_utf8(bytes(items.get(5)).unwrap_or_default())
            .map_err(|e| StoreError::UnexpectedReply(e.to_string()))?,
    }))
}

#[cfg(test)]
mod tests {
    //! Against a real Redis (`OT_REDIS_URL`, default `redis://127.0.0.1:6379`),
    //! each test under its own prefix.
    use super::*;

    const CAPACITY: u32 = 5;
    const RETENTION_S: u64 = 60;
    const NOW_MS: i64 = 1_767_225_600_000;

    async fn lot() -> (redis::aio::MultiplexedConnection, LotKeys) {
        let url = std::env::var("OT_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let client = redis::Client::open(url).expect("a Redis URL");
        let connection = client
            .get_multiplexed_async_connection()
            .await
            .expect("Redis must run for these tests");
        let prefix = KeyPrefix::new(&format!("test:{}", uuid::Uuid::new_v4().simple()))
            .expect("valid prefix");
        (
            connection,
            LotKeys::new(&prefix, "BTH-P").expect("valid lot id"),
        )
    }

    fn new_record(tap: &str) -> NewRecord<'_> {
        NewRecord {
            tap,
            request_hash: "aa",
            request: b"{}",
            account: "acc",
            event_ms: NOW_MS,
            now_ms: NOW_MS,
            retention_s: RETENTION_S,
            origin: "online",
        }
    }

    fn check_begun(got: &Begun, step: Step, occupied: u32) {
        assert_eq!(got, &Begun::New { step, occupied });
    }

    #[tokio::test]
    async fn entries_stop_at_capacity_and_exits_give_back_once() {
        let (mut c, keys) = lot().await;
        assert_eq!(
            begin_entry(&mut c, &keys, new_record("t:0:1"), CAPACITY)
                .await
                .expect("runs"),
            Begun::NoCounter
        );
        let occ = init(&mut c, &keys, 0, CAPACITY, NOW_MS, false)
            .await
            .expect("init");
        assert_eq!(occ.occupied, 0);
        for seq in 1..=CAPACITY {
            let tap = format!("t:0:{seq}");
            let got = begin_entry(&mut c, &keys, new_record(&tap), CAPACITY)
                .await
                .expect("runs");
            check_begun(&got, Step::Held, seq);
            settle(&mut c, &keys, &tap, Answer::Accept, NOW_MS)
                .await
                .expect("runs");
        }
        let got = begin_entry(&mut c, &keys, new_record("t:0:9"), CAPACITY)
            .await
            .expect("runs");
        check_begun(&got, Step::Full, CAPACITY);
        // A full record is final: settling it gives nothing back.
        assert_eq!(
            settle(&mut c, &keys, "t:0:9", Answer::Deny, NOW_MS)
                .await
                .expect("runs"),
            Some((Step::Full, CAPACITY))
        );

        let got = begin_exit(&mut c, &keys, new_record("t:0:20"))
            .await
            .expect("runs");
        check_begun(&got, Step::Exiting, CAPACITY);
        for _ in 0..3 {
            let settled = settle(&mut c, &keys, "t:0:20", Answer::Accept, NOW_MS)
                .await
                .expect("runs");
            assert_eq!(settled, Some((Step::Out, CAPACITY - 1)));
        }
        let repeat = begin_exit(&mut c, &keys, new_record("t:0:20"))
            .await
            .expect("runs");
        assert!(
            matches!(
                repeat,
                Begun::Seen(Record {
                    step: Step::Out,
                    ..
                })
            ),
            "{repeat:?}"
        );
        let other = NewRecord {
            request_hash: "bb",
            ..new_record("t:0:20")
        };
        assert_eq!(
            begin_exit(&mut c, &keys, other).await.expect("runs"),
            Begun::Conflict
        );
    }

    #[tokio::test]
    async fn a_denied_entry_gives_its_place_back_and_nothing_goes_below_zero() {
        let (mut c, keys) = lot().await;
        init(&mut c, &keys, 0, CAPACITY, NOW_MS, false)
            .await
            .expect("init");
        let got = begin_entry(&mut c, &keys, new_record("t:0:1"), CAPACITY)
            .await
            .expect("runs");
        check_begun(&got, Step::Held, 1);
        assert_eq!(
            stale(&mut c, &keys, NOW_MS, 10).await.expect("runs"),
            vec!["t:0:1".to_owned()]
        );
        for _ in 0..2 {
            let settled = settle(&mut c, &keys, "t:0:1", Answer::Deny, NOW_MS)
                .await
                .expect("runs");
            assert_eq!(settled, Some((Step::Released, 0)));
        }
        assert!(
            stale(&mut c, &keys, NOW_MS, 10)
                .await
                .expect("runs")
                .is_empty()
        );
        // An exit with the counter already at 0 stays at 0.
        begin_exit(&mut c, &keys, new_record("t:0:2"))
            .await
            .expect("runs");
        let settled = settle(&mut c, &keys, "t:0:2", Answer::Accept, NOW_MS)
            .await
            .expect("runs");
        assert_eq!(settled, Some((Step::Out, 0)));
        assert_eq!(
            settle(&mut c, &keys, "t:0:404", Answer::Accept, NOW_MS)
                .await
                .expect("runs"),
            None
        );
    }

    #[tokio::test]
    async fn touch_stamps_only_an_agreeing_counter() {
        let (mut c, keys) = lot().await;
        assert_eq!(touch(&mut c, &keys, 0, NOW_MS).await.expect("runs"), None);
        init(&mut c, &keys, 2, CAPACITY, NOW_MS, false)
            .await
            .expect("init");
        assert_eq!(
            touch(&mut c, &keys, 3, NOW_MS + 5).await.expect("runs"),
            Some(2)
        );
        assert_eq!(
            read(&mut c, &keys)
                .await
                .expect("runs")
                .map(|o| o.updated_ms),
            Some(NOW_MS)
        );
        assert_eq!(
            touch(&mut c, &keys, 2, NOW_MS + 5).await.expect("runs"),
            Some(2)
        );
        assert_eq!(
            read(&mut c, &keys)
                .await
                .expect("runs")
                .map(|o| o.updated_ms),
            Some(NOW_MS + 5)
        );
    }

    #[tokio::test]
    async fn a_closed_lot_takes_no_entries() {
        let (mut c, keys) = lot().await;
        init(&mut c, &keys, 0, CAPACITY, NOW_MS, true)
            .await
            .expect("init");
        let got = begin_entry(&mut c, &keys, new_record("t:0:1"), CAPACITY)
            .await
            .expect("runs");
        check_begun(&got, Step::Full, 0);
        set_closed(&mut c, &keys, false).await.expect("runs");
        let got = begin_entry(&mut c, &keys, new_record("t:0:2"), CAPACITY)
            .await
            .expect("runs");
        check_begun(&got, Step::Held, 1);
    }

    #[tokio::test]
    async fn corrections_stay_within_capacity() {
        let (mut c, keys) = lot().await;
        assert_eq!(read(&mut c, &keys).await.expect("runs"), None);
        assert_eq!(
            set(&mut c, &keys, 3, CAPACITY, NOW_MS).await.expect("runs"),
            Ok(None)
        );
        assert_eq!(
            set(&mut c, &keys, CAPACITY + 1, CAPACITY, NOW_MS)
                .await
                .expect("runs"),
            Err(AboveCapacity)
        );
        assert_eq!(
            set(&mut c, &keys, 4, CAPACITY, NOW_MS + 1)
                .await
                .expect("runs"),
            Ok(Some(3))
        );
        let occ = read(&mut c, &keys).await.expect("runs");
        assert_eq!(
            occ,
            Some(Occupancy {
                occupied: 4,
                capacity: CAPACITY,
                updated_ms: NOW_MS + 1
            })
        );
        // init never overwrites a counter, and caps a count above capacity.
        assert_eq!(
            init(&mut c, &keys, 0, CAPACITY, NOW_MS, false)
                .await
                .expect("runs")
                .occupied,
            4
        );
        let (mut c2, other) = lot().await;
        assert_eq!(
            init(&mut c2, &other, 99, CAPACITY, NOW_MS, false)
                .await
                .expect("runs")
                .occupied,
            CAPACITY
        );
    }

    /// One step of a random history.
    #[derive(Clone, Copy, Debug)]
    enum Op {
        Entry(u8),
        Exit(u8),
        Settle(u8, bool),
        Set(u32),
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            (0u8..8).prop_map(Op::Entry),
            (0u8..8).prop_map(Op::Exit),
            (0u8..8, any::<bool>()).prop_map(|(t, a)| Op::Settle(t, a)),
            (0u32..=CAPACITY + 1).prop_map(Op::Set),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Whatever the order of begins, settles (repeated or not) and
        /// corrections, the counter follows the model and stays in
        /// `[0, capacity]`.
        #[test]
        fn the_counter_follows_the_model_and_stays_in_bounds(ops in proptest::collection::vec(op(), 1..40)) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let (mut c, keys) = lot().await;
                init(&mut c, &keys, 0, CAPACITY, NOW_MS, false).await.expect("init");
                let mut n: u32 = 0;
                let mut steps: std::collections::HashMap<u8, Step> = std::collections::HashMap::new();
                for op in ops {
                    match op {
                        Op::Entry(t) | Op::Exit(t) => {
                            let tap = format!("t:0:{t}");
                            let begun = match op {
                                Op::Entry(_) => begin_entry(&mut c, &keys, new_record(&tap), CAPACITY).await,
                                _ => begin_exit(&mut c, &keys, new_record(&tap)).await,
                            }
                            .expect("runs");
                            if let Some(step) = steps.get(&t) {
                                assert!(matches!(begun, Begun::Seen(Record { step: s, .. }) if s == *step), "{begun:?}");
                            } else {
                                let step = match op {
                                    Op::Entry(_) if n >= CAPACITY => Step::Full,
                                    Op::Entry(_) => {
                                        n += 1;
                                        Step::Held
                                    }
                                    _ => Step::Exiting,
                                };
                                assert_eq!(begun, Begun::New { step, occupied: n });
                                steps.insert(t, step);
                            }
                        }
                        Op::Settle(t, accept) => {
                            let answer = if accept { Answer::Accept } else { Answer::Deny };
                            let settled = settle(&mut c, &keys, &format!("t:0:{t}"), answer, NOW_MS).await.expect("runs");
                            match steps.get(&t).copied() {
                                None => assert_eq!(settled, None),
                                Some(step) => {
                                    let next = match (step, accept) {
                                        (Step::Held, true) => Step::In,
                                        (Step::Held, false) => Step::Released,
                                        (Step::Exiting, true) => Step::Out,
                                        (Step::Exiting, false) => Step::Kept,
                                        (other, _) => other,
                                    };
                                    if matches!((step, next), (Step::Held, Step::Released) | (Step::Exiting, Step::Out)) {
                                        n = n.saturating_sub(1);
                                    }
                                    steps.insert(t, next);
                                    assert_eq!(settled, Some((next, n)));
                                }
                            }
                        }
                        Op::Set(counted) => {
                            let set = set(&mut c, &keys, counted, CAPACITY, NOW_MS).await.expect("runs");
                            if counted > CAPACITY {
                                assert_eq!(set, Err(AboveCapacity));
                            } else {
                                assert_eq!(set, Ok(Some(n)));
                                n = counted;
                            }
                        }
                    }
                    let occupied = read(&mut c, &keys).await.expect("runs").map(|o| o.occupied);
                    assert_eq!(occupied, Some(n));
                    assert!(n <= CAPACITY);
                }
            });
        }
    }

    #[tokio::test]
    async fn concurrent_entries_never_pass_capacity() {
        let (c, keys) = lot().await;
        let mut c0 = c.clone();
        init(&mut c0, &keys, 0, CAPACITY, NOW_MS, false)
            .await
            .expect("init");
        let tasks: Vec<_> = (0..50)
            .map(|seq| {
                let mut c = c.clone();
                let keys = keys.clone();
                tokio::spawn(async move {
                    let tap = format!("t:0:{seq}");
                    begin_entry(&mut c, &keys, new_record(&tap), CAPACITY)
                        .await
                        .expect("runs")
                })
            })
            .collect();
        let mut held = 0;
        for task in tasks {
            if matches!(
                task.await.expect("joins"),
                Begun::New {
                    step: Step::Held,
                    ..
                }
            ) {
                held += 1;
            }
        }
        assert_eq!(held, CAPACITY);
        assert_eq!(
            read(&mut c0, &keys)
                .await
                .expect("runs")
                .map(|o| o.occupied),
            Some(CAPACITY)
        );
    }
}
