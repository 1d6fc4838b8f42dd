//! The client: `Dialer::dial` over real loopback sockets, against our own
//! `Upgrader` (axum + `compat::handler`), against tokio-tungstenite as an
//! independent server, and against raw sockets that send exactly the bytes a
//! test needs (bad handshakes, frames right behind the `101`, masking).

mod support;

use std::{
    net::SocketAddr,
    sync::{
        Arc, LazyLock, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Router, routing::any};
use bytes::Bytes;
use compat::{Body, Hijacked, ResponseWriter};
use futures_util::{SinkExt, StreamExt};
use http::{HeaderMap, HeaderValue, Request, StatusCode};
use support::serve;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use tokio_tungstenite::tungstenite;
use websocket::{CloseCode, CompressionOptions, Dialer, MessageType, Upgrader};

/// How long any one step may take: a broken client fails the test instead of hanging it.
const LIMIT: Duration = Duration::from_secs(10);

/// `fut`, or a panic after [`LIMIT`].
async fn timed<T>(fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, fut)
        .await
        .expect("timed out: the peer's data never arrived")
}

static DEFAULT: LazyLock<Upgrader> = LazyLock::new(Upgrader::new);

static PROTOCOLS: LazyLock<Upgrader> =
    LazyLock::new(|| Upgrader::new().subprotocols(["chat.v2", "chat.v1"]));

static ANY_ORIGIN: LazyLock<Upgrader> = LazyLock::new(|| Upgrader::new().check_origin(|_| true));

static COMPRESSING: LazyLock<Upgrader> = LazyLock::new(|| Upgrader::new().enable_compression(true));

async fn echo_with(upgrader: &Upgrader, w: &mut dyn ResponseWriter, r: Request<Body>) {
    let Ok(conn) = upgrader.upgrade(w, &r, None).await else {
        return;
    };
    while let Ok((message_type, data)) = timed(conn.read_message()).await {
        if conn.write_message(message_type, &data).await.is_err() {
            break;
        }
    }
}

async fn echo(w: &mut dyn ResponseWriter, r: Request<Body>) {
    echo_with(&DEFAULT, w, r).await;
}

async fn protocols(w: &mut dyn ResponseWriter, r: Request<Body>) {
    echo_with(&PROTOCOLS, w, r).await;
}

async fn compressed(w: &mut dyn ResponseWriter, r: Request<Body>) {
    echo_with(&COMPRESSING, w, r).await;
}

/// Sends the request's interesting headers back as the first message.
async fn headers(w: &mut dyn ResponseWriter, r: Request<Body>) {
    let seen: Vec<String> = ["host", "origin", "cookie", "authorization", "x-trace-id"]
        .iter()
        .map(|name| {
            let values: Vec<_> = r
                .headers()
                .get_all(*name)
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect();
            format!("{name}={}", values.join("|"))
        })
        .collect();
    let mut hdr = HeaderMap::new();
    hdr.insert("set-cookie", HeaderValue::from_static("session=42"));
    let Ok(conn) = ANY_ORIGIN.upgrade(w, &r, Some(hdr)).await else {
        return;
    };
    let _ = conn
        .write_message(MessageType::Text, seen.join("\n").as_bytes())
        .await;
    let _ = timed(conn.read_message()).await;
}

async fn app() -> SocketAddr {
    serve(
        Router::new()
            .route("/echo", any(compat::handler(echo)))
            .route("/protocols", any(compat::handler(protocols)))
            .route("/headers", any(compat::handler(headers)))
            .route("/compressed", any(compat::handler(compressed))),
    )
    .await
}

/// Writes a close frame and waits for the server's, as a polite client does.
async fn close_cleanly(conn: &websocket::Conn) {
    conn.write_control(
        MessageType::Close,
        &websocket::format_close_message(CloseCode::NORMAL_CLOSURE, "bye"),
        None,
    )
    .await
    .unwrap();
    let err = timed(conn.read_message()).await.unwrap_err();
    assert_eq!(
        err.close_error().map(|c| c.code),
        Some(CloseCode::NORMAL_CLOSURE),
        "{err}"
    );
}

