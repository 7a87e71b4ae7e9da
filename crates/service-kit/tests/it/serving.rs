//! Serving over real sockets: dual-stack `[::]`, graceful shutdown and its grace period.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use service_kit::{ServeError, Server};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

use crate::support::http_get;

/// Long enough that a well-behaved drain never hits it in these tests.
const GENEROUS_GRACE_MS: u64 = 5_000;

/// Serves `router` on `addr`; the returned sender stops it.
fn start(
    router: Router,
    addr: SocketAddr,
    grace: Duration,
) -> (
    SocketAddr,
    oneshot::Sender<()>,
    JoinHandle<Result<(), ServeError>>,
) {
    let server = Server::bind(addr, grace).expect("bind test listener");
    let bound = server.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(router, async move {
        // A dropped sender also means stop.
        let _ = stopped.await;
    }));
    (bound, stop, task)
}

fn ipv6_loopback_available() -> bool {
    std::net::TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_ok()
}

#[tokio::test]
async fn unspecified_ipv6_accepts_ipv4_and_ipv6_clients() {
    if !ipv6_loopback_available() {
        println!("note: no IPv6 loopback on this machine; dual-stack test skipped");
        return;
    }
    let router = service_kit::layers::apply(
        Router::new().route("/hello", get(|| async { "hello" })),
        crate::support::limits(),
    );
    let any_v6 = SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0));
    let (bound, stop, task) = start(router, any_v6, Duration::from_millis(GENEROUS_GRACE_MS));
    assert!(bound.is_ipv6());
    assert_ne!(bound.port(), 0);

    for client in [
        SocketAddr::from((Ipv4Addr::LOCALHOST, bound.port())),
        SocketAddr::from((Ipv6Addr::LOCALHOST, bound.port())),
    ] {
        let reply = http_get(client, "/hello").await.expect("request succeeds");
        assert_eq!(reply, (200, "hello".to_owned()), "via {client}");
    }

    stop.send(()).expect("server is running");
    task.await.expect("server task").expect("clean shutdown");
}

#[tokio::test]
async fn shutdown_lets_an_in_flight_request_finish() {
    let entered = Arc::new(Notify::new());
    let handler_entered = Arc::clone(&entered);
    let router = Router::new().route(
        "/work",
        get(move || {
            let entered = Arc::clone(&handler_entered);
            async move {
                entered.notify_one();
                tokio::time::sleep(Duration::from_millis(200)).await;
                "finished"
            }
        }),
    );
    let (bound, stop, task) = start(
        router,
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        Duration::from_millis(GENEROUS_GRACE_MS),
    );
    let client = tokio::spawn(http_get(bound, "/work"));
    entered.notified().await;
    stop.send(()).expect("server is running");

    let reply = client
        .await
        .expect("client task")
        .expect("request completes");
    assert_eq!(reply, (200, "finished".to_owned()));
    task.await.expect("server task").expect("clean shutdown");
    // Once stopped, nothing listens any more.
    assert!(tokio::net::TcpStream::connect(bound).await.is_err());
}

#[tokio::test]
async fn a_request_outliving_the_grace_period_is_dropped() {
    const SHORT_GRACE_MS: u64 = 100;
    let entered = Arc::new(Notify::new());
    let handler_entered = Arc::clone(&entered);
    let router = Router::new().route(
        "/stuck",
        get(move || {
            let entered = Arc::clone(&handler_entered);
            async move {
                entered.notify_one();
                tokio::time::sleep(Duration::from_secs(60)).await;
                "never"
            }
        }),
    );
    let (bound, stop, task) = start(
        router,
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        Duration::from_millis(SHORT_GRACE_MS),
    );
    let client = tokio::spawn(http_get(bound, "/stuck"));
    entered.notified().await;
    let started = std::time::Instant::now();
    stop.send(()).expect("server is running");

    let finished = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the server stops once the grace period is over");
    finished
        .expect("server task")
        .expect("shutdown is not an error");
    assert!(started.elapsed() >= Duration::from_millis(SHORT_GRACE_MS));
    client.abort();
}

#[tokio::test]
async fn binding_a_taken_port_names_the_address() {
    let taken = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let addr = taken.local_addr().expect("bound address");
    // SO_REUSEADDR does not allow two listeners on one port.
    let error = Server::bind(addr, Duration::ZERO).expect_err("port is taken");
    assert!(
        error
            .to_string()
            .starts_with(&format!("cannot listen on {addr}")),
        "{error}"
    );
}

#[tokio::test]
async fn handlers_see_the_tcp_peer() {
    use axum::extract::ConnectInfo;
    let router = service_kit::layers::apply(
        Router::new().route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.ip().to_string() }),
        ),
        crate::support::limits(),
    );
    let (bound, stop, task) = start(
        router,
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        Duration::from_millis(GENEROUS_GRACE_MS),
    );
    let reply = http_get(bound, "/peer").await.expect("request succeeds");
    assert_eq!(reply, (200, "127.0.0.1".to_owned()));
    stop.send(()).expect("server is running");
    task.await.expect("server task").expect("clean shutdown");
}

