//! Consumer-group reads of the shard streams: create the group, read new
//! entries with a bounded block, re-read this consumer's pending entries,
//! reclaim entries other consumers left idle (`XAUTOCLAIM`), acknowledge,
//! and trim what every reader has acknowledged.
//!
//! Blocking reads hold a connection for up to the block time, so they use
//! their own connection ([`connect_for_blocking`]) whose response timeout
//! is longer than the block; the shared connection keeps its short one.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::{Value, cmd};

use crate::connection::{CONNECTION_TIMEOUT_MS, RECONNECT_RETRIES, StoreError};

/// Slack added to a blocking read's block time for its response timeout:
/// the reply of a read that blocked the full time still arrives within it.
pub const BLOCKING_RESPONSE_SLACK_MS: u64 = 1_000;

/// One stream entry: its id and its `d` field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The stream key it came from.
    pub stream: String,
    /// The entry id (`<ms>-<seq>`).
    pub id: String,
    /// The `d` field (empty when the entry has none).
    pub data: Vec<u8>,
}

impl Entry {
    /// The millisecond part of the id: when Redis appended the entry.
    #[must_use]
    pub fn appended_at_ms(&self) -> Option<u64> {
        self.id.split('-').next().and_then(|ms| ms.parse().ok())
    }
}

/// A connection for blocking reads of at most `block_ms`.
///
/// # Errors
/// As [`crate::connect`].
pub async fn connect_for_blocking(
    url: &str,
    block_ms: u64,
) -> Result<ConnectionManager, StoreError> {
    let client = redis::Client::open(url).map_err(StoreError::InvalidUrl)?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_millis(CONNECTION_TIMEOUT_MS)))
        .set_response_timeout(Some(Duration::from_millis(
            block_ms.saturating_add(BLOCKING_RESPONSE_SLACK_MS),
        )))
        .set_number_of_retries(RECONNECT_RETRIES);
    ConnectionManager::new_with_config(client, config)
        .await
        .map_err(StoreError::Connect)
}

/// Creates `group` on `stream` (and the stream) reading from the start;
/// an existing group is left as it is.
///
/// # Errors
/// [`StoreError::Command`] on any failure other than `BUSYGROUP`.
pub async fn ensure_group(
    connection: &mut impl ConnectionLike,
    stream: &str,
    group: &str,
) -> Result<(), StoreError> {
    let result: redis::RedisResult<Value> = cmd("XGROUP")
        .arg("CREATE")
        .arg(stream)
        .arg(group)
        .arg("0")
        .arg("MKSTREAM")
        .query_async(connection)
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(error) if error.code() == Some("BUSYGROUP") => Ok(()),
        Err(error) => Err(StoreError::Command(error)),
    }
}

fn bytes_of(value: &Value) -> Option<Vec<u8>> {
    match value {
        Value::BulkString(bytes) => Some(bytes.clone()),
        Value::SimpleString(text) => Some(text.clone().into_bytes()),
        _ => None,
    }
}

fn text_of(value: &Value) -> Option<String> {
    bytes_of(value).and_then(|b| String::from_utf8(b).ok())
}

/// Parses `[[id, [field, value, …]], …]` (entries deleted meanwhile come
/// back with a nil field list and are skipped).
fn parse_entries(stream: &str, value: &Value, out: &mut Vec<Entry>) -> Result<(), StoreError> {
    let unexpected = || StoreError::UnexpectedReply(format!("stream entries: {value:?}"));
    let Value::Array(entries) = value else {
        return match value {
            Value::Nil => Ok(()),
            _ => Err(unexpected()),
        };
    };
    for entry in entries {
        let Value::Array(parts) = entry else {
            return Err(unexpected());
        };
        let id = parts.first().and_then(text_of).ok_or_else(unexpected)?;
        let fields = match parts.get(1) {
            Some(Value::Array(fields)) => fields,
            Some(Value::Nil) | None => continue,
            Some(_) => return Err(unexpected()),
        };
        let mut data = Vec::new();
        for pair in fields.chunks(2) {
            if let [name, field] = pair
                && text_of(name).as_deref() == Some("d")
            {
                data = bytes_of(field).unwrap_or_default();
            }
        }
        out.push(Entry {
            stream: stream.to_owned(),
            id,
            data,
        });
    }
    Ok(())
}

