//! The write half: [`ConnHandle`], which every task may share, and [`MessageWriter`], the
//! streaming writer `next_writer` returns.
//!
//! Two locks keep the wire sane under concurrent use. `message` is held for a whole data
//! message, so two writers never interleave their fragments; `wire` is held only while one
//! frame is written, so a control frame (a pong, a close) can slip in between the fragments
//! of a long message, as RFC 6455 5.4 allows.
//!
//! With permessage-deflate the compressor lives under the `message` lock (it is a property of
//! the message stream), with the buffer its output goes to, which is kept between messages
//! (or, with a [`BufferPool`], borrowed per message like the write buffer).
//!
//! # Write coalescing
//!
//! With `TCP_NODELAY` every `write` is a segment, and on loopback the sender pays for the
//! receiver's TCP processing too, so answering pipelined messages one `write` each is what
//! limits a relay or echo loop. When the reader already holds the peer's next complete frame
//! (it will not touch the socket to return it), a whole-message frame is left in the wire
//! buffer instead: the reply to the next message joins it. The deferred bytes go out, in
//! order, with the next frame that is written now, when the reader is about to wait for the
//! socket (a non-blocking attempt that never makes the reader wait on the writer), or from a
//! task spawned when the first frame was deferred, which runs as soon as the writing task
//! yields. So a deferred frame waits at most until the writing task's next `.await` that is
//! not ready; an application that blocks or computes at length before that delays it as it
//! delays everything else on its worker. The spawned task stops waiting on a peer that does
//! not read once every `Conn` and handle is gone, so it never keeps an abandoned connection
//! open.
//!
//! A write dropped while it waits for the socket (a caller's timeout) leaves the rest of its
//! frame in the buffer, marked deferred, so the stream never ends in half a frame; only a
//! large frame written straight from the caller's slice cannot be completed later, and marks
//! the connection broken instead.

use std::{
    future::Future,
    io, mem,
    pin::Pin,
    sync::{
        Arc, Weak,
        atomic::{AtomicBool, AtomicI32, Ordering},
    },
    task::{Context, Poll, ready},
    time::{Duration, Instant},
};

use bytes::{Buf, BytesMut};
use compat::HijackedWriteHalf;
use serde::Serialize;
use tokio::{
    io::{AsyncWrite, AsyncWriteExt},
    sync::{Mutex, OwnedMutexGuard},
};
use tungstenite::protocol::frame::coding::{Data, OpCode};

use crate::{
    BufferPool, CloseCode, Error, MessageType,
    close::format_close_message,
    compression::{Chunk, Deflater, flate_level},
    conn::{
        Role,
        shared::{Shared, lock},
    },
    frame::{MAX_HEADER_LEN, write_header},
    mask::apply_mask,
    prepared::PreparedMessage,
};

/// Payloads up to this size are copied behind the header and sent with one `write`; larger
/// ones go out as a vectored write of header and payload, without the copy.
const COPY_PAYLOAD_MAX: usize = 16 * 1024;

/// The default write buffer of a [`MessageWriter`] (gorilla's default `WriteBufferSize`).
pub(crate) const DEFAULT_WRITE_BUFFER_SIZE: usize = 4096;

/// The largest control frame payload (RFC 6455 5.5).
const MAX_CONTROL_PAYLOAD: usize = 125;

/// Buffers that grew past this for one large message are not kept.
const KEEP_BUFFER_MAX: usize = 64 * 1024;

/// Deferred frames go out once they add up to this many bytes (see the module docs). Small
/// enough that the wire buffer stays under [`KEEP_BUFFER_MAX`] with one more frame copied in.
const COALESCE_MAX: usize = 32 * 1024;

/// How often a spawned flush that the peer does not let finish checks whether anyone is left
/// to write for (see `flush_deferred`).
const ABANDONED_CHECK: Duration = Duration::from_secs(1);

/// Whether a frame may wait in the wire buffer for the next one (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flush {
    /// Written before the call returns: fragments, control frames.
    Now,
    /// A whole data message: may be deferred while the reader holds the next frame.
    MayDefer,
}

struct Wire {
    io: HijackedWriteHalf,
    /// Deferred frames (see the module docs), followed while a frame is being written by
    /// that frame's header and, when small, its payload.
    buf: BytesMut,
    /// Set once writes are refused, with the error they get: a write failed, timed out, or
    /// `close` was called.
    err: Option<Error>,
    /// The byte stream may end in part of a frame (a write failed or was dropped part way):
    /// nothing at all may be written any more, deferred frames included. Refused writes
    /// (`err` alone) leave the stream whole, and deferred frames still go out.
    broken: bool,
    /// `close` shut the write side down.
    shut_down: bool,
    close_sent: bool,
}

