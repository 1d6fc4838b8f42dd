//! The [`ResponseWriter`] a handler gets when it is served by the adaptor on hyper.
//!
//! The handler runs in its own task; the response head travels to the axum-side future over a
//! oneshot as soon as it is known, and the body follows over a bounded channel. This split is
//! what lets `hijack` work at all: hyper completes an upgrade only after the response was
//! returned to it, so the head must leave before the handler awaits the upgrade.

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
use tokio::{io::AsyncWrite, net::TcpStream, sync::mpsc, sync::oneshot};
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
    /// The connection belongs to the handler.
    Hijacked,
    /// The client is gone, or the response was completed.
    Done,
}

/// What the adaptor learns from the request before handing it to the handler.
pub(crate) struct RequestInfo {
    pub(crate) method: Method,
    pub(crate) on_upgrade: Option<OnUpgrade>,
    pub(crate) remote_addr: Option<SocketAddr>,
    pub(crate) context: request::Context,
}

pub(crate) struct ServerWriter {
    headers: HeaderMap,
    status: Option<StatusCode>,
    phase: Phase,
    buf: BytesMut,
    /// HEAD request: the body is counted, never sent.
    head_request: bool,
    counted: u64,
    connect: bool,
    head_tx: Option<oneshot::Sender<Response<Body>>>,
    body_tx: Option<PollSender<Bytes>>,
    complete: Arc<AtomicBool>,
    on_upgrade: Option<OnUpgrade>,
    remote_addr: Option<SocketAddr>,
    context: request::Context,
}

impl ServerWriter {
    pub(crate) fn new(info: RequestInfo, head_tx: oneshot::Sender<Response<Body>>) -> Self {
        ServerWriter {
            headers: HeaderMap::new(),
            status: None,
            phase: Phase::Buffering,
            buf: BytesMut::new(),
            head_request: info.method == Method::HEAD,
            counted: 0,
            connect: info.method == Method::CONNECT,
            head_tx: Some(head_tx),
            body_tx: None,
            complete: Arc::new(AtomicBool::new(false)),
            on_upgrade: info.on_upgrade,
            remote_addr: info.remote_addr,
            context: info.context,
        }
    }

    fn status_or_ok(&mut self) -> StatusCode {
        *self.status.get_or_insert(StatusCode::OK)
    }

    fn check_writable(&self) -> io::Result<()> {
        match self.phase {
            Phase::Hijacked => Err(Error::hijacked().into()),
            Phase::Done => Err(Error::closed().into()),
            Phase::Buffering | Phase::Streaming => Ok(()),
        }
    }

    fn send_head(&mut self, status: StatusCode, body: Body) -> Result<(), Error> {
        let mut response = Response::new(body);
        *response.status_mut() = status;
        *response.headers_mut() = mem::take(&mut self.headers);
        let tx = self.head_tx.take().expect("head sent once");
        tx.send(response).map_err(|_| {
            self.phase = Phase::Done;
            Error::closed()
        })
    }

    fn start_streaming(&mut self) -> Result<(), Error> {
        let status = self.status_or_ok();
        let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
        let body = ChannelBody::new(rx, self.complete.clone(), self.context.cancel_on_drop());
        self.send_head(status, Body::new(body))?;
        self.body_tx = Some(PollSender::new(tx));
        self.phase = Phase::Streaming;
        Ok(())
    }

    fn poll_send(&mut self, cx: &mut Context<'_>, chunk: Bytes) -> Poll<io::Result<()>> {
        let tx = self.body_tx.as_mut().expect("streaming has a sender");
        if ready!(tx.poll_reserve(cx)).is_err() || tx.send_item(chunk).is_err() {
            self.phase = Phase::Done;
            return Poll::Ready(Err(Error::closed().into()));
        }
        Poll::Ready(Ok(()))
    }

    /// Ships the buffered bytes as one chunk.
    fn poll_send_buf(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.buf.is_empty() {
            return Poll::Ready(Ok(()));
        }
        let tx = self.body_tx.as_mut().expect("streaming has a sender");
        if ready!(tx.poll_reserve(cx)).is_err() {
            self.phase = Phase::Done;
            return Poll::Ready(Err(Error::closed().into()));
        }
        let chunk = self.buf.split().freeze();
        if tx.send_item(chunk).is_err() {
            self.phase = Phase::Done;
            return Poll::Ready(Err(Error::closed().into()));
        }
        Poll::Ready(Ok(()))
    }

    /// Completes the response after the handler returned: sends whatever is buffered, or the
    /// whole response if nothing was sent yet.
    pub(crate) async fn finish(&mut self) {
        match self.phase {
            Phase::Buffering => {
                let status = self.status_or_ok();
                let body = if self.head_request {
                    if self.counted > 0 && !self.headers.contains_key(header::CONTENT_LENGTH) {
                        self.headers
                            .insert(header::CONTENT_LENGTH, HeaderValue::from(self.counted));
                    }
                    Body::empty()
                } else {
                    Body::from(self.buf.split().freeze())
                };
                // The client may be gone; nothing is left to tell.
                let _ = self.send_head(status, body);
            }
            Phase::Streaming => {
                if poll_fn(|cx| self.poll_send_buf(cx)).await.is_ok() {
                    self.complete.store(true, Ordering::Release);
                }
                self.body_tx = None;
            }
            Phase::Hijacked | Phase::Done => {}
        }
        if self.phase != Phase::Hijacked {
            self.phase = Phase::Done;
        }
    }

    async fn hijack_inner(&mut self) -> Result<Hijacked, Error> {
        match self.phase {
            Phase::Hijacked => return Err(Error::already_hijacked()),
            Phase::Streaming | Phase::Done => return Err(Error::head_committed()),
            Phase::Buffering if !self.buf.is_empty() || self.counted > 0 => {
                return Err(Error::head_committed());
            }
            Phase::Buffering => {}
        }
        let on_upgrade = self.on_upgrade.take().ok_or_else(Error::not_upgradable)?;
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
        if this.head_request {
            this.counted += data.len() as u64;
            return Poll::Ready(Ok(data.len()));
        }
        if this.buf.len() + data.len() <= BUFFER_SIZE {
            this.buf.extend_from_slice(data);
            return Poll::Ready(Ok(data.len()));
        }
        if this.phase == Phase::Buffering {
            this.start_streaming()?;
        }
        ready!(this.poll_send_buf(cx))?;
        if data.len() >= BUFFER_SIZE {
            ready!(this.poll_send(cx, Bytes::copy_from_slice(data)))?;
        } else {
            this.buf.extend_from_slice(data);
        }
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

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

impl ResponseWriter for ServerWriter {
    fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    fn headers_mut(&mut self) -> &mut HeaderMap {
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
            None => self.status = Some(status),
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

/// RFC 9110 6.4.1: 1xx, 204 and 304 responses never carry content.
pub(crate) fn body_allowed(status: StatusCode) -> bool {
    !(status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED)
}