#[tokio::test]
async fn dials_our_upgrader_and_echoes() {
    let addr = app().await;
    let (conn, response) = Dialer::new()
        .dial(&format!("ws://{addr}/echo"), None)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(response.headers()["upgrade"], "websocket");
    assert_eq!(conn.subprotocol(), "");
    assert_eq!(conn.remote_addr(), Some(addr));
    assert!(conn.local_addr().is_some());

    conn.write_message(MessageType::Text, b"hello")
        .await
        .unwrap();
    assert_eq!(
        timed(conn.read_message()).await.unwrap(),
        (MessageType::Text, Bytes::from_static(b"hello"))
    );
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    conn.write_message(MessageType::Binary, &big).await.unwrap();
    let (message_type, data) = timed(conn.read_message()).await.unwrap();
    assert_eq!(message_type, MessageType::Binary);
    assert_eq!(data, big);
    conn.write_json(&serde_json::json!({"n": 1})).await.unwrap();
    assert_eq!(
        timed(conn.read_json::<serde_json::Value>()).await.unwrap(),
        serde_json::json!({"n": 1})
    );
    close_cleanly(&conn).await;
}

#[tokio::test]
async fn small_buffers_and_a_write_buffer_pool() {
    struct Pool(Mutex<Vec<bytes::BytesMut>>, AtomicUsize);
    impl websocket::BufferPool for Pool {
        fn get(&self) -> Option<bytes::BytesMut> {
            self.1.fetch_add(1, Ordering::SeqCst);
            self.0.lock().unwrap().pop()
        }
        fn put(&self, buf: bytes::BytesMut) {
            self.0.lock().unwrap().push(buf);
        }
    }
    let pool = Arc::new(Pool(Mutex::new(Vec::new()), AtomicUsize::new(0)));
    let addr = app().await;
    let (conn, _) = Dialer::new()
        .read_buffer_size(64)
        .write_buffer_size(64)
        .write_buffer_pool(pool.clone())
        .dial(&format!("ws://{addr}/echo"), None)
        .await
        .unwrap();
    for i in 0..5 {
        let message = format!("message {i} {}", "x".repeat(i * 100));
        conn.write_message(MessageType::Text, message.as_bytes())
            .await
            .unwrap();
        let (_, data) = timed(conn.read_message()).await.unwrap();
        assert_eq!(data, message.as_bytes());
    }
    assert!(pool.1.load(Ordering::SeqCst) >= 5, "the pool was used");
}

#[tokio::test]
async fn negotiates_a_subprotocol() {
    let addr = app().await;
    let url = format!("ws://{addr}/protocols");
    // The server picks by the client's preference among those it supports.
    let (conn, response) = Dialer::new()
        .subprotocols(["chat.v3", "chat.v1", "chat.v2"])
        .dial(&url, None)
        .await
        .unwrap();
    assert_eq!(conn.subprotocol(), "chat.v1");
    assert_eq!(response.headers()["sec-websocket-protocol"], "chat.v1");

    // Offered through the headers instead (gorilla passes it through when
    // the dialer has no list).
    let mut headers = HeaderMap::new();
    headers.insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("chat.v2, x"),
    );
    let (conn, _) = Dialer::new().dial(&url, Some(&headers)).await.unwrap();
    assert_eq!(conn.subprotocol(), "chat.v2");

    // No overlap: no subprotocol, still connected.
    let (conn, response) = Dialer::new()
        .subprotocols(["mqtt"])
        .dial(&url, None)
        .await
        .unwrap();
    assert_eq!(conn.subprotocol(), "");
    assert!(response.headers().get("sec-websocket-protocol").is_none());
    conn.write_message(MessageType::Text, b"x").await.unwrap();
    assert_eq!(timed(conn.read_message()).await.unwrap().1, "x");
}

#[tokio::test]
async fn custom_headers_arrive() {
    let addr = app().await;
    let mut headers = HeaderMap::new();
    headers.insert("origin", HeaderValue::from_static("https://app.example"));
    headers.insert("cookie", HeaderValue::from_static("a=1; b=2"));
    headers.insert(
        "authorization",
        HeaderValue::from_static("Basic dXNlcjpwYXNz"),
    );
    headers.append("x-trace-id", HeaderValue::from_static("1"));
    headers.append("x-trace-id", HeaderValue::from_static("2"));
    let (conn, response) = Dialer::new()
        .dial(&format!("ws://{addr}/headers"), Some(&headers))
        .await
        .unwrap();
    assert_eq!(response.headers()["set-cookie"], "session=42");
    let (_, seen) = timed(conn.read_message()).await.unwrap();
    assert_eq!(
        std::str::from_utf8(&seen).unwrap(),
        format!(
            "host={addr}\norigin=https://app.example\ncookie=a=1; b=2\n\
             authorization=Basic dXNlcjpwYXNz\nx-trace-id=1|2"
        )
    );

    // A `Host` header replaces the URL's authority.
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_static("chat.example:8443"));
    let (conn, _) = Dialer::new()
        .dial(&format!("ws://{addr}/headers"), Some(&headers))
        .await
        .unwrap();
    let (_, seen) = timed(conn.read_message()).await.unwrap();
    assert!(
        std::str::from_utf8(&seen)
            .unwrap()
            .starts_with("host=chat.example:8443\n"),
        "{seen:?}"
    );
}