/// The state of the data message stream, held for a whole message.
pub(crate) struct MessageState {
    /// permessage-deflate's compressor, when negotiated and the sending window allows it.
    deflater: Option<Deflater>,
    /// Compressed output, reused between messages (none held when there is a pool).
    out: Vec<u8>,
    /// A compressed message was produced but may not have reached the wire (its write was
    /// cancelled): the peer's window lacks it, so the compressor must start afresh.
    unsent: bool,
}

pub(crate) struct WriteShared {
    /// This structure itself, for the task that flushes deferred frames.
    this: Weak<WriteShared>,
    /// The handles' token: no strong count left means no `Conn` or handle is.
    owners: Weak<()>,
    wire: Mutex<Wire>,
    /// The wire buffer holds deferred frames. Changed only under the `wire` lock; read
    /// without it by the reader's opportunistic flush.
    deferred: AtomicBool,
    /// A task that flushes deferred frames has been spawned and has not started yet.
    flush_scheduled: AtomicBool,
    message: Arc<Mutex<MessageState>>,
    role: Role,
    shared: Arc<Shared>,
    write_buffer_size: usize,
    pool: Option<Arc<dyn BufferPool>>,
    /// gorilla's `EnableWriteCompression`.
    compress_enabled: AtomicBool,
    /// gorilla's `SetCompressionLevel`, in Go's numbering (validated).
    level: AtomicI32,
    /// Data messages shorter than this are sent uncompressed.
    threshold: usize,
}

/// How a connection sends compressed messages; `None` in [`ConnHandle::new`] when
/// compression was not negotiated.
pub(crate) struct WriteCompression {
    /// `None` when the sending window is too small to compress into (8 bits).
    pub(crate) deflater: Option<Deflater>,
    pub(crate) level: i32,
    pub(crate) threshold: usize,
}

/// A cloneable handle to a connection's write side and settings.
///
/// Everything here may be called from any task while another task reads: it is what gorilla's
/// chat example calls from `writePump` while `readPump` blocks in `ReadMessage`, and what
/// control handlers capture to reply. [`Conn`](crate::Conn) offers the same methods; a handle
/// is how a second task gets them. Holding a handle does not keep the read half alive.
#[derive(Clone)]
pub struct ConnHandle {
    inner: Arc<WriteShared>,
    /// Counts the handles (and so the `Conn`s) still alive, for a flush task to tell whether
    /// anyone is left to write for; tasks and background writers hold `inner` only.
    _owner: Arc<()>,
}

impl std::fmt::Debug for ConnHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnHandle")
            .field("role", &self.inner.role)
            .finish_non_exhaustive()
    }
}

impl ConnHandle {
    pub(crate) fn new(
        io: HijackedWriteHalf,
        role: Role,
        shared: Arc<Shared>,
        write_buffer_size: usize,
        pool: Option<Arc<dyn BufferPool>>,
        compression: Option<WriteCompression>,
    ) -> Self {
        let write_buffer_size = match write_buffer_size {
            0 => DEFAULT_WRITE_BUFFER_SIZE,
            n => n,
        };
        let (deflater, level, threshold) = match compression {
            Some(c) => (c.deflater, c.level, c.threshold),
            None => (None, 0, 0),
        };
        let level = if flate_level(level).is_some() {
            level
        } else {
            crate::CompressionOptions::DEFAULT_LEVEL
        };
        let owner = Arc::new(());
        ConnHandle {
            inner: Arc::new_cyclic(|this| WriteShared {
                this: this.clone(),
                owners: Arc::downgrade(&owner),
                wire: Mutex::new(Wire {
                    io,
                    buf: BytesMut::new(),
                    err: None,
                    broken: false,
                    shut_down: false,
                    close_sent: false,
                }),
                deferred: AtomicBool::new(false),
                flush_scheduled: AtomicBool::new(false),
                message: Arc::new(Mutex::new(MessageState {
                    deflater,
                    out: Vec::new(),
                    unsent: false,
                })),
                role,
                shared,
                write_buffer_size,
                pool,
                compress_enabled: AtomicBool::new(true),
                level: AtomicI32::new(level),
                threshold,
            }),
            _owner: owner,
        }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.inner.shared
    }

    /// Writes a whole message as one frame (gorilla's `WriteMessage`). Control types are
    /// written as by [`write_control`](Self::write_control) with the write deadline.
    ///
    /// Replies to pipelined messages are coalesced: when the reader already holds the peer's
    /// next complete frame, a small message (up to 32 KiB of frames in all) may be left in
    /// the connection's buffer and sent with the reply to that next message, so a burst of
    /// requests is answered with a few writes instead of one each. It goes out with the next
    /// frame written, before the reader waits for the socket, or from a task that runs as
    /// soon as the writing task yields (its next `.await` that is not ready). As with any
    /// buffered write, an
    /// error sending it is reported by a later call, and if the application drops every
    /// `Conn` and handle while the peer does not read, it is given up after about a second
    /// rather than keep the connection open.
    pub async fn write_message(&self, message_type: MessageType, data: &[u8]) -> Result<(), Error> {
        if message_type.is_control() {
            let deadline = self.inner.shared.write_deadline();
            return self.write_control(message_type, data, deadline).await;
        }
        let mut state = lock(&self.inner.message).await;
        let deadline = self.inner.shared.write_deadline();
        if self.inner.should_compress(&state, data.len()) {
            return self
                .inner
                .write_compressed(&mut state, message_type, data, deadline)
                .await;
        }
        self.inner
            .write_message_frame(false, message_type, data, deadline)
            .await
    }

