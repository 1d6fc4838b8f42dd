//! The server handshake over real loopback sockets: `axum::serve`, a handler
//! mounted with `compat::handler`, and raw HTTP/1.1 requests, so every status
//! and header is asserted exactly as a client sees it.

mod support;

use std::sync::{LazyLock, Mutex};

use axum::{Router, routing::any};
use compat::{Body, ResponseWriter};
use futures_util::{SinkExt, StreamExt};
use http::{HeaderMap, HeaderValue, Request, StatusCode};
use support::{RawResponse, request, send, serve};
use tokio_tungstenite::tungstenite;
use websocket::Upgrader;

const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

static DEFAULT: LazyLock<Upgrader> = LazyLock::new(Upgrader::new);

static PROTOCOLS: LazyLock<Upgrader> =
    LazyLock::new(|| Upgrader::new().subprotocols(["chat.v2", "chat.v1"]));

static HOOKED: LazyLock<Upgrader> = LazyLock::new(|| {
    Upgrader::new()
        .check_origin(|r| {
            r.headers()
                .get("origin")
                .is_some_and(|o| o == "https://app.example")
        })
        .error(|w, r, status, err| {
            let body = format!("{} {} {}", status.as_u16(), r.uri().path(), err);
            w.headers_mut()
                .insert("x-upgrade-error", HeaderValue::from_static("hook"));
            Box::pin(async move { compat::http_error(w, &body, StatusCode::IM_A_TEAPOT).await })
        })
});

/// Every upgrade error `echo` returned, for the assertions on its text (tests
/// run in parallel, so this is a log, not a slot).
static ERRORS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// The shape the DESIGN promises: a plain `async fn` handler holding the
/// request by value and awaiting the upgrade. That this compiles with
/// `compat::handler(echo)` proves the handler future is `Send`.
async fn echo(w: &mut dyn ResponseWriter, r: Request<Body>) {
    let conn = match DEFAULT.upgrade(w, &r, None).await {
        Ok(conn) => conn,
        Err(err) => {
            ERRORS.lock().unwrap().push(err.to_string());
            return;
        }
    };
    while let Ok((message_type, data)) = conn.read_message().await {
        if conn.write_message(message_type, &data).await.is_err() {
            break;
        }
    }
}

async fn protocols(w: &mut dyn ResponseWriter, r: Request<Body>) {
    let mut hdr = HeaderMap::new();
    hdr.append("set-cookie", HeaderValue::from_static("session=1"));
    // Ignored: the upgrader has its own list.
    hdr.append(
        "sec-websocket-protocol",
        HeaderValue::from_static("ignored"),
    );
    if let Ok(conn) = PROTOCOLS.upgrade(w, &r, Some(hdr)).await {
        let _ = conn.read_message().await;
    }
}

async fn app_protocol(w: &mut dyn ResponseWriter, r: Request<Body>) {
    // gorilla: with no Upgrader.Subprotocols, the application's header wins.
    let mut hdr = HeaderMap::new();
    hdr.insert("sec-websocket-protocol", HeaderValue::from_static("picked"));
    if let Ok(conn) = DEFAULT.upgrade(w, &r, Some(hdr)).await {
        let _ = conn.read_message().await;
    }
}

async fn app_extensions(w: &mut dyn ResponseWriter, r: Request<Body>) {
    let mut hdr = HeaderMap::new();
    hdr.insert(
        "sec-websocket-extensions",
        HeaderValue::from_static("x-foo"),
    );
    let _ = DEFAULT.upgrade(w, &r, Some(hdr)).await;
}

async fn hooked(w: &mut dyn ResponseWriter, r: Request<Body>) {
    if let Ok(conn) = HOOKED.upgrade(w, &r, None).await {
        let _ = conn.read_message().await;
    }
}

async fn app() -> std::net::SocketAddr {
    serve(
        Router::new()
            .route("/echo", any(compat::handler(echo)))
            .route("/protocols", any(compat::handler(protocols)))
            .route("/app-protocol", any(compat::handler(app_protocol)))
            .route("/app-extensions", any(compat::handler(app_extensions)))
            .route("/hooked", any(compat::handler(hooked))),
    )
    .await
}

const CONNECTION: &str = "Connection: Upgrade";
const UPGRADE: &str = "Upgrade: websocket";
const VERSION: &str = "Sec-WebSocket-Version: 13";
const KEY_LINE: &str = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==";

/// A valid upgrade request to `path` plus `extra` header lines.
async fn upgrade(path: &str, extra: &[&str]) -> RawResponse {
    upgrade_with(
        "GET",
        path,
        &[CONNECTION, UPGRADE, VERSION, KEY_LINE],
        extra,
    )
    .await
}

async fn upgrade_with(method: &str, path: &str, base: &[&str], extra: &[&str]) -> RawResponse {
    let addr = app().await;
    let lines: Vec<&str> = base.iter().chain(extra).copied().collect();
    send(addr, &request(method, path, &addr.to_string(), &lines)).await
}