/// A `net_dial` that connects to `addr` whatever it is asked for, counting
/// calls and recording the requested `host:port`.
fn redirecting_dialer(addr: SocketAddr) -> (Dialer, Arc<Mutex<Vec<String>>>) {
    let asked = Arc::new(Mutex::new(Vec::new()));
    let log = asked.clone();
    let dialer = Dialer::new().net_dial(move |host_port: String| {
        log.lock().unwrap().push(host_port);
        async move {
            let stream = TcpStream::connect(addr).await?;
            Ok(Hijacked::from_tcp(stream, Bytes::new()))
        }
    });
    (dialer, asked)
}

#[tokio::test]
async fn refused_headers_error_before_connecting() {
    let addr = app().await;
    for (name, canonical, with_subprotocols) in [
        ("upgrade", "Upgrade", false),
        ("connection", "Connection", false),
        ("sec-websocket-key", "Sec-Websocket-Key", false),
        ("sec-websocket-version", "Sec-Websocket-Version", false),
        (
            "sec-websocket-extensions",
            "Sec-Websocket-Extensions",
            false,
        ),
        ("sec-websocket-protocol", "Sec-Websocket-Protocol", true),
    ] {
        let (mut dialer, asked) = redirecting_dialer(addr);
        if with_subprotocols {
            dialer = dialer.subprotocols(["chat"]);
        }
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_static("x"));
        let err = dialer
            .dial("ws://example.com/echo", Some(&headers))
            .await
            .unwrap_err();
        assert!(err.is_invalid_argument(), "{name}: {err:?}");
        assert_eq!(
            err.to_string(),
            format!("websocket: duplicate header not allowed: {canonical}")
        );
        assert!(asked.lock().unwrap().is_empty(), "{name}: dialed anyway");
    }
}

#[tokio::test]
async fn malformed_urls_are_refused() {
    for url in [
        "example.com/echo",
        "ftp://example.com/",
        "ws://user:pass@example.com/",
        "ws://example.com/#top",
    ] {
        let err = Dialer::new().dial(url, None).await.unwrap_err();
        assert!(err.is_invalid_argument(), "{url}: {err:?}");
        assert_eq!(err.to_string(), "websocket: malformed ws or wss URL");
    }
}

#[tokio::test]
async fn custom_connect_function_is_used() {
    let addr = app().await;
    let (dialer, asked) = redirecting_dialer(addr);
    let (conn, _) = dialer
        .dial("ws://chat.example/headers", None)
        .await
        .unwrap();
    assert_eq!(*asked.lock().unwrap(), ["chat.example:80"]);
    let (_, seen) = timed(conn.read_message()).await.unwrap();
    assert!(
        std::str::from_utf8(&seen)
            .unwrap()
            .starts_with("host=chat.example\n"),
        "{seen:?}"
    );
    // Explicit ports and IPv6 literals reach the function as written.
    let (dialer, asked) = redirecting_dialer(addr);
    dialer.dial("ws://[::1]:9/echo", None).await.unwrap();
    dialer.dial("http://h:1/echo", None).await.unwrap();
    assert_eq!(*asked.lock().unwrap(), ["[::1]:9", "h:1"]);

    // Its error is the dial's error.
    let failing = Dialer::new().net_dial(|_| async {
        Err::<Hijacked, _>(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "no route",
        ))
    });
    let err = failing.dial("ws://h/", None).await.unwrap_err();
    assert!(err.is_io(), "{err:?}");
    assert_eq!(err.to_string(), "websocket: I/O error: no route");
}

#[tokio::test]
async fn connection_refused_is_an_io_error() {
    // Bind and drop, so the port is (almost certainly) closed.
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let err = Dialer::new()
        .dial(&format!("ws://{addr}/"), None)
        .await
        .unwrap_err();
    assert!(err.is_io(), "{err:?}");
    let source = std::error::Error::source(&err).unwrap();
    assert_eq!(
        source.downcast_ref::<std::io::Error>().unwrap().kind(),
        std::io::ErrorKind::ConnectionRefused
    );
}

