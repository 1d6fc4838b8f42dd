//! What a handler reads off the request: a streaming body, the peer address, `Host`, the raw
//! query, path values, and the cancellation context (Go's `r.Context()`).

mod support;

use std::time::Duration;

use axum::{
    Extension, Router,
    routing::{get, post},
};
use compat::{Body, RequestExt, ResponseWriter};
use http::Request;
use http_body_util::BodyExt;
use support::{Client, fetch_text, serve, serve_with_connect_info, within};
use tokio::{io::AsyncWriteExt, sync::mpsc};

async fn echo_frames(w: &mut dyn ResponseWriter, r: Request<Body>) {
    let mut body = r.into_body();
    while let Some(frame) = body.frame().await {
        let frame = frame.unwrap();
        if let Some(data) = frame.data_ref() {
            w.write_all(data).await.unwrap();
            w.flush().await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_body_streams_while_the_client_is_still_sending() {
    let addr = serve(Router::new().route("/echo", post(compat::handler(echo_frames)))).await;
    let mut client = Client::connect(addr).await;
    client
        .send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nfirst")
        .await;
    // The rest of the body is not sent yet: the handler must already have echoed the start.
    let head = client.read_head().await;
    assert_eq!(head.status, 200);
    assert!(head.is_chunked(), "{}", head.raw);
    assert_eq!(client.read_chunk().await.as_deref(), Some(&b"first"[..]));
    client.send("-half").await;
    assert_eq!(client.read_chunk().await.as_deref(), Some(&b"-half"[..]));
    client.send("!").await;
    assert_eq!(client.read_chunk().await.as_deref(), Some(&b"!"[..]));
    assert_eq!(client.read_chunk().await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_request_body_streams_too() {
    let addr = serve(Router::new().route("/echo", post(compat::handler(echo_frames)))).await;
    let mut client = Client::connect(addr).await;
    client
        .send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
        .await;
    let head = client.read_head().await;
    assert!(head.is_chunked(), "{}", head.raw);
    assert_eq!(client.read_chunk().await.as_deref(), Some(&b"abc"[..]));
    client.send("2\r\nde\r\n0\r\n\r\n").await;
    assert_eq!(client.read_chunk().await.as_deref(), Some(&b"de"[..]));
    assert_eq!(client.read_chunk().await, None);
}

async fn remote(w: &mut dyn ResponseWriter, r: Request<Body>) {
    let line = match r.remote_addr() {
        Some(addr) => addr.to_string(),
        None => "none".to_owned(),
    };
    w.write_all(line.as_bytes()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_addr_is_the_client_address_with_connect_info() {
    let addr =
        serve_with_connect_info(Router::new().route("/", get(compat::handler(remote)))).await;
    let mut client = Client::connect(addr).await;
    client.send_head("GET", "/", &[]).await;
    let head = client.read_head().await;
    let body = client.read_body(&head).await;
    assert_eq!(
        String::from_utf8(body).unwrap(),
        client.local_addr().to_string()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_addr_is_none_without_connect_info() {
    let addr = serve(Router::new().route("/", get(compat::handler(remote)))).await;
    let (_, body) = fetch_text(addr, "GET", "/").await;
    assert_eq!(body, "none");
}

async fn describe(w: &mut dyn ResponseWriter, r: Request<Body>) {
    let line = format!(
        "host={:?} query={:?} name={:?} missing={:?}",
        r.host(),
        r.raw_query(),
        r.path_value("name"),
        r.path_value("missing"),
    );
    w.write_all(line.as_bytes()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_raw_query_and_path_value() {
    let app = Router::new()
        .route("/u/{name}", get(compat::handler(describe)))
        .route_service("/s/{name}", compat::handler(describe))
        .route("/plain", get(compat::handler(describe)));
    let addr = serve(app).await;

    let mut client = Client::connect(addr).await;
    client
        .send_head(
            "GET",
            "/u/ann?x=1&y=a%20b",
            &[("Host", "example.test:8080")],
        )
        .await;
    let head = client.read_head().await;
    let body = String::from_utf8(client.read_body(&head).await).unwrap();
    assert_eq!(
        body,
        r#"host=Some("example.test:8080") query=Some("x=1&y=a%20b") name=Some("ann") missing=None"#
    );

    // Path values are percent-decoded (as Go's PathValue), and work under route_service.
    client.send_head("GET", "/s/a%20b", &[("Host", "h")]).await;
    let head = client.read_head().await;
    let body = String::from_utf8(client.read_body(&head).await).unwrap();
    assert_eq!(
        body,
        r#"host=Some("h") query=None name=Some("a b") missing=None"#
    );

    client.send_head("GET", "/plain", &[("Host", "h")]).await;
    let head = client.read_head().await;
    let body = String::from_utf8(client.read_body(&head).await).unwrap();
    assert_eq!(body, r#"host=Some("h") query=None name=None missing=None"#);
}

/// Where handlers report what they observed.
#[derive(Clone)]
struct Report(mpsc::UnboundedSender<String>);

fn report_channel() -> (Report, mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Report(tx), rx)
}

async fn next_report(rx: &mut mpsc::UnboundedReceiver<String>) -> String {
    within("handler report", rx.recv())
        .await
        .expect("report channel open")
}

async fn stream_until_cancelled(w: &mut dyn ResponseWriter, r: Request<Body>) {
    let report = r.extensions().get::<Report>().unwrap().clone();
    let ctx = r.context();
    // Bounded: 10 s of ticks at most.
    for _ in 0..1000 {
        tokio::select! {
            biased;
            _ = ctx.cancelled() => {
                // The response is gone too: a flushed write reports it.
                let flush = match w.write_all(b"late").await {
                    Ok(()) => w.flush().await,
                    Err(e) => Err(e),
                };
                let outcome = match flush {
                    Ok(()) => "ok",
                    Err(e) if compat::Error::from_io(&e).is_some_and(|e| e.is_closed()) => "closed",
                    Err(_) => "other error",
                };
                let _ = report.0.send(format!("cancelled, then write: {outcome}"));
                return;
            }
            _ = tokio::time::sleep(Duration::from_millis(10)) => {
                // Errors are expected once the client is gone; keep waiting for the context.
                let _ = w.write_all(b"tick").await;
                let _ = w.flush().await;
            }
        }
    }
    let _ = report.0.send("never cancelled".into());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_is_cancelled_when_the_client_disconnects_mid_stream() {
    let (report, mut reports) = report_channel();
    let app = Router::new()
        .route("/", get(compat::handler(stream_until_cancelled)))
        .layer(Extension(report));
    let addr = serve(app).await;
    let mut client = Client::connect(addr).await;
    client.send_head("GET", "/", &[]).await;
    let head = client.read_head().await;
    assert!(head.is_chunked(), "{}", head.raw);
    assert_eq!(client.read_chunk().await.as_deref(), Some(&b"tick"[..]));
    drop(client);
    assert_eq!(
        next_report(&mut reports).await,
        "cancelled, then write: closed"
    );
}

async fn wait_for_cancel(_w: &mut dyn ResponseWriter, r: Request<Body>) {
    let report = r.extensions().get::<Report>().unwrap().clone();
    let _ = report.0.send("started".into());
    let ctx = r.context();
    tokio::select! {
        _ = ctx.cancelled() => { let _ = report.0.send("cancelled".into()); }
        _ = tokio::time::sleep(Duration::from_secs(10)) => {
            let _ = report.0.send("never cancelled".into());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_is_cancelled_when_the_client_disconnects_before_the_response() {
    let (report, mut reports) = report_channel();
    let app = Router::new()
        .route("/", get(compat::handler(wait_for_cancel)))
        .layer(Extension(report));
    let addr = serve(app).await;
    let mut client = Client::connect(addr).await;
    client.send_head("GET", "/", &[]).await;
    assert_eq!(next_report(&mut reports).await, "started");
    drop(client);
    assert_eq!(next_report(&mut reports).await, "cancelled");
}

async fn spawn_watcher_and_return(w: &mut dyn ResponseWriter, r: Request<Body>) {
    let report = r.extensions().get::<Report>().unwrap().clone();
    let ctx = r.context();
    let live = if ctx.is_cancelled() {
        "cancelled-early"
    } else {
        "live"
    };
    tokio::spawn(async move {
        let outcome = tokio::select! {
            _ = ctx.cancelled() => "cancelled",
            _ = tokio::time::sleep(Duration::from_secs(10)) => "never cancelled",
        };
        let _ = report.0.send(outcome.into());
    });
    w.write_all(live.as_bytes()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_is_cancelled_when_the_handler_returns() {
    let (report, mut reports) = report_channel();
    let app = Router::new()
        .route("/", get(compat::handler(spawn_watcher_and_return)))
        .layer(Extension(report));
    let addr = serve(app).await;
    // Keep the connection open: the cancellation must come from the handler returning.
    let mut client = Client::connect(addr).await;
    client.send_head("GET", "/", &[]).await;
    let head = client.read_head().await;
    assert_eq!(client.read_body(&head).await, b"live");
    assert_eq!(next_report(&mut reports).await, "cancelled");
    client.expect_silence(Duration::from_millis(20)).await;
}
