//! The rider API through the real binary: register, log in, top up through
//! the sandbox provider (the IPN credits the wallet), take a QR ticket that
//! verifies with the key store's published `ticket-keys.json`, and after
//! `oneticket keys rotate` get tickets from the new key while the old
//! ticket still verifies until its expiry.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{BIN, ServeEnv, Served, WAIT_S, run};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use card_protocol::messages::KeySet;
use card_protocol::verify_qr;
use serde_json::{Value, json};

/// A response: status, headers (lower-cased names), JSON body.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A bare HTTP/1.1 request.
fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("writes");
    stream.write_all(body.as_bytes()).expect("writes");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("reads");
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: serde_json::from_str(body).unwrap_or(Value::Null),
    }
}

fn published(key_dir: &str) -> KeySet {
    let text =
        std::fs::read_to_string(format!("{key_dir}/ticket-keys.json")).expect("published keys");
    serde_json::from_str(&text).expect("a key set")
}

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn ticket(addr: SocketAddr, token: &str) -> (Value, Vec<u8>) {
    let bearer = format!("Bearer {token}");
    let reply = http(
        addr,
        "GET",
        "/v1/me/ticket",
        &[("Authorization", &bearer)],
        "",
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let qr = URL_SAFE_NO_PAD
        .decode(reply.body["qr"].as_str().expect("a QR"))
        .expect("base64url");
    (reply.body, qr)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rider_tops_up_and_rides_on_a_qr_ticket_across_a_key_rotation() {
    let db = test_kit::fresh_database().await;
    let url = db.url();
    let serve = ServeEnv::new("rider", &url).with_public_url();
    let env = serve.vars();
    let (dir, key_dir) = (&serve.dir, &serve.key_dir);
    let public_url = serve.public_url.clone().expect("asked for");
    run(&["keys", "generate"], &env);
    let child = Command::new(BIN)
        .arg("serve")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    let served = Served(child);
    let addr = serve.addr();
    let deadline = Instant::now() + Duration::from_secs(WAIT_S);
    loop {
        let ready = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
            && http(addr, "GET", "/readyz", &[], "").status == 200;
        if ready {
            break;
        }
        assert!(Instant::now() < deadline, "serve never became ready");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Register and log in.
    let credentials = json!({"login": "0912 345 678", "password": "correct horse"}).to_string();
    let registered = http(addr, "POST", "/v1/accounts", &[], &credentials);
    assert_eq!(registered.status, 201, "{}", registered.body);
    let session = http(addr, "POST", "/v1/sessions", &[], &credentials);
    assert_eq!(session.status, 201, "{}", session.body);
    let token = session.body["token"].as_str().expect("a token").to_owned();
    let bearer = format!("Bearer {token}");
    let auth = [("Authorization", bearer.as_str())];

    // Top up through the sandbox: the order, the payment page, the IPN.
    let order = http(
        addr,
        "POST",
        "/v1/me/topups",
        &[
            ("Authorization", bearer.as_str()),
            ("Idempotency-Key", "first-top-up"),
        ],
        &json!({"amount_vnd": 50_000}).to_string(),
    );
    assert_eq!(order.status, 201, "{}", order.body);
    let payment_url = order.body["payment_url"].as_str().expect("a payment URL");
    let path = payment_url
        .strip_prefix(&public_url)
        .expect("the sandbox is served here");
    let paid = http(addr, "GET", path, &[], "");
    assert_eq!(paid.status, 303);
    assert_eq!(paid.header("x-sandbox-ipn-rspcode"), Some("00"));
    let location = paid.header("location").expect("a redirect").to_owned();
    let back = http(
        addr,
        "GET",
        location.strip_prefix(&public_url).expect("ours"),
        &[],
        "",
    );
    assert_eq!(back.body["status"], json!("succeeded"), "{}", back.body);
    let wallet = http(addr, "GET", "/v1/me/wallet", &auth, "");
    assert_eq!(wallet.body["balance_vnd"], json!(50_000), "{}", wallet.body);
    assert_eq!(wallet.body["ledger_balance_vnd"], json!(50_000));

    // A QR ticket verifies with the key store's published key set.
    let (first, first_qr) = ticket(addr, &token);
    let keys = published(key_dir);
    assert!(verify_qr(&first_qr, &keys.verifying_keys_at(now_s()), now_s()).is_ok());

    // Rotate; within the re-check period the API signs with the new key.
    run(&["keys", "rotate"], &env);
    let deadline = Instant::now() + Duration::from_secs(WAIT_S);
    let (second, second_qr) = loop {
        let (body, qr) = ticket(addr, &token);
        if body["kid"] != first["kid"] {
            break (body, qr);
        }
        assert!(
            Instant::now() < deadline,
            "the rotation was never picked up"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let keys = published(key_dir);
    let now = now_s();
    assert!(verify_qr(&second_qr, &keys.verifying_keys_at(now), now).is_ok());
    assert!(
        verify_qr(&first_qr, &keys.verifying_keys_at(now), now).is_ok(),
        "the ticket signed before the rotation still verifies"
    );
    assert_ne!(second["ticket_id"], first["ticket_id"]);

    // The document describes what is served.
    let doc = http(addr, "GET", "/openapi.json", &[], "");
    assert_eq!(doc.status, 200);
    assert!(doc.body["paths"]["/v1/me/ticket"]["get"].is_object());
    drop(served);
    let _ = std::fs::remove_dir_all(dir);
    db.drop_now().await;
}