    /// Writes a message prepared with [`PreparedMessage::new`] (gorilla's
    /// `WritePreparedMessage`): the encoding that suits this connection is made once per
    /// prepared message and reused for every connection that needs the same one.
    ///
    /// See [`PreparedMessage`] for what is shared between connections and what is not
    /// (a connection that keeps its compression context compresses the message itself).
    pub async fn write_prepared_message(&self, message: &PreparedMessage) -> Result<(), Error> {
        let message_type = message.message_type();
        if message_type.is_control() {
            return self.write_message(message_type, message.data()).await;
        }
        let mut state = lock(&self.inner.message).await;
        let deadline = self.inner.shared.write_deadline();
        let data = message.data();
        if !self.inner.should_compress(&state, data.len()) {
            return self
                .inner
                .write_message_frame(false, message_type, data, deadline)
                .await;
        }
        let deflater = state.deflater.as_ref().expect("should_compress checked");
        if deflater.context_takeover() {
            // The bytes depend on this connection's window: compress here, like any message.
            return self
                .inner
                .write_compressed(&mut state, message_type, data, deadline)
                .await;
        }
        let level = self.inner.level.load(Ordering::Relaxed);
        let payload = message.compressed(deflater.window_bits(), level)?;
        self.inner
            .write_message_frame(true, message_type, &payload, deadline)
            .await
    }

    /// Sets whether later data messages are compressed (gorilla's `EnableWriteCompression`).
    /// It is on by default and has no effect when compression was not negotiated. Turning it
    /// off only changes what this side sends; the peer may still compress.
    pub fn enable_write_compression(&self, enable: bool) {
        self.inner.compress_enabled.store(enable, Ordering::Relaxed);
    }

    /// Sets the compression level of later data messages (gorilla's `SetCompressionLevel`),
    /// as Go's `compress/flate` numbers them: 0 (stored) to 9 (best), -1 for the default (6).
    /// A message being written keeps the level it started with.
    ///
    /// Fails with [`Error::is_invalid_argument`] for any other value, including Go's -2
    /// (Huffman only), which the deflate backend does not offer.
    pub fn set_compression_level(&self, level: i32) -> Result<(), Error> {
        if flate_level(level).is_none() {
            return Err(Error::invalid_argument(
                "websocket: invalid compression level (valid: -1 to 9)",
            ));
        }
        self.inner.level.store(level, Ordering::Relaxed);
        Ok(())
    }

    /// Serializes `value` as JSON and writes it as a text message (gorilla's `WriteJSON`).
    pub async fn write_json<T: Serialize + ?Sized>(&self, value: &T) -> Result<(), Error> {
        let data = serde_json::to_vec(value).map_err(Error::json)?;
        self.write_message(MessageType::Text, &data).await
    }

    /// Writes a control message: close, ping or pong (gorilla's `WriteControl`).
    ///
    /// It may be called while another task writes a long message: the frame goes out between
    /// two of its fragments. `deadline` bounds both the wait for the wire and the write
    /// (`None`: no bound). After a close message, every write fails with
    /// [`Error::is_close_sent`].
    pub async fn write_control(
        &self,
        message_type: MessageType,
        data: &[u8],
        deadline: Option<Instant>,
    ) -> Result<(), Error> {
        if !message_type.is_control() {
            return Err(Error::invalid_argument(
                "write_control: not a control message type",
            ));
        }
        if data.len() > MAX_CONTROL_PAYLOAD {
            return Err(Error::invalid_argument(
                "write_control: control message payload longer than 125 bytes",
            ));
        }
        self.inner
            .write_frame(
                true,
                false,
                message_type.opcode(),
                data,
                deadline,
                Flush::Now,
            )
            .await
    }

    /// Returns a writer for the next message (gorilla's `NextWriter`).
    ///
    /// Writes are buffered up to the write buffer size and sent as fragments; shutting the
    /// writer down (`AsyncWriteExt::shutdown`) sends the final fragment. Other data writes wait
    /// until this message is complete. A writer dropped without shutdown still completes its
    /// message in the background, as gorilla's next `NextWriter` closes the previous writer.
    pub async fn next_writer(&self, message_type: MessageType) -> Result<MessageWriter, Error> {
        let guard = self.inner.message.clone().lock_owned().await;
        Ok(MessageWriter {
            buf: self.inner.take_buffer(),
            inner: self.inner.clone(),
            guard: Some(guard),
            message_type,
            first: true,
            done: false,
            in_flight: None,
            compress: None,
            out: Vec::new(),
            detached: false,
        })
    }

