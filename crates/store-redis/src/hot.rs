//! The hot projection's commit scripts: one atomic Lua script per event.
//!
//! [`commit`] runs, in one `EVALSHA` on the account's slot:
//!
//! 1. **idempotency**: if the event's key was seen, answer with the first
//!    reply when the request hash matches, or a key conflict when it does
//!    not; nothing changes;
//! 2. **compare-and-set**: the stored state's version must equal the
//!    caller's expected version (empty = no state), else answer with the
//!    current state so the caller can re-price without another round trip;
//! 3. write the new state (when the event changed it), remember the reply
//!    under the key for the retention, and `XADD` the entry to the shard's
//!    stream.
//!
//! [`record`] is the same without a state, for taps that reach no account
//! (unknown medium, rejected ticket): idempotent and recorded, never priced.
//!
//! State values are `<version>|<rest>`: the script compares the text before
//! the first `|` with the expected version, so it never parses a state.
//! Each call is one `EVALSHA`, its keys and arguments written once into the
//! command (`redis::Script`'s invocation copies each into a vector of its
//! own first, then into the command: a dozen allocations and two copies of
//! the stream entry per tap). On `NOSCRIPT` (after a restart, failover or
//! `SCRIPT FLUSH`) the script is loaded and the same command sent again.

use std::sync::LazyLock;

use redis::aio::ConnectionLike;
use redis::{ErrorKind, Script, ServerErrorKind, Value};

use crate::connection::StoreError;

/// Hex digits of a request hash (SHA-256): the prefix of every stored reply.
pub const REQUEST_HASH_HEX_LEN: usize = 64;

/// The commit script's text.
const COMMIT_CODE: &str = r"
local prev = redis.call('GET', KEYS[2])
if prev then
  if string.sub(prev, 1, 64) == ARGV[1] then
    return {1, string.sub(prev, 65)}
  end
  return {2, ''}
end
local cur = redis.call('GET', KEYS[1])
local ver = ''
if cur then
  local bar = string.find(cur, '|', 1, true)
  if bar then ver = string.sub(cur, 1, bar - 1) else ver = '?' end
end
if ver ~= ARGV[2] then
  return {3, cur or ''}
end
if ARGV[3] ~= '' then
  redis.call('SET', KEYS[1], ARGV[3])
end
redis.call('SET', KEYS[2], ARGV[1] .. ARGV[4], 'EX', ARGV[5])
local id = redis.call('XADD', KEYS[3], '*', 'd', ARGV[6])
return {0, id}
";

static COMMIT: LazyLock<Script> = LazyLock::new(|| Script::new(COMMIT_CODE));

/// The record script's text.
const RECORD_CODE: &str = r"
local prev = redis.call('GET', KEYS[1])
if prev then
  if string.sub(prev, 1, 64) == ARGV[1] then
    return {1, string.sub(prev, 65)}
  end
  return {2, ''}
end
redis.call('SET', KEYS[1], ARGV[1] .. ARGV[2], 'EX', ARGV[3])
local id = redis.call('XADD', KEYS[2], '*', 'd', ARGV[4])
return {0, id}
";

static RECORD: LazyLock<Script> = LazyLock::new(|| Script::new(RECORD_CODE));

/// The keys of one commit; all share one hash tag (the account's shard).
#[derive(Clone, Copy, Debug)]
pub struct CommitKeys<'a> {
    /// The account's state.
    pub state: &'a str,
    /// The event's idempotency record.
    pub idempotency: &'a str,
    /// The shard's stream.
    pub stream: &'a str,
}

/// What to commit.
#[derive(Clone, Copy, Debug)]
pub struct CommitArgs<'a> {
    /// SHA-256 of the canonical request, lowercase hex.
    pub request_hash: &'a str,
    /// The version the state must have (its text before `|`); empty when
    /// the state must not exist.
    pub expected_version: &'a str,
    /// The new state value; empty when the event changes nothing (a deny).
    pub new_state: &'a [u8],
    /// The reply a retry of the same request gets.
    pub reply: &'a [u8],
    /// How long the idempotency record lives, in seconds.
    pub retention_s: u64,
    /// The stream entry's `d` field.
    pub entry: &'a [u8],
}

