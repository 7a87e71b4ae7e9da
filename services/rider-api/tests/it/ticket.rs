//! The QR ticket: verifies offline with the published key set, is bound to
//! the account (and to the phone's key when one is registered), and keeps
//! verifying after a key rotation until its own expiry.

use axum::http::{Method, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use card_protocol::ticket::time_step;
use card_protocol::{PublicKey, TicketError, sign_level2, verify_qr};
use chrono::Duration;
use rider_api::clock::Clock;
use rider_api::routes::ticket::TICKET_VALIDITY_S;
use ring::signature::Ed25519KeyPair;
use serde_json::{Value, json};

use crate::support::{Session, TestApp, app};

fn now_s(app: &TestApp) -> u64 {
    u64::try_from(app.clock.now().timestamp()).expect("after 1970")
}

async fn ticket(app: &TestApp, rider: &Session) -> (Value, Vec<u8>) {
    let reply = app.get("/v1/me/ticket", Some(&rider.token)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let qr = URL_SAFE_NO_PAD
        .decode(reply.body["qr"].as_str().expect("a QR"))
        .expect("base64url");
    (reply.body, qr)
}

#[tokio::test]
async fn a_ticket_verifies_with_the_published_keys_and_resolves_to_the_account() {
    let app = app().await;
    let rider = app.rider("0918000001").await;
    let (body, qr) = ticket(&app, &rider).await;
    assert_eq!(body["holder_bound"], json!(false));
    let published = app.ring.ring().key_set();
    let verified =
        verify_qr(&qr, &published.verifying_keys_at(now_s(&app)), now_s(&app)).expect("verifies");
    assert_eq!(
        hex::encode(verified.claims.ticket_id.as_bytes()),
        body["ticket_id"].as_str().unwrap_or_default()
    );
    assert_eq!(
        verified.kid.to_string(),
        body["kid"].as_str().unwrap_or_default()
    );
    let ttl = verified.claims.validity.expires_s() - verified.claims.validity.not_before_s();
    assert_eq!(i64::try_from(ttl).ok(), Some(TICKET_VALIDITY_S));
    // The ticket id resolves to the rider's account, as the gate looks it up.
    let record = store_pg::rider::Riders::new(app.db.pool.clone())
        .find_ticket(verified.claims.ticket_id.as_bytes())
        .await
        .expect("reads")
        .expect("recorded");
    assert_eq!(record.account.account_id.to_string(), rider.account_id);
    // Tampered or expired tickets do not verify.
    let mut tampered = qr.clone();
    if let Some(byte) = tampered.last_mut() {
        *byte ^= 1;
    }
    assert!(
        verify_qr(
            &tampered,
            &published.verifying_keys_at(now_s(&app)),
            now_s(&app)
        )
        .is_err()
    );
    let later = now_s(&app) + u64::try_from(TICKET_VALIDITY_S).unwrap_or(0);
    assert_eq!(
        verify_qr(&qr, &published.verifying_keys_at(later), later).map(|_| ()),
        Err(TicketError::Expired)
    );
    app.finish().await;
}

#[tokio::test]
async fn a_registered_holder_key_binds_tickets_to_the_phone() {
    let app = app().await;
    let rider = app.rider("0918000002").await;
    let phone = Ed25519KeyPair::from_seed_unchecked(&[9; 32]).expect("a seed");
    let public = hex::encode(PublicKey::of(&phone).as_bytes());
    for bad in ["", "zz", &public[2..], &public.to_uppercase()] {
        let reply = app
            .send(
                Method::PUT,
                "/v1/me/holder-key",
                Some(&rider.token),
                &[],
                Some(json!({"public_key": bad}).to_string().into()),
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
    }
    let put = app
        .send(
            Method::PUT,
            "/v1/me/holder-key",
            Some(&rider.token),
            &[],
            Some(json!({"public_key": public}).to_string().into()),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    let (body, qr) = ticket(&app, &rider).await;
    assert_eq!(body["holder_bound"], json!(true));
    let now = now_s(&app);
    let keys = app.ring.ring().key_set().verifying_keys_at(now);
    // The bare ticket is refused at the gate: it needs a fresh proof.
    assert_eq!(
        verify_qr(&qr, &keys, now).map(|_| ()),
        Err(TicketError::BadProof)
    );
    let proof = sign_level2(&qr, &phone, time_step(now)).expect("the phone signs");
    assert!(verify_qr(&proof, &keys, now).is_ok());
    // A screenshot of the proof goes stale.
    let later = now + 120;
    assert_eq!(
        verify_qr(&proof, &keys, later).map(|_| ()),
        Err(TicketError::StaleProof)
    );
    app.finish().await;
}

#[tokio::test]
async fn tickets_survive_a_key_rotation_until_they_expire() {
    let app = app().await;
    let rider = app.rider("0918000003").await;
    let (old_body, old_qr) = ticket(&app, &rider).await;
    // `oneticket keys rotate`; the API re-reads the key store (at once
    // here: the test app re-checks on every ticket).
    app.ring.rotate(8, now_s(&app));
    app.clock.advance(Duration::seconds(1));
    let (new_body, new_qr) = ticket(&app, &rider).await;
    assert_ne!(
        new_body["kid"], old_body["kid"],
        "the new ticket is signed by the new key"
    );
    let published = app.ring.ring().key_set();
    let now = now_s(&app);
    let keys = published.verifying_keys_at(now);
    assert!(verify_qr(&new_qr, &keys, now).is_ok());
    assert!(
        verify_qr(&old_qr, &keys, now).is_ok(),
        "the old ticket still verifies"
    );
    // Until its own exp, not longer.
    let old_exp = old_body["expires_at"].as_str().expect("an expiry");
    let exp_s = u64::try_from(
        chrono::DateTime::parse_from_rfc3339(old_exp)
            .expect("RFC 3339")
            .timestamp(),
    )
    .expect("after 1970");
    assert!(verify_qr(&old_qr, &published.verifying_keys_at(exp_s - 1), exp_s - 1).is_ok());
    assert_eq!(
        verify_qr(&old_qr, &published.verifying_keys_at(exp_s), exp_s).map(|_| ()),
        Err(TicketError::Expired)
    );
    app.finish().await;
}

#[tokio::test]
async fn ticket_issuing_is_rate_limited_per_account() {
    let app = app().await;
    let rider = app.rider("0918000004").await;
    let limit = rider_api::ratelimit::TICKETS_PER_ACCOUNT.limit;
    for _ in 0..limit {
        assert_eq!(
            app.get("/v1/me/ticket", Some(&rider.token)).await.status,
            StatusCode::OK
        );
    }
    let limited = app.get("/v1/me/ticket", Some(&rider.token)).await;
    assert_eq!(
        (limited.status, limited.code()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    assert_eq!(app.count("rider.ticket").await, i64::from(limit));
    app.finish().await;
}
