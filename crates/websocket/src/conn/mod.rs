//! [`Conn`]: a WebSocket connection, gorilla's `*Conn`.
//!
//! A `Conn` has a read side and a write side that work independently: one task may read while
//! another writes, which is gorilla's "one concurrent reader and one concurrent writer"
//! contract. Unlike gorilla, breaking the contract cannot corrupt the stream: concurrent
//! writers are serialized message by message, and concurrent readers wait their turn.
//! [`ConnHandle`] is the cloneable write side, for a second task; [`close`](Conn::close) and
//! [`write_control`](Conn::write_control) work from any task at any time.
//!
//! ```no_run
//! # async fn run(conn: websocket::Conn) -> Result<(), websocket::Error> {
//! // gorilla's echo loop.
//! loop {
//!     let (message_type, data) = conn.read_message().await?;
//!     conn.write_message(message_type, &data).await?;
//! }
//! # }
//! ```

mod handlers;
mod read;
mod shared;
mod write;

use std::{future::Future, future::poll_fn, net::SocketAddr, sync::Arc, time::Instant};

use bytes::{Bytes, BytesMut};
use compat::Hijacked;
use serde::de::DeserializeOwned;
use tokio::sync::Mutex;

pub use handlers::{CloseHandler, HandlerFuture, PingHandler, PongHandler};
pub use read::MessageReader;
pub use write::{ConnHandle, MessageWriter};

use crate::{
    BufferPool, CloseCode, Error, MessageType, PreparedMessage,
    compression::{Deflater, Inflater, Negotiated},
};
use handlers::Handlers;
use read::Reader;

/// Which end of the connection this side is: it decides the masking rules (RFC 6455 5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Server,
    #[allow(dead_code)]
    Client,
}

/// What the handshake decided, handed to [`Conn::new`].
#[derive(Debug, Clone)]
pub(crate) struct ConnConfig {
    pub(crate) role: Role,
    /// The negotiated subprotocol, empty when none.
    pub(crate) subprotocol: String,
    /// Initial read buffer capacity (gorilla's ReadBufferSize); 0 picks the default.
    pub(crate) read_buffer_size: usize,
    /// Write buffer capacity (gorilla's WriteBufferSize); 0 picks the default.
    pub(crate) write_buffer_size: usize,
    /// Pool to borrow the write buffer from while a message is being written.
    pub(crate) write_buffer_pool: Option<Arc<dyn BufferPool>>,
    pub(crate) local_addr: Option<SocketAddr>,
    pub(crate) remote_addr: Option<SocketAddr>,
    /// permessage-deflate as negotiated, `None` when the connection is uncompressed. Both
    /// roles use it: the deflater follows this side's sending parameters (`server_*` on a
    /// server, `client_*` on a client), the inflater the peer's.
    pub(crate) compression: Option<Negotiated>,
}

/// A WebSocket connection (gorilla's `*Conn`). See the [crate docs](crate).
///
/// Methods take `&self`; share a `Conn` between a read task and a write task with an `Arc`,
/// or give the write task a [`ConnHandle`]. Dropping the `Conn` (and its handles) closes the
/// network connection.
pub struct Conn {
    reader: Arc<Mutex<Reader>>,
    handle: ConnHandle,
    handlers: Arc<Handlers>,
    subprotocol: String,
    local_addr: Option<SocketAddr>,
    remote_addr: Option<SocketAddr>,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("subprotocol", &self.subprotocol)
            .field("local_addr", &self.local_addr)
            .field("remote_addr", &self.remote_addr)
            .finish_non_exhaustive()
    }
}

impl Conn {
    /// Wraps a connection whose handshake completed.
    pub(crate) fn new(io: Hijacked, config: ConnConfig) -> Conn {
        let local_addr = config.local_addr.or(io.local_addr());
        let remote_addr = config.remote_addr.or(io.remote_addr());
        if let Some(tcp) = io.tcp_stream() {
            // Messages are written whole; Nagle would only delay the last segment.
            let _ = tcp.set_nodelay(true);
        }
        let (read_half, write_half) = io.into_split();
        let shared = Arc::new(shared::Shared::new());
        let write_compression = config.compression.map(|c| write::WriteCompression {
            deflater: Deflater::new(c.sending(config.role)),
            level: c.level,
            threshold: c.threshold,
        });
        let inflater = config
            .compression
            .map(|c| Inflater::new(c.receiving(config.role)));
        let handle = ConnHandle::new(
            write_half,
            config.role,
            shared,
            config.write_buffer_size,
            config.write_buffer_pool,
            write_compression,
        );
        let handlers = Arc::new(Handlers::new(handle.clone()));
        let reader = Reader::new(
            read_half,
            config.role,
            config.read_buffer_size,
            handlers.clone(),
            handle.clone(),
            inflater,
        );
        Conn {
            reader: Arc::new(Mutex::new(reader)),
            handle,
            handlers,
            subprotocol: config.subprotocol,
            local_addr,
            remote_addr,
        }
    }

