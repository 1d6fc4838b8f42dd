//! The legacy echo server (`contrib-websocket`, `src/echo_legacy.rs`) and the new one
//! (`websocket` through `compat`, `src/echo.rs`) side by side, in-process on loopback: the same
//! client script must produce the same transcript on both, and the handshake differences that
//! MIGRATION.md documents must be exactly those.

// The subprotocol routes below are written against the deprecated API on purpose.
#![allow(deprecated)]

use std::{net::SocketAddr, sync::LazyLock, time::Duration};

use axum::{
    Router,
    response::Response,
    routing::{any, get},
};
use compat::{Body, ResponseWriter};
use contrib_websocket::{HertzUpgrader, RequestContext};
use futures_util::{SinkExt, StreamExt};
use gorilla_axum::{echo, echo_legacy};
use http::{HeaderValue, Request};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{
        Message,
        client::IntoClientRequest,
        handshake::derive_accept_key,
        protocol::{
            CloseFrame,
            frame::{
                Frame,
                coding::{CloseCode, Data, OpCode},
            },
        },
    },
};

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Bounds every exchange, so a broken server fails the test instead of hanging it.
const LIMIT: Duration = Duration::from_secs(10);

const VALID_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// The subprotocols both `/proto` routes support, in the server's order of preference.
const SERVER_PROTOCOLS: [&str; 2] = ["a", "b"];

static LEGACY_PROTO: LazyLock<HertzUpgrader> = LazyLock::new(|| HertzUpgrader {
    subprotocols: SERVER_PROTOCOLS.map(String::from).to_vec(),
    ..Default::default()
});

static NEW_PROTO: LazyLock<websocket::Upgrader> =
    LazyLock::new(|| websocket::Upgrader::new().subprotocols(SERVER_PROTOCOLS));

/// Legacy `/proto`: tells the client the negotiated subprotocol.
async fn legacy_proto(mut c: RequestContext) -> Response {
    let _ = LEGACY_PROTO
        .upgrade(&mut c, |conn| async move {
            let _ = conn
                .write_message(websocket::MessageType::Text, conn.subprotocol().as_bytes())
                .await;
            while conn.read_message().await.is_ok() {}
        })
        .await;
    c.into_response()
}

/// New `/proto`: tells the client the negotiated subprotocol.
async fn new_proto(w: &mut dyn ResponseWriter, r: Request<Body>) {
    let Ok(conn) = NEW_PROTO.upgrade(w, &r, None).await else {
        return;
    };
    let _ = conn
        .write_message(websocket::MessageType::Text, conn.subprotocol().as_bytes())
        .await;
    while conn.read_message().await.is_ok() {}
}

async fn serve(app: Router) -> SocketAddr {
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

/// Both servers, as the examples serve them, plus `/proto`.
struct Servers {
    legacy: SocketAddr,
    new: SocketAddr,
}

async fn servers() -> Servers {
    Servers {
        legacy: serve(echo_legacy::router().route("/proto", get(legacy_proto))).await,
        new: serve(echo::router().route("/proto", any(compat::handler(new_proto)))).await,
    }
}

/// One thing the client received.
#[derive(PartialEq, Eq)]
enum Received {
    Text(String),
    Binary(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(u16, String)>),
    /// The stream ended.
    End,
}

// By hand: a 1 MiB message must not flood a failure message.
impl std::fmt::Debug for Received {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let short = |data: &[u8]| {
            if data.len() > 32 {
                format!("{} bytes, starting {:?}", data.len(), &data[..8])
            } else {
                format!("{data:?}")
            }
        };
        match self {
            Received::Text(text) if text.len() <= 32 => write!(f, "Text({text:?})"),
            Received::Text(text) => write!(f, "Text({})", short(text.as_bytes())),
            Received::Binary(data) => write!(f, "Binary({})", short(data)),
            Received::Pong(data) => write!(f, "Pong({})", short(data)),
            Received::Close(close) => write!(f, "Close({close:?})"),
            Received::End => f.write_str("End"),
        }
    }
}

async fn receive(ws: &mut Client) -> Received {
    let next = tokio::time::timeout(LIMIT, ws.next())
        .await
        .expect("the server answers in time");
    match next {
        None => Received::End,
        Some(Ok(Message::Text(text))) => Received::Text(text.as_str().to_owned()),
        Some(Ok(Message::Binary(data))) => Received::Binary(data.to_vec()),
        Some(Ok(Message::Pong(data))) => Received::Pong(data.to_vec()),
        Some(Ok(Message::Close(close))) => {
            Received::Close(close.map(|c| (u16::from(c.code), c.reason.as_str().to_owned())))
        }
        other => panic!("unexpected: {other:?}"),
    }
}

fn large_message() -> Vec<u8> {
    (0..1 << 20).map(|i| (i % 251) as u8).collect()
}

/// The client script both servers get: every kind of message gorilla's echo loop handles.
async fn script(addr: SocketAddr) -> Vec<Received> {
    let (mut ws, response) = tokio_tungstenite::connect_async(format!("ws://{addr}/echo"))
        .await
        .expect("handshake");
    assert_eq!(response.status(), 101);
    let mut transcript = Vec::new();
    ws.send(Message::text("hello")).await.unwrap();
    transcript.push(receive(&mut ws).await);

    ws.send(Message::binary(vec![0u8, 1, 2, 254, 255]))
        .await
        .unwrap();
    transcript.push(receive(&mut ws).await);

    // One text message in three frames; the echo comes back whole.
    for (part, opcode, fin) in [
        ("frag", OpCode::Data(Data::Text), false),
        ("men", OpCode::Data(Data::Continue), false),
        ("ted", OpCode::Data(Data::Continue), true),
    ] {
        ws.send(Message::Frame(Frame::message(part, opcode, fin)))
            .await
            .unwrap();
    }
    transcript.push(receive(&mut ws).await);

    ws.send(Message::Ping("are you there".into()))
        .await
        .unwrap();
    transcript.push(receive(&mut ws).await);

    ws.send(Message::text("")).await.unwrap();
    transcript.push(receive(&mut ws).await);
    ws.send(Message::binary(Vec::new())).await.unwrap();
    transcript.push(receive(&mut ws).await);

    ws.send(Message::binary(large_message())).await.unwrap();
    transcript.push(receive(&mut ws).await);

    ws.send(Message::Close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    })))
    .await
    .unwrap();
    transcript.push(receive(&mut ws).await);
    transcript.push(receive(&mut ws).await);
    transcript
}