/// A one-connection raw server: reads the request head, hands it to
/// `respond`, and keeps the socket open until `respond` returns.
async fn raw_server<F, Fut>(respond: F) -> SocketAddr
where
    F: FnOnce(TcpStream, String) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0];
            if stream.read(&mut byte).await.unwrap() == 0 {
                return;
            }
            head.push(byte[0]);
        }
        respond(stream, String::from_utf8(head).unwrap()).await;
    });
    addr
}

/// The `Sec-WebSocket-Key` of a raw request head.
fn key_of(head: &str) -> String {
    head.lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .unwrap()
        .to_owned()
}

fn accept_of(head: &str) -> String {
    tungstenite::handshake::derive_accept_key(key_of(head).as_bytes())
}

#[tokio::test]
async fn request_is_a_well_formed_upgrade() {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let addr = raw_server(move |_, head| async move {
        tx.send(head).unwrap();
    })
    .await;
    let _ = Dialer::new()
        .subprotocols(["a", "b"])
        .dial(&format!("ws://{addr}/path?q=1"), None)
        .await;
    let head = timed(rx).await.unwrap();
    let lines: Vec<&str> = head.trim_end().split("\r\n").collect();
    assert_eq!(lines[0], "GET /path?q=1 HTTP/1.1");
    assert_eq!(lines[1], format!("Host: {addr}"));
    assert_eq!(
        lines[2..]
            .iter()
            .filter(|l| !l.starts_with("Sec-WebSocket-Key"))
            .copied()
            .collect::<Vec<_>>(),
        [
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Version: 13",
            "Sec-WebSocket-Protocol: a, b"
        ]
    );
    let key = key_of(&head);
    assert_eq!(key.len(), 24, "{key}");
}

#[tokio::test]
async fn refused_with_403_keeps_status_headers_and_body_start() {
    let body: String = (0..2000).map(|i| (b'a' + (i % 26) as u8) as char).collect();
    let sent = body.clone();
    let addr = raw_server(move |mut stream, _| async move {
        let response = format!(
            "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nX-Reason: origin\r\n\
             Content-Length: {}\r\n\r\n{sent}",
            sent.len()
        );
        stream.write_all(response.as_bytes()).await.unwrap();
        // Keep the connection open: the body limit, not EOF, ends the read.
        tokio::time::sleep(Duration::from_secs(5)).await;
    })
    .await;
    let started = Instant::now();
    let err = Dialer::new()
        .dial(&format!("ws://{addr}/"), None)
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(err.is_handshake(), "{err:?}");
    assert_eq!(
        err.to_string(),
        "websocket: bad handshake: unexpected status 403 Forbidden"
    );
    let response = err.response().expect("the response");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(response.headers()["x-reason"], "origin");
    assert_eq!(response.headers()["content-type"], "text/plain");
    assert_eq!(response.body().len(), Dialer::MAX_ERROR_BODY);
    assert_eq!(response.body(), &body.as_bytes()[..Dialer::MAX_ERROR_BODY]);
}

#[tokio::test]
async fn refused_by_our_upgrader_origin_check() {
    let addr = app().await;
    let mut headers = HeaderMap::new();
    headers.insert("origin", HeaderValue::from_static("https://evil.example"));
    let err = Dialer::new()
        .dial(&format!("ws://{addr}/echo"), Some(&headers))
        .await
        .unwrap_err();
    assert!(err.is_handshake(), "{err:?}");
    let response = err.response().unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(response.headers()["sec-websocket-version"], "13");
    assert_eq!(response.body(), "Forbidden\n");
}

#[tokio::test]
async fn refused_with_a_chunked_401_and_a_redirect() {
    let addr = raw_server(|mut stream, _| async move {
        stream
            .write_all(
                b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"chat\"\r\n\
                  Transfer-Encoding: chunked\r\n\r\n5\r\nlog i\r\n4\r\nn pl\r\n",
            )
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        stream.write_all(b"5\r\nease\n\r\n0\r\n\r\n").await.unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
    })
    .await;
    let err = Dialer::new()
        .dial(&format!("ws://{addr}/"), None)
        .await
        .unwrap_err();
    let response = err.response().unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer realm=\"chat\""
    );
    assert_eq!(response.body(), "log in please\n");

    // A redirect, body until EOF.
    let addr = raw_server(|mut stream, _| async move {
        stream
            .write_all(b"HTTP/1.1 302 Found\r\nLocation: ws://elsewhere/\r\n\r\nmoved")
            .await
            .unwrap();
    })
    .await;
    let err = Dialer::new()
        .dial(&format!("ws://{addr}/"), None)
        .await
        .unwrap_err();
    let response = err.response().unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(response.headers()["location"], "ws://elsewhere/");
    assert_eq!(response.body(), "moved");
}