    /// Reads the next data message (gorilla's `ReadMessage`): its type and whole payload.
    ///
    /// Control frames that arrive meanwhile go to the ping, pong and close handlers. When the
    /// peer closes, this returns an error whose [`close_error`](Error::close_error) carries
    /// the peer's code. Errors are permanent: every later read returns the same error.
    pub async fn read_message(&self) -> Result<(MessageType, Bytes), Error> {
        // A message already buffered is returned without touching the socket, which is where
        // tokio's cooperative budget is charged: without this, a peer that keeps the buffer
        // full would keep its task running and starve every other connection on the worker
        // (pipelined p99 8.5 ms -> 2.5 ms in the benchmark).
        if self.handle.shared().frame_buffered() {
            tokio::task::consume_budget().await;
        }
        let mut reader = shared::lock(&self.reader).await;
        let message_type = poll_fn(|cx| reader.poll_next_message(cx)).await?;
        let data = if reader.message_compressed() {
            let mut inflated = Vec::new();
            poll_fn(|cx| reader.poll_read_inflated(cx, &mut inflated)).await?;
            Bytes::from(inflated)
        } else {
            let mut collected: Option<BytesMut> = None;
            poll_fn(|cx| reader.poll_read_rest(cx, &mut collected)).await?
        };
        // A reply written now may wait for the reply to the next message (write coalescing).
        self.handle
            .shared()
            .set_frame_buffered(reader.holds_complete_frame());
        Ok((message_type, data))
    }

    /// Returns the next data message as a stream (gorilla's `NextReader`): its type and an
    /// [`AsyncRead`](tokio::io::AsyncRead) that yields the payload frame by frame as it
    /// arrives. An unread remainder of the previous message is discarded first.
    ///
    /// The reader holds the read side until it is dropped.
    pub async fn next_reader(&self) -> Result<(MessageType, MessageReader), Error> {
        let mut reader = self.reader.clone().lock_owned().await;
        self.handle.shared().set_frame_buffered(false);
        let message_type = poll_fn(|cx| reader.poll_next_message(cx)).await?;
        Ok((message_type, MessageReader::new(reader)))
    }