/// Which entries a group read asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadFrom {
    /// Entries never delivered to the group (`>`), blocking up to the time.
    New {
        /// How long to wait for one, in ms (0: do not block).
        block_ms: u64,
    },
    /// This consumer's delivered but unacknowledged entries (`0`).
    OwnPending,
}

/// `XREADGROUP GROUP group consumer COUNT count [BLOCK ms] STREAMS …`
/// over every stream in `streams`.
///
/// # Errors
/// [`StoreError::Command`] or [`StoreError::UnexpectedReply`].
pub async fn read_group(
    connection: &mut impl ConnectionLike,
    group: &str,
    consumer: &str,
    streams: &[String],
    count: usize,
    from: ReadFrom,
) -> Result<Vec<Entry>, StoreError> {
    let mut command = cmd("XREADGROUP");
    command
        .arg("GROUP")
        .arg(group)
        .arg(consumer)
        .arg("COUNT")
        .arg(count);
    if let ReadFrom::New { block_ms } = from
        && block_ms > 0
    {
        command.arg("BLOCK").arg(block_ms);
    }
    command.arg("STREAMS").arg(streams);
    let id = match from {
        ReadFrom::New { .. } => ">",
        ReadFrom::OwnPending => "0",
    };
    for _ in streams {
        command.arg(id);
    }
    let value: Value = command
        .query_async(connection)
        .await
        .map_err(StoreError::Command)?;
    let mut out = Vec::new();
    let pairs: Vec<(Value, Value)> = match value {
        Value::Nil => return Ok(out),
        Value::Array(items) => items
            .into_iter()
            .filter_map(|item| match item {
                Value::Array(mut kv) if kv.len() == 2 => {
                    let entries = kv.pop()?;
                    let key = kv.pop()?;
                    Some((key, entries))
                }
                _ => None,
            })
            .collect(),
        Value::Map(items) => items,
        other => {
            return Err(StoreError::UnexpectedReply(format!(
                "XREADGROUP: {other:?}"
            )));
        }
    };
    for (key, entries) in pairs {
        let stream =
            text_of(&key).ok_or_else(|| StoreError::UnexpectedReply("stream key".into()))?;
        parse_entries(&stream, &entries, &mut out)?;
    }
    Ok(out)
}

/// `XAUTOCLAIM stream group consumer min_idle_ms 0-0 COUNT count`: takes
/// over up to `count` entries that another consumer left unacknowledged for
/// at least `min_idle_ms` (a consumer that died mid-batch).
///
/// # Errors
/// [`StoreError::Command`] or [`StoreError::UnexpectedReply`].
pub async fn autoclaim(
    connection: &mut impl ConnectionLike,
    stream: &str,
    group: &str,
    consumer: &str,
    min_idle_ms: u64,
    count: usize,
) -> Result<Vec<Entry>, StoreError> {
    let value: Value = cmd("XAUTOCLAIM")
        .arg(stream)
        .arg(group)
        .arg(consumer)
        .arg(min_idle_ms)
        .arg("0-0")
        .arg("COUNT")
        .arg(count)
        .query_async(connection)
        .await
        .map_err(StoreError::Command)?;
    let mut out = Vec::new();
    match &value {
        Value::Array(parts) => {
            if let Some(entries) = parts.get(1) {
                parse_entries(stream, entries, &mut out)?;
            }
        }
        other => {
            return Err(StoreError::UnexpectedReply(format!(
                "XAUTOCLAIM: {other:?}"
            )));
        }
    }
    Ok(out)
}

