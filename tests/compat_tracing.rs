//! A compat handler runs in a task of its own, but its logs still belong to the request's span
//! (the one a `TraceLayer` or a middleware opened), as an axum handler's do.

use axum::{Router, extract::Request, middleware::Next, routing::get};
use compat::{Body, ResponseWriter};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::Instrument;

async fn span_name(w: &mut dyn ResponseWriter, _r: http::Request<Body>) {
    let name = tracing::Span::current()
        .metadata()
        .map_or("<none>", |m| m.name());
    let _ = w.write_all(name.as_bytes()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_runs_inside_the_request_span() {
    // Spans only exist with a subscriber; this one discards everything.
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(std::io::sink)
        .try_init();
    let app = Router::new()
        .route("/", get(compat::handler(span_name)))
        .layer(axum::middleware::from_fn(
            |req: Request, next: Next| async move {
                next.run(req)
                    .instrument(tracing::info_span!("request"))
                    .await
            },
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        stream.read_to_string(&mut response),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(response.ends_with("\r\n\r\nrequest"), "{response}");
}