    /// Sets the deadline for data writes (gorilla's `SetWriteDeadline`); `None` clears it. A
    /// write that misses it fails with [`Error::is_timeout`] and the connection is then broken.
    pub fn set_write_deadline(&self, deadline: Option<Instant>) {
        self.inner.shared.set_write_deadline(deadline);
    }

    /// Sets the deadline for reads (gorilla's `SetReadDeadline`); `None` clears it. Pong
    /// handlers typically push it forward.
    pub fn set_read_deadline(&self, deadline: Option<Instant>) {
        self.inner.shared.set_read_deadline(deadline);
    }

    /// Closes the connection without a closing handshake (gorilla's `Close`): pending reads
    /// and writes on every task end with an error, and the write side is shut down. Sending
    /// a close message first is the caller's choice, as in gorilla. Calling it again is a no-op.
    pub async fn close(&self) -> Result<(), Error> {
        self.inner.shared.closed.cancel();
        // Writers watch `closed`, so the wire frees up promptly.
        let mut wire = self.inner.wire.lock().await;
        if wire.shut_down {
            return Ok(());
        }
        wire.shut_down = true;
        if wire.err.is_none() {
            wire.err = Some(Error::local_closed());
        }
        let Wire {
            io, buf, broken, ..
        } = &mut *wire;
        let whole = !*broken;
        // Deferred frames were reported as written, so they go out first, if the stream is
        // whole. Neither step may hang close (a peer that stopped reading).
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            if whole {
                write_out(io, buf).await?;
            }
            io.shutdown().await
        })
        .await;
        *broken = true;
        self.inner.wire_written(buf);
        Ok(())
    }

    /// See [`WriteShared::try_flush_deferred`].
    pub(crate) fn try_flush_deferred(&self, cx: &mut Context<'_>) {
        self.inner.try_flush_deferred(cx);
    }

    /// Sends a close message with `code` and `reason`, bounded by one second. Used after a
    /// protocol error; errors are ignored since the connection is failing anyway.
    pub(crate) fn close_frame(&self, code: CloseCode, reason: &str) -> super::HandlerFuture {
        let handle = self.clone();
        let payload = format_close_message(code, reason);
        Box::pin(async move {
            let deadline = Instant::now() + Duration::from_secs(1);
            let _ = handle
                .write_control(MessageType::Close, &payload, Some(deadline))
                .await;
            Ok(())
        })
    }
}

impl WriteShared {
    /// Whether a data message of `len` bytes goes out compressed.
    fn should_compress(&self, state: &MessageState, len: usize) -> bool {
        state.deflater.is_some()
            && len >= self.threshold
            && self.compress_enabled.load(Ordering::Relaxed)
    }

    fn level(&self) -> flate2::Compression {
        flate_level(self.level.load(Ordering::Relaxed)).unwrap_or_default()
    }

    /// The buffer compressed output goes to: the connection's own, or one from the pool.
    fn take_out(&self, state: &mut MessageState) -> Vec<u8> {
        let mut out = match &self.pool {
            Some(pool) => pool.get().map(Vec::from).unwrap_or_default(),
            None => mem::take(&mut state.out),
        };
        out.clear();
        out
    }

    fn return_out(&self, state: &mut MessageState, mut out: Vec<u8>) {
        out.clear();
        match &self.pool {
            // Both conversions keep the allocation (the buffer is not shared).
            Some(pool) => pool.put(BytesMut::from(bytes::Bytes::from(out))),
            None if out.capacity() > KEEP_BUFFER_MAX => {}
            None => state.out = out,
        }
    }

    /// Starts compressing a message: a compressor whose last output may not have been sent
    /// is reset first, so that nothing refers to bytes the peer never saw.
    fn begin_compressed(state: &mut MessageState) {
        if mem::take(&mut state.unsent) {
            if let Some(deflater) = state.deflater.as_mut() {
                deflater.reset();
            }
        }
    }

    /// Compresses `data` as one message and writes it as one frame with RSV1.
    async fn write_compressed(
        &self,
        state: &mut MessageState,
        message_type: MessageType,
        data: &[u8],
        deadline: Option<Instant>,
    ) -> Result<(), Error> {
        Self::begin_compressed(state);
        let mut out = self.take_out(state);
        let deflater = state.deflater.as_mut().expect("should_compress checked");
        state.unsent = true;
        deflater.compress(data, &mut out, self.level(), Chunk::End)?;
        let result = self
            .write_message_frame(true, message_type, &out, deadline)
            .await;
        state.unsent = false;
        self.return_out(state, out);
        result
    }