/// The script's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Committed {
    /// Written; the stream entry's id.
    Done {
        /// The id `XADD` gave the entry.
        entry_id: String,
    },
    /// The key was seen with the same request: the first reply.
    Repeat(Vec<u8>),
    /// The key was seen with another request.
    KeyConflict,
    /// The state has another version: the current value (empty if none).
    VersionConflict(Vec<u8>),
}

fn parse(value: Value) -> Result<Committed, StoreError> {
    let unexpected = |v: &Value| StoreError::UnexpectedReply(format!("{v:?}"));
    let Value::Array(items) = &value else {
        return Err(unexpected(&value));
    };
    let (Some(Value::Int(code)), Some(payload)) = (items.first(), items.get(1)) else {
        return Err(unexpected(&value));
    };
    let bytes = match payload {
        Value::BulkString(bytes) => bytes.clone(),
        Value::SimpleString(text) => text.clone().into_bytes(),
        Value::Nil => Vec::new(),
        other => return Err(unexpected(other)),
    };
    match code {
        0 => Ok(Committed::Done {
            entry_id: String::from_utf8(bytes)
                .map_err(|e| StoreError::UnexpectedReply(e.to_string()))?,
        }),
        1 => Ok(Committed::Repeat(bytes)),
        2 => Ok(Committed::KeyConflict),
        3 => Ok(Committed::VersionConflict(bytes)),
        _ => Err(unexpected(&value)),
    }
}

/// `EVALSHA` of `script` (whose text is `code`) with `keys` and `args`,
/// each written once into the command; on `NOSCRIPT`, `SCRIPT LOAD` and the
/// same command again.
async fn evalsha(
    connection: &mut impl ConnectionLike,
    script: &Script,
    code: &str,
    keys: &[&[u8]],
    args: &[&[u8]],
) -> Result<Value, StoreError> {
    let data: usize = keys.iter().chain(args).map(|a| a.len()).sum();
    let mut command = redis::Cmd::with_capacity(3 + keys.len() + args.len(), data + 64);
    command
        .arg("EVALSHA")
        .arg(script.get_hash())
        .arg(keys.len());
    for item in keys.iter().chain(args) {
        command.arg(*item);
    }
    match command.query_async(connection).await {
        Err(error) if error.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
            let _hash: String = redis::cmd("SCRIPT")
                .arg("LOAD")
                .arg(code)
                .query_async(connection)
                .await
                .map_err(StoreError::Command)?;
            command
                .query_async(connection)
                .await
                .map_err(StoreError::Command)
        }
        other => other.map_err(StoreError::Command),
    }
}

/// Runs the commit script (see the module docs).
///
/// # Errors
/// [`StoreError::Command`] when Redis fails, [`StoreError::UnexpectedReply`]
/// when the script answers outside its contract.
pub async fn commit(
    connection: &mut impl ConnectionLike,
    keys: CommitKeys<'_>,
    args: CommitArgs<'_>,
) -> Result<Committed, StoreError> {
    let retention = args.retention_s.to_string();
    let value = evalsha(
        connection,
        &COMMIT,
        COMMIT_CODE,
        &[
            keys.state.as_bytes(),
            keys.idempotency.as_bytes(),
            keys.stream.as_bytes(),
        ],
        &[
            args.request_hash.as_bytes(),
            args.expected_version.as_bytes(),
            args.new_state,
            args.reply,
            retention.as_bytes(),
            args.entry,
        ],
    )
    .await?;
    parse(value)
}

/// Records an event that reaches no account state: idempotency record and
/// stream entry only. Answers `Done`, `Repeat` or `KeyConflict`.
///
/// # Errors
/// As [`commit`].
pub async fn record(
    connection: &mut impl ConnectionLike,
    idempotency_key: &str,
    stream: &str,
    request_hash: &str,
    reply: &[u8],
    retention_s: u64,
    entry: &[u8],
) -> Result<Committed, StoreError> {
    let retention = retention_s.to_string();
    let value = evalsha(
        connection,
        &RECORD,
        RECORD_CODE,
        &[idempotency_key.as_bytes(), stream.as_bytes()],
        &[request_hash.as_bytes(), reply, retention.as_bytes(), entry],
    )
    .await?;
    parse(value)
}