/// gorilla's default error response: the status text as a plain-text body and
/// `Sec-WebSocket-Version: 13`.
fn assert_default_error(res: &RawResponse, status: StatusCode) {
    assert_eq!(res.status, status.as_u16(), "{res:?}");
    assert_eq!(res.header("sec-websocket-version"), Some("13"));
    assert_eq!(
        res.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(res.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(
        res.body_text(),
        format!("{}\n", status.canonical_reason().unwrap())
    );
    assert_eq!(res.header("sec-websocket-accept"), None);
}

/// A `101` with the RFC 6455 sample key's accept value.
///
/// This reads only the response head, so it passes whatever the handler does
/// after `upgrade` returns: it was written while `Conn::new` was a `todo!()`
/// (the `101` is on the wire before the panic). Now that `Conn` works,
/// `tungstenite_client_echo` covers the whole round trip.
fn assert_switching(res: &RawResponse) {
    assert_eq!(res.status, 101, "{res:?}");
    assert_eq!(res.header("upgrade"), Some("websocket"));
    assert_eq!(res.header("connection"), Some("Upgrade"));
    assert_eq!(res.header("sec-websocket-accept"), Some(ACCEPT));
    assert_eq!(res.header("sec-websocket-extensions"), None);
    assert_eq!(res.header("sec-websocket-version"), None);
}

fn error_seen(text: &str) -> bool {
    ERRORS.lock().unwrap().iter().any(|e| e == text)
}

#[tokio::test]
async fn missing_connection_upgrade_is_400() {
    let res = upgrade_with(
        "GET",
        "/echo",
        &["Connection: keep-alive", UPGRADE, VERSION, KEY_LINE],
        &[],
    )
    .await;
    assert_default_error(&res, StatusCode::BAD_REQUEST);
    assert_eq!(res.header("upgrade"), None);
}

#[tokio::test]
async fn missing_upgrade_is_426_with_upgrade_header() {
    let res = upgrade_with("GET", "/echo", &[CONNECTION, VERSION, KEY_LINE], &[]).await;
    assert_default_error(&res, StatusCode::UPGRADE_REQUIRED);
    assert_eq!(res.header("upgrade"), Some("websocket"));
    // Another protocol in Upgrade is the same failure.
    let res = upgrade_with(
        "GET",
        "/echo",
        &[CONNECTION, "Upgrade: h2c", VERSION, KEY_LINE],
        &[],
    )
    .await;
    assert_default_error(&res, StatusCode::UPGRADE_REQUIRED);
    assert_eq!(res.header("upgrade"), Some("websocket"));
}

#[tokio::test]
async fn post_is_405() {
    let res = upgrade_with(
        "POST",
        "/echo",
        &[CONNECTION, UPGRADE, VERSION, KEY_LINE, "Content-Length: 0"],
        &[],
    )
    .await;
    assert_default_error(&res, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn version_8_is_400_with_version_13() {
    let res = upgrade_with(
        "GET",
        "/echo",
        &[CONNECTION, UPGRADE, "Sec-WebSocket-Version: 8", KEY_LINE],
        &[],
    )
    .await;
    assert_default_error(&res, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn application_extensions_header_is_500() {
    let res = upgrade("/app-extensions", &[]).await;
    assert_default_error(&res, StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn foreign_origin_is_403() {
    let res = upgrade("/echo", &["Origin: http://evil.example"]).await;
    assert_default_error(&res, StatusCode::FORBIDDEN);
    // The port is part of the origin's host.
    let res = upgrade("/echo", &["Origin: http://127.0.0.1"]).await;
    assert_default_error(&res, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn same_origin_with_different_case_passes() {
    let res = upgrade_with(
        "GET",
        "/echo",
        &[
            CONNECTION,
            UPGRADE,
            VERSION,
            KEY_LINE,
            "Host: LocalHost:1234",
        ],
        &["Origin: http://localhost:1234"],
    )
    .await;
    assert_switching(&res);
}

#[tokio::test]
async fn key_of_15_bytes_is_400() {
    let res = upgrade_with(
        "GET",
        "/echo",
        &[
            CONNECTION,
            UPGRADE,
            VERSION,
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j",
        ],
        &[],
    )
    .await;
    assert_default_error(&res, StatusCode::BAD_REQUEST);
    let res = upgrade_with("GET", "/echo", &[CONNECTION, UPGRADE, VERSION], &[]).await;
    assert_default_error(&res, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn handler_sees_gorilla_error_text() {
    let cases: [(&[&str], &str); 3] = [
        (
            &["Connection: keep-alive", UPGRADE, VERSION, KEY_LINE],
            "websocket: the client is not using the websocket protocol: \
             'upgrade' token not found in 'Connection' header",
        ),
        (
            &[
                CONNECTION,
                UPGRADE,
                VERSION,
                KEY_LINE,
                "Origin: http://evil.example",
            ],
            "websocket: request origin not allowed by Upgrader.CheckOrigin",
        ),
        (
            &[CONNECTION, UPGRADE, VERSION],
            "websocket: not a websocket handshake: 'Sec-WebSocket-Key' header must be \
             Base64 encoded value of 16-byte in length",
        ),
    ];
    for (lines, text) in cases {
        let res = upgrade_with("GET", "/echo", lines, &[]).await;
        assert_ne!(res.status, 101);
        // The handler records the error right after the response; wait for it.
        let mut tries = 0;
        while !error_seen(text) {
            tries += 1;
            assert!(
                tries < 200,
                "never saw {text:?} in {:?}",
                ERRORS.lock().unwrap()
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}

#[tokio::test]
async fn custom_error_hook_is_used() {
    let res = upgrade("/hooked", &["Origin: http://evil.example"]).await;
    assert_eq!(res.status, 418);
    assert_eq!(res.header("x-upgrade-error"), Some("hook"));
    // The hook replaces the default response entirely.
    assert_eq!(res.header("sec-websocket-version"), None);
    assert_eq!(
        res.body_text(),
        "403 /hooked websocket: request origin not allowed by Upgrader.CheckOrigin\n"
    );
    // 426 keeps its Upgrade header with a hook too.
    let res = upgrade_with("GET", "/hooked", &[CONNECTION, VERSION, KEY_LINE], &[]).await;
    assert_eq!(res.status, 418);
    assert_eq!(res.header("upgrade"), Some("websocket"));
    assert!(res.body_text().starts_with("426 /hooked "), "{res:?}");
}

#[tokio::test]
async fn custom_check_origin() {
    let res = upgrade("/hooked", &["Origin: https://app.example"]).await;
    assert_switching(&res);
    // The hook replaces the same-origin rule: a same-origin request fails it.
    let addr = app().await;
    let origin = format!("Origin: http://{addr}");
    let res = send(
        addr,
        &request(
            "GET",
            "/hooked",
            &addr.to_string(),
            &[CONNECTION, UPGRADE, VERSION, KEY_LINE, &origin],
        ),
    )
    .await;
    assert_eq!(res.status, 418);
    assert!(res.body_text().starts_with("403 "));
}

#[tokio::test]
async fn switching_protocols_head() {
    // See `assert_switching`: head only, independent of `Conn`.
    let res = upgrade("/echo", &[]).await;
    assert_switching(&res);
    assert_eq!(res.header("sec-websocket-protocol"), None);
    // Token lists and case are as lenient as gorilla's.
    let res = upgrade_with(
        "GET",
        "/echo",
        &[
            "Connection: keep-alive, UPGRADE",
            "Upgrade: WebSocket",
            "Sec-WebSocket-Version: 8, 13",
            KEY_LINE,
        ],
        &[],
    )
    .await;
    assert_switching(&res);
}

#[tokio::test]
async fn subprotocol_is_the_clients_first_supported_one() {
    let res = upgrade(
        "/protocols",
        &["Sec-WebSocket-Protocol: mqtt, chat.v1, chat.v2"],
    )
    .await;
    assert_switching(&res);
    assert_eq!(res.header("sec-websocket-protocol"), Some("chat.v1"));
    assert_eq!(res.header("set-cookie"), Some("session=1"));
    let res = upgrade("/protocols", &["Sec-WebSocket-Protocol: mqtt"]).await;
    assert_switching(&res);
    assert_eq!(res.header("sec-websocket-protocol"), None);
    let res = upgrade("/app-protocol", &["Sec-WebSocket-Protocol: picked"]).await;
    assert_switching(&res);
    assert_eq!(res.header("sec-websocket-protocol"), Some("picked"));
}

#[tokio::test]
async fn plain_get_without_upgrade_headers_is_400_not_a_hang() {
    let res = upgrade_with("GET", "/echo", &[], &[]).await;
    assert_default_error(&res, StatusCode::BAD_REQUEST);
}

/// End to end with a third-party client. Unlike the tests above, this needs a
/// working `Conn` (the echo loop).
#[tokio::test]
async fn tungstenite_client_echo() {
    let addr = app().await;
    let (mut ws, res) = tokio_tungstenite::connect_async(format!("ws://{addr}/echo"))
        .await
        .expect("handshake");
    assert_eq!(res.status(), 101);
    ws.send(tungstenite::Message::text("hello")).await.unwrap();
    let reply = ws.next().await.unwrap().unwrap();
    assert_eq!(reply, tungstenite::Message::text("hello"));
    ws.send(tungstenite::Message::binary(vec![1, 2, 3]))
        .await
        .unwrap();
    let reply = ws.next().await.unwrap().unwrap();
    assert_eq!(reply, tungstenite::Message::binary(vec![1, 2, 3]));
    ws.close(None).await.unwrap();
}
