//! One tap through the real binary, end to end, with the services split
//! over two processes as a deployment would: `oneticket serve --services
//! fare-validation` with its admin API, a terminal signing as SPEC.md §4
//! says, the Redis commit; then `serve --services settlement`, whose stream
//! ingest brings the tap row to Postgres.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{BIN, ServeEnv, WAIT_S, http, run, serve_until_ready};
use card_protocol::TerminalId;
use card_protocol::request_auth::{MasterKey, RequestParts, derive_terminal_key, sign_request};
use ledger::Money;
use projection::Layout;
use store_redis::KeyPrefix;

#[tokio::test(flavor = "multi_thread")]
async fn a_tap_goes_from_terminal_to_postgres_through_the_binary() {
    let db = test_kit::fresh_database().await;
    let url = db.url();
    let serve = ServeEnv::new("fv", &url);
    let env = serve.vars();
    let (dir, prefix, redis_url) = (&serve.dir, &serve.prefix, &serve.redis_url);
    run(&["keys", "generate"], &env);
    let terminals_key = run(&["admin-key", "create", "--scope", "terminals"], &env)
        .trim()
        .to_owned();
    let riders_key = run(&["admin-key", "create", "--scope", "riders"], &env)
        .trim()
        .to_owned();
    assert!(run(&["admin-key", "list"], &env).lines().count() >= 2);

    // A rider with a card and 20,000 VND, written as the rider API would.
    let now = chrono::Utc::now();
    let (account, projection) =
        crate::support::funded_card_rider(&db.pool, redis_url, prefix, "04a1b2c3", 20_000, now)
            .await;

    // The terminal API alone: no payment settings needed, and neither the
    // rider API's nor parking's routes are served.
    let terminal_env: Vec<(&str, &str)> = env
        .iter()
        .copied()
        .filter(|(name, _)| *name != "OT_VNPAY_MODE")
        .collect();
    let served = serve_until_ready(&["--services", "fare-validation"], &terminal_env).await;
    let addr = serve.addr();
    let (_, alive) = http(addr, "GET", "/healthz", &[], b"").expect("healthz");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&alive).expect("JSON")["services"],
        serde_json::json!(["fare-validation"])
    );
    for path in ["/v1/passes", "/v1/parking/sites"] {
        assert_eq!(
            http(addr, "GET", path, &[], b"").expect("http").0,
            404,
            "{path} is not this process's"
        );
    }

    // Register the gate through the admin API: no key 401, wrong scope 403.
    let register = br#"{"terminal_id":"bus-19-e2e","operator_id":"samco","placement":{"kind":"bus_validator","route_id":"19"}}"#;
    assert_eq!(
        http(addr, "POST", "/v1/admin/terminals", &[], register)
            .expect("http")
            .0,
        401
    );
    let bearer = |key: &str| vec![("Authorization", format!("Bearer {key}"))];
    assert_eq!(
        http(
            addr,
            "POST",
            "/v1/admin/terminals",
            &bearer(&riders_key),
            register
        )
        .expect("http")
        .0,
        403
    );
    let (status, body) = http(
        addr,
        "POST",
        "/v1/admin/terminals",
        &bearer(&terminals_key),
        register,
    )
    .expect("http");
    assert_eq!(status, 201, "{body}");

    // The terminal signs its tap with the key derived from the master key.
    let master_hex =
        std::fs::read_to_string(dir.join("keys/terminal-master.key")).expect("master key");
    let master = MasterKey::new(&hex::decode(master_hex.trim()).expect("hex")).expect("master");
    let terminal = TerminalId::parse("bus-19-e2e").expect("id");
    let tap = serde_json::json!({
        "terminal_id": "bus-19-e2e", "boot_epoch": 1, "seq": 1, "device_time_s": now.timestamp(),
        "event": {"kind": "bus_boarding", "route_id": "19"},
        "medium": {"kind": "transit_card", "card_id": "04a1b2c3"}
    });
    let body = serde_json::to_vec(&tap).expect("json");
    let headers = signed_tap_headers(&master, &terminal, &body);
    let (status, reply) = http(addr, "POST", "/v1/taps", &headers, &body).expect("tap");
    assert_eq!(status, 200, "{reply}");
    let reply: serde_json::Value = serde_json::from_str(&reply).expect("JSON");
    assert_eq!(reply["decision"], "accept");
    assert_eq!(reply["balance_vnd"], 14_000);

    // No process has run the ingest yet: the tap waits in a stream, and
    // no consumer group has been made on any stream.
    let mut redis_conn = test_kit::redis_connection().await;
    let layout = Layout::new(KeyPrefix::new(prefix).expect("prefix"));
    let mut waiting = 0;
    for stream in layout.streams() {
        let length: usize = redis::cmd("XLEN")
            .arg(&stream)
            .query_async(&mut redis_conn)
            .await
            .expect("XLEN");
        if length > 0 {
            waiting += length;
            let groups: Vec<redis::Value> = redis::cmd("XINFO")
                .arg("GROUPS")
                .arg(&stream)
                .query_async(&mut redis_conn)
                .await
                .expect("XINFO GROUPS");
            assert!(groups.is_empty(), "an ingest ran: {groups:?}");
        }
    }
    assert_eq!(waiting, 2, "the top-up's and the tap's stream entries");

    // The terminal API's process counts them as the ingest's backlog.
    let deadline = Instant::now() + Duration::from_secs(WAIT_S);
    loop {
        let (_, metrics) = http(addr, "GET", "/metrics", &[], b"").expect("metrics");
        if metrics
            .lines()
            .any(|line| line == "ingest_backlog_entries 2")
        {
            break;
        }
        assert!(Instant::now() < deadline, "no backlog gauge: {metrics}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Settlement in a process of its own, on another port and without a
    // key store: its ingest brings the tap to Postgres.
    let settlement_listen = format!("127.0.0.1:{}", crate::support::free_port());
    let no_keys = serve.dir.join("no-keys");
    let settlement_env: Vec<(&str, &str)> = terminal_env
        .iter()
        .copied()
        .map(|(name, value)| match name {
            "OT_LISTEN" => (name, settlement_listen.as_str()),
            "OT_KEY_DIR" => (name, no_keys.to_str().expect("UTF-8")),
            _ => (name, value),
        })
        .collect();
    let settlement = serve_until_ready(&["--services", "settlement"], &settlement_env).await;
    let deadline = Instant::now() + Duration::from_secs(WAIT_S);
    loop {
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM transit.tap WHERE terminal_id = 'bus-19-e2e' AND decision = 'accept'")
            .fetch_one(&db.pool)
            .await
            .expect("count");
        if rows == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the tap never reached Postgres");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The app and the gates in a third process: the rider API needs the
    // payment mode (the others did not), and serves what the first did not.
    let apps_listen = format!("127.0.0.1:{}", crate::support::free_port());
    let apps_env: Vec<(&str, &str)> = env
        .iter()
        .copied()
        .map(|(name, value)| match name {
            "OT_LISTEN" => (name, apps_listen.as_str()),
            _ => (name, value),
        })
        .collect();
    let without_mode: Vec<(&str, &str)> = apps_env
        .iter()
        .copied()
        .filter(|(name, _)| *name != "OT_VNPAY_MODE")
        .collect();
    let refused = Command::new(BIN)
        .args(["serve", "--services", "rider-api"])
        .envs(without_mode.iter().copied())
        .output()
        .expect("serve runs");
    assert!(
        !refused.status.success(),
        "the rider API needs OT_VNPAY_MODE"
    );
    assert!(String::from_utf8_lossy(&refused.stderr).contains("OT_VNPAY_MODE"));
    let apps = serve_until_ready(&["--services", "parking,rider-api"], &apps_env).await;
    let apps_addr = apps_listen.parse().expect("addr");
    // Served here: the catalogue asks for a rider's session, the lots are public.
    for (path, served_status) in [("/v1/passes", 401), ("/v1/parking/sites", 200)] {
        let (status, body) = http(apps_addr, "GET", path, &[], b"").expect("http");
        assert_eq!(status, served_status, "{path}: {body}");
    }
    assert_eq!(
        http(apps_addr, "POST", "/v1/taps", &headers, &body)
            .expect("http")
            .0,
        404,
        "the terminal API is the first process's"
    );
    for process in [served, settlement, apps] {
        let pid = process.0.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .expect("kill")
                .success()
        );
        drop(process);
    }

    // Redis flushed while the service is down: `hot rebuild` restores the
    // account's state from Postgres, once (a second run finds it present).
    let flushed = test_kit::delete_prefix(&mut redis_conn, prefix).await;
    assert!(flushed > 0, "the tap left hot state in Redis");
    let account_arg = account.to_string();
    let rebuilt = run(&["hot", "rebuild", "--account", &account_arg], &env);
    assert_eq!(rebuilt.trim(), r#"{"accounts":1,"written":1}"#);
    let again = run(&["hot", "rebuild"], &env);
    assert_eq!(
        again.trim(),
        r#"{"accounts":1,"written":0}"#,
        "a live state is not overwritten"
    );
    projection.forget_cached();
    let state = projection.state(account).await.expect("state");
    assert_eq!(
        state.balance,
        Money::vnd(14_000),
        "the rebuilt balance is the one the tap left"
    );

    db.drop_now().await;
}

/// The authentication headers of `POST /v1/taps` with `body`, as
/// `terminal` signs it now (SPEC.md §4).
fn signed_tap_headers(
    master: &MasterKey,
    terminal: &TerminalId,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    let at_s = u64::try_from(chrono::Utc::now().timestamp()).expect("after 1970");
    let signature = sign_request(
        &derive_terminal_key(master, terminal),
        &RequestParts {
            method: "POST",
            path: "/v1/taps",
            body,
        },
        at_s,
        terminal,
    )
    .expect("sign");
    vec![
        ("X-OT-Terminal", terminal.as_str().to_owned()),
        ("X-OT-Timestamp", at_s.to_string()),
        ("X-OT-Signature", signature),
    ]
}

/// A signed request: its headers and body.
type Signed = (Vec<(&'static str, String)>, Vec<u8>);

/// The bus route of validator `n` in the race below: two routes, alternating.
fn route_of(n: usize) -> &'static str {
    if n.is_multiple_of(2) { "19" } else { "53" }
}

/// Taps of one card that race through `serve --threads 2`: every tap is
/// sent twice at once on connections of its own, which the kernel spreads
/// over the two serving threads. The threads share the account's cached
/// state but commit through Redis connections of their own, so version
/// conflicts and repeats meet across threads: each repeat must answer as
/// its first, and the balance must fall by exactly what the answers charged.
#[tokio::test(flavor = "multi_thread")]
async fn racing_taps_on_two_serving_threads_charge_each_tap_once() {
    const TERMINALS: usize = 4;
    const TAPS: usize = 24;
    const FUNDED_VND: i64 = 500_000;
    const BUSY_RETRIES: u64 = 50;
    let db = test_kit::fresh_database().await;
    let url = db.url();
    let serve = ServeEnv::new("fv2", &url);
    let env = serve.vars();
    let (dir, prefix, redis_url) = (&serve.dir, &serve.prefix, &serve.redis_url);
    run(&["keys", "generate"], &env);
    let admin = run(&["admin-key", "create", "--scope", "terminals"], &env)
        .trim()
        .to_owned();
    let now = chrono::Utc::now();
    let (account, projection) =
        crate::support::funded_card_rider(&db.pool, redis_url, prefix, "04c0ffee", FUNDED_VND, now)
            .await;
    let terminal_env: Vec<(&str, &str)> = env
        .iter()
        .copied()
        .filter(|(name, _)| *name != "OT_VNPAY_MODE")
        .collect();
    let served = serve_until_ready(
        &["--services", "fare-validation", "--threads", "2"],
        &terminal_env,
    )
    .await;
    let threads = std::fs::read_dir(format!("/proc/{}/task", served.0.id()))
        .expect("the process's threads")
        .filter_map(Result::ok)
        .filter_map(|task| std::fs::read_to_string(task.path().join("comm")).ok())
        .filter(|name| name.trim() == "serve-1")
        .count();
    assert_eq!(threads, 1, "a second serving thread");
    let addr = serve.addr();

    // Validators on two bus routes.
    let bearer = vec![("Authorization", format!("Bearer {admin}"))];
    let ids: Vec<String> = (0..TERMINALS).map(|n| format!("bus-race-{n}")).collect();
    for (n, id) in ids.iter().enumerate() {
        let route = route_of(n);
        let register = serde_json::json!({
            "terminal_id": id, "operator_id": "samco",
            "placement": {"kind": "bus_validator", "route_id": route}
        });
        let body = serde_json::to_vec(&register).expect("json");
        let (status, reply) =
            http(addr, "POST", "/v1/admin/terminals", &bearer, &body).expect("register");
        assert_eq!(status, 201, "{reply}");
    }

    let master_hex =
        std::fs::read_to_string(dir.join("keys/terminal-master.key")).expect("master key");
    let master = MasterKey::new(&hex::decode(master_hex.trim()).expect("hex")).expect("master");
    let signed: Vec<Signed> = (0..TAPS)
        .map(|n| {
            let id = &ids[n % TERMINALS];
            let route = route_of(n % TERMINALS);
            let tap = serde_json::json!({
                "terminal_id": id, "boot_epoch": 1, "seq": n / TERMINALS + 1,
                "device_time_s": now.timestamp(),
                "event": {"kind": "bus_boarding", "route_id": route},
                "medium": {"kind": "transit_card", "card_id": "04c0ffee"}
            });
            let body = serde_json::to_vec(&tap).expect("json");
            let terminal = TerminalId::parse(id).expect("id");
            (signed_tap_headers(&master, &terminal, &body), body)
        })
        .collect();

    // Every tap twice, all at once.
    let answers: Vec<[serde_json::Value; 2]> = std::thread::scope(|scope| {
        let sent: Vec<_> = signed
            .iter()
            .map(|(headers, body)| {
                [0, 1].map(|_| {
                    scope.spawn(move || {
                        // As a terminal does: a busy account (the state
                        // kept moving for every commit attempt) is retried.
                        for attempt in 0..BUSY_RETRIES {
                            let (status, reply) =
                                http(addr, "POST", "/v1/taps", headers, body).expect("tap");
                            if status == 503 && reply.contains("busy") {
                                std::thread::sleep(Duration::from_millis(5 * (attempt + 1)));
                                continue;
                            }
                            assert_eq!(status, 200, "{reply}");
                            return serde_json::from_str::<serde_json::Value>(&reply)
                                .expect("JSON");
                        }
                        panic!("the account stayed busy for {BUSY_RETRIES} tries");
                    })
                })
            })
            .collect();
        sent.into_iter()
            .map(|pair| pair.map(|handle| handle.join().expect("the tap's thread")))
            .collect()
    });

    let mut charged = 0;
    let mut accepted = 0;
    for [first, repeat] in &answers {
        let mut first = first.clone();
        let mut repeat = repeat.clone();
        // The answer's server time is the only field a repeat may differ in.
        for answer in [&mut first, &mut repeat] {
            answer
                .as_object_mut()
                .expect("an object")
                .remove("server_time_s");
        }
        assert_eq!(first, repeat, "a repeat answers as its first");
        if first["decision"] == "accept" {
            accepted += 1;
            charged += first["amount_vnd"].as_i64().expect("an amount");
        }
    }
    assert!(accepted > 0, "some taps were accepted: {answers:?}");
    projection.forget_cached();
    let state = projection.state(account).await.expect("state");
    assert_eq!(
        state.balance,
        Money::vnd(FUNDED_VND - charged),
        "the balance fell by what the answers charged, once each"
    );

    let pid = served.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    drop(served);
    db.drop_now().await;
}
