//! Binding the listener (dual-stack by default) and serving until a shutdown signal, then
//! letting in-flight requests finish within the grace period.
//!
//! `[::]` with `IPV6_V6ONLY` off accepts IPv4 clients too (as IPv4-mapped addresses), so
//! one listener serves both families. Linux defaults to that already, but the default is a
//! sysctl (`net.ipv6.bindv6only`) and other systems differ, so the option is set explicitly.

use std::future::{Future, IntoFuture};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use futures::future::BoxFuture;
use socket2::{Domain, Protocol, Socket, Type};

use crate::settings::Settings;

/// Pending connections the kernel queues before we accept them. Enough for a burst of
/// validators reconnecting at once after a network blip; Linux caps it at `somaxconn`.
pub const LISTEN_BACKLOG: i32 = 1024;

/// Why serving failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("the server failed: {0}")]
    Serve(#[source] io::Error),
    #[error("serving thread {thread} could not start: {source}")]
    Thread {
        thread: u16,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// What each serving thread after the first runs on its own runtime before
/// it binds (e.g. connect a Redis connection of its own and pin it to the
/// thread); an error stops the whole start.
pub type ThreadSetup = Arc<
    dyn Fn() -> BoxFuture<'static, Result<(), Box<dyn std::error::Error + Send + Sync>>>
        + Send
        + Sync,
>;

/// A bound listener, ready to serve. Binding first lets tests learn the port of `:0`.
#[derive(Debug)]
pub struct Server {
    listener: tokio::net::TcpListener,
    local_addr: SocketAddr,
    shutdown_grace: Duration,
}

impl Server {
    /// Binds `addr`. An unspecified IPv6 address (`[::]`) is bound dual-stack; if the host
    /// has IPv6 disabled, it falls back to `0.0.0.0` on the same port and says so.
    ///
    /// Must be called inside a tokio runtime.
    ///
    /// # Errors
    /// [`ServeError::Bind`] when the address cannot be bound.
    pub fn bind(addr: SocketAddr, shutdown_grace: Duration) -> Result<Self, ServeError> {
        Self::bind_with(addr, shutdown_grace, Port::Own)
    }

    /// As [`Server::bind`], with `SO_REUSEPORT`: every listener bound this
    /// way on the same address (in any process of the same user) shares the
    /// port, and the kernel spreads new connections over them. For several
    /// serving threads, each accepting on its own socket; the first binds
    /// the address asked for, the others its [`Server::local_addr`].
    ///
    /// # Errors
    /// As [`Server::bind`].
    pub fn bind_shared(addr: SocketAddr, shutdown_grace: Duration) -> Result<Self, ServeError> {
        Self::bind_with(addr, shutdown_grace, Port::Shared)
    }

    fn bind_with(
        addr: SocketAddr,
        shutdown_grace: Duration,
        port: Port,
    ) -> Result<Self, ServeError> {
        let listener = match bind_socket(addr, port) {
            Err(error) if addr.ip().is_unspecified() && addr.is_ipv6() && ipv6_missing(&error) => {
                let v4 = SocketAddr::from((Ipv4Addr::UNSPECIFIED, addr.port()));
                tracing::warn!(%addr, fallback = %v4, %error, "IPv6 unavailable; listening on IPv4 only");
                bind_socket(v4, port).map_err(|source| ServeError::Bind { addr: v4, source })?
            }
            other => other.map_err(|source| ServeError::Bind { addr, source })?,
        };
        let local_addr = listener
            .local_addr()
            .map_err(|source| ServeError::Bind { addr, source })?;
        Ok(Self {
            listener,
            local_addr,
            shutdown_grace,
        })
    }

    /// The address actually bound (with the real port when asked for port 0).
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves `router` until `shutdown` resolves, then stops accepting and waits for
    /// in-flight requests, at most the grace period; requests still running then are
    /// dropped (and logged as such).
    ///
    /// # Errors
    /// [`ServeError::Serve`] when the accept loop fails.
    pub async fn run(
        self,
        router: Router,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let Self {
            listener,
            local_addr,
            shutdown_grace,
        } = self;
        tracing::info!(addr = %local_addr, "listening");
        let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
        let signal = async move {
            shutdown.await;
            tracing::info!(
                grace_ms = shutdown_grace.as_millis(),
                "shutting down; draining requests"
            );
            // The receiver is only gone when serving already ended, so nothing waits on it.
            let _ = started_tx.send(());
        };
        // Handlers see the TCP peer (`ConnectInfo<SocketAddr>`): per-client
        // rate limits key on it when no trusted proxy sets X-Forwarded-For.
        let serving = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(signal)
        .into_future();
        let grace_elapsed = async move {
            if started_rx.await.is_err() {
                // Serving ended without a shutdown; `serving` wins the select below.
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(shutdown_grace).await;
        };
        tokio::select! {
            result = serving => {
                result.map_err(ServeError::Serve)?;
                tracing::info!("stopped");
                Ok(())
            }
            () = grace_elapsed => {
                tracing::warn!(grace_ms = shutdown_grace.as_millis(), "grace period over; dropping requests still in flight");
                Ok(())
            }
        }
    }
}

/// Binds `settings.listen` and serves `router` until `shutdown` resolves.
///
/// # Errors
/// As [`Server::bind`] and [`Server::run`].
pub async fn serve(
    router: Router,
    settings: &Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    Server::bind(settings.listen, settings.shutdown_grace)?
        .run(router, shutdown)
        .await
}

/// Serves `router` on `threads` threads until `shutdown` resolves: the
/// caller's (on its runtime) and `threads - 1` more, named `serve-1`…, each
/// with a current-thread runtime of its own that runs `setup` and then
/// accepts on its own `SO_REUSEPORT` listener on the port
/// ([`Server::bind_shared`]): the kernel spreads connections over the
/// threads, and a connection's requests stay on the thread that accepted
/// it. A shutdown drains every thread at once, each within the grace
/// period; a thread that cannot start stops the others and is the error.
/// One thread is [`Server::bind`] and [`Server::run`].
///
/// # Errors
/// [`ServeError::Bind`], [`ServeError::Serve`] as [`serve`];
/// [`ServeError::Thread`] when a thread or its `setup` fails to start.
pub async fn serve_on_threads(
    router: Router,
    listen: SocketAddr,
    shutdown_grace: Duration,
    threads: u16,
    setup: ThreadSetup,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    if threads <= 1 {
        return Server::bind(listen, shutdown_grace)?
            .run(router, shutdown)
            .await;
    }
    // Own the port first. A plain bind fails while any other socket holds
    // it, so a second `serve --threads N` on a taken port fails as a plain
    // `serve` does, instead of joining the first one's `SO_REUSEPORT` group
    // and splitting its connections with it (a stale server would then
    // answer every other client).
    if listen.port() != 0 {
        drop(Server::bind(listen, shutdown_grace)?);
    }
    let first = Server::bind_shared(listen, shutdown_grace)?;
    let addr = first.local_addr();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let stop = Arc::new(stop);
    let mut others = Vec::new();
    let mut failed = None;
    for thread in 1..threads {
        let (ready, started) = tokio::sync::oneshot::channel();
        let serving = ServingThread {
            router: router.clone(),
            addr,
            shutdown_grace,
            setup: Arc::clone(&setup),
            stopped: stopped.clone(),
        };
        let spawned = std::thread::Builder::new()
            .name(format!("serve-{thread}"))
            .spawn(move || serving.run(ready));
        let started = match spawned {
            Ok(handle) => {
                others.push(handle);
                started.await.unwrap_or_else(|_| {
                    Err(io::Error::other("the thread ended while starting").into())
                })
            }
            Err(error) => Err(error.into()),
        };
        if let Err(source) = started {
            failed = Some(ServeError::Thread { thread, source });
            break;
        }
    }
    let served = match failed {
        Some(error) => Err(error),
        None => {
            tracing::info!(%addr, threads, "serving one port from several threads");
            let signal = {
                let stop = Arc::clone(&stop);
                async move {
                    shutdown.await;
                    stop.send_replace(true);
                }
            };
            first.run(router, signal).await
        }
    };
    // Whatever ended the first thread ends the others (after a shutdown,
    // they are draining already).
    stop.send_replace(true);
    for handle in others {
        match tokio::task::spawn_blocking(move || handle.join()).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(error))) => tracing::error!(%error, "a serving thread failed"),
            Ok(Err(_)) | Err(_) => tracing::error!("a serving thread panicked"),
        }
    }
    served
}

