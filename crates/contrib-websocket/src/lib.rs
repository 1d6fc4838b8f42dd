//! **Deprecated.** `hertz-contrib/websocket`'s server API on axum, kept so that code written
//! against it compiles and behaves as before while it is migrated. New code: use
//! [`websocket::Upgrader`] through [`compat::handler`]; the repository's `MIGRATION.md` says how,
//! field by field.
//!
//! Hertz once shipped WebSockets as this contrib middleware and has since deprecated it in
//! favour of the official gorilla/websocket behind its net/http adaptor. This crate is the Rust
//! counterpart of the deprecated middleware: every public item carries `#[deprecated]`, so
//! legacy code builds with warnings that point at the guide.
//!
//! | hertz-contrib/websocket | here | new path |
//! |---|---|---|
//! | `websocket.HertzUpgrader{...}` | [`HertzUpgrader`] (same fields, snake_case) | [`websocket::Upgrader`] |
//! | `func(ctx context.Context, c *app.RequestContext)` | `async fn(c: `[`RequestContext`]`) -> Response` | `async fn(w: &mut dyn ResponseWriter, r: Request<Body>)` |
//! | `upgrader.Upgrade(c, func(conn *websocket.Conn) {...})` | [`upgrader.upgrade(&mut c, \|conn\| async move {...})`](HertzUpgrader::upgrade) | `upgrader.upgrade(w, &r, None).await` returns the `Conn` |
//! | `h.GET("/echo", echo)` | `.route("/echo", get(echo))` | `.route("/echo", any(compat::handler(echo)))` |
//! | `h.NoHijackConnPool = true` | [`router.no_hijack_conn_pool(true)`](NoHijackConnPool) (a no-op) | nothing |
//! | `websocket.BufferPool` | [`BufferPool`] | [`websocket::BufferPool`] |
//! | `*websocket.Conn`, `websocket.TextMessage` | [`Conn`], [`MessageType`] | [`websocket::Conn`], [`websocket::MessageType`] |
//!
//! # Example
//!
//! Hertz's echo server, on axum:
//!
//! ```no_run
//! # #![allow(deprecated)]
//! use std::sync::LazyLock;
//!
//! use axum::{Router, response::Response, routing::get};
//! use contrib_websocket::{HertzUpgrader, NoHijackConnPool, RequestContext};
//!
//! static UPGRADER: LazyLock<HertzUpgrader> = LazyLock::new(HertzUpgrader::default);
//!
//! async fn echo(mut c: RequestContext) -> Response {
//!     let result = UPGRADER
//!         .upgrade(&mut c, |conn| async move {
//!             while let Ok((mt, message)) = conn.read_message().await {
//!                 if conn.write_message(mt, &message).await.is_err() {
//!                     break;
//!                 }
//!             }
//!         })
//!         .await;
//!     if let Err(err) = result {
//!         tracing::warn!("upgrade: {err}");
//!     }
//!     c.into_response()
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let app = Router::new()
//!     .route("/echo", get(echo))
//!     .no_hijack_conn_pool(true);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8081").await?;
//! axum::serve(listener, app).await
//! # }
//! ```
//!
//! # How an upgrade runs
//!
//! Hertz hijacks the connection; axum instead wants a response returned. So
//! [`HertzUpgrader::upgrade`] runs Hertz's checks itself (in Hertz's order, with Hertz's
//! statuses and messages, calling the hooks with the [`RequestContext`]), then hands the request
//! to the new path: a [`compat::handler`] whose handler calls [`websocket::Upgrader::upgrade`]
//! and, once the connection is taken over, runs the callback with the [`Conn`]. It resolves as
//! soon as the `101 Switching Protocols` head is known and stores it in the context, which the
//! axum handler returns. There is one protocol engine, the `websocket` crate's.
//!
//! The behaviours where Hertz and the new path differ are kept, because migrating code may
//! depend on them:
//!
//! | | Hertz and this crate | new path |
//! |---|---|---|
//! | first check | method (`405` for non-GET) | `Connection` header |
//! | no `websocket` token in `Upgrade` | `400` | `426` with `Upgrade: websocket` |
//! | subprotocol | the server's first supported protocol that the client offers | the client's first offered protocol that the server supports |
//! | `Sec-WebSocket-Key` | any non-empty value | base64 of exactly 16 bytes, else `400` |
//! | default error response | `Sec-Websocket-Version: 13`, body = reason phrase | `Sec-WebSocket-Version: 13`, `http.Error` body |
//! | HTTP/2 extended CONNECT | `405` (not a GET) | supported |
//!
//! # Deprecation
//!
//! Using any item warns:
//!
//! ```compile_fail
//! #![deny(deprecated)]
//! let upgrader = contrib_websocket::HertzUpgrader::default();
//! # drop(upgrader);
//! ```
//!
//! while the same code without `deny` compiles (with the warning):
//!
//! ```
//! let upgrader = contrib_websocket::HertzUpgrader::default();
//! # drop(upgrader);
//! ```

// The crate's own items use each other; the warnings are for the crate's users.
#![allow(deprecated)]
// Doctests show legacy code; the compile_fail test above re-denies the lint itself.
#![doc(test(attr(allow(deprecated))))]

mod context;
mod error;
mod pool;
mod server;
mod upgrader;

pub use context::RequestContext;
pub use error::Error;
pub use pool::BufferPool;
pub use server::NoHijackConnPool;
pub use upgrader::{CheckOrigin, ErrorHook, HertzUpgrader};

/// **Deprecated:** use [`websocket::Conn`]. The connection the upgrade callback receives
/// (hertz-contrib's `*websocket.Conn`); it is the new path's connection type.
#[deprecated(note = "hertz-contrib/websocket is deprecated: use websocket::Conn; see MIGRATION.md")]
pub type Conn = websocket::Conn;

/// **Deprecated:** use [`websocket::MessageType`]. hertz-contrib's `TextMessage`,
/// `BinaryMessage`, ... constants.
#[deprecated(
    note = "hertz-contrib/websocket is deprecated: use websocket::MessageType; see MIGRATION.md"
)]
pub type MessageType = websocket::MessageType;
