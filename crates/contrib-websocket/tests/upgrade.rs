//! The deprecated upgrader over real loopback sockets: what the legacy API promises once the
//! checks pass (the checks themselves are unit-tested in `src/upgrader.rs`).

#![allow(deprecated)] // This file tests the deprecated API on purpose.

use std::{
    net::SocketAddr,
    sync::{
        Arc, LazyLock, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{Router, response::Response, routing::get};
use bytes::BytesMut;
use contrib_websocket::{BufferPool, HertzUpgrader, MessageType, RequestContext};
use futures_util::{SinkExt, StreamExt};
use http::HeaderValue;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest};

/// Counts what the connections borrow from and return to it.
#[derive(Default)]
struct CountingPool {
    gets: AtomicUsize,
    puts: AtomicUsize,
    buf: Mutex<Option<BytesMut>>,
}

impl BufferPool for CountingPool {
    fn get(&self) -> Option<BytesMut> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.buf.lock().unwrap().take()
    }
    fn put(&self, buf: BytesMut) {
        self.puts.fetch_add(1, Ordering::SeqCst);
        *self.buf.lock().unwrap() = Some(buf);
    }
}

static POOL: LazyLock<Arc<CountingPool>> = LazyLock::new(Default::default);

static UPGRADER: LazyLock<HertzUpgrader> = LazyLock::new(|| HertzUpgrader {
    subprotocols: vec!["a".into(), "b".into()],
    write_buffer_pool: Some(POOL.clone()),
    ..Default::default()
});

/// Says who it is (subprotocol and peer), then echoes; the connection closes when it returns.
async fn hello(mut c: RequestContext) -> Response {
    // Hertz sends the context's response headers with the 101 (cookies, typically).
    c.response_headers_mut()
        .insert("set-cookie", HeaderValue::from_static("session=1"));
    let remote = c.remote_addr();
    let result = UPGRADER
        .upgrade(&mut c, move |conn| async move {
            let hello = format!(
                "subprotocol={} remote_matches={}",
                conn.subprotocol(),
                conn.remote_addr() == remote
            );
            conn.write_message(MessageType::Text, hello.as_bytes())
                .await
                .unwrap();
            while let Ok((mt, message)) = conn.read_message().await {
                if message.as_ref() == b"quit" {
                    return; // drops the Conn: the socket closes
                }
                if conn.write_message(mt, &message).await.is_err() {
                    break;
                }
            }
        })
        .await;
    result.unwrap();
    assert!(c.hijacked());
    c.into_response()
}

async fn serve() -> SocketAddr {
    let app = Router::new().route("/hello", get(hello));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

#[tokio::test]
async fn callback_gets_the_connection() {
    let addr = serve().await;
    let mut request = format!("ws://{addr}/hello").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", HeaderValue::from_static("b, a"));
    let (mut ws, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.status(), 101);
    // The server's preference wins, and the Conn knows it.
    assert_eq!(response.headers()["sec-websocket-protocol"], "a");
    assert_eq!(response.headers()["set-cookie"], "session=1");
    let hello = ws.next().await.unwrap().unwrap();
    assert_eq!(hello, Message::text("subprotocol=a remote_matches=true"));

    ws.send(Message::binary(vec![7u8; 100_000])).await.unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        Message::binary(vec![7u8; 100_000])
    );
    // The pool lent the write buffers (and got them back).
    assert!(POOL.gets.load(Ordering::SeqCst) >= 2);
    assert!(POOL.puts.load(Ordering::SeqCst) >= 2);

    // The callback returning closes the connection (no close frame: Hertz closes the socket).
    ws.send(Message::text("quit")).await.unwrap();
    let end = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .expect("the server closes the socket");
    assert!(
        matches!(
            end,
            None | Some(Err(tungstenite::Error::Protocol(
                tungstenite::error::ProtocolError::ResetWithoutClosingHandshake
            )))
        ),
        "{end:?}"
    );
}

/// Hertz accepts any non-empty key; the accept value is computed from that key.
#[tokio::test]
async fn lax_key_gets_the_right_accept_value() {
    let addr = serve().await;
    let key = "AAAAAAAAAAAAAA=="; // base64 of 10 bytes: the new path would answer 400
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET /hello HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        assert_eq!(stream.read(&mut byte).await.unwrap(), 1, "EOF in the head");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap().to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101 "), "{head}");
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes()).to_ascii_lowercase();
    assert!(
        head.contains(&format!("\r\nsec-websocket-accept: {accept}\r\n")),
        "{head}"
    );
    // And the connection works: the greeting arrives as a text frame.
    let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
        stream,
        tungstenite::protocol::Role::Client,
        None,
    )
    .await;
    let hello = ws.next().await.unwrap().unwrap();
    assert_eq!(hello, Message::text("subprotocol= remote_matches=true"));
}