#[tokio::test]
async fn a_stalled_error_body_is_cut_short() {
    let addr = raw_server(|mut stream, _| async move {
        stream
            .write_all(b"HTTP/1.1 500 Oops\r\nContent-Length: 100\r\n\r\npartial")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(10)).await;
    })
    .await;
    let started = Instant::now();
    let err = Dialer::new()
        .dial(&format!("ws://{addr}/"), None)
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(3),
        "{elapsed:?}"
    );
    assert_eq!(err.response().unwrap().body(), "partial");
}

/// A raw server answering `101` with the given header lines (`{accept}` is
/// replaced by the right accept value) and then `after`.
async fn switching_server(lines: &'static [&'static str], after: &'static [u8]) -> SocketAddr {
    raw_server(move |mut stream, head| async move {
        let mut response = String::from("HTTP/1.1 101 Switching Protocols\r\n");
        for line in lines {
            response.push_str(&line.replace("{accept}", &accept_of(&head)));
            response.push_str("\r\n");
        }
        response.push_str("\r\n");
        let mut bytes = response.into_bytes();
        bytes.extend_from_slice(after);
        stream.write_all(&bytes).await.unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
    })
    .await
}

#[tokio::test]
async fn bad_101_responses_are_bad_handshakes() {
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "Upgrade: websocket",
                "Connection: Upgrade",
                "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
            ],
            "'Sec-WebSocket-Accept' is",
        ),
        (
            &["Connection: Upgrade", "Sec-WebSocket-Accept: {accept}"],
            "'websocket' token not found in 'Upgrade' header",
        ),
        (
            &["Upgrade: websocket", "Sec-WebSocket-Accept: {accept}"],
            "'upgrade' token not found in 'Connection' header",
        ),
        (
            &["Upgrade: websocket", "Connection: Upgrade"],
            "missing 'Sec-WebSocket-Accept' header",
        ),
        (
            &[
                "Upgrade: websocket",
                "Connection: Upgrade",
                "Sec-WebSocket-Accept: {accept}",
                "Sec-WebSocket-Protocol: unasked",
            ],
            "server selected subprotocol \"unasked\", which was not offered",
        ),
        (
            &[
                "Upgrade: websocket",
                "Connection: Upgrade",
                "Sec-WebSocket-Accept: {accept}",
                "Sec-WebSocket-Extensions: permessage-deflate",
            ],
            "server answered 'Sec-WebSocket-Extensions', which were not offered",
        ),
    ];
    for (lines, reason) in cases {
        let addr = switching_server(lines, b"").await;
        let err = Dialer::new()
            .dial(&format!("ws://{addr}/"), None)
            .await
            .unwrap_err();
        assert!(err.is_handshake(), "{lines:?}: {err:?}");
        assert!(
            err.to_string()
                .starts_with(&format!("websocket: bad handshake: {reason}")),
            "{err}"
        );
        let response = err.response().unwrap();
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        assert!(response.body().is_empty());
    }
}

#[tokio::test]
async fn not_http_and_early_eof() {
    let addr = raw_server(|mut stream, _| async move {
        stream
            .write_all(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
            .await
            .unwrap();
    })
    .await;
    let err = Dialer::new()
        .dial(&format!("ws://{addr}/"), None)
        .await
        .unwrap_err();
    assert!(err.is_handshake(), "{err:?}");
    assert!(err.response().is_none());

    let addr = raw_server(|mut stream, _| async move {
        stream.write_all(b"HTTP/1.1 101 Swi").await.unwrap();
    })
    .await;
    let err = Dialer::new()
        .dial(&format!("ws://{addr}/"), None)
        .await
        .unwrap_err();
    assert!(err.is_io(), "{err:?}");
}

#[tokio::test]
async fn handshake_timeout_against_a_silent_server() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(10)).await;
        drop(stream);
    });
    let started = Instant::now();
    let err = Dialer::new()
        .handshake_timeout(Duration::from_millis(300))
        .dial(&format!("ws://{addr}/"), None)
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(err.to_string(), "websocket: i/o timeout");
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(2),
        "{elapsed:?}"
    );
    held.abort();

    // The timeout covers a slow connect function too.
    let err = Dialer::new()
        .handshake_timeout(Duration::from_millis(100))
        .net_dial(|_| async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            Err::<Hijacked, _>(std::io::Error::other("unreachable"))
        })
        .dial("ws://h/", None)
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(
        Dialer::default().handshake_timeout,
        Some(Duration::from_secs(45))
    );
}

