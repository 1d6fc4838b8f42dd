//! Go-style `net/http` handlers on axum.
//!
//! A Go service written against `net/http` has handlers of the shape
//! `func(w http.ResponseWriter, r *http.Request)`; Hertz runs them through
//! `adaptor.HertzHandler`. This crate is that adaptor for axum: a handler takes a
//! [`&mut dyn ResponseWriter`](ResponseWriter) and an [`http::Request`], and [`handler`] mounts
//! it on a route.
//!
//! | Go | here |
//! |---|---|
//! | `func(w http.ResponseWriter, r *http.Request)` | `async fn(w: &mut dyn ResponseWriter, r: Request<Body>)` |
//! | `adaptor.HertzHandler(http.HandlerFunc(h))` | [`handler(h)`](handler) |
//! | `http.Handler` / `http.HandlerFunc` | [`Handler`] / [`HandlerFunc`] |
//! | `w.Header()`, `w.WriteHeader(code)`, `w.Write(p)` | [`headers_mut`](ResponseWriter::headers_mut), [`write_header`](ResponseWriter::write_header), `AsyncWriteExt::write_all` |
//! | `http.Flusher` | `AsyncWriteExt::flush` |
//! | `http.Hijacker` | [`hijack`](ResponseWriter::hijack) → [`Hijacked`] |
//! | `r.Context()`, `r.RemoteAddr`, `r.Host`, `r.PathValue` | [`RequestExt`] |
//! | `http.Error` | [`http_error`] |
//! | `httptest.ResponseRecorder` | [`ResponseRecorder`] |
//!
//! # Example
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use compat::{Body, RequestExt, ResponseWriter};
//! use http::{Request, header};
//! use tokio::io::AsyncWriteExt;
//!
//! async fn home(w: &mut dyn ResponseWriter, r: Request<Body>) {
//!     w.headers_mut()
//!         .insert(header::CONTENT_TYPE, "text/plain; charset=utf-8".parse().unwrap());
//!     let greeting = format!("hello from {}\n", r.host().unwrap_or("nowhere"));
//!     let _ = w.write_all(greeting.as_bytes()).await;
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let app = Router::new().route("/", get(compat::handler(home)));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await
//! # }
//! ```
//!
//! # How a request runs
//!
//! The axum side resolves as soon as the handler commits the response head (first flush, a body
//! larger than the 4 KiB buffer, a hijack, or return). A handler that is still running then
//! goes on in a task of its own, so it can stream for as long as it likes, and a hijack works:
//! hyper completes an upgrade only after the response was handed to it. Until then the handler
//! runs inside the response future, so the common handler that writes a small body and returns
//! costs no task spawn (as much as a native axum handler).
//!
//! * A handler that panics before committing the head produces `500 Internal Server Error`;
//!   after, the connection is aborted (a chunked body is never terminated cleanly). The
//!   server keeps serving.
//! * The request's [`Context`] is cancelled when the client disconnects, when the response is
//!   dropped before it was fully sent, and when the handler returns (or panics).
//! * Hijacking needs hyper's `OnUpgrade`, which hyper attaches only to requests with an
//!   `Upgrade` header and to CONNECT requests (HTTP/2 extended CONNECT included, which
//!   `axum::serve` enables). Hijacking any other request fails at once with
//!   [`Error::is_not_upgradable`]; hijacking an HTTP/1 request whose body was not read fails
//!   with [`Error::is_body_unread`] (hyper would hand over the connection only after the body).
//! * The handler task runs inside the request's tracing span.
//!
//! # Differences from Go
//!
//! The rules Go handlers rely on hold: the first `write_header` wins and fixes the headers
//! (edits after it are not sent), an invalid `Content-Length` is dropped and writes past a
//! valid one fail with [`Error::is_content_length`], HEAD/204/304 send no body. What does not
//! carry over:
//!
//! * No `Content-Type` sniffing: set the header yourself.
//! * No trailers, and no interim (1xx) responses other than the `101` of a hijack: a
//!   `write_header(103)` is ignored with a warning.
//! * A body shorter than its declared `Content-Length` aborts the connection, possibly before
//!   the head went out (Go sends the partial body, then closes).
//! * `shutdown` only flushes; the response ends when the handler returns.
//! * There is no accept loop of this crate's own: `axum::serve` (or any hyper server with
//!   upgrades enabled) serves the handlers, so Go's server knobs are hyper's, and a hijack is
//!   always an upgrade, never a raw takeover of an arbitrary request.

mod adaptor;
mod body;
mod error;
mod hijack;
mod http_error;
mod recorder;
mod request;
mod server_writer;
mod writer;

pub use adaptor::{
    BoxFuture, Handler, HandlerFunc, HandlerService, InfallibleFuture, ResponseFuture, handler,
};
pub use error::Error;
pub use hijack::{Hijacked, HijackedIo, HijackedReadHalf, HijackedWriteHalf};
pub use http_error::http_error;
pub use recorder::ResponseRecorder;
pub use request::{Context, PathParams, RemoteAddr, RequestExt};
pub use writer::{HijackFuture, ResponseWriter};

/// The request body type handlers receive: axum's streaming body.
pub type Body = axum::body::Body;