#[tokio::test]
async fn same_transcript_on_both_paths() {
    let servers = servers().await;
    let legacy = script(servers.legacy).await;
    let new = script(servers.new).await;
    assert_eq!(legacy, new, "legacy vs new");
    // And both are right, not just equal.
    let expected_data = [
        Received::Text("hello".into()),
        Received::Binary(vec![0, 1, 2, 254, 255]),
        Received::Text("fragmented".into()),
        Received::Pong(b"are you there".to_vec()),
        Received::Text(String::new()),
        Received::Binary(Vec::new()),
        Received::Binary(large_message()),
    ];
    assert_eq!(new[..expected_data.len()], expected_data);
    let close = &new[expected_data.len()..];
    assert!(
        matches!(close, [Received::Close(Some((1000, _))), Received::End]),
        "{close:?}"
    );
}

/// A response head (and a short body) read off a raw socket.
struct RawResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends a hand-written `GET path` with `headers` (a `Host` is added) and reads the response
/// head, and the body when it has a `Content-Length` (a 101 has none).
async fn raw_get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> RawResponse {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();

    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        let n = tokio::time::timeout(LIMIT, stream.read(&mut byte))
            .await
            .expect("a response in time")
            .unwrap();
        assert_eq!(n, 1, "EOF inside the response head");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let mut lines = head.trim_end().split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.to_ascii_lowercase(), value.trim().to_owned())
        })
        .collect();
    let mut response = RawResponse {
        status: status.parse().unwrap(),
        headers,
        body: String::new(),
    };
    if let Some(len) = response.header("content-length") {
        let mut body = vec![0u8; len.parse().unwrap()];
        stream.read_exact(&mut body).await.unwrap();
        response.body = String::from_utf8(body).unwrap();
    }
    response
}

#[tokio::test]
async fn missing_upgrade_header_is_400_legacy_426_new() {
    let servers = servers().await;
    let request = [
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", VALID_KEY),
    ];
    let legacy = raw_get(servers.legacy, "/echo", &request).await;
    assert_eq!(legacy.status, 400);
    assert_eq!(legacy.header("upgrade"), None);
    assert_eq!(legacy.header("sec-websocket-version"), Some("13"));
    assert_eq!(legacy.body, "Bad Request");

    let new = raw_get(servers.new, "/echo", &request).await;
    assert_eq!(new.status, 426);
    assert_eq!(new.header("upgrade"), Some("websocket"));
    assert_eq!(new.header("sec-websocket-version"), Some("13"));
    assert_eq!(new.body, "Upgrade Required\n");
}

/// Connects to `/proto` offering `["b", "a"]`; returns the protocol in the response header and
/// the one the server's `Conn` reports.
async fn negotiate(addr: SocketAddr) -> (String, String) {
    let mut request = format!("ws://{addr}/proto").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", HeaderValue::from_static("b, a"));
    let (mut ws, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    let header = response.headers()["sec-websocket-protocol"]
        .to_str()
        .unwrap()
        .to_owned();
    let Received::Text(conn) = receive(&mut ws).await else {
        panic!("the server reports its subprotocol");
    };
    (header, conn)
}

#[tokio::test]
async fn subprotocol_server_preference_legacy_client_preference_new() {
    let servers = servers().await;
    // Client offers ["b", "a"], servers support ["a", "b"].
    assert_eq!(
        negotiate(servers.legacy).await,
        ("a".to_owned(), "a".to_owned())
    );
    assert_eq!(
        negotiate(servers.new).await,
        ("b".to_owned(), "b".to_owned())
    );
}

#[tokio::test]
async fn short_key_accepted_by_legacy_rejected_by_new() {
    let servers = servers().await;
    let key = "AAAAAAAAAAAAAA=="; // base64 of 10 bytes
    let request = [
        ("Connection", "Upgrade"),
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", key),
    ];
    let legacy = raw_get(servers.legacy, "/echo", &request).await;
    assert_eq!(legacy.status, 101);
    assert_eq!(
        legacy.header("sec-websocket-accept"),
        Some(derive_accept_key(key.as_bytes()).as_str())
    );

    let new = raw_get(servers.new, "/echo", &request).await;
    assert_eq!(new.status, 400);
    assert_eq!(new.header("sec-websocket-accept"), None);
    assert_eq!(new.body, "Bad Request\n");
}

#[tokio::test]
async fn same_home_page() {
    let servers = servers().await;
    let legacy = raw_get(servers.legacy, "/", &[]).await;
    let new = raw_get(servers.new, "/", &[]).await;
    assert_eq!((legacy.status, new.status), (200, 200));
    assert_eq!(
        legacy.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(legacy.header("content-type"), new.header("content-type"));
    // Each page points at its own server.
    assert!(
        legacy
            .body
            .contains(&format!("\"ws://{}/echo\"", servers.legacy))
    );
    assert_eq!(
        legacy.body.replace(&servers.legacy.to_string(), "HOST"),
        new.body.replace(&servers.new.to_string(), "HOST")
    );
}