    /// Reads the next message and parses it as JSON (gorilla's `ReadJSON`).
    pub async fn read_json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let (_, data) = self.read_message().await?;
        serde_json::from_slice(&data).map_err(Error::json)
    }

    /// Writes a whole message as one frame (gorilla's `WriteMessage`); replies to pipelined
    /// messages are coalesced, see [`ConnHandle::write_message`].
    pub async fn write_message(&self, message_type: MessageType, data: &[u8]) -> Result<(), Error> {
        self.handle.write_message(message_type, data).await
    }

    /// Returns a writer for the next message (gorilla's `NextWriter`); see
    /// [`ConnHandle::next_writer`].
    pub async fn next_writer(&self, message_type: MessageType) -> Result<MessageWriter, Error> {
        self.handle.next_writer(message_type).await
    }

    /// Serializes `value` as JSON and writes it as a text message (gorilla's `WriteJSON`).
    pub async fn write_json<T: serde::Serialize + ?Sized>(&self, value: &T) -> Result<(), Error> {
        self.handle.write_json(value).await
    }

    /// Writes a prepared message (gorilla's `WritePreparedMessage`); see
    /// [`ConnHandle::write_prepared_message`].
    pub async fn write_prepared_message(&self, message: &PreparedMessage) -> Result<(), Error> {
        self.handle.write_prepared_message(message).await
    }

    /// Sets whether later data messages are compressed (gorilla's `EnableWriteCompression`);
    /// see [`ConnHandle::enable_write_compression`].
    pub fn enable_write_compression(&self, enable: bool) {
        self.handle.enable_write_compression(enable);
    }

    /// Sets the compression level of later data messages (gorilla's `SetCompressionLevel`);
    /// see [`ConnHandle::set_compression_level`].
    pub fn set_compression_level(&self, level: i32) -> Result<(), Error> {
        self.handle.set_compression_level(level)
    }

    /// Writes a control message (gorilla's `WriteControl`); see [`ConnHandle::write_control`].
    pub async fn write_control(
        &self,
        message_type: MessageType,
        data: &[u8],
        deadline: Option<Instant>,
    ) -> Result<(), Error> {
        self.handle
            .write_control(message_type, data, deadline)
            .await
    }

    /// Closes the connection without a closing handshake (gorilla's `Close`); see
    /// [`ConnHandle::close`].
    pub async fn close(&self) -> Result<(), Error> {
        self.handle.close().await
    }

    /// A cloneable handle to the write side and the deadlines, for another task or a handler.
    pub fn handle(&self) -> ConnHandle {
        self.handle.clone()
    }

    /// Sets the read deadline (gorilla's `SetReadDeadline`); `None` clears it. A read that is
    /// still waiting at the deadline fails with [`Error::is_timeout`], permanently.
    pub fn set_read_deadline(&self, deadline: Option<Instant>) {
        self.handle.set_read_deadline(deadline);
    }

    /// Sets the write deadline (gorilla's `SetWriteDeadline`); `None` clears it.
    pub fn set_write_deadline(&self, deadline: Option<Instant>) {
        self.handle.set_write_deadline(deadline);
    }

    /// Sets the largest message, in bytes, the peer may send (gorilla's `SetReadLimit`). A
    /// larger message fails the read with [`Error::is_read_limit`] and closes the connection
    /// with code 1009. The default is 64 MiB; 0 means no limit.
    pub fn set_read_limit(&self, limit: u64) {
        self.handle.shared().set_read_limit(limit);
    }

    /// Sets the handler for pings (gorilla's `SetPingHandler`); `None` restores the default,
    /// which answers with a pong carrying the same data.
    ///
    /// Handlers run inside the reader; one that writes should capture a [`ConnHandle`], not
    /// the `Conn` (a `Conn` captured by its own handler would never be freed):
    ///
    /// ```no_run
    /// # fn demo(conn: &websocket::Conn) {
    /// use websocket::MessageType;
    /// let handle = conn.handle();
    /// conn.set_ping_handler(Some(move |data: bytes::Bytes| {
    ///     let handle = handle.clone();
    ///     async move { handle.write_control(MessageType::Pong, &data, None).await }
    /// }));
    /// # }
    /// ```
    pub fn set_ping_handler<F, Fut>(&self, handler: Option<F>)
    where
        F: Fn(Bytes) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Error>> + Send + 'static,
    {
        self.handlers.set_ping(
            handler
                .map(|h| Arc::new(move |data| Box::pin(h(data)) as HandlerFuture) as PingHandler),
        );
    }

    /// Sets the handler for pongs (gorilla's `SetPongHandler`); `None` restores the default,
    /// which does nothing. The usual pong handler pushes the read deadline forward:
    ///
    /// ```no_run
    /// # fn demo(conn: &websocket::Conn) {
    /// use std::time::{Duration, Instant};
    /// let handle = conn.handle();
    /// conn.set_pong_handler(Some(move |_data: bytes::Bytes| {
    ///     handle.set_read_deadline(Some(Instant::now() + Duration::from_secs(60)));
    ///     async { Ok(()) }
    /// }));
    /// # }
    /// ```
    pub fn set_pong_handler<F, Fut>(&self, handler: Option<F>)
    where
        F: Fn(Bytes) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Error>> + Send + 'static,
    {
        self.handlers.set_pong(
            handler
                .map(|h| Arc::new(move |data| Box::pin(h(data)) as HandlerFuture) as PongHandler),
        );
    }

    /// Sets the handler for the peer's close message (gorilla's `SetCloseHandler`); `None`
    /// restores the default, which echoes the close code back. Either way the read then fails
    /// with the peer's [`CloseError`](crate::CloseError).
    pub fn set_close_handler<F, Fut>(&self, handler: Option<F>)
    where
        F: Fn(CloseCode, String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Error>> + Send + 'static,
    {
        self.handlers.set_close(handler.map(|h| {
            Arc::new(move |code, text| Box::pin(h(code, text)) as HandlerFuture) as CloseHandler
        }));
    }

    /// The current ping handler (gorilla's `PingHandler`).
    pub fn ping_handler(&self) -> PingHandler {
        self.handlers.ping()
    }

    /// The current pong handler (gorilla's `PongHandler`).
    pub fn pong_handler(&self) -> PongHandler {
        self.handlers.pong()
    }

    /// The current close handler (gorilla's `CloseHandler`).
    pub fn close_handler(&self) -> CloseHandler {
        self.handlers.close()
    }

    /// The negotiated subprotocol, empty when none (gorilla's `Subprotocol`).
    pub fn subprotocol(&self) -> &str {
        &self.subprotocol
    }

    /// The local network address, when known (gorilla's `LocalAddr`).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }

    /// The peer's network address, when known (gorilla's `RemoteAddr`).
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote_addr
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod deflate_tests;

#[cfg(test)]
mod coalesce_tests;
