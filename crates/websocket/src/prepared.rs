//! [`PreparedMessage`]: gorilla's `PreparedMessage`, a message encoded once and sent to many
//! connections. The type's docs describe what is shared between connections.

use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::{
    Error, MessageType,
    compression::{Chunk, Deflater, Direction, flate_level},
};

/// A message encoded once for many connections (gorilla's `PreparedMessage`). Cloning is
/// cheap and clones share the cache.
///
/// Broadcasting one payload to thousands of connections with `write_message` compresses it
/// once per connection. A prepared message compresses it once per distinct compression
/// setting instead, caches the result, and every connection with that setting sends the
/// cached bytes.
///
/// # What is shared
///
/// | the connection | what it sends |
/// |---|---|
/// | uncompressed, compression turned off, or message under the threshold | the payload itself |
/// | compressing without context takeover | the cached compressed payload for its window size and level, computed on first use |
/// | compressing with context takeover | the payload compressed by the connection itself |
///
/// The last row is the one place this differs from gorilla, which never keeps context and so
/// can always cache. With context takeover the compressed bytes depend on the connection's
/// history (the deflate window holds the previous messages it sent), so no two connections
/// would send the same bytes. Sending a context-free encoding instead is not an option
/// either: the peer's window would then hold bytes the connection's compressor never saw,
/// so the compressor would have to be reset afterwards, throwing away the ratio the
/// connection negotiated for. Such connections therefore compress the prepared payload like
/// any other message (sending it uncompressed would be the other correct choice, but the
/// peer asked for compression); the preparation still saves building the payload per
/// connection.
///
/// Frames from a server are unmasked, so the same bytes go to every connection. A client
/// must mask every frame with a fresh key, so a client connection copies the (cached)
/// payload and masks the copy.
///
/// ```no_run
/// use websocket::{Conn, MessageType, PreparedMessage};
///
/// async fn broadcast(conns: &[Conn], text: &str) -> Result<(), websocket::Error> {
///     let message = PreparedMessage::new(MessageType::Text, text.to_owned())?;
///     for conn in conns {
///         conn.write_prepared_message(&message).await?;
///     }
///     Ok(())
/// }
/// ```
#[derive(Clone)]
pub struct PreparedMessage {
    inner: Arc<Inner>,
}

struct Inner {
    message_type: MessageType,
    data: Bytes,
    /// Context-free compressed payloads by (window bits, flate2 level).
    compressed: Mutex<Vec<((u8, u32), Bytes)>>,
}

impl std::fmt::Debug for PreparedMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedMessage")
            .field("message_type", &self.inner.message_type)
            .field("len", &self.inner.data.len())
            .field("encodings", &self.cached_encodings())
            .finish()
    }
}

impl PreparedMessage {
    /// Prepares `data` to be sent as a message of `message_type` (gorilla's
    /// `NewPreparedMessage`). Encodings are made lazily, the first time a connection needs
    /// one.
    ///
    /// Fails with [`Error::is_invalid_argument`] for a control message longer than 125
    /// bytes, which no connection could send.
    pub fn new(message_type: MessageType, data: impl Into<Bytes>) -> Result<Self, Error> {
        let data = data.into();
        if message_type.is_control() && data.len() > 125 {
            return Err(Error::invalid_argument(
                "websocket: control message payload longer than 125 bytes",
            ));
        }
        Ok(PreparedMessage {
            inner: Arc::new(Inner {
                message_type,
                data,
                compressed: Mutex::new(Vec::new()),
            }),
        })
    }

    /// The message type.
    pub fn message_type(&self) -> MessageType {
        self.inner.message_type
    }

    /// The payload, uncompressed.
    pub fn data(&self) -> &[u8] {
        &self.inner.data
    }

    /// How many compressed encodings are cached (one per window size and level seen).
    pub fn cached_encodings(&self) -> usize {
        self.inner
            .compressed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// The payload compressed without context for a `window_bits` window (9 to 15) at
    /// `level`, computed once per pair.
    pub(crate) fn compressed(&self, window_bits: u8, level: i32) -> Result<Bytes, Error> {
        let level = flate_level(level).unwrap_or_default();
        let key = (window_bits, level.level());
        // Held while compressing, so concurrent writers wait for the one encoding rather
        // than each making their own.
        let mut cache = self
            .inner
            .compressed
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some((_, bytes)) = cache.iter().find(|(k, _)| *k == key) {
            return Ok(bytes.clone());
        }
        let mut deflater = Deflater::new(Direction {
            no_context_takeover: true,
            window_bits,
        })
        .ok_or_else(|| Error::invalid_argument("websocket: window too small to compress"))?;
        let mut out = Vec::new();
        deflater.compress(&self.inner.data, &mut out, level, Chunk::End)?;
        let bytes = Bytes::from(out);
        cache.push((key, bytes.clone()));
        Ok(bytes)
    }
}