/// A serving thread after the first: what it starts from.
struct ServingThread {
    router: Router,
    addr: SocketAddr,
    shutdown_grace: Duration,
    setup: ThreadSetup,
    stopped: tokio::sync::watch::Receiver<bool>,
}

impl ServingThread {
    /// Builds the runtime, runs the setup and binds (reporting how that went
    /// through `ready`), then serves until told to stop.
    fn run(
        self,
        ready: tokio::sync::oneshot::Sender<Result<(), Box<dyn std::error::Error + Send + Sync>>>,
    ) -> Result<(), ServeError> {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(error) => {
                let _ = ready.send(Err(error.into()));
                return Ok(());
            }
        };
        let ServingThread {
            router,
            addr,
            shutdown_grace,
            setup,
            mut stopped,
        } = self;
        runtime.block_on(async move {
            let started = match setup().await {
                Ok(()) => Server::bind_shared(addr, shutdown_grace).map_err(Into::into),
                Err(error) => Err(error),
            };
            let server = match started {
                Ok(server) => {
                    let _ = ready.send(Ok(()));
                    server
                }
                Err(error) => {
                    let _ = ready.send(Err(error));
                    return Ok(());
                }
            };
            server
                .run(router, async move {
                    // A dropped sender (the first thread gone) also means stop.
                    let _ = stopped.wait_for(|stop| *stop).await;
                })
                .await
        })
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM (what orchestrators send).
///
/// If a handler cannot be installed the error is logged and that signal is not awaited, so
/// the other still works.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!(signal = "SIGINT", "shutdown requested"),
        () = terminate => tracing::info!(signal = "SIGTERM", "shutdown requested"),
    }
}

