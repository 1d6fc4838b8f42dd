//! The ping, pong and close handlers (gorilla's `SetPingHandler` and friends).
//!
//! Handlers run inside the reader, when it meets a control frame. They are async because the
//! useful ones write (the default ping handler answers with a pong, the default close handler
//! echoes the close); they write through a [`ConnHandle`], never through the `Conn` itself, so
//! a handler stored in a connection does not keep that connection alive.

use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bytes::Bytes;

use crate::{CloseCode, Error, MessageType, close::format_close_message, conn::ConnHandle};

/// The future a control handler returns.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<(), Error>> + Send + 'static>>;

/// A ping or pong handler: receives the frame's application data.
pub type PingHandler = Arc<dyn Fn(Bytes) -> HandlerFuture + Send + Sync>;

/// A pong handler: receives the frame's application data.
pub type PongHandler = PingHandler;

/// A close handler: receives the peer's close code and reason.
pub type CloseHandler = Arc<dyn Fn(CloseCode, String) -> HandlerFuture + Send + Sync>;

/// How long the default handlers wait to write their reply (gorilla's `writeWait`).
const REPLY_WAIT: Duration = Duration::from_secs(1);

pub(crate) struct Handlers {
    slots: Mutex<Slots>,
    handle: ConnHandle,
}

struct Slots {
    ping: Option<PingHandler>,
    pong: Option<PongHandler>,
    close: Option<CloseHandler>,
}

impl Handlers {
    pub(crate) fn new(handle: ConnHandle) -> Self {
        Handlers {
            slots: Mutex::new(Slots {
                ping: None,
                pong: None,
                close: None,
            }),
            handle,
        }
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn ping(&self) -> PingHandler {
        match &self.slots().ping {
            Some(h) => h.clone(),
            None => default_ping(self.handle.clone()),
        }
    }

    pub(crate) fn pong(&self) -> PongHandler {
        match &self.slots().pong {
            Some(h) => h.clone(),
            None => default_pong(),
        }
    }

    pub(crate) fn close(&self) -> CloseHandler {
        match &self.slots().close {
            Some(h) => h.clone(),
            None => default_close(self.handle.clone()),
        }
    }

    pub(crate) fn set_ping(&self, h: Option<PingHandler>) {
        self.slots().ping = h;
    }

    pub(crate) fn set_pong(&self, h: Option<PongHandler>) {
        self.slots().pong = h;
    }

    pub(crate) fn set_close(&self, h: Option<CloseHandler>) {
        self.slots().close = h;
    }
}

/// Errors a default handler swallows, as gorilla's do: the reply is best effort, and the
/// reader reports the connection's real state on its own.
fn ignore_reply_error(result: Result<(), Error>) -> Result<(), Error> {
    match result {
        Err(e) if e.is_close_sent() || e.is_timeout() || e.is_io() => Ok(()),
        other => other,
    }
}

/// Answers a ping with a pong carrying the same data.
pub(crate) fn default_ping(handle: ConnHandle) -> PingHandler {
    Arc::new(move |data: Bytes| {
        let handle = handle.clone();
        Box::pin(async move {
            let deadline = Instant::now() + REPLY_WAIT;
            ignore_reply_error(
                handle
                    .write_control(MessageType::Pong, &data, Some(deadline))
                    .await,
            )
        })
    })
}

/// Does nothing.
pub(crate) fn default_pong() -> PongHandler {
    Arc::new(|_data: Bytes| Box::pin(async { Ok(()) }))
}

/// Echoes the peer's close code (without its reason), completing the closing handshake.
pub(crate) fn default_close(handle: ConnHandle) -> CloseHandler {
    Arc::new(move |code: CloseCode, _text: String| {
        let handle = handle.clone();
        Box::pin(async move {
            let message = format_close_message(code, "");
            let deadline = Instant::now() + REPLY_WAIT;
            ignore_reply_error(
                handle
                    .write_control(MessageType::Close, &message, Some(deadline))
                    .await,
            )
        })
    })
}
