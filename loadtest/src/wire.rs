//! A lean HTTP/1.1 client connection for service mode: one request written
//! with one `write`, the answer read into a reused buffer and parsed with
//! `httparse` — no per-request tasks, channels or header maps.
//!
//! The generator shares two cores with the service and Redis, so every
//! microsecond it spends per request is taken from what it measures (at
//! saturation hyper's client connection, on glibc's malloc, spent ~17 µs a
//! request, much of it in the allocator and its connection task's
//! wake-ups; this client spends ~7, see BENCHMARKS.md). This client does what
//! `wrk` does: keep-alive, one request in flight per connection, answers
//! framed by `Content-Length` (what the service and the floor send; a
//! chunked answer is reported as `transport:chunked`, not guessed at).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The largest answer read, head and body, bytes: a tap decision is a few
/// hundred bytes and a problem+json under 1 KiB.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// How long one request may take, from its write to the end of its answer:
/// a server that stops answering fails the request instead of hanging the
/// run.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Headers parsed from an answer (the service sends about six).
const MAX_HEADERS: usize = 32;

/// Why a request got no answer; each maps to a stable outcome label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireError {
    /// Writing the request or reading the answer failed, or the server
    /// closed the connection before answering.
    Io,
    /// No answer within [`REQUEST_TIMEOUT`].
    Timeout,
    /// Not an HTTP/1.1 answer.
    Malformed,
    /// An answer without `Content-Length` (chunked or close-delimited).
    Unframed,
    /// Longer than [`MAX_RESPONSE_BYTES`].
    TooLarge,
}

impl WireError {
    /// The outcome label of this failure.
    #[must_use]
    pub fn label(&self) -> &'static str {
        match self {
            WireError::Io => "transport:io",
            WireError::Timeout => "transport:timeout",
            WireError::Malformed => "transport:malformed",
            WireError::Unframed => "transport:chunked",
            WireError::TooLarge => "transport:too_large",
        }
    }
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

impl std::error::Error for WireError {}

/// A request to send: `POST path` with these headers and body.
pub struct Post<'a> {
    /// The path.
    pub path: &'a str,
    /// The `Host` header.
    pub host: &'a str,
    /// Extra headers, name and value (no CR or LF in either).
    pub headers: &'a [(&'a str, &'a str)],
    /// The body (sent as `application/json`).
    pub body: &'a [u8],
}

/// Writes `post` as an HTTP/1.1 request into `out` (cleared first).
pub fn encode(post: &Post<'_>, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(b"POST ");
    out.extend_from_slice(post.path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    out.extend_from_slice(post.host.as_bytes());
    out.extend_from_slice(b"\r\ncontent-type: application/json\r\ncontent-length: ");
    out.extend_from_slice(post.body.len().to_string().as_bytes());
    for (name, value) in post.headers {
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
    }
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(post.body);
}

/// A complete answer at the start of a buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Framed {
    /// The status code.
    pub status: u16,
    /// Where the body is in the buffer.
    pub body: std::ops::Range<usize>,
    /// Whether the server will close the connection after it.
    pub close: bool,
}

/// Frames the answer at the start of `buf`: `Ok(None)` when more bytes are
/// needed.
///
/// # Errors
/// Not an HTTP/1.x answer, no `Content-Length`, or longer than
/// [`MAX_RESPONSE_BYTES`].
pub fn frame(buf: &[u8]) -> Result<Option<Framed>, WireError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let head = match response.parse(buf) {
        Ok(httparse::Status::Complete(head)) => head,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_RESPONSE_BYTES => {
            return Err(WireError::TooLarge);
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(WireError::Malformed),
    };
    let status = response.code.ok_or(WireError::Malformed)?;
    let mut length = None;
    let mut close = response.version == Some(0);
    for header in response.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            let text = std::str::from_utf8(header.value).map_err(|_| WireError::Malformed)?;
            length = Some(
                text.trim()
                    .parse::<usize>()
                    .map_err(|_| WireError::Malformed)?,
            );
        } else if header.name.eq_ignore_ascii_case("connection") {
            close = header.value.eq_ignore_ascii_case(b"close");
        }
    }
    // 1xx, 204 and 304 have no body; anything else needs a length here.
    let length = match length {
        Some(length) => length,
        None if status < 200 || status == 204 || status == 304 => 0,
        None => return Err(WireError::Unframed),
    };
    let end = head.checked_add(length).ok_or(WireError::TooLarge)?;
    if end > MAX_RESPONSE_BYTES {
        return Err(WireError::TooLarge);
    }
    if buf.len() < end {
        return Ok(None);
    }
    Ok(Some(Framed {
        status,
        body: head..end,
        close,
    }))
}

/// One keep-alive connection with its buffers.
pub struct Conn {
    stream: TcpStream,
    out: Vec<u8>,
    input: Vec<u8>,
    /// The server said it closes after the last answer.
    closing: bool,
}

impl Conn {
    /// Connects to `addr` (no Nagle delay: each request is one write).
    ///
    /// # Errors
    /// The connection could not be opened.
    pub async fn connect(addr: SocketAddr) -> io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            out: Vec::with_capacity(1024),
            input: Vec::with_capacity(4096),
            closing: false,
        })
    }

    /// Whether the connection can take another request.
    #[must_use]
    pub fn is_open(&self) -> bool {
        !self.closing
    }

    /// Sends `post` and waits for its answer: the status and the body
    /// (valid until the next request).
    ///
    /// # Errors
    /// See [`WireError`]; after an error the connection must be dropped.
    pub async fn post(&mut self, post: &Post<'_>) -> Result<(u16, &[u8]), WireError> {
        encode(post, &mut self.out);
        self.round_trip().await
    }

    /// Sends `GET path` and waits for its answer, as [`Conn::post`].
    ///
    /// # Errors
    /// See [`WireError`]; after an error the connection must be dropped.
    pub async fn get(&mut self, path: &str, host: &str) -> Result<(u16, &[u8]), WireError> {
        self.out.clear();
        for part in ["GET ", path, " HTTP/1.1\r\nhost: ", host, "\r\n\r\n"] {
            self.out.extend_from_slice(part.as_bytes());
        }
        self.round_trip().await
    }

    /// Writes the request in `out` and reads its answer under
    /// [`REQUEST_TIMEOUT`].
    async fn round_trip(&mut self) -> Result<(u16, &[u8]), WireError> {
        let framed = tokio::time::timeout(REQUEST_TIMEOUT, self.exchange())
            .await
            .map_err(|_| WireError::Timeout)??;
        self.closing = framed.close;
        Ok((
            framed.status,
            self.input.get(framed.body).unwrap_or_default(),
        ))
    }

    async fn exchange(&mut self) -> Result<Framed, WireError> {
        self.stream
            .write_all(&self.out)
            .await
            .map_err(|_| WireError::Io)?;
        self.input.clear();
        loop {
            if !self.input.is_empty()
                && let Some(framed) = frame(&self.input)?
            {
                return Ok(framed);
            }
            if self.input.capacity() - self.input.len() < 1024 {
                self.input.reserve(4096);
            }
            let read = self
                .stream
                .read_buf(&mut self.input)
                .await
                .map_err(|_| WireError::Io)?;
            if read == 0 {
                return Err(WireError::Io);
            }
        }
    }
}
