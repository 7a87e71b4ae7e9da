//! QR tickets at the gate: a valid ticket opens its account's wallet; an
//! expired or forged one is `ticket_rejected` with the verdict.

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use card_protocol::TicketId;
use card_protocol::ticket::{ProductCode, RiderCategoryCode};
use chrono::{TimeZone, Utc};
use ledger::keyring::TicketRequest;
use serde_json::json;
use store_pg::rider::{NewTicket, Riders};

use crate::support::{Rig, T0_S, send, signed};

fn qr_tap(seq: u64, qr: &[u8]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "terminal_id": "bus-a", "boot_epoch": 1, "seq": seq, "device_time_s": T0_S,
        "event": {"kind": "bus_boarding", "route_id": "19"},
        "medium": {"kind": "qr", "payload": URL_SAFE_NO_PAD.encode(qr)}
    }))
    .expect("json")
}

#[tokio::test]
async fn valid_expired_and_forged_tickets() {
    let rig = Rig::new().await;
    rig.bus("bus-a", "19").await;
    let (account, _) = rig.rider("04a1b2c3", 20_000).await;
    let now_s = rig.clock.now_s();
    let issue = |id: u8, expires_s: u64| {
        rig.ring
            .issue(
                &TicketRequest {
                    ticket_id: TicketId::from_bytes([id; 16]),
                    account_id: account,
                    holder: None,
                    product: ProductCode(1),
                    rider_category: RiderCategoryCode(0),
                    not_before_s: now_s - 3_600,
                    expires_s,
                },
                now_s - 3_600,
            )
            .expect("issue")
    };
    let riders = Riders::new(rig.db.pool.clone());
    let mut tickets = Vec::new();
    for (id, expires_s) in [(1u8, now_s + 3_600), (2u8, now_s - 60)] {
        let ticket = issue(id, expires_s);
        riders
            .insert_ticket(
                &NewTicket {
                    ticket_id: *ticket.ticket_id.as_bytes(),
                    account_id: account,
                    kid: [0; 4],
                    holder_key: None,
                    expires_at: Utc
                        .timestamp_opt(i64::try_from(expires_s).expect("fits"), 0)
                        .single()
                        .expect("time"),
                },
                Utc.timestamp_opt(T0_S, 0).single().expect("time"),
            )
            .await
            .expect("store ticket");
        tickets.push(ticket);
    }
    let tap = |seq: u64, qr: &[u8]| signed("POST", "/v1/taps", "bus-a", &qr_tap(seq, qr), now_s);

    let (status, reply) = send(&rig.router, tap(1, &tickets[0].qr)).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["decision"], "accept");
    assert_eq!(reply["balance_vnd"], 14_000);
    assert_eq!(reply["ticket_id"], hex::encode([1u8; 16]));

    let (_, reply) = send(&rig.router, tap(2, &tickets[1].qr)).await;
    assert_eq!(reply["decision"], "deny", "{reply}");
    assert_eq!(reply["reason"], "ticket_rejected");
    assert_eq!(reply["ticket_verdict"], "expired");

    let mut forged = tickets[0].qr.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    let (_, reply) = send(&rig.router, tap(3, &forged)).await;
    assert_eq!(reply["reason"], "ticket_rejected", "{reply}");
    assert_eq!(reply["ticket_verdict"], "bad_signature");
    let state = rig.state.projection().state(account).await.expect("state");
    assert_eq!(state.balance.as_vnd(), 14_000);
    rig.db.drop_now().await;
}

/// A phone-bound ticket opens the gate only with a fresh level-2 proof; the
/// same proof shown twice (a screenshot passed on) is refused, and the bare
/// level-1 bytes of a bound ticket are refused too.
#[tokio::test]
async fn level_two_proofs_open_one_gate_and_screenshots_do_not() {
    use card_protocol::PublicKey;
    use card_protocol::ticket::{sign_level2, time_step};
    use ring::signature::Ed25519KeyPair;

    let rig = Rig::new().await;
    rig.bus("bus-a", "19").await;
    let (account, _) = rig.rider("04a1b2c3", 20_000).await;
    let now_s = rig.clock.now_s();
    let holder = Ed25519KeyPair::from_seed_unchecked(&[9; 32]).expect("seed");
    let ticket = rig
        .ring
        .issue(
            &TicketRequest {
                ticket_id: TicketId::from_bytes([7; 16]),
                account_id: account,
                holder: Some(PublicKey::of(&holder)),
                product: ProductCode(1),
                rider_category: RiderCategoryCode(0),
                not_before_s: now_s - 60,
                expires_s: now_s + 600,
            },
            now_s - 60,
        )
        .expect("issue");
    Riders::new(rig.db.pool.clone())
        .insert_ticket(
            &NewTicket {
                ticket_id: *ticket.ticket_id.as_bytes(),
                account_id: account,
                kid: [0; 4],
                holder_key: Some(*PublicKey::of(&holder).as_bytes()),
                expires_at: Utc
                    .timestamp_opt(i64::try_from(now_s + 600).expect("fits"), 0)
                    .single()
                    .expect("time"),
            },
            Utc.timestamp_opt(T0_S, 0).single().expect("time"),
        )
        .await
        .expect("store ticket");
    let tap = |seq: u64, qr: &[u8]| signed("POST", "/v1/taps", "bus-a", &qr_tap(seq, qr), now_s);
    let step = time_step(now_s);
    let proof = sign_level2(&ticket.qr, &holder, step).expect("proof");

    let (status, reply) = send(&rig.router, tap(1, &proof)).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["decision"], "accept", "{reply}");
    assert_eq!(reply["balance_vnd"], 14_000);

    // The same proof again, on another tap: a screenshot. Refused, no charge.
    let (_, reply) = send(&rig.router, tap(2, &proof)).await;
    assert_eq!(reply["decision"], "deny", "{reply}");
    assert_eq!(reply["reason"], "ticket_rejected");
    assert_eq!(reply["ticket_verdict"], "stale_proof");

    // The bound ticket without any proof.
    let (_, reply) = send(&rig.router, tap(3, &ticket.qr)).await;
    assert_eq!(reply["reason"], "ticket_rejected", "{reply}");
    assert_eq!(reply["ticket_verdict"], "bad_proof");

    // The phone's next proof (the next 30 s step) is fresh and opens the gate.
    let next = sign_level2(&ticket.qr, &holder, step + 1).expect("proof");
    let (_, reply) = send(&rig.router, tap(4, &next)).await;
    assert_eq!(reply["decision"], "accept", "{reply}");
    assert_eq!(reply["balance_vnd"], 8_000);

    let state = rig.state.projection().state(account).await.expect("state");
    assert_eq!(
        state.balance.as_vnd(),
        8_000,
        "only the two fresh proofs were charged"
    );
    rig.db.drop_now().await;
}
