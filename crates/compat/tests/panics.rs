//! A panicking handler: before the head is committed the client gets a 500; after, the
//! connection is aborted so a truncated body never looks complete. Either way the server keeps
//! serving.

mod support;

use std::time::Duration;

use axum::{Extension, Router, routing::get};
use compat::{Body, RequestExt, ResponseWriter};
use http::{HeaderValue, Request};
use support::{Client, fetch_text, serve, within};
use tokio::{io::AsyncWriteExt, sync::mpsc};

async fn ok(w: &mut dyn ResponseWriter, _r: Request<Body>) {
    w.write_all(b"still serving").await.unwrap();
}

async fn panic_early(w: &mut dyn ResponseWriter, _r: Request<Body>) {
    // Set but never sent: the 500 is the adaptor's, not this handler's head.
    w.headers_mut()
        .insert("x-from-handler", HeaderValue::from_static("1"));
    w.write_all(b"buffered, never sent").await.unwrap();
    panic!("boom before the head");
}

async fn panic_after_flush(w: &mut dyn ResponseWriter, _r: Request<Body>) {
    w.write_all(b"partial").await.unwrap();
    w.flush().await.unwrap();
    // Give hyper time to put the chunk on the wire first.
    tokio::time::sleep(Duration::from_millis(20)).await;
    panic!("boom after the flush");
}

fn app() -> Router {
    Router::new()
        .route("/early", get(compat::handler(panic_early)))
        .route("/late", get(compat::handler(panic_after_flush)))
        .route("/ok", get(compat::handler(ok)))
}

async fn assert_still_serving(addr: std::net::SocketAddr) {
    let (head, body) = fetch_text(addr, "GET", "/ok").await;
    assert_eq!(head.status, 200);
    assert_eq!(body, "still serving");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panic_before_writing_gives_500_and_the_server_keeps_serving() {
    let addr = serve(app()).await;
    for _ in 0..2 {
        let (head, body) = fetch_text(addr, "GET", "/early").await;
        assert_eq!(head.status, 500, "{}", head.raw);
        assert!(!head.has("x-from-handler"), "{}", head.raw);
        assert!(!body.contains("buffered"), "{body}");
        assert_still_serving(addr).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panic_after_flush_aborts_the_connection_and_the_server_keeps_serving() {
    let addr = serve(app()).await;
    for _ in 0..2 {
        let mut client = Client::connect(addr).await;
        client.send_head("GET", "/late", &[]).await;
        let head = client.read_head().await;
        assert_eq!(head.status, 200, "{}", head.raw);
        assert!(head.is_chunked(), "{}", head.raw);
        assert_eq!(client.read_chunk().await.as_deref(), Some(&b"partial"[..]));
        // The body must not end cleanly: no terminating zero-size chunk, just EOF or reset.
        match client.try_read_chunk().await {
            Err(_) => {}
            Ok(next) => panic!("expected the connection to abort, got chunk {next:?}"),
        }
        assert_still_serving(addr).await;
    }
}

#[derive(Clone)]
struct Report(mpsc::UnboundedSender<&'static str>);

async fn watch_then_panic(_w: &mut dyn ResponseWriter, r: Request<Body>) {
    let report = r.extensions().get::<Report>().unwrap().clone();
    let ctx = r.context();
    tokio::spawn(async move {
        let outcome = tokio::select! {
            _ = ctx.cancelled() => "cancelled",
            _ = tokio::time::sleep(Duration::from_secs(10)) => "never cancelled",
        };
        let _ = report.0.send(outcome);
    });
    panic!("boom with a watcher");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_is_cancelled_when_the_handler_panics() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let app = Router::new()
        .route("/", get(compat::handler(watch_then_panic)))
        .layer(Extension(Report(tx)));
    let addr = serve(app).await;
    // Keep the connection open so only the panic can end the context.
    let mut client = Client::connect(addr).await;
    client.send_head("GET", "/", &[]).await;
    let head = client.read_head().await;
    assert_eq!(head.status, 500, "{}", head.raw);
    assert_eq!(within("watcher", rx.recv()).await, Some("cancelled"));
    drop(client);
}
