//! The compressor and decompressor of one connection, over `flate2` with the `zlib-rs`
//! backend (raw deflate, no zlib header, windows of 2^9 to 2^15 bytes).
//!
//! With context takeover a [`Deflater`] or [`Inflater`] keeps its `flate2` state for the
//! connection's lifetime: the window is what makes later messages small. Without it, the
//! state is needed only while one message is being processed, so it is taken from a
//! process-wide pool at the start of a message and given back (reset) at its end; an idle
//! connection then holds no compression memory at all, like gorilla's `sync.Pool` of flate
//! writers and readers.

use std::sync::Mutex;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::{Direction, MAX_WINDOW_BITS};
use crate::{CloseCode, Error};

/// The end of a sync flush: an empty stored block. RFC 7692 7.2.1 removes it from every
/// message on the wire and 7.2.2 appends it again before inflating.
pub(crate) const TRAILER: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The smallest window flate2 (and zlib) produce or accept for raw deflate; see the module
/// docs of [`compression`](super) on window bits 8.
const FLATE_MIN_WINDOW_BITS: u8 = 9;

/// Pooled states kept per window size; more than this many idle ones are freed.
const POOL_IDLE_MAX: usize = 32;

const POOL_SIZES: usize = (MAX_WINDOW_BITS - FLATE_MIN_WINDOW_BITS + 1) as usize;

/// Idle compressors by window size, each with the level it was last set to.
static DEFLATE_POOL: Mutex<[Vec<(Compress, Compression)>; POOL_SIZES]> =
    Mutex::new([const { Vec::new() }; POOL_SIZES]);

/// Idle decompressors by window size.
static INFLATE_POOL: Mutex<[Vec<Decompress>; POOL_SIZES]> =
    Mutex::new([const { Vec::new() }; POOL_SIZES]);

fn pool_slot(window_bits: u8) -> usize {
    usize::from(window_bits - FLATE_MIN_WINDOW_BITS)
}

/// Go's `compress/flate` level numbering in flate2's terms: -1 is the default (6), 0 to 9
/// as is. `None` for anything else, including Go's -2 (Huffman only), which flate2 cannot do.
pub(crate) fn flate_level(level: i32) -> Option<Compression> {
    match level {
        -1 => Some(Compression::default()),
        0..=9 => Some(Compression::new(level.unsigned_abs())),
        _ => None,
    }
}

/// How a chunk given to [`Deflater::compress`] ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chunk {
    /// More of the message follows; output only what deflate has ready.
    More,
    /// More follows, but make everything so far decodable now (a sync flush, kept on the
    /// wire: a streaming writer's `flush`).
    Flush,
    /// The message ends: sync flush and strip the trailer.
    End,
}

/// Compresses the messages one side sends.
pub(crate) struct Deflater {
    /// The state; `None` between messages when it lives in the pool.
    state: Option<(Compress, Compression)>,
    window_bits: u8,
    no_context_takeover: bool,
    /// A message is being compressed: its level is fixed until it ends.
    in_message: bool,
}

impl std::fmt::Debug for Deflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deflater")
            .field("window_bits", &self.window_bits)
            .field("no_context_takeover", &self.no_context_takeover)
            .field("holds_state", &self.state.is_some())
            .finish()
    }
}

impl Deflater {
    /// A deflater for `direction`, or `None` when that direction's window is too small to
    /// compress into (8 bits): the side then sends uncompressed messages.
    pub(crate) fn new(direction: Direction) -> Option<Self> {
        (direction.window_bits >= FLATE_MIN_WINDOW_BITS).then_some(Deflater {
            state: None,
            window_bits: direction.window_bits.min(MAX_WINDOW_BITS),
            no_context_takeover: direction.no_context_takeover,
            in_message: false,
        })
    }

    /// Forgets the compression context: later messages refer to nothing before them. Used
    /// when a compressed message may not have reached the peer.
    pub(crate) fn reset(&mut self) {
        self.in_message = false;
        if let Some((compress, _)) = self.state.as_mut() {
            compress.reset();
        }
    }

