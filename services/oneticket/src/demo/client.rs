//! A small HTTP/1.1 client for the demo: JSON requests over keep-alive
//! connections to one server, as the app, the back office and the
//! terminals make them. Terminal and gate calls carry the terminal request
//! signature of the card protocol (§4: `X-OT-Terminal`, `X-OT-Timestamp`,
//! `X-OT-Signature`, from `card_protocol::request_auth`).

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use card_protocol::TerminalId;
use card_protocol::request_auth::{
    HEADER_SIGNATURE, HEADER_TERMINAL, HEADER_TIMESTAMP, RequestParts, TerminalKey, sign_request,
};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{self, HeaderMap};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::TcpStream;

/// How long one request may take, seconds: above the server's own request
/// limit (`OT_REQUEST_TIMEOUT_MS`, 10 s by default), so the server answers
/// first and a hung connection still ends the demo with an error.
pub const REQUEST_TIMEOUT_S: u64 = 30;
/// Idle connections kept for reuse: the onboarding's concurrency, so
/// every task finds one.
pub const MAX_IDLE_CONNECTIONS: usize = 16;

/// Where the server listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// `host:port`, for the `Host` header.
    authority: String,
    /// The address to connect to.
    addr: SocketAddr,
}

impl Target {
    /// A server listening on `addr`.
    #[must_use]
    pub fn local(addr: SocketAddr) -> Target {
        Target {
            authority: addr.to_string(),
            addr,
        }
    }

    /// Parses and resolves `http://host:port` (no TLS: the demo runs beside
    /// the server or inside its network).
    ///
    /// # Errors
    /// Not `http://`, no host, or the host does not resolve.
    pub async fn resolve(base_url: &str) -> anyhow::Result<Target> {
        let uri: hyper::Uri = base_url.parse().context("--base-url is not a URL")?;
        anyhow::ensure!(
            uri.scheme_str() == Some("http"),
            "--base-url must be http://host:port"
        );
        let authority = uri
            .authority()
            .context("--base-url has no host")?
            .as_str()
            .to_owned();
        let host = uri.host().context("--base-url has no host")?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = uri.port_u16().unwrap_or(80);
        let addr = tokio::net::lookup_host((host, port))
            .await
            .with_context(|| format!("resolving {host}"))?
            .next()
            .with_context(|| format!("{host} has no address"))?;
        Ok(Target { authority, addr })
    }
}

/// An answer: status, headers and the whole body.
#[derive(Debug)]
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

/// The fields of a problem+json body worth showing.
#[derive(serde::Deserialize)]
struct Problem {
    code: Option<String>,
    detail: Option<String>,
}

