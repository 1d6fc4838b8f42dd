//! The [`ResponseWriter`] a handler gets when it is served by the adaptor on hyper.
//!
//! The response head goes to the axum-side future (through the request's shared state, see
//! [`Context`](crate::Context)) as soon as it is known, and a streamed body follows over a
//! bounded channel. This split is what lets `hijack` work at all: hyper completes an upgrade
//! only after the response was returned to it, so the head must leave before the handler
//! awaits the upgrade.

use std::{
    future::poll_fn,
    io, mem,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll, ready},
};

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tokio::{io::AsyncWrite, net::TcpStream, sync::mpsc};
use tokio_util::sync::PollSender;

use crate::{Error, Hijacked, ResponseWriter, body::ChannelBody, request, writer::HijackFuture};

/// Body bytes held back before the head is committed. A handler whose whole body fits and
/// that never flushes gets a `Content-Length` response (Go buffers the same way).
pub(crate) const BUFFER_SIZE: usize = 4096;

/// Chunks in flight between the handler and hyper before writes apply backpressure.
const CHANNEL_CHUNKS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nothing sent yet; body bytes accumulate in `buf`.
    Buffering,
    /// The head is sent; body bytes go out as chunks.
    Streaming,
    /// The head is sent and the response has no body (HEAD, 204, 304): writes are counted
    /// or refused, never sent.
    HeadOnly,
    /// The connection belongs to the handler.
    Hijacked,
    /// The client is gone, or the response was completed.
    Done,
}

/// What the adaptor learns from the request before handing it to the handler.
pub(crate) struct RequestInfo {
    pub(crate) method: Method,
    pub(crate) on_upgrade: Option<OnUpgrade>,
    /// An HTTP/1 request whose body has not been read: hyper completes an upgrade only after
    /// the body, so a hijack would stall and then take the client's first bytes as body.
    pub(crate) body_pending: bool,
    pub(crate) remote_addr: Option<SocketAddr>,
    pub(crate) context: request::Context,
}

pub(crate) struct ServerWriter {
    /// The headers the handler edits; until it edits them after the commit point, also the
    /// ones that are sent.
    headers: HeaderMap,
    /// The headers as they were at the commit point (Go's `WriteHeader`, explicit or implied
    /// by the first write), set aside the first time the handler asks to edit its headers
    /// after that point: edits go to `headers` then, and are not sent, as in Go. Most handlers
    /// never do, and pay for no copy.
    committed: Option<HeaderMap>,
    status: Option<StatusCode>,
    /// The valid `Content-Length` the handler declared at the commit point.
    declared_len: Option<u64>,
    /// Body bytes accepted so far.
    written: u64,
    phase: Phase,
    buf: BytesMut,
    /// HEAD request: the body is counted, never sent.
    head_request: bool,
    connect: bool,
    body_pending: bool,
    body_tx: Option<PollSender<Bytes>>,
    /// Set once a streamed body ended properly; shared with the body, made when streaming
    /// starts (most responses never stream).
    complete: Option<Arc<AtomicBool>>,
    on_upgrade: Option<OnUpgrade>,
    remote_addr: Option<SocketAddr>,
    context: request::Context,
}

impl ServerWriter {
    pub(crate) fn new(info: RequestInfo) -> Self {
        ServerWriter {
            headers: HeaderMap::new(),
            committed: None,
            status: None,
            declared_len: None,
            written: 0,
            phase: Phase::Buffering,
            buf: BytesMut::new(),
            head_request: info.method == Method::HEAD,
            connect: info.method == Method::CONNECT,
            body_pending: info.body_pending,
            body_tx: None,
            complete: None,
            on_upgrade: info.on_upgrade,
            remote_addr: info.remote_addr,
            context: info.context,
        }
    }

    /// The commit point: fixes the status and the headers that will be sent.
    fn commit(&mut self, status: StatusCode) {
        debug_assert!(self.status.is_none());
        self.status = Some(status);
        let headers = &mut self.headers;
        // Go's WriteHeader: an unparsable Content-Length is dropped, a valid one is enforced.
        if let Some(value) = headers.get(header::CONTENT_LENGTH) {
            match value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
            {
                Some(len) => self.declared_len = Some(len),
                None => {
                    tracing::warn!(?value, "http: invalid Content-Length header, dropped");
                    headers.remove(header::CONTENT_LENGTH);
                }
            }
        }
    }

    /// The headers that go out with the head.
    fn head_headers(&mut self) -> &mut HeaderMap {
        self.committed.as_mut().unwrap_or(&mut self.headers)
    }

