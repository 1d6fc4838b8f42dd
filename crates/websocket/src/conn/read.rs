//! The read half: a poll-based state machine over frames, shared by `read_message` (which
//! collects a message without copying a single-frame payload) and [`MessageReader`] (which
//! streams a message as an [`AsyncRead`]).
//!
//! Bytes land in one `BytesMut` read straight from the socket into spare capacity (never
//! zero-filled). A frame's payload is unmasked and UTF-8-checked in place as it arrives, so an
//! invalid text message fails as soon as its bad byte is seen, and a whole-frame message is
//! handed out with `split_to`, without a copy.
//!
//! A compressed message (RSV1 on its first frame, permessage-deflate) is inflated straight
//! out of that buffer as its bytes arrive, in bounded steps: into the caller's buffer when
//! streaming, into a growing `Vec` capped at the read limit for `read_message`. UTF-8 is then
//! checked on the inflated bytes, and the read limit counts them as they are produced.

use std::{
    future::Future,
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
    time::Instant,
};

use bytes::{Buf, Bytes, BytesMut};
use compat::HijackedReadHalf;
use tokio::{
    io::{AsyncRead, ReadBuf},
    sync::OwnedMutexGuard,
    time::Sleep,
};
use tokio_util::sync::WaitForCancellationFutureOwned;
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

use crate::{
    CloseCode, CloseError, Error, MessageType,
    close::parse_close_payload,
    compression::{Inflater, TRAILER},
    conn::{ConnHandle, HandlerFuture, Role, handlers::Handlers, shared::Shared},
    frame::{check_header, frame_len, parse_header},
    mask::apply_mask,
    utf8::Utf8Validator,
};

/// The default initial read buffer (gorilla's default `ReadBufferSize`).
pub(crate) const DEFAULT_READ_BUFFER_SIZE: usize = 4096;

/// A read buffer that grew past this for a large message is released once it is empty, so an
/// idle connection goes back to holding almost nothing.
const KEEP_BUFFER_MAX: usize = 64 * 1024;

/// How much of a frame's announced rest the read buffer makes room for at once, once the
/// peer has sent half a read buffer of the frame. Beyond it (or before that) the buffer grows
/// at most by doubling per read, so a peer that announces a huge frame and stalls pins at most
/// this for the kilobytes it sent. Up to it, a frame is read without regrowing the buffer,
/// which at 64 KiB used to cost a third of the instructions per message (`realloc` copies,
/// see BENCHMARKS.md).
const EAGER_FRAME_BUFFER: usize = 64 * 1024;

/// The data frame being delivered.
struct Frame {
    /// Payload bytes not yet taken out of `buf`.
    remaining: u64,
    /// Payload bytes at the front of `buf` already unmasked and validated.
    processed: usize,
    /// Payload bytes already taken out of `buf`: the mask offset of `buf[0]`.
    consumed: u64,
    mask: Option<[u8; 4]>,
    fin: bool,
}

/// The data message being delivered.
struct Message {
    message_type: MessageType,
    /// Payload bytes announced so far, as sent (compressed or not).
    len: u64,
    utf8: Option<Utf8Validator>,
    /// RSV1 was set: the payload is a raw deflate stream.
    compressed: bool,
    /// Bytes inflated so far (compressed messages).
    inflated: u64,
    /// The final frame was consumed; what remains is feeding the trailer (compressed).
    last_frame_done: bool,
    /// How much of [`TRAILER`] was fed to the inflater.
    trailer_fed: usize,
}

