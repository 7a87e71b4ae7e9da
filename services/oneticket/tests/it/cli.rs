//! The `oneticket` command line, run as a user runs it: the real binary,
//! real files, real Postgres and Redis.

use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::support::{BIN, free_port};
use sqlx::Connection;

fn oneticket(args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .envs(env.iter().copied())
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the oneticket binary starts");
    // A command may exit before reading its input (e.g. on a bad argument):
    // a broken pipe then is not the test's failure.
    if let Err(error) = child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(stdin.as_bytes())
    {
        assert_eq!(
            error.kind(),
            std::io::ErrorKind::BrokenPipe,
            "writing stdin: {error}"
        );
    }
    child
        .wait_with_output()
        .expect("oneticket runs to completion")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["migrate", "--help"],
        vec!["audit", "--help"],
        vec!["keys", "--help"],
        vec!["keys", "generate", "--help"],
        vec!["keys", "rotate", "--help"],
        vec!["keys", "list", "--help"],
        vec!["fares", "--help"],
        vec!["fares", "quote", "--help"],
        vec!["fares", "replay", "--help"],
        vec!["demo", "--help"],
        vec!["settle", "--help"],
        vec!["hot", "--help"],
        vec!["hot", "rebuild", "--help"],
        vec!["admin-key", "--help"],
        vec!["admin-key", "create", "--help"],
        vec!["admin-key", "list", "--help"],
        vec!["admin-key", "revoke", "--help"],
    ] {
        let output = oneticket(&args, &[], "");
        assert!(output.status.success(), "{args:?} --help fails");
        assert!(
            stdout(&output).contains("Usage: oneticket"),
            "{args:?} prints no usage"
        );
    }
}

#[test]
fn replay_answers_the_specs_worked_example_line_by_line() {
    let input = r#"{"account":"r1","at":"2026-03-02T07:00:00+07:00","event":"topup","amount":100000}
{"account":"r1","at":"2026-03-02T07:05:00+07:00","event":"bus","route":"19","category":"adult"}
{"account":"r1","at":"2026-03-02T07:40:00+07:00","event":"metro_in","station":"BTH","category":"adult"}
{"account":"r1","at":"2026-03-02T08:02:00+07:00","event":"metro_out","station":"BXS","category":"adult"}
not json at all
{"account":"r1","at":"2026-03-02T08:10:00+07:00","event":"buy","product":"metro_day","category":"adult"}
{"account":"r1","at":"2026-03-02T17:00:00+07:00","event":"park_in","lot":"BXS-P","category":"adult"}
{"account":"r1","at":"2026-03-02T19:00:00+07:00","event":"park_out","lot":"BXS-P","category":"adult"}
"#;
    let output = oneticket(&["fares", "replay"], &[], input);
    assert!(output.status.success());
    let lines: Vec<serde_json::Value> = stdout(&output)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each output line is JSON"))
        .collect();
    let expected = [
        ("accept", -100_000, 100_000, None),
        ("accept", 6_000, 94_000, None),
        ("accept", 19_000, 75_000, None),
        ("accept", -3_000, 78_000, None),
        ("error", 0, 0, Some("malformed")),
        ("accept", 40_000, 38_000, None),
        ("accept", 0, 38_000, None),
        ("accept", 4_000, 34_000, None),
    ];
    assert_eq!(
        lines.len(),
        expected.len(),
        "one output line per input line"
    );
    for (i, (line, (decision, amount, balance, reason))) in lines.iter().zip(expected).enumerate() {
        assert_eq!(line["decision"], decision, "line {i}: {line}");
        assert_eq!(line["amount"], amount, "line {i}: {line}");
        assert_eq!(line["balance"], balance, "line {i}: {line}");
        assert_eq!(line["reason"].as_str(), reason, "line {i}: {line}");
    }
}