    /// Whether the compression state is kept between messages.
    pub(crate) fn context_takeover(&self) -> bool {
        !self.no_context_takeover
    }

    /// The window the messages are compressed with (log2).
    pub(crate) fn window_bits(&self) -> u8 {
        self.window_bits
    }

    /// Whether compression state is held right now (for tests of the pooling).
    #[cfg(test)]
    pub(crate) fn holds_state(&self) -> bool {
        self.state.is_some()
    }

    fn state(&mut self, level: Compression) -> &mut Compress {
        let window_bits = self.window_bits;
        let starting = !std::mem::replace(&mut self.in_message, true);
        let (compress, current) = self.state.get_or_insert_with(|| {
            let pooled = DEFLATE_POOL.lock().unwrap_or_else(|e| e.into_inner())
                [pool_slot(window_bits)]
            .pop();
            pooled.unwrap_or_else(|| {
                (
                    Compress::new_with_window_bits(level, false, window_bits),
                    level,
                )
            })
        });
        if starting && *current != level {
            // Between messages, right after a sync flush, deflate has nothing pending that
            // a change of parameters would have to emit. zlib still refuses to switch
            // between its stored, fast and slow algorithms on a stream that has output
            // (deflateParams wants to flush into a buffer it is not given here); then the
            // context is restarted, which the peer cannot notice: a fresh stream after a
            // sync flush refers to nothing before it. Level changes are rare.
            if compress.set_level(level).is_err() {
                compress.reset();
                let _ = compress.set_level(level);
            }
            *current = level;
        }
        compress
    }

    /// Compresses `input`, the next part of the current message, appending to `out`.
    ///
    /// `level` applies from the start of a message (it is ignored mid-message). With
    /// [`Chunk::End`] the output is complete: RFC 7692's trailer removed, and without
    /// context takeover the state goes back to the pool.
    pub(crate) fn compress(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        level: Compression,
        chunk: Chunk,
    ) -> Result<(), Error> {
        let flush = match chunk {
            Chunk::More => FlushCompress::None,
            Chunk::Flush | Chunk::End => FlushCompress::Sync,
        };
        let start = out.len();
        let compress = self.state(level);
        let mut consumed = 0;
        loop {
            // Deflate rarely grows data by more than a few bytes per block; reserve about
            // what the input needs and let the loop grow the buffer when it does not fit.
            if out.capacity() - out.len() < 64 {
                out.reserve((input.len() - consumed) / 2 + 128);
            }
            let before = compress.total_in();
            compress
                .compress_vec(&input[consumed..], out, flush)
                .map_err(|e| Error::io(std::io::Error::other(e)))?;
            consumed += (compress.total_in() - before) as usize;
            // Done once all input is in and deflate stopped with room to spare: with a sync
            // flush that means the flush completed.
            if consumed == input.len() && out.len() < out.capacity() {
                break;
            }
        }
        if chunk == Chunk::End {
            debug_assert!(
                out[start..].ends_with(&TRAILER),
                "sync flush ends the output"
            );
            out.truncate(out.len() - TRAILER.len());
            self.end_message();
        }
        Ok(())
    }

    /// Ends a message: without context takeover, resets the state and pools it.
    fn end_message(&mut self) {
        self.in_message = false;
        if !self.no_context_takeover {
            return;
        }
        if let Some((mut compress, level)) = self.state.take() {
            compress.reset();
            let mut pool = DEFLATE_POOL.lock().unwrap_or_else(|e| e.into_inner());
            let slot = &mut pool[pool_slot(self.window_bits)];
            if slot.len() < POOL_IDLE_MAX {
                slot.push((compress, level));
            }
        }
    }
}