/// Where inflated bytes go.
enum Sink<'a, 'b> {
    /// `read_message`: the whole message, grown up to the read limit.
    Collect(&'a mut Vec<u8>),
    /// `MessageReader`: the caller's buffer; return as soon as anything was produced.
    Stream(&'a mut ReadBuf<'b>),
    /// Skipping an unread message: inflated only to keep the inflater's window in step.
    Discard,
}

/// What one step of inflating produced.
enum Inflated {
    /// The message is complete.
    Ended,
    /// Output is waiting for a `Stream` caller.
    Produced,
}

/// The stack buffer used to inflate messages that are being skipped.
const DISCARD_CHUNK: usize = 4096;

pub(crate) struct Reader {
    io: HijackedReadHalf,
    buf: BytesMut,
    read_buffer_size: usize,
    role: Role,
    frame: Option<Frame>,
    message: Option<Message>,
    /// A control handler's reply, or our close frame after a protocol error: finished before
    /// anything else is read.
    pending: Option<HandlerFuture>,
    /// Set once reading failed; every later read returns it (gorilla: errors are permanent).
    err: Option<Error>,
    shared: Arc<Shared>,
    handlers: Arc<Handlers>,
    handle: ConnHandle,
    deadline: Option<(Instant, Pin<Box<Sleep>>)>,
    closed: Pin<Box<WaitForCancellationFutureOwned>>,
    /// permessage-deflate's decompressor, when negotiated.
    inflater: Option<Inflater>,
}

impl Reader {
    pub(crate) fn new(
        mut io: HijackedReadHalf,
        role: Role,
        read_buffer_size: usize,
        handlers: Arc<Handlers>,
        handle: ConnHandle,
        inflater: Option<Inflater>,
    ) -> Self {
        let read_buffer_size = match read_buffer_size {
            0 => DEFAULT_READ_BUFFER_SIZE,
            n => n,
        };
        // Adopt what hyper read past the handshake instead of replaying it through the half.
        let early = io.take_read_buf();
        let shared = handle.shared().clone();
        Reader {
            io,
            buf: BytesMut::from(&early[..]),
            read_buffer_size,
            role,
            frame: None,
            message: None,
            pending: None,
            err: None,
            closed: Box::pin(shared.closed.clone().cancelled_owned()),
            shared,
            handlers,
            handle,
            deadline: None,
            inflater,
        }
    }

    /// Records a permanent failure; protocol errors also queue our close frame.
    fn fail(&mut self, err: Error) -> Error {
        if self.err.is_none() {
            if let Some(code) = err.close_code() {
                self.pending = Some(self.handle.close_frame(code, ""));
            }
            self.err = Some(err.clone());
        }
        err
    }

    /// Fails permanently, after sending our close frame if the error calls for one: the
    /// caller learns of the error only once the peer was told.
    fn poll_fail<T>(&mut self, cx: &mut Context<'_>, err: Error) -> Poll<Result<T, Error>> {
        self.fail(err);
        ready!(self.poll_pending(cx))?;
        unreachable!("poll_pending reports the stored failure")
    }

