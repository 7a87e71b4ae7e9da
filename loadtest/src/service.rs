//! Service mode: signed `POST /v1/taps` over HTTP/1.1 keep-alive
//! connections, exactly as a terminal sends them (card protocol §4).
//!
//! Each terminal's key is derived once from the master key; each request
//! gets the next sequence number of its terminal under a boot epoch unique
//! to the run, so every tap is new to the service (a repeat would be
//! answered from the idempotency record and flatter the figures).

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use card_protocol::TerminalId;
use card_protocol::request_auth::{
    HEADER_SIGNATURE, HEADER_TERMINAL, HEADER_TIMESTAMP, MasterKey, RequestParts, SigningKey,
    derive_terminal_key, sign_request_with,
};
use hyper::StatusCode;
use serde::Deserialize;

use crate::report::{ACCEPT, Outcome};
use crate::runner::{Driver, Worker};
use crate::wire::{Conn, Post, WireError};
use crate::workload::{Workload, tap};

pub use crate::workload::TAPS_PATH;

/// Where the service listens, from `http://host:port`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// `host:port`, for the `Host` header.
    pub authority: String,
    /// The address to connect to.
    pub addr: SocketAddr,
}

impl Target {
    /// Parses and resolves `http://host:port` (no TLS: the generator runs
    /// beside the service or behind its load balancer).
    ///
    /// # Errors
    /// Not `http://`, no host, or the host does not resolve.
    pub async fn resolve(base_url: &str) -> anyhow::Result<Target> {
        let uri: hyper::Uri = base_url.parse().context("--base-url is not a URL")?;
        anyhow::ensure!(
            uri.scheme_str() == Some("http"),
            "--base-url must be http://host:port"
        );
        let authority = uri
            .authority()
            .context("--base-url has no host")?
            .as_str()
            .to_owned();
        let host = uri.host().context("--base-url has no host")?;
        let port = uri.port_u16().unwrap_or(80);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let addr = tokio::net::lookup_host((host, port))
            .await
            .with_context(|| format!("resolving {host}"))?
            .next()
            .with_context(|| format!("{host} has no address"))?;
        Ok(Target { authority, addr })
    }
}

/// A signed request: the body and the three authentication headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedTap {
    /// The path it is signed for and posted to.
    pub path: &'static str,
    /// The JSON body.
    pub body: Vec<u8>,
    /// `X-OT-Terminal`.
    pub terminal: String,
    /// `X-OT-Timestamp`.
    pub timestamp: String,
    /// `X-OT-Signature`.
    pub signature: String,
}

/// Signs `body` for `POST path` as `terminal` with `key` (prepared once
/// per terminal: preparing an HMAC key is two SHA-256 blocks) at `now_s`.
///
/// # Errors
/// Only if the canonical parts were malformed (they are constants here).
pub fn sign_tap(
    key: &SigningKey,
    terminal: &TerminalId,
    path: &'static str,
    body: Vec<u8>,
    now_s: u64,
) -> anyhow::Result<SignedTap> {
    let signature = sign_request_with(
        key,
        &RequestParts {
            method: "POST",
            path,
            body: &body,
        },
        now_s,
        terminal,
    )?;
    Ok(SignedTap {
        path,
        body,
        terminal: terminal.as_str().to_owned(),
        timestamp: now_s.to_string(),
        signature,
    })
}

/// Drives a running service.
pub struct ServiceDriver {
    target: Target,
    workload: Arc<Workload>,
    keys: Vec<SigningKey>,
    seqs: Vec<AtomicU64>,
    boot_epoch: u32,
}

impl ServiceDriver {
    /// A driver for `workload` against `target`, signing with keys derived
    /// from `master`, under `boot_epoch` (unique per run).
    #[must_use]
    pub fn new(
        target: Target,
        workload: Arc<Workload>,
        master: &MasterKey,
        boot_epoch: u32,
    ) -> ServiceDriver {
        let keys: Vec<SigningKey> = workload
            .terminals()
            .map(|t| SigningKey::new(&derive_terminal_key(master, &t.id)))
            .collect();
        let seqs = keys.iter().map(|_| AtomicU64::new(0)).collect();
        ServiceDriver {
            target,
            workload,
            keys,
            seqs,
            boot_epoch,
        }
    }