/// `XACK stream group id…`; returns how many were acknowledged.
///
/// # Errors
/// [`StoreError::Command`].
pub async fn ack(
    connection: &mut impl ConnectionLike,
    stream: &str,
    group: &str,
    ids: &[&str],
) -> Result<u64, StoreError> {
    if ids.is_empty() {
        return Ok(0);
    }
    cmd("XACK")
        .arg(stream)
        .arg(group)
        .arg(ids)
        .query_async(connection)
        .await
        .map_err(StoreError::Command)
}

/// `XACK` on several streams in one round trip (a pipeline): `acks` pairs
/// each stream with the ids to acknowledge there. Returns how many were
/// acknowledged in all.
///
/// # Errors
/// [`StoreError::Command`].
pub async fn ack_many(
    connection: &mut impl ConnectionLike,
    group: &str,
    acks: &[(&str, Vec<&str>)],
) -> Result<u64, StoreError> {
    let mut pipe = redis::pipe();
    for (stream, ids) in acks.iter().filter(|(_, ids)| !ids.is_empty()) {
        pipe.cmd("XACK").arg(*stream).arg(group).arg(ids);
    }
    if pipe.is_empty() {
        return Ok(0);
    }
    let counts: Vec<u64> = pipe
        .query_async(connection)
        .await
        .map_err(StoreError::Command)?;
    Ok(counts.iter().sum())
}

/// Trims `stream` below what `group` still needs: entries older than its
/// oldest pending entry, or (none pending) older than its last delivered
/// entry. The stream is read by this one group; other readers consume from
/// Postgres. Returns the entries removed.
///
/// # Errors
/// [`StoreError::Command`] or [`StoreError::UnexpectedReply`].
pub async fn trim_acknowledged(
    connection: &mut impl ConnectionLike,
    stream: &str,
    group: &str,
) -> Result<u64, StoreError> {
    trim_acknowledged_many(connection, &[stream], group).await
}

/// [`trim_acknowledged`] for several streams in at most three round trips
/// (pipelines of `XPENDING`, then `XINFO GROUPS` for the streams with
/// nothing pending, then `XTRIM`), however many streams there are.
///
/// # Errors
/// [`StoreError::Command`] or [`StoreError::UnexpectedReply`].
pub async fn trim_acknowledged_many(
    connection: &mut impl ConnectionLike,
    streams: &[&str],
    group: &str,
) -> Result<u64, StoreError> {
    if streams.is_empty() {
        return Ok(0);
    }
    let mut pending = redis::pipe();
    for stream in streams {
        pending.cmd("XPENDING").arg(*stream).arg(group);
    }
    let summaries: Vec<Value> = pending
        .query_async(connection)
        .await
        .map_err(StoreError::Command)?;
    let mut floors: Vec<(&str, Option<String>)> = streams
        .iter()
        .zip(&summaries)
        .map(|(stream, summary)| (*stream, oldest_pending(summary)))
        .collect();
    let idle: Vec<usize> = floors
        .iter()
        .enumerate()
        .filter(|(_, (_, floor))| floor.is_none())
        .map(|(n, _)| n)
        .collect();
    if !idle.is_empty() {
        let mut info = redis::pipe();
        for n in &idle {
            if let Some((stream, _)) = floors.get(*n) {
                info.cmd("XINFO").arg("GROUPS").arg(*stream);
            }
        }
        let groups: Vec<Value> = info
            .query_async(connection)
            .await
            .map_err(StoreError::Command)?;
        for (n, groups) in idle.iter().zip(&groups) {
            if let Some((_, floor)) = floors.get_mut(*n) {
                *floor = last_delivered(groups, group);
            }
        }
    }
    let mut trim = redis::pipe();
    for (stream, floor) in &floors {
        if let Some(floor) = floor {
            trim.cmd("XTRIM").arg(*stream).arg("MINID").arg(floor);
        }
    }
    if trim.is_empty() {
        return Ok(0);
    }
    let removed: Vec<u64> = trim
        .query_async(connection)
        .await
        .map_err(StoreError::Command)?;
    Ok(removed.iter().sum())
}

