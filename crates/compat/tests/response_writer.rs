//! The server-side `ResponseWriter` over a real socket: the head, `write_header`, the implicit
//! 200, `Content-Length` versus chunked, flushing, HEAD, and statuses without a body.

mod support;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Extension, Router,
    routing::{any, get},
};
use bytes::Bytes;
use compat::{Body, ResponseWriter};
use http::{HeaderValue, Request, StatusCode, Version};
use http_body_util::{BodyExt, Empty};
use support::{Client, fetch_text, h2_connect, serve, within};
use tokio::{io::AsyncWriteExt, sync::Notify};

/// Set by a test to let a handler continue.
#[derive(Clone, Default)]
struct Gate(Arc<Notify>);

async fn after(w: &mut dyn ResponseWriter, _r: Request<Body>) {
    w.write_all(b"after").await.unwrap();
}

/// Sends a second request on the same connection and checks its response parses: proves the
/// previous response carried no stray body bytes.
async fn assert_connection_clean(client: &mut Client) {
    client.send_head("GET", "/after", &[]).await;
    let head = client.read_head().await;
    assert_eq!(head.status, 200, "{}", head.raw);
    assert_eq!(client.read_body(&head).await, b"after");
}

async fn headers_then_write(w: &mut dyn ResponseWriter, _r: Request<Body>) {
    w.headers_mut()
        .insert("x-custom", HeaderValue::from_static("set-before-write"));
    w.headers_mut()
        .append("x-multi", HeaderValue::from_static("a"));
    w.headers_mut()
        .append("x-multi", HeaderValue::from_static("b"));
    w.write_all(b"body").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_set_before_first_write_are_sent() {
    let addr = serve(Router::new().route("/", get(compat::handler(headers_then_write)))).await;
    let (head, body) = fetch_text(addr, "GET", "/").await;
    assert_eq!(head.status, 200);
    assert_eq!(head.header("x-custom"), Some("set-before-write"));
    let multi: Vec<_> = head
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("x-multi"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(multi, ["a", "b"]);
    assert_eq!(body, "body");
}

async fn late_header(w: &mut dyn ResponseWriter, _r: Request<Body>) {
    w.headers_mut()
        .insert("x-early", HeaderValue::from_static("1"));
    w.write_all(b"one").await.unwrap();
    w.flush().await.unwrap();
    // The head is on the wire: this must not show up anywhere.
    w.headers_mut()
        .insert("x-late", HeaderValue::from_static("1"));
    w.write_all(b"two").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_changed_after_the_head_is_committed_are_not_sent() {
    let addr = serve(Router::new().route("/", get(compat::handler(late_header)))).await;
    let mut client = Client::connect(addr).await;
    client.send_head("GET", "/", &[]).await;
    let head = client.read_head().await;
    assert_eq!(head.header("x-early"), Some("1"));
    assert!(!head.has("x-late"), "{}", head.raw);
    assert_eq!(client.read_chunked_body().await, b"onetwo");
}

async fn two_statuses(w: &mut dyn ResponseWriter, _r: Request<Body>) {
    w.write_header(StatusCode::CREATED);
    w.write_header(StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(w.status(), Some(StatusCode::CREATED));
    w.write_all(b"created").await.unwrap();
    w.write_header(StatusCode::BAD_GATEWAY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_write_header_call_wins() {
    let addr = serve(Router::new().route("/", get(compat::handler(two_statuses)))).await;
    let (head, body) = fetch_text(addr, "GET", "/").await;
    assert_eq!(head.status, 201, "{}", head.raw);
    assert_eq!(body, "created");
}

async fn implicit_ok(w: &mut dyn ResponseWriter, _r: Request<Body>) {
    assert_eq!(w.status(), None);
    w.write_all(b"ok").await.unwrap();
    assert_eq!(w.status(), Some(StatusCode::OK));
    // Too late: the first write implied 200.
    w.write_header(StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_write_implies_200() {
    let addr = serve(Router::new().route("/", get(compat::handler(implicit_ok)))).await;
    let (head, body) = fetch_text(addr, "GET", "/").await;
    assert_eq!(head.status, 200, "{}", head.raw);
    assert_eq!(body, "ok");
}

async fn nothing(_w: &mut dyn ResponseWriter, _r: Request<Body>) {}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_that_writes_nothing_sends_empty_200() {
    let addr = serve(Router::new().route("/", get(compat::handler(nothing)))).await;
    let (head, body) = fetch_text(addr, "GET", "/").await;
    assert_eq!(head.status, 200);
    assert_eq!(head.content_length(), Some(0), "{}", head.raw);
    assert!(!head.is_chunked());
    assert_eq!(body, "");
}

async fn small_body(w: &mut dyn ResponseWriter, _r: Request<Body>) {
    w.write_all(b"hello ").await.unwrap();
    w.write_all(b"world").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_unflushed_body_gets_content_length() {
    let addr = serve(Router::new().route("/", get(compat::handler(small_body)))).await;
    let (head, body) = fetch_text(addr, "GET", "/").await;
    assert_eq!(head.status, 200);
    assert_eq!(head.content_length(), Some(11), "{}", head.raw);
    assert!(!head.is_chunked(), "{}", head.raw);
    assert_eq!(body, "hello world");
}

async fn flush_then_wait(w: &mut dyn ResponseWriter, r: Request<Body>) {
    let gate = r.extensions().get::<Gate>().unwrap().clone();
    w.write_all(b"first").await.unwrap();
    w.flush().await.unwrap();
    gate.0.notified().await;
    w.write_all(b"second").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_streams_chunked_before_the_handler_returns() {
    let gate = Gate::default();
    let app = Router::new()
        .route("/", get(compat::handler(flush_then_wait)))
        .layer(Extension(gate.clone()));
    let addr = serve(app).await;
    let mut client = Client::connect(addr).await;
    client.send_head("GET", "/", &[]).await;
    let head = client.read_head().await;
    assert_eq!(head.status, 200);
    assert!(head.is_chunked(), "{}", head.raw);
    assert!(!head.has("content-length"), "{}", head.raw);
    // The handler is parked on the gate: this chunk can only come from the flush.
    assert_eq!(client.read_chunk().await.as_deref(), Some(&b"first"[..]));
    gate.0.notify_one();
    assert_eq!(client.read_chunk().await.as_deref(), Some(&b"second"[..]));
    assert_eq!(client.read_chunk().await, None);
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + (i % 26) as u8).collect()
}

async fn sized_body(w: &mut dyn ResponseWriter, r: Request<Body>) {
    let len: usize = r.uri().query().unwrap().parse().unwrap();
    // Several writes, none of them flushed.
    for piece in pattern(len).chunks(1000) {
        w.write_all(piece).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_of_exactly_the_buffer_size_gets_content_length() {
    let addr = serve(Router::new().route("/", get(compat::handler(sized_body)))).await;
    let mut client = Client::connect(addr).await;
    client.send_head("GET", "/?4096", &[]).await;
    let head = client.read_head().await;
    assert_eq!(head.content_length(), Some(4096), "{}", head.raw);
    assert!(!head.is_chunked());
    assert_eq!(client.read_body(&head).await, pattern(4096));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_larger_than_4k_streams_chunked_without_flush() {
    let addr = serve(Router::new().route("/", get(compat::handler(sized_body)))).await;
    for len in [4097, 100_000] {
        let mut client = Client::connect(addr).await;
        client.send_head("GET", &format!("/?{len}"), &[]).await;
        let head = client.read_head().await;
        assert_eq!(head.status, 200);
        assert!(head.is_chunked(), "len {len}: {}", head.raw);
        assert!(!head.has("content-length"), "len {len}: {}", head.raw);
        assert_eq!(client.read_chunked_body().await, pattern(len), "len {len}");
    }
}

async fn one_big_write(w: &mut dyn ResponseWriter, _r: Request<Body>) {
    w.write_all(&pattern(50_000)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_write_larger_than_4k_streams_chunked() {
    let addr = serve(Router::new().route("/", get(compat::handler(one_big_write)))).await;
    let mut client = Client::connect(addr).await;
    client.send_head("GET", "/", &[]).await;
    let head = client.read_head().await;
    assert!(head.is_chunked(), "{}", head.raw);
    assert_eq!(client.read_chunked_body().await, pattern(50_000));
}

async fn body_for_head(w: &mut dyn ResponseWriter, _r: Request<Body>) {
    w.headers_mut()
        .insert("x-handler", HeaderValue::from_static("ran"));
    w.write_all(b"hello world").await.unwrap();
    w.write_all(&pattern(10_000)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_request_gets_content_length_but_no_body() {
    let app = Router::new()
        .route("/", any(compat::handler(body_for_head)))
        .route("/after", get(compat::handler(after)));
    let addr = serve(app).await;
    let mut client = Client::connect(addr).await;
    client.send_head("HEAD", "/", &[]).await;
    let head = client.read_head().await;
    assert_eq!(head.status, 200);
    assert_eq!(head.header("x-handler"), Some("ran"));
    assert_eq!(head.content_length(), Some(11 + 10_000), "{}", head.raw);
    assert!(!head.is_chunked(), "{}", head.raw);
    assert_connection_clean(&mut client).await;
}

async fn no_body_status(w: &mut dyn ResponseWriter, r: Request<Body>) {
    let status: u16 = r.uri().query().unwrap().parse().unwrap();
    w.write_header(StatusCode::from_u16(status).unwrap());
    let err = w.write_all(b"must not be sent").await.unwrap_err();
    let outcome = match compat::Error::from_io(&err) {
        Some(e) if e.is_body_not_allowed() => "body-not-allowed".to_owned(),
        other => format!("unexpected: {other:?} / {err}"),
    };
    let report = r
        .extensions()
        .get::<Outcomes>()
        .expect("router state")
        .clone();
    report.0.send(outcome).unwrap();
}

/// Where `no_body_status` reports what its write returned.
#[derive(Clone)]
struct Outcomes(tokio::sync::mpsc::UnboundedSender<String>);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_content_and_not_modified_refuse_body_writes() {
    let (tx, mut outcomes) = tokio::sync::mpsc::unbounded_channel();
    let app = Router::new()
        .route("/", get(compat::handler(no_body_status)))
        .route("/after", get(compat::handler(after)))
        .with_state(Outcomes(tx));
    let addr = serve(app).await;
    for status in [204u16, 304] {
        let mut client = Client::connect(addr).await;
        client.send_head("GET", &format!("/?{status}"), &[]).await;
        let head = client.read_head().await;
        assert_eq!(head.status, status, "{}", head.raw);
        assert_eq!(
            within("write outcome", outcomes.recv()).await.as_deref(),
            Some("body-not-allowed")
        );
        assert!(!head.is_chunked(), "{}", head.raw);
        assert!(
            head.content_length().unwrap_or(0) == 0,
            "status {status}: {}",
            head.raw
        );
        assert_connection_clean(&mut client).await;
    }
}

async fn flush_no_content(w: &mut dyn ResponseWriter, _r: Request<Body>) {
    w.write_header(StatusCode::NO_CONTENT);
    w.flush().await.unwrap();
    let err = w.write_all(b"x").await.unwrap_err();
    assert!(compat::Error::from_io(&err).unwrap().is_body_not_allowed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flushed_no_content_response_stays_empty() {
    let app = Router::new()
        .route("/", get(compat::handler(flush_no_content)))
        .route("/after", get(compat::handler(after)));
    let addr = serve(app).await;
    let mut client = Client::connect(addr).await;
    client.send_head("GET", "/", &[]).await;
    let head = client.read_head().await;
    assert_eq!(head.status, 204, "{}", head.raw);
    assert!(!head.is_chunked(), "{}", head.raw);
    within(
        "204 then next request",
        assert_connection_clean(&mut client),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_serves_several_requests_on_one_connection() {
    let app = Router::new()
        .route("/small", get(compat::handler(small_body)))
        .route("/big", get(compat::handler(one_big_write)));
    let addr = serve(app).await;
    let mut client = Client::connect(addr).await;
    for _ in 0..3 {
        client.send_head("GET", "/small", &[]).await;
        let head = client.read_head().await;
        assert_eq!(client.read_body(&head).await, b"hello world");
        client.send_head("GET", "/big", &[]).await;
        let head = client.read_head().await;
        assert_eq!(client.read_body(&head).await, pattern(50_000));
    }
    client.expect_silence(Duration::from_millis(50)).await;
}

async fn early_hints_then_ok(w: &mut dyn ResponseWriter, _r: Request<Body>) {
    w.write_header(StatusCode::from_u16(103).unwrap());
    assert_eq!(w.status(), None, "1xx must not become the final status");
    w.write_header(StatusCode::ACCEPTED);
    w.write_all(b"final").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn informational_status_does_not_become_the_final_status() {
    let addr = serve(Router::new().route("/", get(compat::handler(early_hints_then_ok)))).await;
    let (head, body) = fetch_text(addr, "GET", "/").await;
    assert_eq!(head.status, 202, "{}", head.raw);
    assert_eq!(body, "final");
}

/// How many 64 KiB writes the backpressure handler has completed.
#[derive(Clone, Default)]
struct Progress(Arc<AtomicUsize>);

const BIG_WRITES: usize = 1024; // 64 MiB in all

async fn write_a_lot(w: &mut dyn ResponseWriter, r: Request<Body>) {
    let progress = r.extensions().get::<Progress>().unwrap().clone();
    let block = pattern(64 * 1024);
    for _ in 0..BIG_WRITES {
        if w.write_all(&block).await.is_err() {
            return;
        }
        progress.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_read_holds_the_handler_back() {
    let progress = Progress::default();
    let app = Router::new()
        .route("/", get(compat::handler(write_a_lot)))
        .layer(Extension(progress.clone()));
    let addr = serve(app).await;
    let mut client = Client::connect(addr).await;
    client.send_head("GET", "/", &[]).await;
    // Not reading: socket buffers and the writer's bounded channel fill up, then writes wait.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stalled_at = progress.0.load(Ordering::SeqCst);
    assert!(
        stalled_at < BIG_WRITES / 2,
        "handler wrote {stalled_at} of {BIG_WRITES} blocks to a client that reads nothing"
    );
    let head = client.read_head().await;
    assert!(head.is_chunked(), "{}", head.raw);
    let body = client.read_chunked_body().await;
    assert_eq!(body.len(), BIG_WRITES * 64 * 1024);
    assert_eq!(progress.0.load(Ordering::SeqCst), BIG_WRITES);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http2_a_flush_sends_data_before_the_handler_returns() {
    let gate = Gate::default();
    let app = Router::new()
        .route("/", get(compat::handler(flush_then_wait)))
        .route("/small", get(compat::handler(small_body)))
        .layer(Extension(gate.clone()));
    let addr = serve(app).await;
    let mut send = h2_connect::<Empty<Bytes>>(addr).await;

    let req = Request::get(format!("http://{addr}/small"))
        .body(Empty::new())
        .unwrap();
    let res = within("h2 small", send.send_request(req)).await.unwrap();
    assert_eq!(res.version(), Version::HTTP_2);
    assert_eq!(res.headers()["content-length"], "11");
    let body = within("h2 small body", res.into_body().collect())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(&body[..], b"hello world");

    let req = Request::get(format!("http://{addr}/"))
        .body(Empty::new())
        .unwrap();
    let res = within("h2 streamed", send.send_request(req)).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(!res.headers().contains_key("content-length"));
    let mut body = res.into_body();
    let first = within("first DATA", body.frame()).await.unwrap().unwrap();
    assert_eq!(first.data_ref().map(|b| &b[..]), Some(&b"first"[..]));
    gate.0.notify_one();
    let rest = within("rest", body.collect()).await.unwrap().to_bytes();
    assert_eq!(&rest[..], b"second");
}