/// Decompresses the messages one side receives.
pub(crate) struct Inflater {
    /// The state; `None` between messages when it lives in the pool.
    state: Option<Decompress>,
    window_bits: u8,
    no_context_takeover: bool,
    /// The peer ended the deflate stream (a block with BFINAL set) in this message: the rest
    /// of the message is ignored and the state is reset at its end.
    stream_ended: bool,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("window_bits", &self.window_bits)
            .field("no_context_takeover", &self.no_context_takeover)
            .finish_non_exhaustive()
    }
}

fn invalid_data() -> Error {
    Error::protocol(
        CloseCode::INVALID_FRAME_PAYLOAD_DATA,
        "invalid compressed data",
    )
}

impl Inflater {
    /// An inflater for `direction`. A window below 9 bits is read with 9 (a larger window
    /// decodes anything a smaller one produced).
    pub(crate) fn new(direction: Direction) -> Self {
        Inflater {
            state: None,
            window_bits: direction
                .window_bits
                .clamp(FLATE_MIN_WINDOW_BITS, MAX_WINDOW_BITS),
            no_context_takeover: direction.no_context_takeover,
            stream_ended: false,
        }
    }

    /// Whether decompression state is held right now (for tests of the pooling).
    #[cfg(test)]
    pub(crate) fn holds_state(&self) -> bool {
        self.state.is_some()
    }

    fn state(&mut self) -> &mut Decompress {
        let window_bits = self.window_bits;
        self.state.get_or_insert_with(|| {
            let pooled = INFLATE_POOL.lock().unwrap_or_else(|e| e.into_inner())
                [pool_slot(window_bits)]
            .pop();
            pooled.unwrap_or_else(|| Decompress::new_with_window_bits(false, window_bits))
        })
    }

    /// Inflates compressed bytes of the current message into `out`, which it never writes
    /// past. Returns the input bytes consumed and the output bytes produced; it stops early
    /// only when `out` is full.
    pub(crate) fn inflate(
        &mut self,
        input: &[u8],
        out: &mut [u8],
    ) -> Result<(usize, usize), Error> {
        self.inflate_with(input.len(), |d| {
            d.decompress(input, out, FlushDecompress::Sync)
        })
    }

    /// [`inflate`](Self::inflate) into the spare capacity of `out` (which it does not grow).
    pub(crate) fn inflate_vec(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(usize, usize), Error> {
        self.inflate_with(input.len(), |d| {
            d.decompress_vec(input, out, FlushDecompress::Sync)
        })
    }

    /// The bookkeeping both inflate calls share: bytes consumed and produced by one
    /// `decompress` step, and the end of a stream (after which input is skipped).
    fn inflate_with(
        &mut self,
        input_len: usize,
        step: impl FnOnce(&mut Decompress) -> Result<Status, flate2::DecompressError>,
    ) -> Result<(usize, usize), Error> {
        if self.stream_ended {
            return Ok((input_len, 0));
        }
        let decompress = self.state();
        let (in0, out0) = (decompress.total_in(), decompress.total_out());
        let status = step(decompress).map_err(|_| invalid_data())?;
        let consumed = (decompress.total_in() - in0) as usize;
        let produced = (decompress.total_out() - out0) as usize;
        if status == Status::StreamEnd {
            self.stream_ended = true;
            return Ok((input_len, produced));
        }
        Ok((consumed, produced))
    }

    /// Ends a message: without context takeover (or after the peer ended its stream),
    /// resets the state; without context takeover it goes back to the pool.
    pub(crate) fn end_message(&mut self) {
        let ended = std::mem::take(&mut self.stream_ended);
        if !(self.no_context_takeover || ended) {
            return;
        }
        let Some(mut decompress) = self.state.take() else {
            return;
        };
        decompress.reset(false);
        if self.no_context_takeover {
            let mut pool = INFLATE_POOL.lock().unwrap_or_else(|e| e.into_inner());
            let slot = &mut pool[pool_slot(self.window_bits)];
            if slot.len() < POOL_IDLE_MAX {
                slot.push(decompress);
            }
        } else {
            self.state = Some(decompress);
        }
    }
}