/// The id of the oldest pending entry in an `XPENDING` summary, if any.
fn oldest_pending(summary: &Value) -> Option<String> {
    match summary {
        Value::Array(parts) => match parts.first() {
            Some(Value::Int(count)) if *count > 0 => parts.get(1).and_then(text_of),
            _ => None,
        },
        _ => None,
    }
}

/// Entries of `streams` that `group` has not acknowledged: its pending
/// entries plus those not yet delivered (`XINFO GROUPS`'s `pending` and
/// `lag`), or the whole stream where the group does not exist yet (or
/// Redis cannot tell the lag). What an ingest still has to write; two round
/// trips (pipelines of `XLEN` and `XINFO GROUPS`) however many streams.
///
/// # Errors
/// [`StoreError::Command`].
pub async fn backlog_many(
    connection: &mut impl ConnectionLike,
    streams: &[String],
    group: &str,
) -> Result<u64, StoreError> {
    if streams.is_empty() {
        return Ok(0);
    }
    let mut lengths = redis::pipe();
    for stream in streams {
        lengths.cmd("XLEN").arg(stream);
    }
    let lengths: Vec<u64> = lengths
        .query_async(connection)
        .await
        .map_err(StoreError::Command)?;
    let existing: Vec<&String> = streams
        .iter()
        .zip(&lengths)
        .filter(|(_, length)| **length > 0)
        .map(|(stream, _)| stream)
        .collect();
    if existing.is_empty() {
        return Ok(0);
    }
    let mut info = redis::pipe();
    for stream in &existing {
        info.cmd("XINFO").arg("GROUPS").arg(*stream);
    }
    let groups: Vec<Value> = info
        .query_async(connection)
        .await
        .map_err(StoreError::Command)?;
    let mut total = 0u64;
    for (length, groups) in lengths.iter().filter(|l| **l > 0).zip(&groups) {
        let fields = group_fields(groups, group);
        let count = |name: &str| {
            fields.as_ref().and_then(|fields| {
                fields
                    .iter()
                    .find(|(k, _)| k == name)
                    .and_then(|(_, v)| match v {
                        Value::Int(n) => u64::try_from(*n).ok(),
                        _ => None,
                    })
            })
        };
        total = total.saturating_add(match (count("pending"), count("lag")) {
            (Some(pending), Some(lag)) => pending.saturating_add(lag),
            _ => *length,
        });
    }
    Ok(total)
}

/// The `last-delivered-id` of `group` in an `XINFO GROUPS` reply.
fn last_delivered(groups: &Value, group: &str) -> Option<String> {
    group_fields(groups, group)?
        .iter()
        .find(|(k, _)| k == "last-delivered-id")
        .and_then(|(_, v)| text_of(v))
}

/// The fields of `group` in an `XINFO GROUPS` reply (RESP2 or RESP3).
fn group_fields<'a>(groups: &'a Value, group: &str) -> Option<Vec<(String, &'a Value)>> {
    let Value::Array(list) = groups else {
        return None;
    };
    for info in list {
        let pairs: Vec<(String, &Value)> = match info {
            Value::Array(items) => items
                .chunks(2)
                .filter_map(|p| match p {
                    [k, v] => text_of(k).map(|k| (k, v)),
                    _ => None,
                })
                .collect(),
            Value::Map(items) => items
                .iter()
                .filter_map(|(k, v)| text_of(k).map(|k| (k, v)))
                .collect(),
            _ => continue,
        };
        let name = pairs
            .iter()
            .find(|(k, _)| k == "name")
            .and_then(|(_, v)| text_of(v));
        if name.as_deref() == Some(group) {
            return Some(pairs);
        }
    }
    None
}
