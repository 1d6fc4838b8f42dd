//! [`ResponseRecorder`]: Go's `httptest.ResponseRecorder`, for unit-testing handlers without a
//! socket.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Response, StatusCode};
use tokio::io::{AsyncWrite, DuplexStream};

use crate::{Error, Hijacked, ResponseWriter, server_writer::body_allowed, writer::HijackFuture};

/// Records what a handler writes (Go's `httptest.ResponseRecorder`).
///
/// ```
/// use compat::{Body, ResponseRecorder, ResponseWriter};
/// use http::{Request, StatusCode};
///
/// async fn teapot(w: &mut dyn ResponseWriter, _r: Request<Body>) {
///     compat::http_error(w, "short and stout", StatusCode::IM_A_TEAPOT).await;
/// }
///
/// # tokio_test_block_on(async {
/// let mut rec = ResponseRecorder::new();
/// teapot(&mut rec, Request::new(Body::empty())).await;
/// assert_eq!(rec.code(), StatusCode::IM_A_TEAPOT);
/// assert_eq!(rec.body(), "short and stout\n");
/// # });
/// # fn tokio_test_block_on(f: impl std::future::Future<Output = ()>) {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
///
/// A recorder made by [`with_hijack`](Self::with_hijack) also supports
/// [`hijack`](ResponseWriter::hijack): the handler gets one end of an in-memory pipe and the
/// test the other, so protocol handlers (a WebSocket upgrade, say) run without a socket.
#[derive(Debug, Default)]
pub struct ResponseRecorder {
    status: Option<StatusCode>,
    headers: HeaderMap,
    /// The headers as they were when the head was committed (what a client would have seen).
    sent_headers: Option<HeaderMap>,
    body: BytesMut,
    flushed: bool,
    hijack: Option<DuplexStream>,
    hijacked: bool,
}

impl ResponseRecorder {
    /// A recorder that cannot hijack.
    pub fn new() -> Self {
        Self::default()
    }

    /// A recorder whose `hijack` hands the handler one end of an in-memory pipe; the other end
    /// is returned here for the test to play the client.
    pub fn with_hijack() -> (Self, DuplexStream) {
        let (server, client) = tokio::io::duplex(64 * 1024);
        let rec = ResponseRecorder {
            hijack: Some(server),
            ..Self::default()
        };
        (rec, client)
    }

    /// The status written, `200` if the handler wrote none (Go's `Code`).
    pub fn code(&self) -> StatusCode {
        self.status.unwrap_or(StatusCode::OK)
    }

    /// The headers the client would have received: those set when the head was committed, or
    /// the current ones if it never was (Go's `Result().Header`).
    pub fn headers(&self) -> &HeaderMap {
        self.sent_headers.as_ref().unwrap_or(&self.headers)
    }

    /// The body written so far, as text (lossy for non-UTF-8 bodies).
    pub fn body(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body written so far, as bytes.
    pub fn body_bytes(&self) -> &[u8] {
        &self.body
    }

    /// Whether the handler flushed (Go's `Flushed`).
    pub fn flushed(&self) -> bool {
        self.flushed
    }

    /// Whether the handler hijacked the connection.
    pub fn hijacked(&self) -> bool {
        self.hijacked
    }

    /// The response as a client would have seen it (Go's `Result()`).
    pub fn result(&self) -> Response<Bytes> {
        let mut res = Response::new(Bytes::copy_from_slice(&self.body));
        *res.status_mut() = self.code();
        *res.headers_mut() = self.headers().clone();
        res
    }

    fn commit(&mut self) -> StatusCode {
        let status = *self.status.get_or_insert(StatusCode::OK);
        if self.sent_headers.is_none() {
            self.sent_headers = Some(self.headers.clone());
        }
        status
    }
}

impl AsyncWrite for ResponseRecorder {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.hijacked {
            return Poll::Ready(Err(Error::hijacked().into()));
        }
        if !body_allowed(this.commit()) {
            return Poll::Ready(Err(Error::body_not_allowed().into()));
        }
        this.body.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.hijacked {
            return Poll::Ready(Err(Error::hijacked().into()));
        }
        this.commit();
        this.flushed = true;
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

impl ResponseWriter for ResponseRecorder {
    fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.headers
    }

    fn write_header(&mut self, status: StatusCode) {
        // As the server writer: interim statuses are not supported, and the first real status
        // fixes the headers that are "sent".
        if status.is_informational() && status != StatusCode::SWITCHING_PROTOCOLS {
            return;
        }
        if self.status.is_none() {
            self.status = Some(status);
            self.commit();
        }
    }

    fn status(&self) -> Option<StatusCode> {
        self.status
    }

    fn hijack(&mut self) -> HijackFuture<'_> {
        Box::pin(async move {
            if self.hijacked {
                return Err(Error::already_hijacked());
            }
            if self.sent_headers.is_some() {
                return Err(Error::head_committed());
            }
            let io = self.hijack.take().ok_or_else(Error::not_upgradable)?;
            self.status = Some(StatusCode::SWITCHING_PROTOCOLS);
            self.commit();
            self.hijacked = true;
            Ok(Hijacked::new(io))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn records_status_headers_and_body() {
        let mut rec = ResponseRecorder::new();
        rec.headers_mut().insert("x-a", "1".parse().unwrap());
        rec.write_header(StatusCode::CREATED);
        rec.write_header(StatusCode::ACCEPTED);
        rec.write_all(b"made").await.unwrap();
        rec.headers_mut().insert("x-late", "1".parse().unwrap());
        let res = rec.result();
        assert_eq!(res.status(), StatusCode::CREATED);
        assert_eq!(res.headers()["x-a"], "1");
        assert!(
            !res.headers().contains_key("x-late"),
            "headers after commit are not sent"
        );
        assert_eq!(res.body().as_ref(), b"made");
        assert!(!rec.flushed());
    }

    #[tokio::test]
    async fn no_body_for_204() {
        let mut rec = ResponseRecorder::new();
        rec.write_header(StatusCode::NO_CONTENT);
        let err = rec.write_all(b"x").await.unwrap_err();
        assert!(Error::from_io(&err).unwrap().is_body_not_allowed());
    }

    #[tokio::test]
    async fn hijack_gives_a_pipe_and_forbids_writes() {
        let (mut rec, mut client) = ResponseRecorder::with_hijack();
        rec.headers_mut().insert("upgrade", "test".parse().unwrap());
        let mut conn = rec.hijack().await.unwrap();
        assert!(rec.hijack().await.unwrap_err().is_already_hijacked());
        let err = rec.write_all(b"x").await.unwrap_err();
        assert!(Error::from_io(&err).unwrap().is_hijacked());
        assert_eq!(rec.code(), StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(rec.headers()["upgrade"], "test");
        conn.write_all(b"hi").await.unwrap();
        let mut two = [0; 2];
        client.read_exact(&mut two).await.unwrap();
        assert_eq!(&two, b"hi");
    }

    #[tokio::test]
    async fn plain_recorder_cannot_hijack() {
        let mut rec = ResponseRecorder::new();
        assert!(rec.hijack().await.unwrap_err().is_not_upgradable());
    }
}