    fn take_buffer(&self) -> BytesMut {
        self.pool
            .as_ref()
            .and_then(|p| p.get())
            .unwrap_or_else(|| BytesMut::with_capacity(self.write_buffer_size))
    }

    fn return_buffer(&self, mut buf: BytesMut) {
        if let Some(pool) = &self.pool {
            buf.clear();
            pool.put(buf);
        }
    }

    /// Writes a whole data message as one frame, which may be deferred (write coalescing).
    async fn write_message_frame(
        &self,
        compressed: bool,
        message_type: MessageType,
        payload: &[u8],
        deadline: Option<Instant>,
    ) -> Result<(), Error> {
        let opcode = message_type.opcode();
        self.write_frame(true, compressed, opcode, payload, deadline, Flush::MayDefer)
            .await
    }

    /// Writes one frame, holding the wire only for as long as that takes. With
    /// [`Flush::MayDefer`] the frame may instead be left in the wire buffer (see the module
    /// docs), behind any frames deferred before it.
    async fn write_frame(
        &self,
        fin: bool,
        rsv1: bool,
        opcode: OpCode,
        payload: &[u8],
        deadline: Option<Instant>,
        flush: Flush,
    ) -> Result<(), Error> {
        let mut wire = match (self.wire.try_lock(), deadline) {
            (Ok(wire), _) => wire,
            (Err(_), Some(d)) => tokio::time::timeout_at(d.into(), self.wire.lock())
                .await
                .map_err(|_| Error::timeout())?,
            (Err(_), None) => self.wire.lock().await,
        };
        if let Some(err) = &wire.err {
            return Err(err.clone());
        }
        if wire.close_sent {
            return Err(Error::close_sent());
        }
        // Refused before a byte of this frame is written: the stream stays whole, so frames
        // deferred before it still go out (`close` sends them).
        if self.shared.closed.is_cancelled() {
            return Err(Error::local_closed());
        }
        let control = matches!(opcode, OpCode::Control(_));
        if deadline.is_some_and(|d| Instant::now() >= d) {
            // gorilla: a data write that misses its deadline leaves every later write failing;
            // a control frame past its deadline is only refused.
            if !control {
                wire.err = Some(Error::timeout());
            }
            return Err(Error::timeout());
        }
        if opcode == OpCode::Control(tungstenite::protocol::frame::coding::Control::Close) {
            // Set before writing: even a failed attempt means no more data may follow.
            wire.close_sent = true;
        }
        let result = self
            .encode_and_write(&mut wire, fin, rsv1, opcode, payload, deadline, flush)
            .await;
        if let Err(err) = &result {
            wire.err = Some(err.clone());
            wire.broken = true;
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    async fn encode_and_write(
        &self,
        wire: &mut Wire,
        fin: bool,
        rsv1: bool,
        opcode: OpCode,
        payload: &[u8],
        deadline: Option<Instant>,
        flush: Flush,
    ) -> Result<(), Error> {
        let Wire {
            io,
            buf,
            err,
            broken,
            ..
        } = wire;
        if buf.capacity() == 0 {
            if let Some(pooled) = self.pool.as_ref().and_then(|p| p.get()) {
                *buf = pooled;
            }
        }
        let copy = payload.len() <= COPY_PAYLOAD_MAX || self.role == Role::Client;
        buf.reserve(MAX_HEADER_LEN + if copy { payload.len() } else { 0 });
        let mask = (self.role == Role::Client).then(rand::random::<[u8; 4]>);
        write_header(buf, fin, rsv1, opcode, mask, payload.len() as u64);
        let result = if copy {
            let header_end = buf.len();
            buf.extend_from_slice(payload);
            if let Some(key) = mask {
                apply_mask(&mut buf[header_end..], key, 0);
            }
            if flush == Flush::MayDefer && buf.len() <= COALESCE_MAX && self.shared.frame_buffered()
            {
                // Set before the flush task can look at it.
                self.deferred.store(true, Ordering::SeqCst);
                if self.schedule_flush() {
                    return Ok(());
                }
            }
            self.write_buffer(deadline, io, buf).await
        } else {
            // The payload is the caller's: if this write is dropped part way (a caller's
            // timeout), the rest of the frame is gone, so until it completes the stream counts
            // as broken.
            *broken = true;
            *err = Some(Error::io(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "websocket: an earlier write was cancelled part way through a frame",
            )));
            let result =
                with_deadline(&self.shared, deadline, write_all_vectored(io, buf, payload)).await;
            if result.is_ok() {
                *broken = false;
                *err = None;
            }
            result
        };
        self.wire_written(buf);
        result
    }

    /// Writes out `buf`: first as far as the socket takes it without waiting, which is nearly
    /// always all of it, and only a rest that must wait is raced against the deadline and
    /// `close` (building that race for every frame cost 6% of a 1 KiB echo).
    async fn write_buffer(
        &self,
        deadline: Option<Instant>,
        io: &mut HijackedWriteHalf,
        buf: &mut BytesMut,
    ) -> Result<(), Error> {
        let now = std::future::poll_fn(|cx| match Pin::new(&mut *io).poll_write(cx, buf) {
            Poll::Ready(result) => Poll::Ready(Some(result)),
            Poll::Pending => Poll::Ready(None),
        })
        .await;
        match now {
            Some(Ok(0)) => return Err(Error::io(io::ErrorKind::WriteZero.into())),
            Some(Ok(n)) => buf.advance(n),
            Some(Err(e)) => return Err(Error::io(e)),
            None => {}
        }
        if buf.is_empty() {
            return Ok(());
        }
        // The rest waits for the socket. Should this future be dropped meanwhile (a caller's
        // timeout), what is left stays in `buf` as deferred bytes and the flush task sends
        // it: the stream never ends in half a frame, nor repeats part of one.
        self.deferred.store(true, Ordering::SeqCst);
        self.schedule_flush();
        with_deadline(&self.shared, deadline, write_out(io, buf)).await
    }

    /// Called once the wire buffer was written out (or failed to be): empties it, giving it
    /// back to the pool or dropping it when a large frame made it grow.
    fn wire_written(&self, buf: &mut BytesMut) {
        buf.clear();
        self.deferred.store(false, Ordering::SeqCst);
        if self.pool.is_some() {
            self.return_buffer(mem::take(buf));
        } else if buf.capacity() > KEEP_BUFFER_MAX {
            *buf = BytesMut::new();
        }
    }

    /// Makes sure a task will flush deferred frames: spawns one unless one is already due.
    /// Returns false when no task can be spawned (outside a runtime): the frame is then
    /// written at once.
    fn schedule_flush(&self) -> bool {
        // SeqCst here and in `flush_deferred`: each side stores one flag and then reads the
        // other, and one of the two must see the other's store.
        if self.flush_scheduled.swap(true, Ordering::SeqCst) {
            return true;
        }
        let (Some(this), Ok(runtime)) =
            (self.this.upgrade(), tokio::runtime::Handle::try_current())
        else {
            self.flush_scheduled.store(false, Ordering::SeqCst);
            return false;
        };
        // Resets the flag if the task is dropped unrun (its runtime shutting down), so a
        // later deferral schedules a new one.
        let reset = ResetFlushScheduled(this.clone());
        runtime.spawn(async move {
            this.flush_deferred().await;
            drop(reset);
        });
        true
    }

    /// The spawned flush: writes out whatever was deferred, waiting for the socket as any
    /// writer does (bounded by the write deadline and by `close`). Unlike a writer, nobody
    /// waits for it: once every `Conn` and handle is gone it gives up on a peer that does not
    /// read, rather than hold the connection open for that peer.
    async fn flush_deferred(self: Arc<Self>) {
        // Cleared before taking the lock: a frame deferred after this point schedules a
        // new flush, one deferred before it is written here.
        self.flush_scheduled.store(false, Ordering::SeqCst);
        if !self.deferred.load(Ordering::SeqCst) {
            return;
        }
        let mut wire = self.wire.lock().await;
        if !self.deferred.load(Ordering::Relaxed) || wire.broken {
            return;
        }
        let deadline = self.shared.write_deadline();
        let Wire { io, buf, .. } = &mut *wire;
        let result = loop {
            // `write_out` takes bytes out of `buf` only once they are written, so stopping
            // between two checks loses nothing.
            let bounded = with_deadline(&self.shared, deadline, write_out(io, buf));
            match tokio::time::timeout(ABANDONED_CHECK, bounded).await {
                Ok(result) => break result,
                Err(_) if self.owners.strong_count() == 0 => break Err(Error::local_closed()),
                Err(_) => {}
            }
        };
        self.wire_written(buf);
        if let Err(err) = result {
            wire.err = Some(err);
            wire.broken = true;
        }
    }

    /// The reader's flush before it waits for the socket: writes deferred frames as far as
    /// the socket takes them without waiting, and leaves the rest to the spawned flush. It
    /// never waits for the wire lock either: a writer holding it sends the deferred frames
    /// with its own.
    pub(crate) fn try_flush_deferred(&self, cx: &mut Context<'_>) {
        if !self.deferred.load(Ordering::Acquire) {
            return;
        }
        let Ok(mut wire) = self.wire.try_lock() else {
            return;
        };
        if wire.broken || self.shared.closed.is_cancelled() {
            return;
        }
        let Wire { io, buf, .. } = &mut *wire;
        while !buf.is_empty() {
            match Pin::new(&mut *io).poll_write(cx, buf) {
                Poll::Ready(Ok(0)) => {
                    let err = Error::io(io::ErrorKind::WriteZero.into());
                    self.wire_written(buf);
                    wire.err = Some(err);
                    wire.broken = true;
                    return;
                }
                Poll::Ready(Ok(n)) => buf.advance(n),
                Poll::Ready(Err(e)) => {
                    self.wire_written(buf);
                    wire.err = Some(Error::io(e));
                    wire.broken = true;
                    return;
                }
                Poll::Pending => return,
            }
        }
        self.wire_written(buf);
    }
}

/// Clears `flush_scheduled` when dropped: see `schedule_flush`.
struct ResetFlushScheduled(Arc<WriteShared>);

impl Drop for ResetFlushScheduled {
    fn drop(&mut self) {
        self.0.flush_scheduled.store(false, Ordering::SeqCst);
    }
}

/// Runs an IO operation bounded by `deadline` and by the connection being closed.
pub(crate) async fn with_deadline<T>(
    shared: &Shared,
    deadline: Option<Instant>,
    op: impl Future<Output = io::Result<T>>,
) -> Result<T, Error> {
    let bounded = async {
        match deadline {
            Some(d) => match tokio::time::timeout_at(d.into(), op).await {
                Ok(r) => r.map_err(Error::io),
                Err(_) => Err(Error::timeout()),
            },
            None => op.await.map_err(Error::io),
        }
    };
    tokio::select! {
        biased;
        r = bounded => r,
        _ = shared.closed.cancelled() => Err(Error::local_closed()),
    }
}

/// Writes all of `buf`, taking bytes out of it only once they are written: dropped part way,
/// it leaves exactly the unwritten rest.
async fn write_out(io: &mut HijackedWriteHalf, buf: &mut BytesMut) -> io::Result<()> {
    while !buf.is_empty() {
        if io.write_buf(buf).await? == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
    }
    Ok(())
}

async fn write_all_vectored(
    io: &mut HijackedWriteHalf,
    header: &[u8],
    payload: &[u8],
) -> io::Result<()> {
    let (mut header, mut payload) = (header, payload);
    while !header.is_empty() {
        let n = io
            .write_vectored(&[io::IoSlice::new(header), io::IoSlice::new(payload)])
            .await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        if n < header.len() {
            header = &header[n..];
        } else {
            payload = &payload[n - header.len()..];
            header = &[];
        }
    }
    io.write_all(payload).await
}

/// The buffer a frame was written from, given back when the write ends.
enum Payload {
    /// Uncompressed bytes: the writer's buffer.
    Raw(BytesMut),
    /// Compressed output.
    Compressed(Vec<u8>),
}

type FrameFuture = Pin<Box<dyn Future<Output = (Result<(), Error>, Payload)> + Send>>;

/// A message being written in fragments; made by `next_writer`. Implements [`AsyncWrite`]:
/// `shutdown` ends the message.
///
/// With compression negotiated, the message is compressed as it is written (unless it ends
/// before the first fragment is due and is shorter than the threshold); `flush` then makes
/// everything written so far decodable by the peer (a deflate sync flush).
pub struct MessageWriter {
    inner: Arc<WriteShared>,
    guard: Option<OwnedMutexGuard<MessageState>>,
    message_type: MessageType,
    buf: BytesMut,
    first: bool,
    done: bool,
    in_flight: Option<FrameFuture>,
    /// Whether the message is compressed: decided when its first fragment is due.
    compress: Option<bool>,
    /// Compressed output not yet sent, or the idle output buffer.
    out: Vec<u8>,
    /// This writer finishes a dropped one in the background: if it is dropped in turn (its
    /// runtime shutting down), it must not spawn yet another.
    detached: bool,
}

impl std::fmt::Debug for MessageWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageWriter")
            .field("message_type", &self.message_type)
            .field("buffered", &self.buf.len())
            .field("compressed", &self.compress)
            .field("done", &self.done)
            .finish()
    }
}