    fn status_or_ok(&mut self) -> StatusCode {
        match self.status {
            Some(status) => status,
            None => {
                self.commit(StatusCode::OK);
                StatusCode::OK
            }
        }
    }

    fn check_writable(&self) -> io::Result<()> {
        match self.phase {
            Phase::Hijacked => Err(Error::hijacked().into()),
            Phase::Done => Err(Error::closed().into()),
            Phase::Buffering | Phase::Streaming | Phase::HeadOnly => Ok(()),
        }
    }

    fn send_head(&mut self, status: StatusCode, body: Body) -> Result<(), Error> {
        let mut response = Response::new(body);
        *response.status_mut() = status;
        // Swapped rather than assigned: the response's empty map is not dropped here but
        // left to the writer, which drops a map anyway.
        mem::swap(response.headers_mut(), self.head_headers());
        self.committed = None;
        if self.context.send_head(response) {
            Ok(())
        } else {
            self.phase = Phase::Done;
            Err(Error::closed())
        }
    }

    fn start_streaming(&mut self) -> Result<(), Error> {
        let status = self.status_or_ok();
        if self.head_request || !body_allowed(status) {
            // No body will follow: hyper finishes the response at once, and nothing must read
            // that as the client leaving.
            self.send_head(status, Body::empty())?;
            self.phase = Phase::HeadOnly;
            return Ok(());
        }
        let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
        let complete = self.complete.insert(Arc::new(AtomicBool::new(false)));
        let body = ChannelBody::new(
            rx,
            complete.clone(),
            self.declared_len,
            self.context.cancel_on_drop(),
        );
        self.send_head(status, Body::new(body))?;
        self.body_tx = Some(PollSender::new(tx));
        self.phase = Phase::Streaming;
        Ok(())
    }

    /// Sends the chunk `take` produces once the channel has room; `take` runs only then, so a
    /// `Pending` loses nothing.
    fn poll_send(
        &mut self,
        cx: &mut Context<'_>,
        take: impl FnOnce(&mut BytesMut) -> Bytes,
    ) -> Poll<io::Result<()>> {
        let tx = self.body_tx.as_mut().expect("streaming has a sender");
        if ready!(tx.poll_reserve(cx)).is_err() || tx.send_item(take(&mut self.buf)).is_err() {
            self.phase = Phase::Done;
            return Poll::Ready(Err(Error::closed().into()));
        }
        Poll::Ready(Ok(()))
    }

    /// Ships the buffered bytes as one chunk.
    fn poll_send_buf(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.buf.is_empty() || self.phase != Phase::Streaming {
            return Poll::Ready(Ok(()));
        }
        self.poll_send(cx, |buf| buf.split().freeze())
    }

    /// Completes the response after the handler returned: sends whatever is buffered, or the
    /// whole response if nothing was sent yet.
    pub(crate) async fn finish(&mut self) {
        if self.phase == Phase::Buffering {
            let status = self.status_or_ok();
            let short = self
                .declared_len
                .is_some_and(|len| len != self.buf.len() as u64);
            if self.head_request {
                if self.written > 0 && self.declared_len.is_none() {
                    let written = HeaderValue::from(self.written);
                    self.head_headers().insert(header::CONTENT_LENGTH, written);
                }
                // The client may be gone; nothing is left to tell.
                let _ = self.send_head(status, Body::empty());
            } else if !body_allowed(status) {
                let _ = self.send_head(status, Body::empty());
            } else if short {
                // A body shorter than the declared length must not look complete: stream it
                // and end the stream in error, so hyper closes the connection (Go does too).
                if self.start_streaming().is_ok() {
                    let _ = poll_fn(|cx| self.poll_send_buf(cx)).await;
                }
            } else {
                // Taken whole, not split: the buffer is not reused, and a split would first
                // move it to shared storage.
                let body = Body::from(mem::take(&mut self.buf).freeze());
                let _ = self.send_head(status, body);
            }
        } else if self.phase == Phase::Streaming {
            let sent = poll_fn(|cx| self.poll_send_buf(cx)).await.is_ok();
            let whole = self.declared_len.is_none_or(|len| len == self.written);
            if let (true, true, Some(complete)) = (sent, whole, &self.complete) {
                complete.store(true, Ordering::Release);
            }
        }
        self.body_tx = None;
        if self.phase != Phase::Hijacked {
            self.phase = Phase::Done;
        }
    }

