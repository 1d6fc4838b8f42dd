//! Go `net/http` rules that a careless adaptor breaks, each found in review and pinned here:
//! Content-Length enforcement, hijacking a request with an unread body, the request context
//! outliving a finished body, and headers frozen at `WriteHeader`.

mod support;

use std::time::Duration;

use axum::{
    Router,
    routing::{any, get, head},
};
use compat::{Body, RequestExt, ResponseRecorder, ResponseWriter};
use http::{HeaderValue, Request, StatusCode, header};
use support::{Client, serve, within};
use tokio::{io::AsyncWriteExt, sync::mpsc};

/// Reports what a handler observed back to the test.
#[derive(Clone)]
struct Report(mpsc::UnboundedSender<String>);

fn report(r: &Request<Body>, what: impl Into<String>) {
    let report = r.extensions().get::<Report>().expect("router state");
    report.0.send(what.into()).unwrap();
}

async fn too_long(w: &mut dyn ResponseWriter, r: Request<Body>) {
    w.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from_static("5"));
    let first = w.write_all(b"hello").await;
    let second = w.write_all(b"WORLD").await;
    let second = second
        .err()
        .and_then(|e| compat::Error::from_io(&e).map(compat::Error::is_content_length));
    report(&r, format!("{:?} {:?}", first.is_ok(), second));
}

async fn after(w: &mut dyn ResponseWriter, _r: Request<Body>) {
    let _ = w.write_all(b"after").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_past_the_declared_length_fail_and_keep_alive_stays_in_sync() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let app = Router::new()
        .route("/long", get(compat::handler(too_long)))
        .route("/after", get(compat::handler(after)))
        .with_state(Report(tx));
    let addr = serve(app).await;
    let mut client = Client::connect(addr).await;
    client.send_head("GET", "/long", &[]).await;
    let head = client.read_head().await;
    assert_eq!(head.content_length(), Some(5), "{}", head.raw);
    assert_eq!(client.read_body(&head).await, b"hello");
    assert_eq!(
        within("report", rx.recv()).await.unwrap(),
        "true Some(true)"
    );
    // The next response on the same connection starts where it should.
    client.send_head("GET", "/after", &[]).await;
    let head = client.read_head().await;
    assert_eq!(head.status, 200, "{}", head.raw);
    assert_eq!(client.read_body(&head).await, b"after");
}

async fn too_short(w: &mut dyn ResponseWriter, _r: Request<Body>) {
    w.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from_static("10"));
    let _ = w.write_all(b"abc").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_shorter_than_declared_closes_the_connection() {
    let addr = serve(Router::new().route("/", get(compat::handler(too_short)))).await;
    let mut client = Client::connect(addr).await;
    client.send_head("GET", "/", &[]).await;
    // The connection is aborted: either before the head (hyper drops what it had queued) or
    // after fewer than the declared bytes. Never a response that looks complete.
    match within("head", client.try_read_head()).await {
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof, "{e}"),
        Ok(head) => {
            assert_eq!(head.content_length(), Some(10), "{}", head.raw);
            assert!(client.read_to_end().await.len() < 10);
        }
    }
}

async fn invalid_length(w: &mut dyn ResponseWriter, _r: Request<Body>) {
    w.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from_static("abc"));
    let _ = w.write_all(b"body").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_content_length_is_dropped() {
    let addr = serve(Router::new().route("/", get(compat::handler(invalid_length)))).await;
    let mut client = Client::connect(addr).await;
    client.send_head("GET", "/", &[]).await;
    let head = client.read_head().await;
    assert_eq!(head.content_length(), Some(4), "{}", head.raw);
    assert_eq!(client.read_body(&head).await, b"body");
}

async fn hijack_or_400(w: &mut dyn ResponseWriter, r: Request<Body>) {
    match w.hijack().await {
        Ok(_) => report(&r, "hijacked"),
        Err(e) => {
            report(&r, format!("body unread: {}", e.is_body_unread()));
            compat::http_error(w, "no", StatusCode::BAD_REQUEST).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hijacking_a_request_with_an_unread_body_fails_before_any_101() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let app = Router::new()
        .route("/", any(compat::handler(hijack_or_400)))
        .with_state(Report(tx));
    let addr = serve(app).await;
    for framing in [("content-length", "10"), ("transfer-encoding", "chunked")] {
        let mut client = Client::connect(addr).await;
        client
            .send_head(
                "POST",
                "/",
                &[("connection", "upgrade"), ("upgrade", "foo"), framing],
            )
            .await;
        let head = client.read_head().await;
        assert_eq!(head.status, 400, "{framing:?}: {}", head.raw);
        assert_eq!(
            within("report", rx.recv()).await.unwrap(),
            "body unread: true"
        );
    }
}

async fn flush_then_linger(w: &mut dyn ResponseWriter, r: Request<Body>) {
    match r.raw_query() {
        Some("length") => {
            w.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from_static("3"));
            let _ = w.write_all(b"abc").await;
        }
        Some("no-content") => w.write_header(StatusCode::NO_CONTENT),
        _ => {}
    }
    let _ = w.flush().await;
    // Work after the last byte: the client is still there, so the context must be too.
    tokio::time::sleep(Duration::from_millis(200)).await;
    report(&r, format!("cancelled: {}", r.context().is_cancelled()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_context_outlives_a_body_that_is_already_complete() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let app = Router::new()
        .route("/", get(compat::handler(flush_then_linger)))
        .route("/head", head(compat::handler(flush_then_linger)))
        .with_state(Report(tx));
    let addr = serve(app).await;
    for (method, path) in [
        ("GET", "/?length"),
        ("GET", "/?no-content"),
        ("HEAD", "/head"),
    ] {
        let mut client = Client::connect(addr).await;
        client.send_head(method, path, &[]).await;
        let head = client.read_head().await;
        assert!(head.status < 300, "{}", head.raw);
        assert_eq!(
            within("report", rx.recv()).await.unwrap(),
            "cancelled: false",
            "{method} {path}"
        );
        drop(client);
    }
}

async fn header_after_write(w: &mut dyn ResponseWriter, _r: Request<Body>) {
    w.headers_mut()
        .insert("x-before", HeaderValue::from_static("1"));
    let _ = w.write_all(b"body").await;
    w.headers_mut()
        .insert("x-after", HeaderValue::from_static("1"));
    assert_eq!(
        w.headers().get("x-after").unwrap(),
        "1",
        "edits stay readable"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_are_frozen_at_the_first_write_on_the_server_and_the_recorder() {
    let addr = serve(Router::new().route("/", get(compat::handler(header_after_write)))).await;
    let mut client = Client::connect(addr).await;
    client.send_head("GET", "/", &[]).await;
    let head = client.read_head().await;
    assert_eq!(head.header("x-before"), Some("1"), "{}", head.raw);
    assert_eq!(head.header("x-after"), None, "{}", head.raw);

    let mut recorder = ResponseRecorder::new();
    header_after_write(&mut recorder, Request::new(Body::empty())).await;
    let result = recorder.result();
    assert!(result.headers().contains_key("x-before"));
    assert!(!result.headers().contains_key("x-after"));
}

#[tokio::test]
async fn the_recorder_ignores_interim_statuses_like_the_server() {
    let mut recorder = ResponseRecorder::new();
    recorder.write_header(StatusCode::EARLY_HINTS);
    recorder.write_header(StatusCode::CREATED);
    assert_eq!(recorder.code(), StatusCode::CREATED);
}