#[tokio::test]
async fn frames_right_behind_the_101_reach_the_client() {
    // Sent in the same write as the head: a text "early" and a ping.
    let addr = switching_server(
        &[
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Accept: {accept}",
        ],
        b"\x81\x05early\x89\x00\x82\x02\x01\x02",
    )
    .await;
    let (conn, _) = Dialer::new()
        .dial(&format!("ws://{addr}/"), None)
        .await
        .unwrap();
    assert_eq!(
        timed(conn.read_message()).await.unwrap(),
        (MessageType::Text, Bytes::from_static(b"early"))
    );
    assert_eq!(
        timed(conn.read_message()).await.unwrap(),
        (MessageType::Binary, Bytes::from_static(b"\x01\x02"))
    );
}

/// Reads one frame from a raw socket: `(first byte, mask, unmasked payload)`.
async fn read_client_frame(stream: &mut TcpStream) -> (u8, Option<[u8; 4]>, Vec<u8>) {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).await.unwrap();
    let len = match head[1] & 0x7f {
        126 => u64::from(stream.read_u16().await.unwrap()),
        127 => stream.read_u64().await.unwrap(),
        n => u64::from(n),
    };
    let mask = if head[1] & 0x80 != 0 {
        let mut mask = [0u8; 4];
        stream.read_exact(&mut mask).await.unwrap();
        Some(mask)
    } else {
        None
    };
    let mut payload = vec![0u8; usize::try_from(len).unwrap()];
    stream.read_exact(&mut payload).await.unwrap();
    if let Some(mask) = mask {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= mask[i % 4];
        }
    }
    (head[0], mask, payload)
}

#[tokio::test]
async fn client_frames_are_masked_with_a_fresh_key_per_frame() {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let addr = raw_server(move |mut stream, head| async move {
        let response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
            accept_of(&head)
        );
        stream.write_all(response.as_bytes()).await.unwrap();
        let mut frames = Vec::new();
        for _ in 0..3 {
            frames.push(read_client_frame(&mut stream).await);
        }
        // An unmasked server frame is what the client expects.
        stream.write_all(b"\x81\x02ok").await.unwrap();
        // A masked one breaks RFC 6455 5.1.
        stream
            .write_all(b"\x81\x82\x01\x02\x03\x04\x6e\x69")
            .await
            .unwrap();
        tx.send(frames).unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
    })
    .await;
    let (conn, _) = Dialer::new()
        .dial(&format!("ws://{addr}/"), None)
        .await
        .unwrap();
    conn.write_message(MessageType::Text, b"same message")
        .await
        .unwrap();
    conn.write_message(MessageType::Text, b"same message")
        .await
        .unwrap();
    conn.write_control(MessageType::Ping, b"p", None)
        .await
        .unwrap();
    assert_eq!(timed(conn.read_message()).await.unwrap().1, "ok");
    let err = timed(conn.read_message()).await.unwrap_err();
    assert!(err.is_protocol(), "{err:?}");

    let frames = timed(rx).await.unwrap();
    let masks: Vec<[u8; 4]> = frames
        .iter()
        .map(|(_, mask, _)| mask.expect("client frames are masked"))
        .collect();
    assert_eq!(frames[0].0, 0x81);
    assert_eq!(frames[0].2, b"same message");
    assert_eq!(frames[1].2, b"same message");
    assert_eq!(frames[2].0, 0x89);
    assert_eq!(frames[2].2, b"p");
    assert_ne!(masks[0], masks[1], "a fresh key per frame");
    assert_ne!(masks[1], masks[2]);
}