    async fn hijack_inner(&mut self) -> Result<Hijacked, Error> {
        match self.phase {
            Phase::Hijacked => return Err(Error::already_hijacked()),
            Phase::Streaming | Phase::HeadOnly | Phase::Done => {
                return Err(Error::head_committed());
            }
            Phase::Buffering if self.written > 0 => return Err(Error::head_committed()),
            Phase::Buffering => {}
        }
        let on_upgrade = self.on_upgrade.take().ok_or_else(Error::not_upgradable)?;
        if self.body_pending {
            return Err(Error::body_unread());
        }
        // RFC 8441 and RFC 9110 9.3.6: a CONNECT is accepted with 2xx, an Upgrade with 101.
        let status = if self.connect {
            StatusCode::OK
        } else {
            StatusCode::SWITCHING_PROTOCOLS
        };
        self.status = Some(status);
        self.phase = Phase::Hijacked;
        self.send_head(status, Body::empty())?;
        let upgraded = on_upgrade.await.map_err(Error::upgrade)?;
        Ok(into_hijacked(upgraded, self.remote_addr))
    }
}

/// Recovers the raw TCP stream where hyper allows it, so the hijacked connection's reads and
/// writes do not pay for hyper's boxed IO.
fn into_hijacked(upgraded: Upgraded, remote_addr: Option<SocketAddr>) -> Hijacked {
    // `axum::serve` (hyper-util's auto builder) wraps the socket in a private rewind type.
    let upgraded =
        match hyper_util::server::conn::auto::upgrade::downcast::<TokioIo<TcpStream>>(upgraded) {
            Ok(parts) => return Hijacked::from_tcp(parts.io.into_inner(), parts.read_buf),
            Err(upgraded) => upgraded,
        };
    // A plain `hyper::server::conn::http1` connection holds the socket directly.
    match upgraded.downcast::<TokioIo<TcpStream>>() {
        Ok(parts) => Hijacked::from_tcp(parts.io.into_inner(), parts.read_buf),
        Err(upgraded) => Hijacked::new(TokioIo::new(upgraded)).with_addrs(None, remote_addr),
    }
}

impl AsyncWrite for ServerWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check_writable()?;
        let status = this.status_or_ok();
        if !body_allowed(status) {
            return Poll::Ready(Err(Error::body_not_allowed().into()));
        }
        let len = data.len() as u64;
        if this.head_request {
            this.written += len;
            return Poll::Ready(Ok(data.len()));
        }
        if this
            .declared_len
            .is_some_and(|declared| this.written + len > declared)
        {
            return Poll::Ready(Err(Error::content_length().into()));
        }
        if this.buf.len() + data.len() <= BUFFER_SIZE {
            this.buf.extend_from_slice(data);
            this.written += len;
            return Poll::Ready(Ok(data.len()));
        }
        if this.phase == Phase::Buffering {
            this.start_streaming()?;
        }
        ready!(this.poll_send_buf(cx))?;
        if data.len() >= BUFFER_SIZE {
            ready!(this.poll_send(cx, |_| Bytes::copy_from_slice(data)))?;
        } else {
            this.buf.extend_from_slice(data);
        }
        this.written += len;
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check_writable()?;
        if this.phase == Phase::Buffering {
            this.start_streaming()?;
        }
        this.poll_send_buf(cx)
    }

    /// Flushes. The response ends when the handler returns, as in Go.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

impl ResponseWriter for ServerWriter {
    fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    fn headers_mut(&mut self) -> &mut HeaderMap {
        // Between the commit point and the head going out, edits must not reach what is sent:
        // set the committed headers aside first (Go clones lazily too).
        let head_pending = self.status.is_some() && self.phase == Phase::Buffering;
        if head_pending && self.committed.is_none() {
            self.committed = Some(self.headers.clone());
        }
        &mut self.headers
    }

    fn write_header(&mut self, status: StatusCode) {
        // Go sends 1xx (except 101) as an interim response and keeps waiting for the final
        // status. hyper cannot send interim responses and turns a 1xx final response into a
        // 500, so drop it instead of letting it become the status.
        if status.is_informational() && status != StatusCode::SWITCHING_PROTOCOLS {
            tracing::warn!(%status, "http: informational status not supported, ignored");
            return;
        }
        match self.status {
            None => self.commit(status),
            Some(first) => {
                tracing::warn!(%first, ignored = %status, "http: superfluous write_header call")
            }
        }
    }

    fn status(&self) -> Option<StatusCode> {
        self.status
    }

    fn hijack(&mut self) -> HijackFuture<'_> {
        Box::pin(self.hijack_inner())
    }
}

impl Drop for ServerWriter {
    /// The writer lives exactly as long as the handler's call: its end, by returning,
    /// panicking or being dropped, ends the request's context.
    fn drop(&mut self) {
        self.context.cancel();
    }
}

/// RFC 9110 6.4.1: 1xx, 204 and 304 responses never carry content.
pub(crate) fn body_allowed(status: StatusCode) -> bool {
    !(status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED)
}
