//! The response body of a handler that streams: chunks arrive over a bounded channel, so a
//! slow client slows the handler's writes down instead of growing a buffer.

use std::{
    io,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll, ready},
};

use bytes::Bytes;
use http_body::{Body, Frame};
use tokio::sync::mpsc;

use crate::request::CancelOnDrop;

/// Receives the chunks a [`ServerWriter`](crate::server_writer::ServerWriter) sends.
///
/// The channel closing means either the handler finished (`complete` set) or it died: panicked
/// or was dropped mid-response. The latter must not look like a finished response, so it ends
/// the body with an error and hyper aborts the connection instead of writing the final chunk.
pub(crate) struct ChannelBody {
    rx: mpsc::Receiver<Bytes>,
    complete: Arc<AtomicBool>,
    /// With a declared `Content-Length`, hyper stops reading (and drops the body) as soon as
    /// that many bytes went out, which is not the client leaving.
    remaining: Option<u64>,
    // Dropping the body before it completed means the client went away: cancel the request.
    cancel: CancelOnDrop,
}

impl ChannelBody {
    pub(crate) fn new(
        rx: mpsc::Receiver<Bytes>,
        complete: Arc<AtomicBool>,
        declared_len: Option<u64>,
        cancel: CancelOnDrop,
    ) -> Self {
        ChannelBody {
            rx,
            complete,
            remaining: declared_len,
            cancel,
        }
    }
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match ready!(self.rx.poll_recv(cx)) {
            Some(chunk) => {
                if let Some(remaining) = self.remaining.as_mut() {
                    *remaining = remaining.saturating_sub(chunk.len() as u64);
                    if *remaining == 0 {
                        self.cancel.disarm();
                    }
                }
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
            None if self.complete.load(Ordering::Acquire) => Poll::Ready(None),
            None => Poll::Ready(Some(Err(io::Error::other(
                "handler ended abnormally after the response started",
            )))),
        }
    }
}