impl MessageWriter {
    fn opcode(&self) -> OpCode {
        if self.first {
            self.message_type.opcode()
        } else {
            OpCode::Data(Data::Continue)
        }
    }

    /// Starts writing the buffered bytes as a frame (compressed, when this message is);
    /// `sync` makes compressed output so far decodable now. A compressed fragment that
    /// deflate has no output for yet is not sent.
    fn send_buffered(&mut self, fin: bool, sync: bool) -> Result<(), Error> {
        let inner = self.inner.clone();
        let compress = match self.compress {
            Some(compress) => compress,
            None => {
                // The size is known only when the whole message is in the buffer.
                let size = if fin { self.buf.len() } else { usize::MAX };
                let state = self
                    .guard
                    .as_deref_mut()
                    .expect("the writer holds the lock");
                let compress =
                    !self.message_type.is_control() && inner.should_compress(state, size);
                if compress {
                    WriteShared::begin_compressed(state);
                    self.out = inner.take_out(state);
                    state.unsent = true;
                }
                self.compress = Some(compress);
                compress
            }
        };
        let opcode = self.opcode();
        if !compress {
            let buf = mem::take(&mut self.buf);
            self.first = false;
            self.in_flight = Some(Box::pin(async move {
                let deadline = inner.shared.write_deadline();
                let result = inner
                    .write_frame(fin, false, opcode, &buf, deadline, Flush::Now)
                    .await;
                (result, Payload::Raw(buf))
            }));
            return Ok(());
        }
        let chunk = match (fin, sync) {
            (true, _) => Chunk::End,
            (false, true) => Chunk::Flush,
            (false, false) => Chunk::More,
        };
        let state = self
            .guard
            .as_deref_mut()
            .expect("the writer holds the lock");
        let deflater = state.deflater.as_mut().expect("should_compress checked");
        deflater.compress(&self.buf, &mut self.out, inner.level(), chunk)?;
        self.buf.clear();
        if !fin && self.out.is_empty() {
            return Ok(());
        }
        let out = mem::take(&mut self.out);
        let rsv1 = self.first;
        self.first = false;
        self.in_flight = Some(Box::pin(async move {
            let deadline = inner.shared.write_deadline();
            let result = inner
                .write_frame(fin, rsv1, opcode, &out, deadline, Flush::Now)
                .await;
            (result, Payload::Compressed(out))
        }));
        Ok(())
    }