#[test]
fn quote_prices_a_journey_with_a_feed_directory_and_rejects_bad_requests() {
    let feed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/hcmc");
    let feed = feed.to_str().expect("UTF-8 path");
    let request = r#"{"rider_category":"adult","fare_media":null,"legs":[
        {"route_id":"19","from_stop_id":null,"to_stop_id":null,"departure":"2026-03-02T07:05:00+07:00","arrival":"2026-03-02T07:35:00+07:00"}]}"#;
    let output = oneticket(&["fares", "quote", "--feed", feed], &[], request);
    let text = stdout(&output);
    assert!(output.status.success(), "quote failed: {text}");
    let answer: serde_json::Value = serde_json::from_str(&text).expect("quote answers JSON");
    assert_eq!(answer["total"]["amount"], "6000", "{answer}");
    assert_eq!(answer["total"]["currency"], "VND", "{answer}");

    let bad = oneticket(&["fares", "quote", "--feed", feed], &[], "{\"legs\": 3}");
    assert_eq!(bad.status.code(), Some(2));
    let error: serde_json::Value =
        serde_json::from_str(&stdout(&bad)).expect("a bad request answers one JSON object");
    assert!(error["error"]["code"].is_string(), "{error}");

    let missing = oneticket(
        &["fares", "quote", "--feed", "/nonexistent/feed"],
        &[],
        request,
    );
    assert_eq!(missing.status.code(), Some(2));
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("file exists")
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn keys_generate_rotate_and_list_keep_secrets_private() {
    let dir = tempdir();
    let keys = dir.join("keys");
    let key_dir = keys.to_str().expect("UTF-8 path");
    let env = [("OT_KEY_DIR", key_dir)];

    let generated = oneticket(&["keys", "generate"], &env, "");
    assert!(
        generated.status.success(),
        "{}",
        String::from_utf8_lossy(&generated.stderr)
    );
    assert_eq!(mode(&keys), 0o700);
    assert_eq!(mode(&keys.join("terminal-master.key")), 0o600);
    assert_eq!(mode(&keys.join("ticket-ring.secret.json")), 0o600);

    let again = oneticket(&["keys", "generate"], &env, "");
    assert!(
        !again.status.success(),
        "a second generate must not overwrite keys"
    );
    assert!(
        oneticket(&["keys", "generate", "--if-missing"], &env, "")
            .status
            .success()
    );

    let before = stdout(&oneticket(&["keys", "list"], &env, ""));
    let signing_before = before
        .lines()
        .find(|l| l.contains("signing"))
        .expect("a signing key is listed")
        .to_owned();
    let rotated = oneticket(&["keys", "rotate"], &env, "");
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    let after = stdout(&oneticket(&["keys", "list"], &env, ""));
    assert!(after.contains("key set version 2"), "{after}");
    let old_kid = signing_before
        .split_whitespace()
        .next()
        .expect("kid column");
    assert!(
        after
            .lines()
            .any(|l| l.starts_with(old_kid) && l.contains("verifying")),
        "old key keeps verifying: {after}"
    );
    assert_eq!(after.lines().filter(|l| l.contains("signing")).count(), 1);

    // No secret reaches the output.
    let ring = std::fs::read_to_string(keys.join("ticket-ring.secret.json")).expect("ring file");
    let master = std::fs::read_to_string(keys.join("terminal-master.key")).expect("master file");
    let ring: serde_json::Value = serde_json::from_str(&ring).expect("ring is JSON");
    let seed = ring["signing"]["seed"].as_str().expect("seed").to_owned();
    for text in [&before, &after] {
        assert!(
            !text.contains(&seed) && !text.contains(master.trim()),
            "a secret was printed"
        );
    }

    // A key store others can read is refused.
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let refused = oneticket(&["keys", "list"], &env, "");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("must be 700"));
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("oneticket-test-{}", uuid_like()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{nanos}", std::process::id())
}

/// A bare HTTP/1.1 GET: status and body.
fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    crate::support::http(addr, "GET", path, &[], b"")
}

/// Runs `oneticket serve` with `args` until it is ready, checks what every
/// process serves (readiness on IPv4, liveness on IPv6, metrics, a problem
/// for an unknown route, each over new connections), then stops it with
/// SIGTERM and asserts a clean exit. Returns its threads' names.
async fn serve_until_sigterm(env: &[(&str, &str)], port: u16, args: &[&str]) -> Vec<String> {
    let mut served = crate::support::serve_until_ready(args, env).await;
    let v4: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let v6: SocketAddr = format!("[::1]:{port}").parse().expect("addr");
    let (_, ready) = http_get(v4, "/readyz").expect("readiness");
    assert!(
        ready.contains("postgres") && ready.contains("redis"),
        "{ready}"
    );
    // Every request below opens a connection of its own: with several
    // serving threads the kernel spreads them over the threads' listeners.
    for _ in 0..20 {
        assert_eq!(
            http_get(v6, "/healthz").expect("IPv6 loopback answers").0,
            200,
            "dual-stack listener"
        );
        let (status, metrics) = http_get(v4, "/metrics").expect("metrics");
        assert_eq!(status, 200);
        assert!(metrics.contains("http_requests_total"), "{metrics}");
        let (status, problem) = http_get(v4, "/no/such/route").expect("404");
        assert_eq!(status, 404);
        assert!(problem.contains("\"code\""), "{problem}");
    }
    let pid = served.0.id().to_string();
    let threads = std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|tasks| {
            tasks
                .filter_map(Result::ok)
                .filter_map(|task| std::fs::read_to_string(task.path().join("comm")).ok())
                .map(|name| name.trim().to_owned())
                .collect()
        })
        .unwrap_or_default();

    // SIGTERM: a graceful stop with exit status 0.
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs")
            .success()
    );
    let status = served.0.wait().expect("serve exits");
    assert!(
        status.success(),
        "serve {args:?} exits cleanly on SIGTERM: {status:?}"
    );
    threads
}

