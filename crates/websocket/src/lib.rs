//! gorilla/websocket's API in Rust, on the net/http-style handlers of [`compat`].
//!
//! A Go service that runs gorilla/websocket behind Hertz's net/http adaptor (the path Hertz
//! recommends since it deprecated `hertz-contrib/websocket`) ports line by line:
//!
//! ```
//! use std::sync::LazyLock;
//!
//! use axum::{Router, routing::any};
//! use compat::{Body, ResponseWriter};
//! use http::Request;
//! use websocket::Upgrader;
//!
//! static UPGRADER: LazyLock<Upgrader> = LazyLock::new(Upgrader::default);
//!
//! // func echo(w http.ResponseWriter, r *http.Request)
//! async fn echo(w: &mut dyn ResponseWriter, r: Request<Body>) {
//!     // c, err := upgrader.Upgrade(w, r, nil)
//!     let c = match UPGRADER.upgrade(w, &r, None).await {
//!         Ok(c) => c,
//!         Err(err) => return eprintln!("upgrade: {err}"),
//!     };
//!     // for { mt, message, err := c.ReadMessage(); ...; c.WriteMessage(mt, message) }
//!     while let Ok((mt, message)) = c.read_message().await {
//!         if c.write_message(mt, &message).await.is_err() {
//!             break;
//!         }
//!     }
//! }
//!
//! // h.GET("/echo", adaptor.HertzHandler(http.HandlerFunc(echo)))
//! let app: Router = Router::new().route("/echo", any(compat::handler(echo)));
//! ```
//!
//! | gorilla | here |
//! |---|---|
//! | `Upgrader{...}`, `u.Upgrade(w, r, h)` | [`Upgrader`], [`Upgrader::upgrade`] |
//! | `ReadMessage`, `WriteMessage` | [`Conn::read_message`], [`Conn::write_message`] |
//! | `NextReader`, `NextWriter` | [`Conn::next_reader`] ([`AsyncRead`](tokio::io::AsyncRead)), [`Conn::next_writer`] ([`AsyncWrite`](tokio::io::AsyncWrite); `shutdown` ends the message) |
//! | `WriteControl`, `Set{Ping,Pong,Close}Handler` | [`Conn::write_control`], [`Conn::set_ping_handler`], ... |
//! | `SetReadDeadline`, `SetWriteDeadline`, `SetReadLimit` | [`Conn::set_read_deadline`], [`Conn::set_write_deadline`], [`Conn::set_read_limit`] |
//! | `ReadJSON`, `WriteJSON` | [`Conn::read_json`], [`Conn::write_json`] |
//! | `CloseError`, `IsCloseError`, `IsUnexpectedCloseError`, `FormatCloseMessage` | [`CloseError`], [`is_close_error`], [`is_unexpected_close_error`], [`format_close_message`] |
//! | `TextMessage`, ..., `CloseNormalClosure`, ... | [`MessageType`], [`CloseCode`] |
//! | `IsWebSocketUpgrade`, `Subprotocols` | [`is_websocket_upgrade`], [`subprotocols`] |
//! | `Dialer{...}.Dial(url, hdr)` | [`Dialer::dial`] (`wss://` with the `rustls` feature); a refused handshake's response is [`Error::response`] |
//! | `EnableCompression`, `EnableWriteCompression`, `SetCompressionLevel` | [`Upgrader::enable_compression`], [`CompressionOptions`] (context takeover, window bits), [`Conn::enable_write_compression`], [`Conn::set_compression_level`] |
//! | `PreparedMessage`, `WritePreparedMessage`, `BufferPool` | [`PreparedMessage`], [`Conn::write_prepared_message`], [`BufferPool`] |
//! | `HandshakeError`, `ErrCloseSent`, `ErrReadLimit` | [`Error`] with [`is_handshake`](Error::is_handshake), [`is_close_sent`](Error::is_close_sent), [`is_read_limit`](Error::is_read_limit) |
//!
//! # Concurrency
//!
//! gorilla allows one concurrent reader and one concurrent writer and leaves the rest to the
//! application. Here methods take `&self` and breaking that rule cannot corrupt the stream:
//! concurrent writers are serialized message by message, and [`Conn::write_control`] and
//! [`Conn::close`] work from any task, even while another task is blocked in a read. Give a
//! second task the connection in an `Arc`, or just its write side with [`Conn::handle`].
//!
//! # Writes
//!
//! Like gorilla, a connection sets `TCP_NODELAY` and writes each message as soon as it is
//! given. One exception makes pipelining cheap: when the reader already holds the peer's next
//! message, a small reply may wait in the connection's buffer for the reply to that message,
//! so a burst of requests is answered with a few writes (see [`ConnHandle::write_message`]).
//! It waits at most until the writing task's next `.await` that is not ready.
//!
//! The connection needs a tokio runtime with its time driver (`enable_all`, as
//! `#[tokio::main]` gives): deadlines, `close` and the task that sends coalesced replies use
//! timers.
//!
//! # Protocol
//!
//! RFC 6455 in full: masking rules per role, fragmentation with control frames between the
//! fragments, control frame limits, reserved bits and opcodes, incremental UTF-8 validation of
//! text that fails as soon as a bad byte arrives (close 1007), the closing handshake, and a
//! read limit (64 MiB by default, close 1009). The Autobahn TestSuite runs in CI against both
//! the whole-message and the streaming echo (`scripts/autobahn.sh`).
//!
//! The handshake runs on HTTP/1.1 (`101 Switching Protocols`) and on HTTP/2 extended CONNECT
//! (RFC 8441, `200`), through the same [`Upgrader::upgrade`] call.

mod close;
mod compression;
mod conn;
mod dialer;
mod error;
mod frame;
mod handshake;
mod mask;
mod message;
mod pool;
mod prepared;
mod stream;
mod upgrader;
mod utf8;

pub use close::{CloseCode, CloseError, format_close_message};
pub use compression::CompressionOptions;
pub use conn::{
    CloseHandler, Conn, ConnHandle, HandlerFuture, MessageReader, MessageWriter, PingHandler,
    PongHandler,
};
pub use dialer::{DialFuture, Dialer, NetDial};
pub use error::{Error, is_close_error, is_unexpected_close_error};
pub use handshake::{is_websocket_upgrade, subprotocols};
pub use message::MessageType;
pub use pool::BufferPool;
pub use prepared::PreparedMessage;
pub use upgrader::{CheckOrigin, ErrorHook, HandshakeRequest, Upgrader};