impl Reply {
    /// The body as JSON of type `T`.
    ///
    /// # Errors
    /// The body is not that JSON.
    pub fn json<T: DeserializeOwned>(&self) -> anyhow::Result<T> {
        serde_json::from_slice(&self.body).with_context(|| {
            format!(
                "unexpected answer body: {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// A header's value as text.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The problem's `code`, if the body is problem+json.
    #[must_use]
    pub fn problem_code(&self) -> Option<String> {
        serde_json::from_slice::<Problem>(&self.body)
            .ok()
            .and_then(|p| p.code)
    }

    /// `Ok(self)` when the status is `expected`, else an error naming
    /// `what`, the status and the problem's code and detail.
    ///
    /// # Errors
    /// Any other status.
    pub fn expect(self, expected: StatusCode, what: &str) -> anyhow::Result<Reply> {
        if self.status == expected {
            return Ok(self);
        }
        let problem = serde_json::from_slice::<Problem>(&self.body).ok();
        let (code, detail) = problem.map_or((None, None), |p| (p.code, p.detail));
        anyhow::bail!(
            "{what}: the server answered {} ({}: {})",
            self.status,
            code.as_deref().unwrap_or("no problem code"),
            detail.as_deref().unwrap_or("no detail")
        )
    }
}

/// The client: one server, a few reusable connections.
pub struct Client {
    target: Target,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
}

impl Client {
    /// A client of `target`.
    #[must_use]
    pub fn new(target: Target) -> Client {
        Client {
            target,
            idle: Mutex::new(Vec::new()),
        }
    }

    async fn connection(&self) -> anyhow::Result<SendRequest<Full<Bytes>>> {
        loop {
            let reused = self
                .idle
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .pop();
            match reused {
                Some(sender) if !sender.is_closed() => return Ok(sender),
                Some(_) => {}
                None => break,
            }
        }
        let stream = TcpStream::connect(self.target.addr)
            .await
            .with_context(|| format!("connecting to {}", self.target.addr))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            // Ends when the sender is dropped or the server closes.
            let _ = connection.await;
        });
        Ok(sender)
    }

    /// Sends a request and reads the whole answer.
    ///
    /// # Errors
    /// The connection fails or the answer takes longer than
    /// [`REQUEST_TIMEOUT_S`].
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> anyhow::Result<Reply> {
        let exchange = async {
            let mut sender = self.connection().await?;
            sender.ready().await?;
            let mut request = Request::builder()
                .method(method.clone())
                .uri(path)
                .header(header::HOST, self.target.authority.as_str());
            if !body.is_empty() {
                request = request.header(header::CONTENT_TYPE, "application/json");
            }
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            let response = sender
                .send_request(request.body(Full::new(Bytes::from(body)))?)
                .await?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.into_body().collect().await?.to_bytes();
            let mut idle = self
                .idle
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if idle.len() < MAX_IDLE_CONNECTIONS {
                idle.push(sender);
            }
            Ok::<_, anyhow::Error>(Reply {
                status,
                headers,
                body,
            })
        };
        tokio::time::timeout(Duration::from_secs(REQUEST_TIMEOUT_S), exchange)
            .await
            .with_context(|| format!("{method} {path}: no answer in {REQUEST_TIMEOUT_S} s"))?
            .with_context(|| format!("{method} {path}"))
    }

    /// `GET path`.
    ///
    /// # Errors
    /// As [`Client::send`].
    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> anyhow::Result<Reply> {
        self.send(Method::GET, path, headers, Vec::new()).await
    }

    /// `POST path` with a JSON body.
    ///
    /// # Errors
    /// As [`Client::send`], or a body that does not serialise.
    pub async fn post<T: Serialize + ?Sized>(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: &T,
    ) -> anyhow::Result<Reply> {
        self.send(Method::POST, path, headers, serde_json::to_vec(body)?)
            .await
    }

    /// `POST path` signed as `terminal` at `now_s` (its device clock).
    ///
    /// # Errors
    /// As [`Client::post`], or a path the signature cannot cover.
    pub async fn post_signed<T: Serialize>(
        &self,
        path: &str,
        terminal: &TerminalId,
        key: &TerminalKey,
        now_s: u64,
        body: &T,
    ) -> anyhow::Result<Reply> {
        let body = serde_json::to_vec(body)?;
        let signature = sign_request(
            key,
            &RequestParts {
                method: "POST",
                path,
                body: &body,
            },
            now_s,
            terminal,
        )?;
        let timestamp = now_s.to_string();
        self.send(
            Method::POST,
            path,
            &[
                (HEADER_TERMINAL, terminal.as_str()),
                (HEADER_TIMESTAMP, &timestamp),
                (HEADER_SIGNATURE, &signature),
            ],
            body,
        )
        .await
    }
}

/// The path and query of `url` (`http://host/p?q` → `/p?q`): the sandbox's
/// payment page is reached on the server the demo talks to, whatever
/// public address it was built with.
#[must_use]
pub fn path_of(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    rest.find('/').and_then(|at| rest.get(at..))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_path(url: &str, expected: Option<&str>) {
        assert_eq!(path_of(url), expected, "{url}");
    }

    #[test]
    fn the_path_of_a_payment_url_is_what_follows_the_authority() {
        check_path(
            "http://localhost:8080/sandbox/vnpay/pay?vnp_Amount=1",
            Some("/sandbox/vnpay/pay?vnp_Amount=1"),
        );
        check_path("https://api.oneticket.vn/v1/x", Some("/v1/x"));
        check_path("http://host-without-path", None);
        check_path("ftp://host/x", None);
    }

    fn check_expect(status: u16, body: &str, expected: Result<(), &str>) {
        let reply = Reply {
            status: StatusCode::from_u16(status).expect("status"),
            headers: HeaderMap::new(),
            body: Bytes::from(body.to_owned()),
        };
        let got = reply
            .expect(StatusCode::CREATED, "registering")
            .map(drop)
            .map_err(|e| e.to_string());
        assert_eq!(got, expected.map_err(str::to_owned));
    }

    #[test]
    fn an_unexpected_answer_names_the_problem() {
        check_expect(201, "{}", Ok(()));
        check_expect(
            409,
            r#"{"code":"identifier_taken","detail":"An account with this login exists."}"#,
            Err(
                "registering: the server answered 409 Conflict (identifier_taken: An account with this login exists.)",
            ),
        );
        check_expect(
            500,
            "oops",
            Err(
                "registering: the server answered 500 Internal Server Error (no problem code: no detail)",
            ),
        );
    }
}