#[tokio::test(flavor = "multi_thread")]
async fn migrate_serve_and_audit_against_a_fresh_database() {
    let server = std::env::var("OT_TEST_DATABASE_URL")
        .unwrap_or_else(|_| test_kit::DEFAULT_DATABASE_URL.to_owned());
    let name = format!(
        "{}{}_{}",
        test_kit::TEST_DATABASE_PREFIX,
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        std::process::id()
    );
    let url = format!("{}/{name}", server.trim_end_matches('/'));
    let dir = tempdir();
    let key_dir = dir.join("keys");
    let key_dir = key_dir.to_str().expect("UTF-8 path");
    let port = free_port();
    let listen = format!("[::]:{port}");
    // A prefix of its own: with the default (`ot`), this server's ingest
    // would join the consumer group of a developer's `./dev run` on the same
    // Redis and write that server's taps into this test's database.
    let prefix = test_kit::redis_prefix().trim_end_matches(':').to_owned();
    let env = [
        ("OT_DATABASE_URL", url.as_str()),
        ("OT_KEY_DIR", key_dir),
        ("OT_LISTEN", listen.as_str()),
        ("OT_LOG_FORMAT", "json"),
        ("OT_VNPAY_MODE", "sandbox"),
        ("OT_REDIS_PREFIX", prefix.as_str()),
    ];

    let migrated = oneticket(&["migrate", "--create-database"], &env, "");
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    let again = oneticket(&["migrate"], &env, "");
    assert!(again.status.success(), "migrating twice is a no-op");

    let audit = oneticket(&["audit"], &env, "");
    assert!(audit.status.success(), "{}", stdout(&audit));
    assert!(stdout(&audit).contains("audit passed"));

    let no_keys = oneticket(&["serve"], &env, "");
    assert!(
        !no_keys.status.success(),
        "serve refuses to start without a key store"
    );
    assert!(String::from_utf8_lossy(&no_keys.stderr).contains("keys generate"));

    assert!(oneticket(&["keys", "generate"], &env, "").status.success());
    // The payment mode has no default: sandbox top-ups are free money.
    let unset: Vec<(&str, &str)> = env
        .iter()
        .copied()
        .filter(|(k, _)| *k != "OT_VNPAY_MODE")
        .collect();
    let no_mode = oneticket(&["serve"], &unset, "");
    assert!(
        !no_mode.status.success(),
        "serve refuses to start without OT_VNPAY_MODE"
    );
    assert!(String::from_utf8_lossy(&no_mode.stderr).contains("OT_VNPAY_MODE"));
    // One multi-threaded runtime (the default), then two serving threads
    // on one port.
    serve_until_sigterm(&env, port, &[]).await;
    let threads = serve_until_sigterm(&env, port, &["--threads", "2"]).await;
    assert!(
        threads.iter().any(|name| name == "serve-1"),
        "a second serving thread: {threads:?}"
    );
    for bad in ["0", "65", "two"] {
        let refused = oneticket(&["serve", "--threads", bad], &env, "");
        assert_eq!(refused.status.code(), Some(2), "--threads {bad} is refused");
        assert!(
            String::from_utf8_lossy(&refused.stderr).contains("--threads"),
            "the error names the option"
        );
    }

    let pool = store_pg::connect(&url, &store_pg::PoolSettings::default())
        .await
        .expect("connect");
    pool.close().await;
    let mut admin =
        sqlx::PgConnection::connect(&format!("{}/postgres", server.trim_end_matches('/')))
            .await
            .expect("admin");
    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .expect("drop");
}
