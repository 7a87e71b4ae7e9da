//! `setup`: seeds what a run needs, idempotently.
//!
//! - **Terminals** through the admin API (`POST /v1/admin/terminals`, an
//!   API key with the `terminals` scope): 201 registered, 409 already there.
//! - **Riders**: for each card, an account (adult, verified), the transit
//!   card linked to it, and a funded wallet — through the store functions
//!   (`store_pg::rider`) and `projection::funding::fund_wallet`, with ids
//!   derived from the card index, so a second `setup` finds everything in
//!   place and funds nothing twice (the top-up's transfer id is the same).

use std::sync::Arc;

use anyhow::{Context, bail};
use bytes::Bytes;
use card_protocol::messages::{GateDirection, Placement, WireId};
use chrono::Utc;
use futures::{StreamExt, TryStreamExt};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use ledger::{AccountId, Money, ProviderId, TransferId};
use projection::Projection;
use serde::Serialize;
use store_pg::ledger::Ledger;
use store_pg::rider::{CategoryStatus, MediumKind, Riders};
use tokio::net::TcpStream;

use crate::service::Target;
use crate::workload::{Direction, Role, Workload, card_uid, stable_uuid};

/// What each wallet is funded with, dong: 100 M covers thousands of full
/// fares, so no run ends in `insufficient_funds`.
pub const WALLET_FUNDING_VND: i64 = 100_000_000;
/// Riders created at once: a few Postgres transactions in flight keep the
/// pool busy without queueing on it.
pub const SETUP_CONCURRENCY: usize = 8;
/// The rider category of load-test accounts.
pub const CATEGORY: &str = "adult";
/// The payment provider whose clearing account funds the wallets.
pub const PROVIDER: &str = "VNPAY";

#[derive(Serialize)]
struct RegisterBody<'a> {
    terminal_id: &'a str,
    operator_id: WireId,
    placement: Placement,
}

/// What `setup` did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Seeded {
    /// Terminals registered now.
    pub terminals_registered: u32,
    /// Terminals found registered.
    pub terminals_present: u32,
    /// Riders created now (account and card).
    pub riders_created: u32,
    /// Riders found in place.
    pub riders_present: u32,
}

/// Registers every terminal of `workload` on the service at `target`.
///
/// # Errors
/// The service refuses (other than 409) or cannot be reached.
pub async fn terminals(
    target: &Target,
    api_key: &str,
    workload: &Workload,
) -> anyhow::Result<(u32, u32)> {
    let stream = TcpStream::connect(target.addr)
        .await
        .with_context(|| format!("connecting to {}", target.addr))?;
    let (mut sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let wire = |text: &str| WireId::parse(text).context("HCMC ids are wire ids");
    let (mut registered, mut present) = (0u32, 0u32);
    for terminal in workload.terminals() {
        let placement = match &terminal.role {
            Role::Bus { route_id } => Placement::BusValidator {
                route_id: wire(route_id)?,
            },
            Role::Gate {
                station_id,
                direction,
            } => Placement::MetroGate {
                station_id: wire(station_id)?,
                direction: gate_direction(*direction),
            },
            Role::Parking { lot, direction } => Placement::ParkingGate {
                lot_id: wire(lot.lot_id)?,
                gate_id: wire(match direction {
                    Direction::Entry => lot.entry_gate,
                    Direction::Exit => lot.exit_gate,
                })?,
                direction: gate_direction(*direction),
            },
        };
        let body = serde_json::to_vec(&RegisterBody {
            terminal_id: terminal.id.as_str(),
            operator_id: wire(terminal.operator_id)?,
            placement,
        })?;
        sender.ready().await?;
        let response = sender
            .send_request(
                Request::post("/v1/admin/terminals")
                    .header(hyper::header::HOST, target.authority.as_str())
                    .header(hyper::header::CONTENT_TYPE, "application/json")
                    .header(hyper::header::AUTHORIZATION, format!("Bearer {api_key}"))
                    .body(Full::new(Bytes::from(body)))?,
            )
            .await?;
        let status = response.status();
        let text = response.into_body().collect().await?.to_bytes();
        match status {
            StatusCode::CREATED => registered += 1,
            StatusCode::CONFLICT => present += 1,
            other => bail!(
                "registering {}: {other}: {}",
                terminal.id.as_str(),
                String::from_utf8_lossy(&text)
            ),
        }
    }
    Ok((registered, present))
}

/// Creates and funds every card's rider (see the module docs).
///
/// # Errors
/// Postgres or Redis failing.
pub async fn riders(
    riders: &Riders,
    ledger: &Ledger,
    projection: &Projection,
    workload: &Workload,
) -> anyhow::Result<(u32, u32)> {
    let provider = ProviderId::parse(PROVIDER).context("provider code")?;
    let provider = Arc::new(provider);
    let results: Vec<bool> = futures::stream::iter(0..workload.cards())
        .map(|card| {
            let provider = Arc::clone(&provider);
            async move { rider(riders, ledger, projection, &provider, card).await }
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .try_collect()
        .await?;
    let created = u32::try_from(results.iter().filter(|c| **c).count()).unwrap_or(u32::MAX);
    let present = u32::try_from(results.len()).unwrap_or(u32::MAX) - created;
    Ok((created, present))
}

/// The account of card `card`.
///
/// # Errors
/// Never in practice: a SHA-256-derived UUIDv8 is neither nil nor max.
pub fn account_of(card: u32) -> anyhow::Result<AccountId> {
    AccountId::new(stable_uuid("account", card)).context("account id")
}

/// Seeds one rider; true when it was created now.
async fn rider(
    riders: &Riders,
    ledger: &Ledger,
    projection: &Projection,
    provider: &ProviderId,
    card: u32,
) -> anyhow::Result<bool> {
    let uid = card_uid(card);
    let account = account_of(card)?;
    let now = Utc::now();
    let mut created = false;
    if riders.account(account).await?.is_none() {
        riders
            .create_account(account, CATEGORY, CategoryStatus::Verified, now)
            .await?;
        created = true;
    }
    if riders
        .find_medium(MediumKind::TransitCard, uid.as_str())
        .await?
        .is_none()
    {
        riders
            .link_medium(
                stable_uuid("medium", card),
                account,
                MediumKind::TransitCard,
                uid.as_str(),
                now,
            )
            .await?;
        created = true;
    }
    projection::funding::fund_wallet(
        ledger,
        projection,
        account,
        provider,
        Money::vnd(WALLET_FUNDING_VND),
        TransferId::new(stable_uuid("fund", card)).context("transfer id")?,
        now,
    )
    .await
    .with_context(|| format!("funding card {}", uid.as_str()))?;
    Ok(created)
}

fn gate_direction(direction: Direction) -> GateDirection {
    match direction {
        Direction::Entry => GateDirection::Entry,
        Direction::Exit => GateDirection::Exit,
    }
}