    fn signed(&self, index: u64) -> anyhow::Result<SignedTap> {
        let planned = self.workload.plan(index);
        let seq = self
            .seqs
            .get(planned.terminal_index)
            .context("a planned terminal is in the fleet")?
            .fetch_add(1, Ordering::Relaxed)
            + 1;
        let now_s = unix_now_s();
        let body = serde_json::to_vec(&tap(&planned, self.boot_epoch, seq, now_s))?;
        let key = self
            .keys
            .get(planned.terminal_index)
            .context("a planned terminal has a key")?;
        sign_tap(
            key,
            &planned.terminal.id,
            planned.terminal.role.path(),
            body,
            now_s,
        )
    }
}

/// Unix seconds now (0 before 1970).
#[must_use]
pub fn unix_now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// One keep-alive connection ([`crate::wire`]: one write a request, the
/// answer parsed in place).
pub struct ServiceWorker {
    driver: Arc<ServiceDriver>,
    conn: Option<Conn>,
}

impl Driver for Arc<ServiceDriver> {
    type Worker = ServiceWorker;

    async fn worker(&self, _n: u32) -> anyhow::Result<ServiceWorker> {
        let conn = Conn::connect(self.target.addr)
            .await
            .with_context(|| format!("connecting to {}", self.target.addr))?;
        Ok(ServiceWorker {
            driver: Arc::clone(self),
            conn: Some(conn),
        })
    }
}

/// The fields of a decision the report counts.
#[derive(Deserialize)]
struct DecisionView<'a> {
    decision: &'a str,
    #[serde(default)]
    reason: Option<&'a str>,
}

/// The `code` of a problem+json body.
#[derive(Deserialize)]
struct ProblemView<'a> {
    code: &'a str,
}

/// The outcome of a response: `accept`, `deny:<reason>`, or
/// `http_<status>:<code>`; and whether it is a decision.
#[must_use]
pub fn outcome_of(status: StatusCode, body: &[u8]) -> (Outcome, bool) {
    if status == StatusCode::OK {
        return match serde_json::from_slice::<DecisionView<'_>>(body) {
            Ok(DecisionView {
                decision: "accept", ..
            }) => (Cow::Borrowed(ACCEPT), true),
            Ok(DecisionView {
                decision: "deny",
                reason,
            }) => (
                Cow::Owned(format!("deny:{}", reason.unwrap_or("none"))),
                true,
            ),
            _ => (Cow::Borrowed("http_200:unreadable_decision"), false),
        };
    }
    let code =
        serde_json::from_slice::<ProblemView<'_>>(body).map_or("no_problem_body", |p| p.code);
    (
        Cow::Owned(format!("http_{}:{code}", status.as_u16())),
        false,
    )
}

impl Worker for ServiceWorker {
    async fn send(&mut self, index: u64) -> (Outcome, bool) {
        let signed = match self.driver.signed(index) {
            Ok(signed) => signed,
            Err(_) => return (Cow::Borrowed("generator:sign"), false),
        };
        let conn = match self.conn.take() {
            Some(conn) if conn.is_open() => conn,
            _ => match Conn::connect(self.driver.target.addr).await {
                Ok(conn) => conn,
                Err(_) => return (Cow::Borrowed("transport:connect"), false),
            },
        };
        let conn = self.conn.insert(conn);
        let post = Post {
            path: signed.path,
            host: &self.driver.target.authority,
            headers: &[
                (HEADER_TERMINAL, &signed.terminal),
                (HEADER_TIMESTAMP, &signed.timestamp),
                (HEADER_SIGNATURE, &signed.signature),
            ],
            body: &signed.body,
        };
        match conn.post(&post).await {
            Ok((status, body)) => match StatusCode::from_u16(status) {
                Ok(status) => outcome_of(status, body),
                Err(_) => (Cow::Borrowed(WireError::Malformed.label()), false),
            },
            Err(error) => {
                // Drop the connection: the next send opens a fresh one.
                self.conn = None;
                (Cow::Borrowed(error.label()), false)
            }
        }
    }
}