    fn poll_in_flight(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(fut) = self.in_flight.as_mut() {
            let (result, payload) = ready!(fut.as_mut().poll(cx));
            self.in_flight = None;
            match payload {
                Payload::Raw(mut buf) => {
                    buf.clear();
                    self.buf = buf;
                }
                Payload::Compressed(mut out) => {
                    out.clear();
                    self.out = out;
                }
            }
            result?;
        }
        Poll::Ready(Ok(()))
    }

    /// Releases what the message held: the compressed-output buffer, the write buffer (both
    /// back to the pool, if any) and the message lock.
    fn release(&mut self, sent: bool) {
        if let Some(mut state) = self.guard.take() {
            if self.compress == Some(true) {
                if sent {
                    state.unsent = false;
                }
                self.inner.return_out(&mut state, mem::take(&mut self.out));
            }
        }
        self.inner.return_buffer(mem::take(&mut self.buf));
    }

    fn check_open(&self) -> io::Result<()> {
        if self.done {
            return Err(io::Error::other(
                "websocket: write to a closed message writer",
            ));
        }
        Ok(())
    }
}

impl AsyncWrite for MessageWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check_open()?;
        ready!(this.poll_in_flight(cx))?;
        let capacity = this.inner.write_buffer_size;
        if this.message_type.is_control() {
            if this.buf.len() + data.len() > MAX_CONTROL_PAYLOAD {
                return Poll::Ready(Err(Error::invalid_argument(
                    "websocket: control message payload longer than 125 bytes",
                )
                .into()));
            }
            this.buf.extend_from_slice(data);
            return Poll::Ready(Ok(data.len()));
        }
        let room = capacity.saturating_sub(this.buf.len());
        let n = data.len().min(room.max(1));
        this.buf.extend_from_slice(&data[..n]);
        if this.buf.len() >= capacity {
            this.send_buffered(false, false)?;
        }
        Poll::Ready(Ok(n))
    }

    /// Sends what is buffered as a fragment, so the peer sees it now.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(Ok(()));
        }
        ready!(this.poll_in_flight(cx))?;
        if !this.buf.is_empty() && !this.message_type.is_control() {
            this.send_buffered(false, true)?;
            ready!(this.poll_in_flight(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    /// Ends the message: sends the final fragment and frees the writer for the next message.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.done && this.in_flight.is_none() {
            return Poll::Ready(Ok(()));
        }
        if !this.done {
            ready!(this.poll_in_flight(cx))?;
            this.done = true;
            if let Err(e) = this.send_buffered(true, true) {
                this.release(false);
                return Poll::Ready(Err(e.into()));
            }
        }
        let result = ready!(this.poll_in_flight(cx));
        this.release(result.is_ok());
        Poll::Ready(result)
    }
}

impl Drop for MessageWriter {
    fn drop(&mut self) {
        if self.detached || (self.done && self.in_flight.is_none()) {
            return;
        }
        // Finish the message in the background so the next writer finds a clean stream.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut rest = MessageWriter {
            inner: self.inner.clone(),
            guard: self.guard.take(),
            message_type: self.message_type,
            buf: mem::take(&mut self.buf),
            first: self.first,
            done: self.done,
            in_flight: self.in_flight.take(),
            compress: self.compress,
            out: mem::take(&mut self.out),
            detached: true,
        };
        self.done = true;
        runtime.spawn(async move {
            let _ = rest.shutdown().await;
        });
    }
}
