//! What the end-to-end tests share: the binary, a served process that
//! dies with the test, free ports, bare HTTP, and a funded rider.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ledger::{AccountId, Money, ProviderId, TransferId};
use projection::{FareSetup, Layout, Projection};
use sqlx::PgPool;
use store_pg::rider::{CategoryStatus, MediumKind, Riders};
use store_redis::KeyPrefix;
use uuid::Uuid;

/// The `oneticket` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_oneticket");
/// How long a test waits for `serve`, the ingest or a key rotation to be
/// picked up: generous for a loaded CI box.
pub const WAIT_S: u64 = 60;

/// A `oneticket serve` child, killed and reaped when the test ends however
/// it ends.
pub struct Served(pub Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Where one test's `oneticket` runs: its own key store directory, Redis
/// key prefix and listening port, and the database the test made.
pub struct ServeEnv {
    /// A temporary directory the test removes; the key store is `keys/` in it.
    pub dir: PathBuf,
    /// The key store (`OT_KEY_DIR`).
    pub key_dir: String,
    /// The Redis key prefix (`OT_REDIS_PREFIX`), one per test.
    pub prefix: String,
    /// `127.0.0.1:<free port>` (`OT_LISTEN`).
    pub listen: String,
    /// `http://<listen>`, set as `OT_PUBLIC_URL` when asked for.
    pub public_url: Option<String>,
    /// The test Redis (`OT_REDIS_URL`).
    pub redis_url: String,
    /// The test's database (`OT_DATABASE_URL`).
    pub database_url: String,
}

impl ServeEnv {
    /// A fresh environment named after `name`, on `database_url`.
    pub fn new(name: &str, database_url: &str) -> ServeEnv {
        let dir =
            std::env::temp_dir().join(format!("oneticket-{name}-{}", Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let key_dir = dir.join("keys").to_str().expect("UTF-8").to_owned();
        ServeEnv {
            dir,
            key_dir,
            prefix: test_kit::redis_prefix().trim_end_matches(':').to_owned(),
            listen: format!("127.0.0.1:{}", free_port()),
            public_url: None,
            redis_url: test_kit::redis_url(),
            database_url: database_url.to_owned(),
        }
    }

    /// The same, with `OT_PUBLIC_URL` set to the listening address.
    pub fn with_public_url(mut self) -> ServeEnv {
        self.public_url = Some(format!("http://{}", self.listen));
        self
    }

    /// The variables `oneticket` reads (JSON logs, the sandbox payment
    /// provider).
    pub fn vars(&self) -> Vec<(&str, &str)> {
        let mut vars = vec![
            ("OT_DATABASE_URL", self.database_url.as_str()),
            ("OT_REDIS_URL", self.redis_url.as_str()),
            ("OT_KEY_DIR", self.key_dir.as_str()),
            ("OT_LISTEN", self.listen.as_str()),
            ("OT_REDIS_PREFIX", self.prefix.as_str()),
            ("OT_LOG_FORMAT", "json"),
            ("OT_VNPAY_MODE", "sandbox"),
        ];
        if let Some(url) = &self.public_url {
            vars.push(("OT_PUBLIC_URL", url.as_str()));
        }
        vars
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.listen.parse().expect("addr")
    }
}

/// A port free on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind port 0")
        .local_addr()
        .expect("local addr")
        .port()
}

/// A bare HTTP/1.1 request: status and body.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// Runs `oneticket args` with `env` and returns its stdout; fails the test
/// with its stderr when it does not succeed.
pub fn run(args: &[&str], env: &[(&str, &str)]) -> String {
    let output = Command::new(BIN)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("runs");
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8")
}

/// An adult rider with the transit card `card_uid` and `vnd` in the
/// wallet, written as the rider API would (account, card, a provider top-up
/// through the projection), under the Redis key prefix `prefix`. Returns
/// the account and the projection that funded it.
pub async fn funded_card_rider(
    pool: &PgPool,
    redis_url: &str,
    prefix: &str,
    card_uid: &str,
    vnd: i64,
    now: DateTime<Utc>,
) -> (AccountId, Projection) {
    let redis = store_redis::connect(redis_url).await.expect("Redis");
    let projection = Projection::new(
        redis,
        pool.clone(),
        Layout::new(KeyPrefix::new(prefix).expect("prefix")),
        Arc::new(FareSetup::hcmc().expect("hcmc")),
    );
    let account = AccountId::new(Uuid::now_v7()).expect("id");
    let riders = Riders::new(pool.clone());
    riders
        .create_account(account, "adult", CategoryStatus::Verified, now)
        .await
        .expect("account");
    riders
        .link_medium(
            Uuid::now_v7(),
            account,
            MediumKind::TransitCard,
            card_uid,
            now,
        )
        .await
        .expect("card");
    projection::funding::fund_wallet(
        &store_pg::ledger::Ledger::new(pool.clone()),
        &projection,
        account,
        &ProviderId::parse("VNPAY").expect("provider"),
        Money::vnd(vnd),
        TransferId::new(Uuid::now_v7()).expect("id"),
        now,
    )
    .await
    .expect("fund");
    (account, projection)
}

/// `oneticket serve args` with `env`, once its `/readyz` answers 200.
pub async fn serve_until_ready(args: &[&str], env: &[(&str, &str)]) -> Served {
    let listen = env
        .iter()
        .find(|(name, _)| *name == "OT_LISTEN")
        .expect("OT_LISTEN")
        .1;
    let child = Command::new(BIN)
        .arg("serve")
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    let mut served = Served(child);
    let mut addr: SocketAddr = listen.parse().expect("addr");
    if addr.ip().is_unspecified() {
        // Listening on every address (e.g. `[::]`): ask on loopback.
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let deadline = Instant::now() + Duration::from_secs(WAIT_S);
    while !matches!(http(addr, "GET", "/readyz", &[], b""), Ok((200, _))) {
        assert!(
            served.0.try_wait().expect("wait").is_none(),
            "serve {args:?} exited"
        );
        assert!(
            Instant::now() < deadline,
            "serve {args:?} never became ready"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    served
}
