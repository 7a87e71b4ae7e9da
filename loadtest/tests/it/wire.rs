//! Service mode's lean HTTP/1.1 client: the request it writes, how it
//! frames answers (whole, partial, unframed, too large), and a keep-alive
//! connection against a real socket that answers, then closes.

use loadtest::wire::{Conn, Framed, MAX_RESPONSE_BYTES, Post, WireError, encode, frame};
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn answer(status: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\n{headers}\r\n").into_bytes();
    out.extend_from_slice(body);
    out
}

#[test]
fn a_request_is_one_post_with_its_headers_and_body() {
    let mut out = Vec::new();
    let body = br#"{"seq":1}"#;
    encode(
        &Post {
            path: "/v1/taps",
            host: "127.0.0.1:8080",
            headers: &[("x-ot-terminal", "bus-1"), ("x-ot-signature", "abc")],
            body,
        },
        &mut out,
    );
    let mut headers = [httparse::EMPTY_HEADER; 16];
    let mut request = httparse::Request::new(&mut headers);
    let head = match request.parse(&out).expect("parses") {
        httparse::Status::Complete(head) => head,
        httparse::Status::Partial => panic!("incomplete request"),
    };
    assert_eq!(request.method, Some("POST"));
    assert_eq!(request.path, Some("/v1/taps"));
    assert_eq!(request.version, Some(1));
    let found: Vec<(String, String)> = request
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_owned(),
                String::from_utf8(h.value.to_vec()).expect("utf-8"),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("host", "127.0.0.1:8080"),
            ("content-type", "application/json"),
            ("content-length", "9"),
            ("x-ot-terminal", "bus-1"),
            ("x-ot-signature", "abc"),
        ]
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
    );
    assert_eq!(out.get(head..), Some(&body[..]));
}

#[test]
fn an_answer_is_framed_by_its_content_length() {
    let bytes = answer(
        "200 OK",
        "content-type: application/json\r\ncontent-length: 21\r\n",
        br#"{"decision":"accept"}"#,
    );
    let framed = frame(&bytes).expect("valid").expect("complete");
    assert_eq!(framed.status, 200);
    assert_eq!(
        bytes.get(framed.body.clone()),
        Some(&br#"{"decision":"accept"}"#[..])
    );
    assert!(!framed.close);
    assert_eq!(framed.body.end, bytes.len());
}

#[test]
fn connection_close_and_http_1_0_end_the_connection() {
    let closing = answer(
        "503 Service Unavailable",
        "Connection: close\r\nContent-Length: 0\r\n",
        b"",
    );
    assert_eq!(
        frame(&closing),
        Ok(Some(Framed {
            status: 503,
            body: closing.len()..closing.len(),
            close: true
        }))
    );
    let old = b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok".to_vec();
    assert!(frame(&old).expect("valid").expect("complete").close);
}

#[test]
fn answers_it_cannot_frame_are_named_not_guessed() {
    let chunked = answer(
        "200 OK",
        "transfer-encoding: chunked\r\n",
        b"2\r\nok\r\n0\r\n\r\n",
    );
    assert_eq!(frame(&chunked), Err(WireError::Unframed));
    assert_eq!(frame(b"SMTP ready\r\n\r\n"), Err(WireError::Malformed));
    let huge = answer(
        "200 OK",
        &format!("content-length: {MAX_RESPONSE_BYTES}\r\n"),
        b"",
    );
    assert_eq!(frame(&huge), Err(WireError::TooLarge));
    let endless_head = vec![b'a'; MAX_RESPONSE_BYTES];
    let mut head = b"HTTP/1.1 200 OK\r\nx-long: ".to_vec();
    head.extend_from_slice(&endless_head);
    assert_eq!(frame(&head), Err(WireError::TooLarge));
    let bad_length = answer("200 OK", "content-length: many\r\n", b"");
    assert_eq!(frame(&bad_length), Err(WireError::Malformed));
    // No body is expected without a length on 204.
    let empty = answer("204 No Content", "", b"");
    assert_eq!(frame(&empty).expect("valid").expect("complete").status, 204);
    // Every label is distinct: the report counts them apart.
    let labels = [
        WireError::Io,
        WireError::Timeout,
        WireError::Malformed,
        WireError::Unframed,
        WireError::TooLarge,
    ]
    .map(|e| e.to_string());
    let unique: std::collections::BTreeSet<_> = labels.iter().collect();
    assert_eq!(unique.len(), labels.len());
}

proptest! {
    /// Any strict prefix of an answer asks for more bytes; the whole
    /// answer gives its status and exactly its body.
    #[test]
    fn prefixes_wait_and_the_whole_answer_frames(
        status in 100u16..600,
        body in proptest::collection::vec(any::<u8>(), 0..2048),
        extra in proptest::collection::vec("[a-z]{1,12}", 0..6),
    ) {
        let mut headers = String::new();
        for (n, name) in extra.iter().enumerate() {
            headers.push_str(&format!("x-{name}-{n}: {name}\r\n"));
        }
        headers.push_str(&format!("content-length: {}\r\n", body.len()));
        let bytes = answer(&format!("{status} Whatever"), &headers, &body);
        for cut in 0..bytes.len() {
            let prefix = bytes.get(..cut).unwrap_or_default();
            prop_assert_eq!(frame(prefix), Ok(None), "cut at {}", cut);
        }
        let framed = frame(&bytes).expect("valid").expect("complete");
        prop_assert_eq!(framed.status, status);
        prop_assert_eq!(bytes.get(framed.body), Some(&body[..]));
    }
}

/// A server that reads requests by `content-length` and answers each in
/// two writes (head, then body) — the client must join them — and closes
/// after `answers`.
async fn serve(listener: tokio::net::TcpListener, answers: usize) {
    let (mut socket, _) = listener.accept().await.expect("accept");
    let mut buf = Vec::new();
    for n in 0..answers {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 16];
            let mut request = httparse::Request::new(&mut headers);
            if let Ok(httparse::Status::Complete(head)) = request.parse(&buf) {
                let length: usize = request
                    .headers
                    .iter()
                    .find(|h| h.name == "content-length")
                    .and_then(|h| std::str::from_utf8(h.value).ok()?.parse().ok())
                    .expect("length");
                if buf.len() >= head + length {
                    buf.drain(..head + length);
                    break;
                }
            }
            let mut chunk = [0u8; 1024];
            let read = socket.read(&mut chunk).await.expect("read");
            assert!(read > 0, "client closed early");
            buf.extend_from_slice(chunk.get(..read).unwrap_or_default());
        }
        let body = format!("answer {n}");
        let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len());
        socket.write_all(head.as_bytes()).await.expect("write");
        socket.flush().await.expect("flush");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        socket.write_all(body.as_bytes()).await.expect("write");
    }
}

#[tokio::test]
async fn one_connection_carries_requests_until_the_server_closes() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(serve(listener, 2));
    let mut conn = Conn::connect(addr).await.expect("connect");
    for n in 0..2 {
        let post = Post {
            path: "/v1/taps",
            host: "test",
            headers: &[],
            body: b"{}",
        };
        let (status, body) = conn.post(&post).await.expect("answered");
        assert_eq!((status, body), (200, format!("answer {n}").as_bytes()));
        assert!(conn.is_open());
    }
    server.await.expect("server");
    let post = Post {
        path: "/v1/taps",
        host: "test",
        headers: &[],
        body: b"{}",
    };
    assert_eq!(conn.post(&post).await.err(), Some(WireError::Io));
}