#[tokio::test]
async fn dials_a_tokio_tungstenite_server() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(stream).await.unwrap();
        ws.send(tungstenite::Message::text("welcome"))
            .await
            .unwrap();
        ws.send(tungstenite::Message::Ping(Bytes::from_static(b"hi")))
            .await
            .unwrap();
        let (mut pongs, mut close) = (0, None);
        // Until the stream ends: tungstenite sends its close reply while
        // being polled after the peer's close.
        while let Some(message) = ws.next().await {
            match message.unwrap() {
                tungstenite::Message::Pong(data) => {
                    assert_eq!(data, "hi");
                    pongs += 1;
                }
                tungstenite::Message::Close(frame) => {
                    close = frame.map(|f| u16::from(f.code));
                }
                message @ (tungstenite::Message::Text(_) | tungstenite::Message::Binary(_)) => {
                    ws.send(message).await.unwrap();
                }
                _ => {}
            }
        }
        (pongs, close)
    });

    let (conn, _) = Dialer::new()
        .dial(&format!("ws://{addr}/"), None)
        .await
        .unwrap();
    assert_eq!(timed(conn.read_message()).await.unwrap().1, "welcome");
    // The ping was answered by the default handler while reading on.
    conn.write_message(MessageType::Text, "héllo".as_bytes())
        .await
        .unwrap();
    assert_eq!(
        timed(conn.read_message()).await.unwrap().1,
        "héllo".as_bytes()
    );
    let big = vec![7u8; 1 << 20];
    let mut writer = conn.next_writer(MessageType::Binary).await.unwrap();
    for chunk in big.chunks(100_000) {
        writer.write_all(chunk).await.unwrap();
    }
    writer.shutdown().await.unwrap();
    let (message_type, data) = timed(conn.read_message()).await.unwrap();
    assert_eq!(message_type, MessageType::Binary);
    assert_eq!(data, big);
    close_cleanly(&conn).await;
    assert_eq!(timed(server).await.unwrap(), (1, Some(1000)));
}

#[tokio::test]
async fn compression_with_our_upgrader() {
    let addr = app().await;
    let text: String = (0..2000)
        .map(|i| format!("{{\"id\":{i},\"name\":\"user{i}\"}},"))
        .collect();
    for options in [
        CompressionOptions::default(),
        CompressionOptions::no_context_takeover(),
        CompressionOptions {
            server_max_window_bits: 10,
            client_max_window_bits: 9,
            ..CompressionOptions::default()
        },
    ] {
        let (conn, response) = Dialer::new()
            .enable_compression(true)
            .compression_options(options)
            .dial(&format!("ws://{addr}/compressed"), None)
            .await
            .unwrap();
        let answer = response.headers()["sec-websocket-extensions"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(answer.starts_with("permessage-deflate"), "{answer}");
        for _ in 0..3 {
            conn.write_message(MessageType::Text, text.as_bytes())
                .await
                .unwrap();
            assert_eq!(timed(conn.read_message()).await.unwrap().1, text.as_bytes());
            conn.write_message(MessageType::Binary, b"tiny")
                .await
                .unwrap();
            assert_eq!(timed(conn.read_message()).await.unwrap().1, "tiny");
        }
        close_cleanly(&conn).await;
    }

    // A server without compression just does not answer the offer.
    let (conn, response) = Dialer::new()
        .enable_compression(true)
        .dial(&format!("ws://{addr}/echo"), None)
        .await
        .unwrap();
    assert!(response.headers().get("sec-websocket-extensions").is_none());
    conn.write_message(MessageType::Text, text.as_bytes())
        .await
        .unwrap();
    assert_eq!(timed(conn.read_message()).await.unwrap().1, text.as_bytes());
}

#[tokio::test]
async fn compression_offer_and_bad_answers() {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let addr = raw_server(move |_, head| async move {
        tx.send(head).unwrap();
    })
    .await;
    let _ = Dialer::new()
        .enable_compression(true)
        .compression_options(CompressionOptions::no_context_takeover())
        .dial(&format!("ws://{addr}/"), None)
        .await;
    let head = timed(rx).await.unwrap();
    let offer = head
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Extensions: "))
        .expect("an offer");
    assert!(offer.starts_with("permessage-deflate"), "{offer}");
    assert!(offer.contains("server_no_context_takeover"), "{offer}");
    assert!(offer.contains("client_no_context_takeover"), "{offer}");

    for answer in [
        "Sec-WebSocket-Extensions: x-unknown",
        "Sec-WebSocket-Extensions: permessage-deflate; bogus_param",
        "Sec-WebSocket-Extensions: permessage-deflate, permessage-deflate",
        "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=99",
    ] {
        let lines: &'static [&'static str] = Box::leak(Box::new([
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Accept: {accept}",
            answer,
        ]));
        let addr = switching_server(lines, b"").await;
        let err = Dialer::new()
            .enable_compression(true)
            .dial(&format!("ws://{addr}/"), None)
            .await
            .unwrap_err();
        assert!(err.is_handshake(), "{answer}: {err:?}");
        let response = err.response().expect("the response is kept");
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        assert!(response.headers().contains_key("sec-websocket-extensions"));
    }
}

