//! Parking through the real binary: `oneticket serve` seeds the HCMC lots,
//! a gate registered through the admin API signs an entry, the ParkAPI feed
//! shows the place taken, and an operator key of the `parking` scope
//! (made by `oneticket admin-key create`) records a barrier lift.

use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{BIN, ServeEnv, Served, WAIT_S, run};
use card_protocol::TerminalId;
use card_protocol::request_auth::{MasterKey, RequestParts, derive_terminal_key, sign_request};

/// A bare HTTP/1.1 request: status and body (the exchange must work).
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> (u16, String) {
    crate::support::http(addr, method, path, headers, body).expect("HTTP exchange")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gate_entry_goes_through_the_binary_and_shows_in_the_feed() {
    let db = test_kit::fresh_database().await;
    let url = db.url();
    let serve = ServeEnv::new("parking", &url);
    let env = serve.vars();
    let (dir, prefix, redis_url) = (&serve.dir, &serve.prefix, &serve.redis_url);
    run(&["keys", "generate"], &env);
    let terminals_key = run(&["admin-key", "create", "--scope", "terminals"], &env)
        .trim()
        .to_owned();
    let parking_key = run(&["admin-key", "create", "--scope", "parking"], &env)
        .trim()
        .to_owned();

    // A rider with a card and 20,000 VND.
    let now = chrono::Utc::now();
    let (_account, _projection) =
        crate::support::funded_card_rider(&db.pool, redis_url, prefix, "04a1b2c3", 20_000, now)
            .await;

    let served = Served(
        Command::new(BIN)
            .arg("serve")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve"),
    );
    let addr = serve.addr();
    let deadline = Instant::now() + Duration::from_secs(WAIT_S);
    loop {
        let ready = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
            && http(addr, "GET", "/readyz", &[], b"").0 == 200;
        if ready {
            break;
        }
        assert!(Instant::now() < deadline, "serve never became ready");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let bearer = |key: &str| vec![("Authorization", format!("Bearer {key}"))];

    // `serve` seeded the lots: the feed lists them before any gate counted.
    let (status, feed) = http(addr, "GET", "/v1/parking/sites", &[], b"");
    assert_eq!(status, 200, "{feed}");
    let feed: serde_json::Value = serde_json::from_str(&feed).expect("JSON");
    assert_eq!(feed["total_count"], 4);

    let register = br#"{"terminal_id":"bth-p-e1","operator_id":"hurc1","placement":{"kind":"parking_gate","lot_id":"BTH-P","gate_id":"E1","direction":"entry"}}"#;
    let (status, body) = http(
        addr,
        "POST",
        "/v1/admin/terminals",
        &bearer(&terminals_key),
        register,
    );
    assert_eq!(status, 201, "{body}");

    let master_hex =
        std::fs::read_to_string(dir.join("keys/terminal-master.key")).expect("master key");
    let master = MasterKey::new(&hex::decode(master_hex.trim()).expect("hex")).expect("master");
    let terminal = TerminalId::parse("bth-p-e1").expect("id");
    let tap = serde_json::json!({
        "terminal_id": "bth-p-e1", "boot_epoch": 1, "seq": 1, "device_time_s": now.timestamp(),
        "event": {"kind": "parking_entry", "lot_id": "BTH-P", "gate_id": "E1", "vehicle_class": "motorbike"},
        "medium": {"kind": "transit_card", "card_id": "04a1b2c3"}
    });
    let body = serde_json::to_vec(&tap).expect("json");
    let at_s = u64::try_from(chrono::Utc::now().timestamp()).expect("after 1970");
    let signature = sign_request(
        &derive_terminal_key(&master, &terminal),
        &RequestParts {
            method: "POST",
            path: "/v1/parking/entries",
            body: &body,
        },
        at_s,
        &terminal,
    )
    .expect("sign");
    let headers = vec![
        ("X-OT-Terminal", "bth-p-e1".to_owned()),
        ("X-OT-Timestamp", at_s.to_string()),
        ("X-OT-Signature", signature),
    ];
    let (status, reply) = http(addr, "POST", "/v1/parking/entries", &headers, &body);
    assert_eq!(status, 200, "{reply}");
    let reply: serde_json::Value = serde_json::from_str(&reply).expect("JSON");
    assert_eq!(
        (reply["decision"].clone(), reply["amount_vnd"].clone()),
        ("accept".into(), 0.into())
    );

    // The feed is cached for a few seconds; the place shows once it expires.
    let deadline = Instant::now() + Duration::from_secs(WAIT_S);
    loop {
        let (status, site) = http(addr, "GET", "/v1/parking/sites/BTH-P", &[], b"");
        assert_eq!(status, 200, "{site}");
        let site: serde_json::Value = serde_json::from_str(&site).expect("JSON");
        if site["realtime_free_capacity"] == 449 {
            assert_eq!(site["status"], "open");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the entry never showed in the feed: {site}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let lift = br#"{"reason":"equipment_fault","note":"loop detector stuck"}"#;
    let (status, body) = http(
        addr,
        "POST",
        "/v1/admin/parking/lots/BTH-P/gates/E1/lift",
        &bearer(&terminals_key),
        lift,
    );
    assert_eq!(status, 403, "{body}");
    let (status, body) = http(
        addr,
        "POST",
        "/v1/admin/parking/lots/BTH-P/gates/E1/lift",
        &bearer(&parking_key),
        lift,
    );
    assert_eq!(status, 201, "{body}");

    drop(served);
    db.drop_now().await;
}
