//! `compat::http_error` (Go's `http.Error`) from a real handler, checked on the wire.

mod support;

use axum::{Router, routing::get};
use compat::{Body, ResponseWriter};
use http::{HeaderValue, Request, StatusCode};
use support::{fetch_text, serve};

async fn forbidden(w: &mut dyn ResponseWriter, _r: Request<Body>) {
    // Go's http.Error drops these; a stale Content-Length would corrupt the response.
    w.headers_mut()
        .insert("content-length", HeaderValue::from_static("999"));
    w.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    w.headers_mut()
        .insert("x-kept", HeaderValue::from_static("1"));
    compat::http_error(w, "Origin not allowed", StatusCode::FORBIDDEN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_error_sends_status_plain_text_nosniff_and_a_newline() {
    let addr = serve(Router::new().route("/", get(compat::handler(forbidden)))).await;
    let (head, body) = fetch_text(addr, "GET", "/").await;
    assert_eq!(head.status, 403, "{}", head.raw);
    assert_eq!(
        head.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(head.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(head.header("x-kept"), Some("1"));
    assert_eq!(head.content_length(), Some("Origin not allowed\n".len()));
    assert_eq!(body, "Origin not allowed\n");
}
