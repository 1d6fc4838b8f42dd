//! The [`ResponseWriter`] trait: Go's `http.ResponseWriter`, `http.Flusher` and `http.Hijacker`
//! in one dyn-compatible trait.

use std::{future::Future, pin::Pin};

use http::{HeaderMap, StatusCode};
use tokio::io::AsyncWrite;

use crate::{Error, Hijacked};

/// The future returned by [`ResponseWriter::hijack`].
pub type HijackFuture<'a> = Pin<Box<dyn Future<Output = Result<Hijacked, Error>> + Send + 'a>>;

/// What a handler writes its response through: Go's `http.ResponseWriter` plus `http.Flusher`
/// and `http.Hijacker`.
///
/// The body is written with [`AsyncWrite`] (use [`tokio::io::AsyncWriteExt`]): `write_all`
/// streams, `flush` is Go's `Flush`. The trait is dyn-compatible so that handlers take
/// `&mut dyn ResponseWriter`, exactly as Go handlers take the `http.ResponseWriter` interface.
///
/// # The head
///
/// Headers are collected in [`headers_mut`](Self::headers_mut) and sent with the status when the
/// head is committed: on the first flush, once the buffered body outgrows the writer's buffer,
/// or when the handler returns. Changes after that have no effect. The first
/// [`write_header`](Self::write_header) wins; a body write without one implies `200 OK`.
///
/// # Content-Length
///
/// As in Go: a handler that writes a small body and returns without flushing gets a
/// `Content-Length` response; one that flushes, or writes more than the buffer holds, streams
/// with chunked encoding (HTTP/1.1) or DATA frames (HTTP/2).
///
/// # Example
///
/// ```
/// use compat::{Body, ResponseWriter};
/// use http::{Request, StatusCode, header};
/// use tokio::io::AsyncWriteExt;
///
/// async fn hello(w: &mut dyn ResponseWriter, _r: Request<Body>) {
///     w.headers_mut()
///         .insert(header::CONTENT_TYPE, "text/plain; charset=utf-8".parse().unwrap());
///     w.write_header(StatusCode::OK);
///     let _ = w.write_all(b"hello\n").await;
/// }
/// ```
pub trait ResponseWriter: AsyncWrite + Send + Unpin {
    /// The headers that will be sent with the response head (Go's `Header()`).
    fn headers(&self) -> &HeaderMap;

    /// Mutable access to the headers that will be sent with the response head.
    fn headers_mut(&mut self) -> &mut HeaderMap;

    /// Sets the response status. Only the first call counts; later calls are ignored with a
    /// warning, as Go logs "superfluous response.WriteHeader call".
    ///
    /// Go sends an informational status (1xx other than 101, e.g. `103 Early Hints`) as an
    /// interim response and still takes a final status afterwards. hyper cannot send interim
    /// responses, so the server writer ignores such a status (with a warning) and it does not
    /// count as the first call.
    fn write_header(&mut self, status: StatusCode);

    /// The status set so far, if any (implicitly `200` once the body was written).
    fn status(&self) -> Option<StatusCode>;

    /// Takes over the connection (Go's `Hijack`).
    ///
    /// On an HTTP/1.1 `Upgrade` request this commits `101 Switching Protocols` with the headers
    /// set so far; on an HTTP/2 extended CONNECT (RFC 8441) it commits `200 OK`. It then resolves
    /// to the raw connection, including any bytes the client sent right behind the request.
    /// After it, writes through this writer fail with [`Error::is_hijacked`] and the server
    /// writes nothing more to the connection.
    ///
    /// Fails, without hanging, on any other request ([`Error::is_not_upgradable`]), when called
    /// twice ([`Error::is_already_hijacked`]) or after the body started
    /// ([`Error::is_head_committed`]). Writers that cannot hijack keep this default, which
    /// fails with [`Error::is_not_upgradable`].
    fn hijack(&mut self) -> HijackFuture<'_> {
        Box::pin(async { Err(Error::not_upgradable()) })
    }
}