#[cfg(not(feature = "rustls"))]
#[tokio::test]
async fn wss_without_the_rustls_feature_is_refused() {
    let err = Dialer::new()
        .dial("wss://example.com/", None)
        .await
        .unwrap_err();
    assert!(err.is_invalid_argument(), "{err:?}");
    assert!(err.to_string().contains("rustls"), "{err}");
}

/// `wss://` against a local rustls server with a certificate made here.
#[cfg(feature = "rustls")]
mod tls {
    use super::*;

    use rustls::{
        ClientConfig, RootCertStore, ServerConfig,
        pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer},
    };
    use tokio_rustls::{TlsAcceptor, server::TlsStream};

    fn provider() -> Arc<rustls::crypto::CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    /// A self-signed certificate for `localhost` and 127.0.0.1.
    fn certificate() -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let certified =
            rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
                .unwrap();
        let key = PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der());
        (certified.cert.der().clone(), key.into())
    }

    /// Accepts TLS connections for `axum::serve`; failed handshakes (a
    /// client that refused the certificate) are skipped.
    struct TlsListener {
        tcp: TcpListener,
        acceptor: TlsAcceptor,
    }

    impl axum::serve::Listener for TlsListener {
        type Io = TlsStream<TcpStream>;
        type Addr = SocketAddr;

        async fn accept(&mut self) -> (Self::Io, Self::Addr) {
            loop {
                let Ok((stream, addr)) = self.tcp.accept().await else {
                    continue;
                };
                if let Ok(tls) = self.acceptor.accept(stream).await {
                    return (tls, addr);
                }
            }
        }

        fn local_addr(&self) -> std::io::Result<Self::Addr> {
            self.tcp.local_addr()
        }
    }

    /// Our echo app over TLS; returns its address and the certificate.
    async fn tls_app() -> (SocketAddr, CertificateDer<'static>) {
        let (cert, key) = certificate();
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], key)
            .unwrap();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let listener = TlsListener {
            tcp,
            acceptor: TlsAcceptor::from(Arc::new(config)),
        };
        let app = Router::new()
            .route("/echo", any(compat::handler(echo)))
            .route("/headers", any(compat::handler(headers)));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (addr, cert)
    }

    fn trusting(cert: CertificateDer<'static>, alpn: &[&[u8]]) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(cert).unwrap();
        let mut config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }

    #[tokio::test]
    async fn wss_echo_with_a_trusted_self_signed_certificate() {
        let (addr, cert) = tls_app().await;
        let (conn, response) = Dialer::new()
            .tls_config(trusting(cert, &[]))
            .dial(&format!("wss://127.0.0.1:{}/echo", addr.port()), None)
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(conn.remote_addr(), Some(addr));
        let big = vec![b'x'; 200_000];
        conn.write_message(MessageType::Text, &big).await.unwrap();
        assert_eq!(timed(conn.read_message()).await.unwrap().1, big);
        close_cleanly(&conn).await;
    }

    #[tokio::test]
    async fn wss_by_host_name_through_a_connect_function() {
        let (addr, cert) = tls_app().await;
        // `localhost` is verified against the certificate's DNS name, and
        // the connect function decides where it goes.
        let (dialer, asked) = redirecting_dialer(addr);
        let (conn, _) = dialer
            .tls_config(trusting(cert, &[b"http/1.1"]))
            .dial("wss://localhost/headers", None)
            .await
            .unwrap();
        assert_eq!(*asked.lock().unwrap(), ["localhost:443"]);
        let (_, seen) = timed(conn.read_message()).await.unwrap();
        assert!(
            std::str::from_utf8(&seen)
                .unwrap()
                .starts_with("host=localhost\n"),
            "{seen:?}"
        );
    }

    #[tokio::test]
    async fn wss_refuses_an_untrusted_or_misnamed_certificate() {
        let (addr, cert) = tls_app().await;
        // The default roots do not know the self-signed certificate.
        let err = Dialer::new()
            .dial(&format!("wss://127.0.0.1:{}/echo", addr.port()), None)
            .await
            .unwrap_err();
        assert!(err.is_io(), "{err:?}");
        assert!(err.to_string().contains("certificate"), "{err}");

        // Trusted, but not issued for this name.
        let (dialer, _) = redirecting_dialer(addr);
        let err = dialer
            .tls_config(trusting(cert, &[]))
            .dial("wss://other.example/echo", None)
            .await
            .unwrap_err();
        assert!(err.is_io(), "{err:?}");
        assert!(err.to_string().contains("certificate"), "{err}");
    }
}
