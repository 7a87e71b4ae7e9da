//! Gate entries and exits through HTTP: fees, idempotency, park and ride,
//! plates, the spec's denials, and bad input that changes nothing.

use axum::http::StatusCode;
use serde_json::json;
use store_pg::parking::ParkingStore;
use store_pg::terminal::{Direction, Terminals};

use crate::support::*;

#[tokio::test]
async fn an_entry_and_an_exit_charge_the_tariff_once() {
    let rig = Rig::new().await;
    bth_gates(&rig).await;
    let account = rig.rider("04a1b2c3", 20_000).await;

    let (status, reply) = gate(
        &rig,
        &rig.router,
        ENTRIES,
        "BTH-E1",
        &bth_entry(1, card("04a1b2c3")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(verdict(&reply), accepted(0));
    assert_eq!(rig.occupied("BTH-P").await, Some(1));
    let store = ParkingStore::new(rig.db.pool.clone());
    let stay = store
        .current_stay(account)
        .await
        .expect("read")
        .expect("an open stay");
    assert_eq!((stay.site_id.as_str(), stay.open), ("BTH-P", true));

    // Two hours later: one started 12-hour block, 4,000.
    rig.at(T0_S + 2 * HOUR_S);
    let (status, reply) = gate(
        &rig,
        &rig.router,
        EXITS,
        "BTH-X1",
        &bth_exit(1, card("04a1b2c3")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(verdict(&reply), accepted(4_000));
    assert_eq!(reply["balance_vnd"], json!(16_000));
    assert_eq!(rig.occupied("BTH-P").await, Some(0));
    assert_eq!(rig.balance(account).await, 16_000);
    let history = store.stay_history(account, None, 10).await.expect("read");
    assert_eq!(history.len(), 1);
    assert_eq!(
        (
            history[0].open,
            history[0].fee_vnd,
            history[0].park_and_ride
        ),
        (false, Some(4_000), Some(false))
    );
    assert!(store.current_stay(account).await.expect("read").is_none());
}

#[tokio::test]
async fn a_retried_exit_answers_the_same_and_frees_one_place() {
    let rig = Rig::new().await;
    bth_gates(&rig).await;
    let account = rig.rider("04a1b2c3", 20_000).await;
    let other = rig.rider("04a1b2c4", 20_000).await;
    for (seq, card_id) in [(1, "04a1b2c3"), (2, "04a1b2c4")] {
        let (_, reply) = gate(
            &rig,
            &rig.router,
            ENTRIES,
            "BTH-E1",
            &bth_entry(seq, card(card_id)),
        )
        .await;
        assert_eq!(verdict(&reply), accepted(0));
    }
    assert_eq!(rig.occupied("BTH-P").await, Some(2));

    rig.at(T0_S + 13 * HOUR_S);
    let body = bth_exit(7, card("04a1b2c3"));
    let (_, first) = gate(&rig, &rig.router, EXITS, "BTH-X1", &body).await;
    assert_eq!(verdict(&first), accepted(8_000));
    // The retry (same seq, same body) on another instance, later.
    rig.at(T0_S + 14 * HOUR_S);
    let second_router = rig.second_router();
    for router in [&rig.router, &second_router] {
        let (status, again) = gate(&rig, router, EXITS, "BTH-X1", &body).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(without_time(again), without_time(first.clone()));
    }
    assert_eq!(rig.occupied("BTH-P").await, Some(1));
    assert_eq!(rig.balance(account).await, 12_000);
    assert_eq!(rig.balance(other).await, 20_000);
}

#[tokio::test]
async fn park_and_ride_halves_the_fee_only_with_a_metro_tap_in_at_the_linked_station() {
    let rig = Rig::new().await;
    bth_gates(&rig).await;
    rig.metro_gate("BTH-M-IN", "BTH", Direction::Entry).await;
    rig.metro_gate("BXS-M-OUT", "BXS", Direction::Exit).await;
    let rider = rig.rider("04aaaaaa", 100_000).await;
    let driver = rig.rider("04bbbbbb", 100_000).await;

    for (seq, card_id) in [(1, "04aaaaaa"), (2, "04bbbbbb")] {
        let (_, reply) = gate(
            &rig,
            &rig.router,
            ENTRIES,
            "BTH-E1",
            &bth_entry(seq, card(card_id)),
        )
        .await;
        assert_eq!(verdict(&reply), accepted(0));
    }
    // Only the first rides the metro from Ben Thanh during the stay.
    rig.at(T0_S + 300);
    let tap = |terminal: &str, seq: u64, kind: &str, station: &str| {
        serde_json::to_vec(&json!({
            "terminal_id": terminal, "boot_epoch": 1, "seq": seq, "device_time_s": T0_S,
            "event": {"kind": kind, "station_id": station},
            "medium": card("04aaaaaa"),
        }))
        .expect("json")
    };
    let (status, reply) = gate(
        &rig,
        &rig.validators,
        "/v1/taps",
        "BTH-M-IN",
        &tap("BTH-M-IN", 1, "metro_entry", "BTH"),
    )
    .await;
    assert_eq!(
        (status, reply["decision"].as_str()),
        (StatusCode::OK, Some("accept")),
        "{reply}"
    );
    rig.at(T0_S + 3_000);
    let (_, reply) = gate(
        &rig,
        &rig.validators,
        "/v1/taps",
        "BXS-M-OUT",
        &tap("BXS-M-OUT", 1, "metro_exit", "BXS"),
    )
    .await;
    assert_eq!(reply["decision"].as_str(), Some("accept"), "{reply}");
    let after_metro = rig.balance(rider).await;

    rig.at(T0_S + 10 * HOUR_S);
    let (_, reply) = gate(
        &rig,
        &rig.router,
        EXITS,
        "BTH-X1",
        &bth_exit(1, card("04aaaaaa")),
    )
    .await;
    assert_eq!(verdict(&reply), accepted(2_000));
    let (_, reply) = gate(
        &rig,
        &rig.router,
        EXITS,
        "BTH-X1",
        &bth_exit(2, card("04bbbbbb")),
    )
    .await;
    assert_eq!(verdict(&reply), accepted(4_000));
    assert_eq!(rig.balance(rider).await, after_metro - 2_000);
    assert_eq!(rig.balance(driver).await, 96_000);
    let store = ParkingStore::new(rig.db.pool.clone());
    let stays = store.stay_history(rider, None, 10).await.expect("read");
    assert_eq!(
        (stays[0].fee_vnd, stays[0].park_and_ride),
        (Some(2_000), Some(true))
    );
}

#[tokio::test]
async fn a_plate_opens_the_gate_in_any_spelling_and_a_non_plate_is_unknown() {
    let rig = Rig::new().await;
    bth_gates(&rig).await;
    let account = rig.rider("04a1b2c3", 20_000).await;
    rig.link_plate(account, "59X1-234.56").await;

    // The camera reads the two-row plate without the dot.
    let (_, reply) = gate(
        &rig,
        &rig.router,
        ENTRIES,
        "BTH-E1",
        &bth_entry(1, plate("59-X1-23456")),
    )
    .await;
    assert_eq!(verdict(&reply), accepted(0));
    let store = ParkingStore::new(rig.db.pool.clone());
    let stay = store
        .current_stay(account)
        .await
        .expect("read")
        .expect("open");
    assert_eq!(stay.plate.as_deref(), Some("59X1-234.56"));
    assert_eq!(stay.medium_kind, "plate");
    // The exit camera reads it in one piece.
    rig.at(T0_S + HOUR_S);
    let (_, reply) = gate(
        &rig,
        &rig.router,
        EXITS,
        "BTH-X1",
        &bth_exit(1, plate("59X123456")),
    )
    .await;
    assert_eq!(verdict(&reply), accepted(4_000));
    // Another plate and a text that is no Vietnamese plate: no account.
    let (_, reply) = gate(
        &rig,
        &rig.router,
        ENTRIES,
        "BTH-E1",
        &bth_entry(2, plate("51A-123.45")),
    )
    .await;
    assert_eq!(verdict(&reply), denied("unknown_medium"));
    let (status, reply) = gate(
        &rig,
        &rig.router,
        ENTRIES,
        "BTH-E1",
        &bth_entry(3, plate("ABCD-1234")),
    )
    .await;
    assert_eq!(
        (status, verdict(&reply)),
        (StatusCode::OK, denied("unknown_medium"))
    );
    assert_eq!(rig.occupied("BTH-P").await, Some(0));
}

#[tokio::test]
async fn denials_follow_the_spec_and_change_nothing() {
    let rig = Rig::new().await;
    bth_gates(&rig).await;
    rig.parking_gate("TDI-E1", "TDI-P", "E1", Direction::Entry)
        .await;
    let rich = rig.rider("04000001", 50_000).await;
    let poor = rig.rider("04000002", 3_999).await;
    let _nobody = rig.rider("04000003", 50_000).await;

    // Exit without a stay.
    let (_, reply) = gate(
        &rig,
        &rig.router,
        EXITS,
        "BTH-X1",
        &bth_exit(1, card("04000003")),
    )
    .await;
    assert_eq!(verdict(&reply), denied("no_open_stay"));
    // Below the motorbike minimum of 4,000.
    let (_, reply) = gate(
        &rig,
        &rig.router,
        ENTRIES,
        "BTH-E1",
        &bth_entry(1, card("04000002")),
    )
    .await;
    assert_eq!(verdict(&reply), denied("insufficient_funds"));
    assert_eq!(rig.occupied("BTH-P").await, Some(0));
    // Parked at BTH-P, then tries TDI-P.
    let (_, reply) = gate(
        &rig,
        &rig.router,
        ENTRIES,
        "BTH-E1",
        &bth_entry(2, card("04000001")),
    )
    .await;
    assert_eq!(verdict(&reply), accepted(0));
    let tdi = gate_tap(
        "TDI-E1",
        1,
        "parking_entry",
        "TDI-P",
        "E1",
        "motorbike",
        card("04000001"),
    );
    let (_, reply) = gate(&rig, &rig.router, ENTRIES, "TDI-E1", &tdi).await;
    assert_eq!(verdict(&reply), denied("already_parked"));
    assert_eq!(rig.occupied("TDI-P").await, Some(0));
    assert_eq!(rig.occupied("BTH-P").await, Some(1));
    assert_eq!(
        (rig.balance(rich).await, rig.balance(poor).await),
        (50_000, 3_999)
    );

    // A full lot is checked first: fill BTH-P to capacity with a count.
    let token = rig.admin_key(&["parking"]).await;
    let (status, _) = send(
        &rig.router,
        admin(
            "POST",
            "/v1/admin/parking/lots/BTH-P/occupancy",
            Some(&token),
            Some(json!({"counted": 450})),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, reply) = gate(
        &rig,
        &rig.router,
        ENTRIES,
        "BTH-E1",
        &bth_entry(3, card("04000002")),
    )
    .await;
    assert_eq!(verdict(&reply), denied("lot_full"));
    assert_eq!(rig.occupied("BTH-P").await, Some(450));
    // Denied taps are answered the same on retry.
    let (_, again) = gate(
        &rig,
        &rig.router,
        ENTRIES,
        "BTH-E1",
        &bth_entry(3, card("04000002")),
    )
    .await;
    assert_eq!(without_time(again), without_time(reply));
}

#[tokio::test]
async fn bad_requests_are_refused_and_change_nothing() {
    let rig = Rig::new().await;
    bth_gates(&rig).await;
    rig.parking_gate("BTH-OFF", "BTH-P", "E2", Direction::Entry)
        .await;
    Terminals::new(rig.db.pool.clone())
        .disable("BTH-OFF", time(T0_S))
        .await
        .expect("disable");
    let account = rig.rider("04a1b2c3", 20_000).await;
    let now_s = rig.clock.now_s();
    let body = bth_entry(1, card("04a1b2c3"));

    let check =
        |status: StatusCode, reply: &serde_json::Value, expected: StatusCode, code: &str| {
            assert_eq!(status, expected, "{reply}");
            assert_eq!(reply["code"].as_str(), Some(code), "{reply}");
        };
    // Wrong key, stale timestamp, unknown terminal, no headers: 401.
    let mut tampered = signed("POST", ENTRIES, "BTH-E1", &body, now_s);
    tampered
        .headers_mut()
        .insert("x-ot-signature", "0".repeat(64).parse().expect("header"));
    let (status, reply) = send(&rig.router, tampered).await;
    check(status, &reply, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, reply) = send(
        &rig.router,
        signed("POST", ENTRIES, "BTH-E1", &body, now_s - 3_600),
    )
    .await;
    check(status, &reply, StatusCode::UNAUTHORIZED, "unauthorized");
    let stranger = gate_tap(
        "NOBODY",
        1,
        "parking_entry",
        "BTH-P",
        "E1",
        "motorbike",
        card("04a1b2c3"),
    );
    let (status, reply) = send(
        &rig.router,
        signed("POST", ENTRIES, "NOBODY", &stranger, now_s),
    )
    .await;
    check(status, &reply, StatusCode::UNAUTHORIZED, "unauthorized");
    // A request signed for another path is a bad signature.
    let mut moved = signed("POST", EXITS, "BTH-E1", &body, now_s);
    *moved.uri_mut() = ENTRIES.parse().expect("uri");
    let (status, reply) = send(&rig.router, moved).await;
    check(status, &reply, StatusCode::UNAUTHORIZED, "unauthorized");
    // Disabled terminal, or a body naming another terminal: 403.
    let off = gate_tap(
        "BTH-OFF",
        1,
        "parking_entry",
        "BTH-P",
        "E2",
        "motorbike",
        card("04a1b2c3"),
    );
    let (status, reply) = send(&rig.router, signed("POST", ENTRIES, "BTH-OFF", &off, now_s)).await;
    check(status, &reply, StatusCode::FORBIDDEN, "forbidden");
    let (status, reply) = send(&rig.router, signed("POST", ENTRIES, "BTH-X1", &body, now_s)).await;
    check(status, &reply, StatusCode::FORBIDDEN, "forbidden");
    // Malformed JSON, unknown fields: 400. Oversize: 413.
    let (status, reply) = gate(&rig, &rig.router, ENTRIES, "BTH-E1", b"{\"terminal_id\":").await;
    check(status, &reply, StatusCode::BAD_REQUEST, "invalid_message");
    let mut extra: serde_json::Value = serde_json::from_slice(&body).expect("json");
    extra["colour"] = json!("red");
    let extra = serde_json::to_vec(&extra).expect("json");
    let (status, reply) = gate(&rig, &rig.router, ENTRIES, "BTH-E1", &extra).await;
    check(status, &reply, StatusCode::BAD_REQUEST, "invalid_message");
    let huge = vec![b' '; 4 * 1024];
    let (status, _) = gate(&rig, &rig.router, ENTRIES, "BTH-E1", &huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // A car at a motorbike lane, an exit at the entry endpoint: 422.
    let car = gate_tap(
        "BTH-E1",
        1,
        "parking_entry",
        "BTH-P",
        "E1",
        "car",
        card("04a1b2c3"),
    );
    let (status, reply) = gate(&rig, &rig.router, ENTRIES, "BTH-E1", &car).await;
    check(
        status,
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "vehicle_class_not_served",
    );
    let (status, reply) = gate(&rig, &rig.router, EXITS, "BTH-E1", &body).await;
    check(
        status,
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "event_does_not_fit_terminal",
    );

    assert_eq!(rig.occupied("BTH-P").await, None);
    assert_eq!(rig.balance(account).await, 20_000);
    assert_eq!(rig.count("SELECT count(*) FROM parking.stay").await, 0);

    // The seq used, then reused with other content: 409, nothing moves.
    let (_, reply) = gate(&rig, &rig.router, ENTRIES, "BTH-E1", &body).await;
    assert_eq!(verdict(&reply), accepted(0));
    let other = bth_entry(1, card("04a1b2c4"));
    let (status, reply) = gate(&rig, &rig.router, ENTRIES, "BTH-E1", &other).await;
    check(status, &reply, StatusCode::CONFLICT, "seq_reused");
    assert_eq!(rig.occupied("BTH-P").await, Some(1));
    assert_eq!(rig.count("SELECT count(*) FROM parking.stay").await, 1);
}

#[tokio::test]
async fn a_qr_ticket_opens_the_gate_and_a_retry_answers_with_the_same_ticket() {
    use base64::Engine as _;
    use card_protocol::TicketId;
    use card_protocol::ticket::{ProductCode, RiderCategoryCode};
    use ledger::keyring::TicketRequest;
    use store_pg::rider::{NewTicket, Riders};

    let rig = Rig::new().await;
    bth_gates(&rig).await;
    let account = rig.rider("04a1b2c3", 20_000).await;
    let now_s = rig.clock.now_s();
    let ticket = rig
        .ring
        .issue(
            &TicketRequest {
                ticket_id: TicketId::from_bytes([5; 16]),
                account_id: account,
                holder: None,
                product: ProductCode(1),
                rider_category: RiderCategoryCode(0),
                not_before_s: now_s - 60,
                expires_s: now_s + 7 * 3_600,
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
                holder_key: None,
                expires_at: time(T0_S + 7 * HOUR_S),
            },
            time(T0_S),
        )
        .await
        .expect("ticket");
    let qr = json!({"kind": "qr", "payload": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&ticket.qr)});

    let (_, reply) = gate(
        &rig,
        &rig.router,
        ENTRIES,
        "BTH-E1",
        &bth_entry(1, qr.clone()),
    )
    .await;
    assert_eq!(verdict(&reply), accepted(0));
    assert_eq!(reply["ticket_id"], json!(hex::encode([5u8; 16])));
    rig.at(T0_S + 6 * HOUR_S);
    let (_, first) = gate(&rig, &rig.router, EXITS, "BTH-X1", &bth_exit(1, qr.clone())).await;
    assert_eq!(verdict(&first), accepted(4_000));
    let (_, again) = gate(&rig, &rig.router, EXITS, "BTH-X1", &bth_exit(1, qr)).await;
    assert_eq!(without_time(again), without_time(first.clone()));
    assert_eq!(first["ticket_verdict"], json!("valid"));
    assert_eq!(rig.balance(account).await, 16_000);
}

#[tokio::test]
async fn gate_taps_and_stays_reach_postgres_for_settlement() {
    let rig = Rig::new().await;
    bth_gates(&rig).await;
    let account = rig.rider("04a1b2c3", 20_000).await;
    let (_, reply) = gate(
        &rig,
        &rig.router,
        ENTRIES,
        "BTH-E1",
        &bth_entry(1, card("04a1b2c3")),
    )
    .await;
    assert_eq!(verdict(&reply), accepted(0));
    rig.at(T0_S + 2 * HOUR_S);
    let (_, reply) = gate(
        &rig,
        &rig.router,
        EXITS,
        "BTH-X1",
        &bth_exit(1, card("04a1b2c3")),
    )
    .await;
    assert_eq!(verdict(&reply), accepted(4_000));
    let (_, reply) = gate(
        &rig,
        &rig.router,
        EXITS,
        "BTH-X1",
        &bth_exit(2, card("04a1b2c3")),
    )
    .await;
    assert_eq!(verdict(&reply), denied("no_open_stay"));

    let mut settings = projection::ingest::IngestSettings::new("parking-test");
    settings.block_ms = 100;
    let ingest = projection::ingest::Ingest::new(
        rig.redis.clone(),
        rig.redis.clone(),
        rig.db.pool.clone(),
        &rig.layout,
        settings,
    )
    .await
    .expect("ingest");
    ingest.drain().await.expect("drain");
    // Every gate tap, accepted or denied, with its lot, gate and class.
    assert_eq!(
        rig.count(
            "SELECT count(*) FROM transit.tap WHERE lot_id = 'BTH-P' AND vehicle_class = 'motorbike' \
             AND event_kind IN ('parking_entry', 'parking_exit') AND gate_id IN ('E1', 'X1')"
        )
        .await,
        3
    );
    // The accepted ones as the account's events settlement re-prices.
    let events: Vec<(String, i64)> = sqlx::query_as(
        "SELECT kind, amount_vnd FROM rider.account_event WHERE account_id = $1 AND lot_id = 'BTH-P' ORDER BY version",
    )
    .bind(account.as_uuid())
    .fetch_all(&rig.db.pool)
    .await
    .expect("events");
    assert_eq!(
        events,
        [("park_in".to_owned(), 0), ("park_out".to_owned(), 4_000)]
    );
}