    /// Runs the pending reply, then reports a stored failure.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if let Some(fut) = self.pending.as_mut() {
            let result = ready!(fut.as_mut().poll(cx));
            self.pending = None;
            if let Err(err) = result {
                self.fail(err);
            }
        }
        match &self.err {
            Some(err) => Poll::Ready(Err(err.clone())),
            None => Poll::Ready(Ok(())),
        }
    }

    /// Reads more bytes from the connection into `buf`.
    fn poll_read_more(&mut self, cx: &mut Context<'_>, want: usize) -> Poll<Result<(), Error>> {
        match self.poll_io(cx, want) {
            Poll::Ready(Ok(0)) => Poll::Ready(Err(Error::connection_closed())),
            Poll::Ready(Ok(_)) => Poll::Ready(Ok(())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(Error::io(e))),
            Poll::Pending => {
                if self.closed.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(Error::local_closed()));
                }
                ready!(self.poll_deadline(cx));
                Poll::Ready(Err(Error::timeout()))
            }
        }
    }

    /// One read from the connection into `buf`.
    ///
    /// With nothing buffered, a TCP connection first waits for readiness without holding a
    /// buffer, and gives back the one it has while it waits: an idle connection, the common
    /// state of a WebSocket, then costs no read buffer at all (measured in BENCHMARKS.md:
    /// 10.9 KiB down to 6.0 KiB per idle connection, for one 4 KiB allocation per wake-up).
    ///
    /// Frames the write side deferred (write coalescing, see `write.rs`) are sent first, as
    /// far as that can be done without waiting: the peer may be waiting for them.
    fn poll_io(&mut self, cx: &mut Context<'_>, want: usize) -> Poll<std::io::Result<usize>> {
        self.handle.try_flush_deferred(cx);
        if self.buf.is_empty() {
            if let Some(tcp) = self.io.tcp_stream() {
                if tcp.poll_read_ready(cx)?.is_pending() {
                    if self.buf.capacity() > 0 {
                        self.buf = BytesMut::new();
                    }
                    return Poll::Pending;
                }
            }
        }
        let spare = self.buf.capacity() - self.buf.len();
        if spare < want {
            self.buf.reserve(want.max(self.read_buffer_size));
        }
        tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.buf)
    }

    /// Ready once the read deadline passed; re-arms the timer when the deadline moved.
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(at) = self.shared.read_deadline() else {
            self.deadline = None;
            return Poll::Pending;
        };
        match &mut self.deadline {
            Some((armed, sleep)) if *armed == at => sleep.as_mut().poll(cx),
            slot => {
                let sleep = slot.insert((at, Box::pin(tokio::time::sleep_until(at.into()))));
                sleep.1.as_mut().poll(cx)
            }
        }
    }

    /// Advances to the next data frame of the current message (or of a new one when none is
    /// in progress), handling every control frame on the way.
    fn poll_next_data_frame(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        loop {
            ready!(self.poll_pending(cx))?;
            let (header, header_len) = match parse_header(&self.buf) {
                Ok(Some(parsed)) => parsed,
                Ok(None) => {
                    if let Err(e) = ready!(self.poll_read_more(cx, 14)) {
                        return self.poll_fail(cx, e);
                    }
                    continue;
                }
                Err(e) => return self.poll_fail(cx, e),
            };
            let expect_masked = self.role == Role::Server;
            if let Err(e) = check_header(&header, expect_masked, self.inflater.is_some()) {
                return self.poll_fail(cx, e);
            }
            if let OpCode::Control(control) = header.opcode {
                // Control payloads are at most 125 bytes: wait for the whole frame.
                let total = header_len + header.payload_len as usize;
                if self.buf.len() < total {
                    if let Err(e) = ready!(self.poll_read_more(cx, total - self.buf.len())) {
                        return self.poll_fail(cx, e);
                    }
                    continue;
                }
                self.buf.advance(header_len);
                let mut payload = self.buf.split_to(header.payload_len as usize);
                if let Some(key) = header.mask {
                    apply_mask(&mut payload, key, 0);
                }
                if let Err(e) = self.handle_control(control, payload.freeze()) {
                    return self.poll_fail(cx, e);
                }
                continue;
            }
            let starts_message = match (header.opcode, &self.message) {
                (OpCode::Data(Data::Continue), Some(_)) => false,
                (OpCode::Data(Data::Continue), None) => {
                    let e = protocol("continuation frame without a message to continue");
                    return self.poll_fail(cx, e);
                }
                (_, Some(_)) => {
                    let e = protocol("new data frame before the previous message ended");
                    return self.poll_fail(cx, e);
                }
                (_, None) => true,
            };
            if starts_message {
                let message_type = MessageType::from_opcode(header.opcode)
                    .expect("check_header let only text and binary through");
                self.message = Some(Message {
                    message_type,
                    len: 0,
                    utf8: (message_type == MessageType::Text).then(Utf8Validator::new),
                    compressed: header.rsv1,
                    inflated: 0,
                    last_frame_done: false,
                    trailer_fed: 0,
                });
            }
            let message = self.message.as_mut().expect("message in progress");
            message.len += header.payload_len;
            if message.len > self.shared.read_limit() {
                return self.poll_fail(cx, Error::read_limit());
            }
            self.buf.advance(header_len);
            self.frame = Some(Frame {
                remaining: header.payload_len,
                processed: 0,
                consumed: 0,
                mask: header.mask,
                fin: header.fin,
            });
            return Poll::Ready(Ok(()));
        }
    }

    fn handle_control(&mut self, control: Control, payload: Bytes) -> Result<(), Error> {
        match control {
            Control::Ping => self.pending = Some((self.handlers.ping())(payload)),
            Control::Pong => self.pending = Some((self.handlers.pong())(payload)),
            Control::Close => {
                let (code, text) = match parse_close_payload(&payload)? {
                    Some((code, text)) => (code, text.to_owned()),
                    None => (CloseCode::NO_STATUS_RECEIVED, String::new()),
                };
                self.pending = Some((self.handlers.close())(code, text.clone()));
                self.err = Some(Error::closed(CloseError { code, text }));
            }
            Control::Reserved(_) => unreachable!("check_header rejects reserved opcodes"),
        }
        Ok(())
    }

    /// Unmasks and validates the bytes of the current frame that have arrived.
    fn process_arrived(&mut self) -> Result<(), Error> {
        let (Some(frame), Some(message)) = (self.frame.as_mut(), self.message.as_mut()) else {
            return Ok(());
        };
        let arrived = (self.buf.len() as u64).min(frame.remaining) as usize;
        if arrived > frame.processed {
            let fresh = &mut self.buf[frame.processed..arrived];
            if let Some(key) = frame.mask {
                apply_mask(fresh, key, (frame.consumed as usize) + frame.processed);
            }
            // A compressed message's text is checked once inflated.
            if let (Some(utf8), false) = (message.utf8.as_mut(), message.compressed) {
                utf8.feed(fresh).map_err(|_| invalid_utf8())?;
            }
            frame.processed = arrived;
        }
        Ok(())
    }

    /// Takes up to `max` processed payload bytes of the current frame out of `buf`.
    fn take_processed(&mut self, max: usize) -> BytesMut {
        let frame = self.frame.as_mut().expect("frame in progress");
        let n = frame.processed.min(max);
        frame.processed -= n;
        frame.remaining -= n as u64;
        frame.consumed += n as u64;
        self.buf.split_to(n)
    }

    /// Called when the current frame is exhausted: ends the message after a final frame.
    /// Returns whether the message ended.
    fn end_frame(&mut self) -> Result<bool, Error> {
        let fin = self.frame.take().is_some_and(|f| f.fin);
        if !fin {
            return Ok(false);
        }
        let message = self.message.take().expect("message in progress");
        if let Some(mut utf8) = message.utf8 {
            utf8.finish().map_err(|_| invalid_utf8())?;
        }
        if self.buf.is_empty() && self.buf.capacity() > KEEP_BUFFER_MAX {
            self.buf = BytesMut::new();
        }
        Ok(true)
    }

    /// Whether `buf` holds a whole frame beyond the current message: reading it will not
    /// wait for the socket.
    pub(crate) fn holds_complete_frame(&self) -> bool {
        self.frame.is_none() && frame_len(&self.buf).is_some_and(|len| self.buf.len() as u64 >= len)
    }

    fn frame_exhausted(&self) -> bool {
        self.frame.as_ref().is_none_or(|f| f.remaining == 0)
    }

    /// Whether the message being delivered is compressed.
    pub(crate) fn message_compressed(&self) -> bool {
        self.message.as_ref().is_some_and(|m| m.compressed)
    }

    /// Inflates the current (compressed) message into `sink` as its frames arrive, until
    /// it ends, or, for [`Sink::Stream`], until some output is ready or the caller's buffer
    /// is full.
    ///
    /// Every step is bounded: input is what already arrived, output is at most the space
    /// offered, and a `Collect` buffer grows only up to the read limit plus one byte (the
    /// byte that proves the limit was exceeded).
    fn poll_inflate(
        &mut self,
        cx: &mut Context<'_>,
        sink: &mut Sink<'_, '_>,
    ) -> Poll<Result<Inflated, Error>> {
        loop {
            ready!(self.poll_pending(cx))?;
            let Some(message) = self.message.as_ref() else {
                return Poll::Ready(Ok(Inflated::Ended));
            };
            let feeding_trailer = message.last_frame_done;
            if !feeding_trailer {
                if self.frame.is_none() {
                    ready!(self.poll_next_data_frame(cx))?;
                    continue;
                }
                if let Err(e) = self.process_arrived() {
                    return self.poll_fail(cx, e);
                }
                let processed = self.frame.as_ref().map_or(0, |f| f.processed);
                if processed == 0 {
                    if !self.frame_exhausted() {
                        if let Err(e) = ready!(self.poll_read_more(cx, 1)) {
                            return self.poll_fail(cx, e);
                        }
                        continue;
                    }
                    let fin = self.frame.take().is_some_and(|f| f.fin);
                    if fin {
                        let message = self.message.as_mut().expect("message in progress");
                        message.last_frame_done = true;
                        // An empty compressed message may come as no bytes at all rather
                        // than the single 0x00 RFC 7692 7.2.3.6 shows; either way it is
                        // empty, and the inflater must not see a lone trailer.
                        if message.len == 0 {
                            message.trailer_fed = TRAILER.len();
                        }
                    }
                    continue;
                }
            }
            let message = self.message.as_mut().expect("message in progress");
            if feeding_trailer && message.trailer_fed == TRAILER.len() && message.len == 0 {
                return match self.finish_compressed() {
                    Ok(()) => Poll::Ready(Ok(Inflated::Ended)),
                    Err(e) => self.poll_fail(cx, e),
                };
            }
            let input: &[u8] = if feeding_trailer {
                &TRAILER[message.trailer_fed..]
            } else {
                let processed = self.frame.as_ref().map_or(0, |f| f.processed);
                &self.buf[..processed]
            };
            let inflater = self
                .inflater
                .as_mut()
                .expect("RSV1 is only accepted with deflate");
            let allowed = self
                .shared
                .read_limit()
                .saturating_sub(message.inflated)
                .saturating_add(1);
            let step = match sink {
                Sink::Collect(out) => {
                    let start = out.len();
                    if out.capacity() == start {
                        let grow = start.max(DISCARD_CHUNK) as u64;
                        out.reserve_exact(grow.min(allowed) as usize);
                    }
                    inflater
                        .inflate_vec(input, out)
                        .map(|(used, made)| (used, made, out.len() < out.capacity(), start))
                }
                Sink::Stream(out) => {
                    let start = out.filled().len();
                    let room = (out.remaining() as u64).min(allowed) as usize;
                    let dst = &mut out.initialize_unfilled_to(room)[..room];
                    match inflater.inflate(input, dst) {
                        Ok((used, made)) => {
                            out.advance(made);
                            Ok((used, made, made < room, start))
                        }
                        Err(e) => Err(e),
                    }
                }
                Sink::Discard => {
                    let mut scratch = [0u8; DISCARD_CHUNK];
                    let room = (DISCARD_CHUNK as u64).min(allowed) as usize;
                    inflater
                        .inflate(input, &mut scratch[..room])
                        .and_then(|(used, made)| {
                            if let Some(utf8) = message.utf8.as_mut() {
                                utf8.feed(&scratch[..made]).map_err(|_| invalid_utf8())?;
                            }
                            Ok((used, made, made < room, 0))
                        })
                }
            };
            let (used, made, room_left, start) = match step {
                Ok(step) => step,
                Err(e) => return self.poll_fail(cx, e),
            };
            // Account for the output: the read limit, then UTF-8 on what is new.
            message.inflated += made as u64;
            if message.inflated > self.shared.read_limit() {
                return self.poll_fail(cx, Error::read_limit());
            }
            if let Some(utf8) = message.utf8.as_mut() {
                let fresh = match sink {
                    Sink::Collect(out) => &out[start..],
                    Sink::Stream(out) => &out.filled()[start..],
                    Sink::Discard => &[][..],
                };
                if let Err(()) = utf8.feed(fresh).map_err(|_| ()) {
                    return self.poll_fail(cx, invalid_utf8());
                }
            }
            // Consume the input.
            if feeding_trailer {
                message.trailer_fed += used;
                if message.trailer_fed == TRAILER.len() && room_left {
                    if let Err(e) = self.finish_compressed() {
                        return self.poll_fail(cx, e);
                    }
                    return Poll::Ready(Ok(Inflated::Ended));
                }
            } else {
                let frame = self.frame.as_mut().expect("frame in progress");
                frame.processed -= used;
                frame.remaining -= used as u64;
                frame.consumed += used as u64;
                self.buf.advance(used);
            }
            if let Sink::Stream(out) = sink {
                if made > 0 || out.remaining() == 0 {
                    return Poll::Ready(Ok(Inflated::Produced));
                }
            }
        }
    }

    /// Ends a compressed message whose output is complete.
    fn finish_compressed(&mut self) -> Result<(), Error> {
        let message = self.message.take().expect("message in progress");
        if let Some(inflater) = self.inflater.as_mut() {
            inflater.end_message();
        }
        if let Some(mut utf8) = message.utf8 {
            utf8.finish().map_err(|_| invalid_utf8())?;
        }
        if self.buf.is_empty() && self.buf.capacity() > KEEP_BUFFER_MAX {
            self.buf = BytesMut::new();
        }
        Ok(())
    }

    /// Collects the rest of the current compressed message, inflated, into `out`.
    pub(crate) fn poll_read_inflated(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut Vec<u8>,
    ) -> Poll<Result<(), Error>> {
        match ready!(self.poll_inflate(cx, &mut Sink::Collect(out))) {
            Ok(_) => Poll::Ready(Ok(())),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    /// Skips the rest of an unread message, then starts the next one.
    pub(crate) fn poll_next_message(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<MessageType, Error>> {
        loop {
            ready!(self.poll_pending(cx))?;
            if self.message.is_none() {
                ready!(self.poll_next_data_frame(cx))?;
                let message = self
                    .message
                    .as_ref()
                    .expect("a data frame starts a message");
                return Poll::Ready(Ok(message.message_type));
            }
            // An unread remainder from the previous message: discard it.
            if let Err(e) = ready!(self.poll_skip_message(cx)) {
                return Poll::Ready(Err(e));
            }
        }
    }

    fn poll_skip_message(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.message_compressed() {
            // Inflated all the same: with context takeover the next messages may refer to
            // this one's bytes.
            ready!(self.poll_inflate(cx, &mut Sink::Discard))?;
            return Poll::Ready(Ok(()));
        }
        while self.message.is_some() {
            if self.frame.is_none() {
                ready!(self.poll_next_data_frame(cx))?;
                continue;
            }
            if let Err(e) = self.process_arrived() {
                return self.poll_fail(cx, e);
            }
            let processed = self.frame.as_ref().map_or(0, |f| f.processed);
            drop(self.take_processed(processed));
            if !self.frame_exhausted() {
                if let Err(e) = ready!(self.poll_read_more(cx, 1)) {
                    return self.poll_fail(cx, e);
                }
                continue;
            }
            if let Err(e) = self.end_frame() {
                return self.poll_fail(cx, e);
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Collects the rest of the current message. A message that arrived as one frame is
    /// returned without copying.
    pub(crate) fn poll_read_rest(
        &mut self,
        cx: &mut Context<'_>,
        collected: &mut Option<BytesMut>,
    ) -> Poll<Result<Bytes, Error>> {
        loop {
            ready!(self.poll_pending(cx))?;
            if self.frame.is_none() {
                ready!(self.poll_next_data_frame(cx))?;
            }
            if let Err(e) = self.process_arrived() {
                return self.poll_fail(cx, e);
            }
            let remaining = self.frame.as_ref().map_or(0, |f| f.remaining);
            let have = self.buf.len() as u64;
            if have < remaining {
                // Grow toward the frame size: at once up to EAGER_FRAME_BUFFER once the peer
                // has sent half a read buffer of it, else at most doubling per read.
                let need = (remaining - have) as usize;
                let eager = if have as usize >= self.read_buffer_size / 2 {
                    EAGER_FRAME_BUFFER
                } else {
                    0
                };
                let want = need.min(self.buf.capacity().max(self.read_buffer_size).max(eager));
                if let Err(e) = ready!(self.poll_read_more(cx, want)) {
                    return self.poll_fail(cx, e);
                }
                continue;
            }
            let payload = self.take_processed(remaining as usize);
            let data = match collected.take() {
                None => payload,
                Some(mut so_far) => {
                    so_far.extend_from_slice(&payload);
                    so_far
                }
            };
            match self.end_frame() {
                Ok(true) => return Poll::Ready(Ok(data.freeze())),
                Ok(false) => *collected = Some(data),
                Err(e) => return self.poll_fail(cx, e),
            }
        }
    }

    /// Copies message bytes into `out`; leaves `out` untouched at the end of the message.
    fn poll_read_into(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<Result<(), Error>> {
        loop {
            ready!(self.poll_pending(cx))?;
            if self.message.is_none() || out.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            if self.message_compressed() {
                // Returns once bytes were produced, the buffer is full, or the message ended.
                ready!(self.poll_inflate(cx, &mut Sink::Stream(out)))?;
                return Poll::Ready(Ok(()));
            }
            if self.frame.is_none() {
                ready!(self.poll_next_data_frame(cx))?;
            }
            if let Err(e) = self.process_arrived() {
                return self.poll_fail(cx, e);
            }
            let processed = self.frame.as_ref().map_or(0, |f| f.processed);
            if processed > 0 {
                let chunk = self.take_processed(processed.min(out.remaining()));
                out.put_slice(&chunk);
                if self.frame_exhausted() {
                    if let Err(e) = self.end_frame() {
                        return self.poll_fail(cx, e);
                    }
                }
                return Poll::Ready(Ok(()));
            }
            if self.frame_exhausted() {
                if let Err(e) = self.end_frame() {
                    return self.poll_fail(cx, e);
                }
                continue;
            }
            if let Err(e) = ready!(self.poll_read_more(cx, 1)) {
                return self.poll_fail(cx, e);
            }
        }
    }
}

fn protocol(reason: &'static str) -> Error {
    Error::protocol(CloseCode::PROTOCOL_ERROR, reason)
}

fn invalid_utf8() -> Error {
    Error::protocol(
        CloseCode::INVALID_FRAME_PAYLOAD_DATA,
        "invalid UTF-8 in text message",
    )
}

/// One message being read as a stream; made by `next_reader`. Implements [`AsyncRead`]: a
/// read of 0 bytes means the message ended. Control frames that arrive between the message's
/// fragments are handled while reading.
pub struct MessageReader {
    reader: OwnedMutexGuard<Reader>,
}

impl MessageReader {
    pub(crate) fn new(reader: OwnedMutexGuard<Reader>) -> Self {
        MessageReader { reader }
    }
}

impl std::fmt::Debug for MessageReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageReader").finish_non_exhaustive()
    }
}

impl AsyncRead for MessageReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.reader.poll_read_into(cx, out).map_err(io::Error::from)
    }
}