/// Whether a listener may share its port with other listeners.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Port {
    /// The port is this listener's alone: binding it twice fails.
    Own,
    /// `SO_REUSEPORT`: listeners bound alike share the port.
    Shared,
}

fn bind_socket(addr: SocketAddr, port: Port) -> io::Result<tokio::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    // Lets a restarted process bind while old connections sit in TIME_WAIT.
    socket.set_reuse_address(true)?;
    if port == Port::Shared {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    tokio::net::TcpListener::from_std(socket.into())
}

/// Whether a bind error means the host has no IPv6 at all.
fn ipv6_missing(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::AddrNotAvailable | io::ErrorKind::Unsupported
    ) || error.raw_os_error() == Some(EAFNOSUPPORT)
}

/// "Address family not supported by protocol", which std maps to no specific kind.
#[cfg(target_os = "linux")]
const EAFNOSUPPORT: i32 = 97;
#[cfg(not(target_os = "linux"))]
const EAFNOSUPPORT: i32 = 47;

/// The tokio runtime a server runs on: the multi-threaded scheduler, one
/// worker per core (tokio reads `TOKIO_WORKER_THREADS` itself), except that
/// `TOKIO_WORKER_THREADS=1` gets the current-thread scheduler: the same one
/// thread, without the multi-threaded scheduler's LIFO slot. That slot runs
/// the Redis connection's task right after each handler that queued a
/// command, so every command went out in a write of its own (1.9 writes a
/// tap at saturation, the HTTP answer included); on the current-thread
/// scheduler the commands of one turn go out together (1.1–1.2 writes a
/// tap), and both the service and Redis spend less CPU a tap
/// (BENCHMARKS.md). `oneticket serve` and the load test's floor server use
/// it, so they are measured alike.
///
/// # Errors
/// When the runtime cannot be built (no threads, no I/O driver).
pub fn server_runtime() -> io::Result<tokio::runtime::Runtime> {
    let mut builder = if one_worker(std::env::var("TOKIO_WORKER_THREADS").ok().as_deref()) {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    builder.enable_all().build()
}

/// Whether a `TOKIO_WORKER_THREADS` setting asks for one worker.
fn one_worker(setting: Option<&str>) -> bool {
    setting.is_some_and(|value| value.trim() == "1")
}

#[cfg(test)]
mod tests {
    use super::one_worker;

    #[test]
    fn only_an_explicit_one_means_one_worker() {
        assert!(one_worker(Some("1")));
        assert!(one_worker(Some(" 1 ")));
        assert!(!one_worker(None));
        assert!(!one_worker(Some("2")));
        assert!(!one_worker(Some("")));
        assert!(!one_worker(Some("01x")));
    }
}