#[tokio::test]
async fn shared_listeners_split_one_port_and_a_plain_bind_still_fails() {
    // Each listener answers with its own name, so the replies show which
    // one accepted each connection.
    let named = |name: &'static str| {
        service_kit::layers::apply(
            Router::new().route("/who", get(move || async move { name })),
            crate::support::limits(),
        )
    };
    let grace = Duration::from_millis(GENEROUS_GRACE_MS);
    let first = Server::bind_shared(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), grace)
        .expect("bind the first shared listener");
    let addr = first.local_addr();
    let second = Server::bind_shared(addr, grace).expect("a second shared listener on the port");
    assert_eq!(second.local_addr(), addr);
    let error = Server::bind(addr, Duration::ZERO).expect_err("a plain bind does not share");
    assert!(error.to_string().contains(&addr.to_string()), "{error}");

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for (server, name) in [(first, "first"), (second, "second")] {
        let mut stopped = stopped.clone();
        tasks.push(tokio::spawn(server.run(named(name), async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        })));
    }
    // The kernel picks a listener by hashing each connection's addresses:
    // over many new connections both get some.
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..200 {
        let (status, body) = http_get(addr, "/who").await.expect("request succeeds");
        assert_eq!(status, 200);
        seen.insert(body);
        if seen.len() == 2 {
            break;
        }
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        ["first", "second"],
        "both listeners accept"
    );
    stop.send(true).expect("servers are running");
    for task in tasks {
        task.await
            .expect("server task")
            .expect("shutdown is not an error");
    }
}

/// A router whose one route answers with the name of the thread serving it.
fn thread_names() -> Router {
    service_kit::layers::apply(
        Router::new().route(
            "/thread",
            get(|| async {
                std::thread::current()
                    .name()
                    .unwrap_or("unnamed")
                    .to_owned()
            }),
        ),
        crate::support::limits(),
    )
}

#[test]
fn several_serving_threads_share_the_port_run_their_setup_and_stop_together() {
    // The caller's thread serves too: a runtime on a named thread of ours,
    // so its answers can be told from `serve-1`'s.
    let caller = std::thread::Builder::new()
        .name("caller".to_owned())
        .spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let set_up_on = Arc::new(std::sync::Mutex::new(Vec::new()));
                let setup: service_kit::ThreadSetup = {
                    let set_up_on = Arc::clone(&set_up_on);
                    Arc::new(move || {
                        let set_up_on = Arc::clone(&set_up_on);
                        Box::pin(async move {
                            let name = std::thread::current().name().map(str::to_owned);
                            set_up_on.lock().expect("lock").push(name);
                            Ok(())
                        })
                    })
                };
                let port = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                    .and_then(|listener| listener.local_addr())
                    .expect("a free port")
                    .port();
                let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
                let (stop, stopped) = oneshot::channel::<()>();
                let serving = tokio::spawn(service_kit::serve_on_threads(
                    thread_names(),
                    addr,
                    Duration::from_millis(GENEROUS_GRACE_MS),
                    2,
                    setup,
                    async move {
                        let _ = stopped.await;
                    },
                ));
                let mut seen = std::collections::BTreeSet::new();
                let deadline = std::time::Instant::now() + Duration::from_secs(10);
                while seen.len() < 2 && std::time::Instant::now() < deadline {
                    if let Ok((200, name)) = http_get(addr, "/thread").await {
                        seen.insert(name);
                    }
                }
                stop.send(()).expect("serving");
                serving
                    .await
                    .expect("the serving task")
                    .expect("a shutdown is not an error");
                let set_up_on = set_up_on.lock().expect("lock").clone();
                (seen, set_up_on)
            })
        })
        .expect("spawn");
    let (seen, set_up_on) = caller.join().expect("the caller's thread");
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        ["caller", "serve-1"],
        "both threads accept connections on the one port"
    );
    assert_eq!(
        set_up_on,
        [Some("serve-1".to_owned())],
        "the setup ran once, on the thread it prepares"
    );
}

#[tokio::test]
async fn threads_do_not_join_a_port_another_server_shares() {
    // Another process's `serve --threads 2`: shared listeners on the port.
    let grace = Duration::from_millis(GENEROUS_GRACE_MS);
    let other = Server::bind_shared(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), grace)
        .expect("bind the other server's listener");
    let addr = other.local_addr();
    let setup: service_kit::ThreadSetup = Arc::new(|| Box::pin(async { Ok(()) }));
    let serving = service_kit::serve_on_threads(
        thread_names(),
        addr,
        grace,
        2,
        setup,
        std::future::pending(),
    );
    // Joining would serve until a shutdown that never comes.
    let error = tokio::time::timeout(Duration::from_secs(10), serving)
        .await
        .expect("it fails at once instead of serving")
        .expect_err("the port is taken");
    assert!(
        matches!(&error, service_kit::ServeError::Bind { addr: at, source }
            if *at == addr && source.kind() == std::io::ErrorKind::AddrInUse),
        "{error:?}"
    );
    // The other server's listener is untouched: still the only one there.
    drop(other);
    let again = Server::bind(addr, Duration::ZERO).expect("the port is free once it is gone");
    assert_eq!(again.local_addr(), addr);
}

#[tokio::test]
async fn a_thread_whose_setup_fails_stops_the_start() {
    let setup: service_kit::ThreadSetup =
        Arc::new(|| Box::pin(async { Err("no Redis here".into()) }));
    let started = std::time::Instant::now();
    let error = service_kit::serve_on_threads(
        thread_names(),
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        Duration::from_millis(GENEROUS_GRACE_MS),
        3,
        setup,
        std::future::pending(),
    )
    .await
    .expect_err("a thread could not start");
    assert_eq!(
        error.to_string(),
        "serving thread 1 could not start: no Redis here"
    );
    assert!(
        started.elapsed() < Duration::from_millis(GENEROUS_GRACE_MS),
        "it fails at once, without waiting for a shutdown"
    );
}
