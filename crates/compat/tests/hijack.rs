//! `ResponseWriter::hijack` over real sockets: HTTP/1.1 `Upgrade` (101) and HTTP/2 extended
//! CONNECT (RFC 8441), pipelined bytes, the error cases, and what reaches the wire.

mod support;

use std::time::Duration;

use axum::{
    Extension, Router,
    routing::{any, get},
};
use bytes::Bytes;
use compat::{Body, Error, Hijacked, RequestExt, ResponseWriter};
use http::{HeaderValue, Method, Request, StatusCode};
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use support::{Client, h2_connect, request_head, serve, within};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    sync::mpsc,
};

const UPGRADE: &[(&str, &str)] = &[("Connection", "Upgrade"), ("Upgrade", "echo")];

fn kind(err: &Error) -> &'static str {
    if err.is_not_upgradable() {
        "not-upgradable"
    } else if err.is_already_hijacked() {
        "already-hijacked"
    } else if err.is_head_committed() {
        "head-committed"
    } else if err.is_hijacked() {
        "hijacked"
    } else if err.is_body_not_allowed() {
        "body-not-allowed"
    } else if err.is_upgrade() {
        "upgrade"
    } else if err.is_closed() {
        "closed"
    } else {
        "unknown"
    }
}

fn io_kind(err: &std::io::Error) -> &'static str {
    Error::from_io(err).map_or("not-a-compat-error", kind)
}

