//! Per-message compression: the `permessage-deflate` extension (RFC 7692). The public
//! face is [`CompressionOptions`], whose docs describe the whole feature; `negotiate` holds
//! the handshake rules for both roles and `deflate` the compressor and decompressor.

mod deflate;
mod negotiate;

pub(crate) use deflate::{Chunk, Deflater, Inflater, TRAILER, flate_level};
pub(crate) use negotiate::{Direction, Negotiated, client_accept, client_offer, server_negotiate};

/// The smallest window (log2 of its size in bytes) RFC 7692 allows.
pub(crate) const MIN_WINDOW_BITS: u8 = 8;
/// The largest window, and the default: 32 KiB.
pub(crate) const MAX_WINDOW_BITS: u8 = 15;

/// How a connection compresses once permessage-deflate (RFC 7692) is negotiated; used by
/// the [`Upgrader`](crate::Upgrader) (server) and the dialer (client) alike.
///
/// Fields named `server_*` are about what the server sends and `client_*` about what the
/// client sends, whichever side this is, exactly as in the RFC's parameter names.
/// The defaults keep context in both directions with 32 KiB windows.
///
/// A connection compresses when both sides asked for it in the handshake: the server with
/// [`Upgrader::enable_compression`](crate::Upgrader::enable_compression), the client with
/// the dialer's compression setting. These options then say how, for both roles.
///
/// # What is negotiated
///
/// | parameter | meaning | default here |
/// |---|---|---|
/// | `server_no_context_takeover` | the server resets its compressor after every message | off: context kept |
/// | `client_no_context_takeover` | the client resets its compressor after every message | off: context kept |
/// | `server_max_window_bits=N` | the server's LZ77 window is at most 2^N bytes (8-15) | 15 (32 KiB) |
/// | `client_max_window_bits[=N]` | the same for the client; bare in an offer: "limit me if you like" | 15 |
///
/// gorilla only speaks no-context-takeover. Here the context is kept whenever the peer
/// agrees, because consecutive messages of one conversation share most of their bytes (JSON
/// keys, names, markup): with context takeover a message can refer back to the previous ones.
/// On a stream of 1000 chat messages of about 200 bytes of JSON, at the default level, a
/// server sends 23% of the original bytes with context takeover and 94% without: short
/// messages barely compress on their own. The price is memory: the compressor keeps its
/// window and hash tables between messages, about 256 KiB per connection at window 15
/// (zlib's `2^(bits+2) + 128 KiB`), and the decompressor its 32 KiB window plus ~7 KiB.
/// Turn it off per [`Upgrader`](crate::Upgrader) or dialer with
/// [`server_context_takeover`](CompressionOptions::server_context_takeover) and
/// [`client_context_takeover`](CompressionOptions::client_context_takeover): each side then
/// borrows a compressor from a process-wide pool for one message at a time, so idle
/// connections hold none. Smaller windows trade ratio for memory in the same way.
///
/// A server declines malformed offers (unknown, duplicated or ill-valued parameters) and
/// tries the client's next one; it never fails the handshake over an offer. A client fails
/// the handshake over a malformed or unacceptable answer, as RFC 7692 section 7.1 requires.
///
/// # Window bits 8
///
/// RFC 7692 allows an 8-bit (256-byte) window, but zlib, and the zlib-compatible `zlib-rs`
/// backend used here, cannot produce raw deflate with it (zlib silently upgrades a requested
/// 8 to 9, which would break a peer that really has only 256 bytes of window). So:
/// decompressing uses a 9-bit window when 8 was agreed (a larger window decodes everything a
/// smaller one produced, and copes with peers that compress with 9 for the same reason), and
/// a side whose sending window is limited to 8 sends its messages uncompressed, which RFC
/// 7692 always permits (RSV1 is chosen per message).
///
/// # On the wire
///
/// A compressed message is one raw deflate stream flushed with a sync flush, whose final
/// `00 00 ff ff` is removed before sending and appended again before inflating; only its
/// first frame carries RSV1, control frames are never compressed. Messages shorter than
/// [`threshold`](CompressionOptions::threshold) go out uncompressed, since deflate's framing
/// costs more than it saves on them. A message being received is inflated as its frames
/// arrive, in bounded chunks, and the inflated size counts against the read limit
/// ([`Conn::set_read_limit`](crate::Conn::set_read_limit)) as it is produced: a small
/// "compression bomb" fails with [`Error::is_read_limit`](crate::Error::is_read_limit) and
/// close code 1009 without ever allocating past the limit.
///
/// ```
/// use websocket::{CompressionOptions, Upgrader};
///
/// // Compress, keep the context in both directions (the default), but skip small messages
/// // and compress a little harder than gorilla's default level 1.
/// let upgrader = Upgrader::new()
///     .enable_compression(true)
///     .compression_options(CompressionOptions {
///         level: 6,
///         threshold: 256,
///         ..CompressionOptions::default()
///     });
///
/// // gorilla's behaviour: no context kept on either side, least memory.
/// let frugal = Upgrader::new()
///     .enable_compression(true)
///     .compression_options(CompressionOptions::no_context_takeover());
/// # drop((upgrader, frugal));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompressionOptions {
    /// Whether the server may keep its compression context between messages. `false`:
    /// a server answers with `server_no_context_takeover`, a client asks for it.
    pub server_context_takeover: bool,
    /// Whether the client may keep its compression context between messages. `false`:
    /// a server answers with `client_no_context_takeover`; a client offers it and resets
    /// its compressor after every message whatever the answer.
    pub client_context_takeover: bool,
    /// The largest window the server may compress with, as log2 of its size (8 to 15;
    /// values outside are clamped). Below 15, a server announces it and a client asks for it.
    pub server_max_window_bits: u8,
    /// The largest window the client may compress with (8 to 15; clamped). Below 15, a
    /// server asks for it when the client's offer allows that, and a client offers it.
    pub client_max_window_bits: u8,
    /// The compression level of this side's outgoing messages, as Go's `compress/flate`
    /// numbers it: 0 (stored, no compression) to 9 (best), -1 for zlib's default (6).
    /// gorilla's default is 1 (fastest), and so is this one. An out-of-range value here
    /// falls back to the default; [`Conn::set_compression_level`](crate::Conn::set_compression_level)
    /// rejects one instead.
    pub level: i32,
    /// Data messages shorter than this many bytes are sent uncompressed. Deflate adds a few
    /// bytes of framing and a sync flush per message, so tiny messages rarely shrink, and
    /// compressing them costs CPU for nothing. Default
    /// [`DEFAULT_THRESHOLD`](Self::DEFAULT_THRESHOLD); 0 compresses everything.
    pub threshold: usize,
}

impl CompressionOptions {
    /// The default [`level`](Self::level): 1, gorilla's `defaultCompressionLevel`.
    pub const DEFAULT_LEVEL: i32 = 1;

    /// The default [`threshold`](Self::threshold): 64 bytes. Below that, even text that
    /// compresses well saves a handful of bytes at best.
    pub const DEFAULT_THRESHOLD: usize = 64;

    /// gorilla's settings: no context takeover in either direction (`server_no_context_takeover;
    /// client_no_context_takeover`), so no connection holds compression state between
    /// messages. Smallest memory footprint, lower ratio on streams of similar messages.
    pub fn no_context_takeover() -> Self {
        CompressionOptions {
            server_context_takeover: false,
            client_context_takeover: false,
            ..Self::default()
        }
    }
}

impl Default for CompressionOptions {
    fn default() -> Self {
        CompressionOptions {
            server_context_takeover: true,
            client_context_takeover: true,
            server_max_window_bits: MAX_WINDOW_BITS,
            client_max_window_bits: MAX_WINDOW_BITS,
            level: Self::DEFAULT_LEVEL,
            threshold: Self::DEFAULT_THRESHOLD,
        }
    }
}

#[cfg(test)]
mod tests;