/// Echoes everything until EOF.
async fn echo(mut conn: Hijacked) {
    let mut buf = [0u8; 1024];
    loop {
        match conn.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if conn.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn hijack_and_echo(w: &mut dyn ResponseWriter, _r: Request<Body>) {
    w.headers_mut()
        .insert("upgrade", HeaderValue::from_static("echo"));
    w.headers_mut()
        .insert("connection", HeaderValue::from_static("Upgrade"));
    w.headers_mut()
        .insert("x-before-hijack", HeaderValue::from_static("yes"));
    let conn = w.hijack().await.expect("hijack");
    echo(conn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hijack_sends_101_with_the_headers_set_before_it_and_echoes() {
    let addr = serve(Router::new().route("/echo", get(compat::handler(hijack_and_echo)))).await;
    let mut client = Client::connect(addr).await;
    client.send_head("GET", "/echo", UPGRADE).await;
    let head = client.read_head().await;
    assert_eq!(head.status, 101, "{}", head.raw);
    assert_eq!(head.header("x-before-hijack"), Some("yes"), "{}", head.raw);
    assert_eq!(head.header("upgrade"), Some("echo"), "{}", head.raw);
    assert!(!head.is_chunked(), "{}", head.raw);
    assert!(!head.has("content-length"), "{}", head.raw);
    for msg in ["ping", "a longer message", "x"] {
        client.send(msg).await;
        assert_eq!(client.read_exact(msg.len()).await, msg.as_bytes());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_pipelined_behind_the_request_head_reach_the_hijacker() {
    let addr = serve(Router::new().route("/echo", get(compat::handler(hijack_and_echo)))).await;
    let mut client = Client::connect(addr).await;
    // One write: the head and the first bytes of the new protocol.
    let mut first = request_head("GET", "/echo", UPGRADE).into_bytes();
    first.extend_from_slice(b"early-bytes");
    client.send(first).await;
    let head = client.read_head().await;
    assert_eq!(head.status, 101, "{}", head.raw);
    assert_eq!(client.read_exact(11).await, b"early-bytes");
    client.send("later").await;
    assert_eq!(client.read_exact(5).await, b"later");
}

async fn hijack_twice_then_write(w: &mut dyn ResponseWriter, _r: Request<Body>) {
    let mut conn = w.hijack().await.expect("first hijack");
    let second = match w.hijack().await {
        Ok(_) => "ok",
        Err(e) => kind(&e),
    };
    let write = match w.write_all(b"LEAK-WRITE").await {
        Ok(()) => "ok",
        Err(e) => io_kind(&e),
    };
    let flush = match w.flush().await {
        Ok(()) => "ok",
        Err(e) => io_kind(&e),
    };
    let shutdown = match w.shutdown().await {
        Ok(()) => "ok",
        Err(e) => io_kind(&e),
    };
    w.headers_mut()
        .insert("x-leak", HeaderValue::from_static("LEAK-HEADER"));
    w.write_header(StatusCode::INTERNAL_SERVER_ERROR);
    let line = format!("second={second} write={write} flush={flush} shutdown={shutdown}\n");
    conn.write_all(line.as_bytes()).await.unwrap();
    conn.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_hijack_a_second_hijack_and_writes_fail_and_nothing_leaks() {
    let addr = serve(Router::new().route("/", get(compat::handler(hijack_twice_then_write)))).await;
    let mut client = Client::connect(addr).await;
    client.send_head("GET", "/", UPGRADE).await;
    let head = client.read_head().await;
    assert_eq!(head.status, 101, "{}", head.raw);
    assert!(!head.has("x-leak"));
    // Everything after the 101 head, up to EOF, is what the handler wrote to the hijacked
    // connection: the writer's writes, headers and status put no byte on the wire.
    let rest = String::from_utf8(client.read_to_end().await).unwrap();
    assert_eq!(
        rest,
        "second=already-hijacked write=hijacked flush=hijacked shutdown=hijacked\n"
    );
}

#[derive(Clone)]
struct Report(mpsc::UnboundedSender<String>);

async fn hijack_spawn_and_return(w: &mut dyn ResponseWriter, r: Request<Body>) {
    let report = r.extensions().get::<Report>().unwrap().clone();
    let ctx = r.context();
    let conn = w.hijack().await.expect("hijack");
    tokio::spawn(async move {
        // The context ends when the handler has returned: only then start echoing, so every
        // byte the client gets back was handled after the handler was gone.
        ctx.cancelled().await;
        let _ = report.0.send("handler returned".into());
        echo(conn).await;
        let _ = report.0.send("echo done".into());
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hijacked_connection_keeps_working_after_the_handler_returned() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let app = Router::new()
        .route("/", get(compat::handler(hijack_spawn_and_return)))
        .layer(Extension(Report(tx)));
    let addr = serve(app).await;
    let mut client = Client::connect(addr).await;
    client.send_head("GET", "/", UPGRADE).await;
    let head = client.read_head().await;
    assert_eq!(head.status, 101, "{}", head.raw);
    assert_eq!(
        within("handler return", rx.recv()).await.as_deref(),
        Some("handler returned")
    );
    for msg in ["one", "two", "three"] {
        client.send(msg).await;
        assert_eq!(client.read_exact(msg.len()).await, msg.as_bytes());
    }
    drop(client);
    assert_eq!(
        within("echo end", rx.recv()).await.as_deref(),
        Some("echo done")
    );
}

async fn hijack_plain_get(w: &mut dyn ResponseWriter, _r: Request<Body>) {
    let outcome = match tokio::time::timeout(Duration::from_secs(2), w.hijack()).await {
        Ok(Ok(_)) => "hijacked".to_owned(),
        Ok(Err(e)) => kind(&e).to_owned(),
        Err(_) => "hung".to_owned(),
    };
    w.headers_mut()
        .insert("x-hijack", HeaderValue::from_str(&outcome).unwrap());
    w.write_header(StatusCode::BAD_REQUEST);
    w.write_all(b"not an upgrade").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hijack_without_upgrade_fails_promptly_and_the_response_still_works() {
    let app = Router::new().route("/", get(compat::handler(hijack_plain_get)));
    let addr = serve(app).await;
    let mut client = Client::connect(addr).await;
    let started = std::time::Instant::now();
    client.send_head("GET", "/", &[]).await;
    let head = client.read_head().await;
    assert!(started.elapsed() < Duration::from_secs(1), "not prompt");
    assert_eq!(head.status, 400, "{}", head.raw);
    assert_eq!(head.header("x-hijack"), Some("not-upgradable"));
    assert_eq!(client.read_body(&head).await, b"not an upgrade");
    // The connection is still a normal keep-alive HTTP connection.
    client.send_head("GET", "/", &[]).await;
    let head = client.read_head().await;
    assert_eq!(head.status, 400, "{}", head.raw);
    assert_eq!(client.read_body(&head).await, b"not an upgrade");
}

async fn flush_then_hijack(w: &mut dyn ResponseWriter, _r: Request<Body>) {
    w.write_all(b"started").await.unwrap();
    w.flush().await.unwrap();
    let outcome = match w.hijack().await {
        Ok(_) => "hijacked",
        Err(e) => kind(&e),
    };
    w.write_all(outcome.as_bytes()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hijack_after_the_body_started_fails_with_head_committed() {
    let addr = serve(Router::new().route("/", get(compat::handler(flush_then_hijack)))).await;
    let mut client = Client::connect(addr).await;
    client.send_head("GET", "/", UPGRADE).await;
    let head = client.read_head().await;
    assert_eq!(head.status, 200, "{}", head.raw);
    assert!(head.is_chunked(), "{}", head.raw);
    assert_eq!(client.read_chunked_body().await, b"startedhead-committed");
}

async fn report_conn(w: &mut dyn ResponseWriter, r: Request<Body>) {
    let from_request = r.remote_addr();
    let mut conn = w.hijack().await.expect("hijack");
    let line = format!(
        "tcp={} tcp_peer={:?} local={:?} remote={:?} request_remote={:?}\n",
        conn.tcp_stream().is_some(),
        conn.tcp_stream().and_then(|s| s.peer_addr().ok()),
        conn.local_addr(),
        conn.remote_addr(),
        from_request,
    );
    conn.write_all(line.as_bytes()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hijack_under_axum_serve_yields_the_raw_tcp_stream_with_addresses() {
    let addr = serve(Router::new().route("/", get(compat::handler(report_conn)))).await;
    let mut client = Client::connect(addr).await;
    client.send_head("GET", "/", UPGRADE).await;
    let head = client.read_head().await;
    assert_eq!(head.status, 101, "{}", head.raw);
    let me = client.local_addr();
    let line = String::from_utf8(client.read_to_end().await).unwrap();
    assert_eq!(
        line,
        format!(
            "tcp=true tcp_peer=Some({me}) local=Some({addr}) remote=Some({me}) \
             request_remote=None\n"
        )
    );
}

// ---- HTTP/2 extended CONNECT (RFC 8441) ----

async fn tunnel(w: &mut dyn ResponseWriter, r: Request<Body>) {
    let is_connect = r.method() == Method::CONNECT;
    let protocol = r
        .extensions()
        .get::<hyper::ext::Protocol>()
        .map(|p| p.as_str().to_owned());
    w.headers_mut()
        .insert("x-before-hijack", HeaderValue::from_static("h2"));
    let mut conn = w.hijack().await.expect("hijack extended CONNECT");
    let hello = format!(
        "connect={is_connect} protocol={protocol:?} tcp={} version={:?}\n",
        conn.tcp_stream().is_some(),
        r.version(),
    );
    conn.write_all(hello.as_bytes()).await.unwrap();
    conn.flush().await.unwrap();
    echo(conn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_extended_connect_hijack_tunnels_bytes_both_ways() {
    let addr = serve(Router::new().route("/tunnel", any(compat::handler(tunnel)))).await;
    let mut send = h2_connect::<Empty<Bytes>>(addr).await;
    let mut req = Request::builder()
        .method(Method::CONNECT)
        .uri(format!("http://{addr}/tunnel"))
        .body(Empty::<Bytes>::new())
        .unwrap();
    req.extensions_mut()
        .insert(hyper::ext::Protocol::from_static("websocket"));
    let res = within("CONNECT response", send.send_request(req))
        .await
        .expect("extended CONNECT accepted");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.version(), http::Version::HTTP_2);
    assert_eq!(res.headers()["x-before-hijack"], "h2");
    let upgraded = within("client upgrade", hyper::upgrade::on(res))
        .await
        .expect("client side upgrade");
    let mut stream = BufReader::new(TokioIo::new(upgraded));

    let mut hello = String::new();
    within("tunnel hello", stream.read_line(&mut hello))
        .await
        .unwrap();
    assert_eq!(
        hello,
        "connect=true protocol=Some(\"websocket\") tcp=false version=HTTP/2.0\n"
    );
    for msg in ["over h2", "and back again"] {
        within("tunnel write", stream.get_mut().write_all(msg.as_bytes()))
            .await
            .unwrap();
        let mut got = vec![0; msg.len()];
        within("tunnel read", stream.read_exact(&mut got))
            .await
            .unwrap();
        assert_eq!(got, msg.as_bytes());
    }
}

async fn h2_plain_hijack(w: &mut dyn ResponseWriter, _r: Request<Body>) {
    let outcome = match tokio::time::timeout(Duration::from_secs(2), w.hijack()).await {
        Ok(Ok(_)) => "hijacked".to_owned(),
        Ok(Err(e)) => kind(&e).to_owned(),
        Err(_) => "hung".to_owned(),
    };
    w.write_all(outcome.as_bytes()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_hijack_of_a_plain_request_is_not_upgradable() {
    use http_body_util::BodyExt;
    let addr = serve(Router::new().route("/", get(compat::handler(h2_plain_hijack)))).await;
    let mut send = h2_connect::<Empty<Bytes>>(addr).await;
    let req = Request::get(format!("http://{addr}/"))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let res = within("h2 GET", send.send_request(req)).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body = within("h2 body", res.into_body().collect())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(&body[..], b"not-upgradable");
}

async fn reject_upgrade(w: &mut dyn ResponseWriter, _r: Request<Body>) {
    // What an upgrader does when the origin check fails: answer normally, never hijack.
    compat::http_error(w, "Forbidden", StatusCode::FORBIDDEN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_request_answered_without_hijack_gets_a_normal_response() {
    let addr = serve(Router::new().route("/", get(compat::handler(reject_upgrade)))).await;
    let mut client = Client::connect(addr).await;
    client.send_head("GET", "/", UPGRADE).await;
    let head = client.read_head().await;
    assert_eq!(head.status, 403, "{}", head.raw);
    assert_eq!(client.read_body(&head).await, b"Forbidden\n");
    // The connection is not switched: it still speaks HTTP.
    client.send_head("GET", "/", &[]).await;
    let head = client.read_head().await;
    assert_eq!(head.status, 403, "{}", head.raw);
    assert_eq!(client.read_body(&head).await, b"Forbidden\n");
}
