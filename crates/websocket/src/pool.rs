//! [`BufferPool`]: gorilla's `WriteBufferPool`.

use bytes::BytesMut;

/// A pool of write buffers shared by many connections (gorilla's `BufferPool`).
///
/// A connection with a pool holds write buffers only while it writes a message and returns
/// them afterwards, so an application with many mostly idle connections keeps buffers per
/// concurrent writer instead of per connection. Use one pool for all connections.
///
/// # What it saves
///
/// Without a pool, a connection that has written keeps, while idle:
///
/// - its frame buffer (header plus a copied payload): up to 16 KiB after a message of that
///   size, since payloads up to 16 KiB are copied behind the header to go out in one write;
///   a buffer that grew past 64 KiB is freed;
/// - with compression, its compressed-output buffer: as large as the last compressed
///   message, up to 64 KiB kept.
///
/// (The buffer of a [`MessageWriter`](crate::MessageWriter), `write_buffer_size` bytes, is
/// allocated per message either way; with a pool it comes from the pool.) With a pool, all
/// of these are borrowed when a message starts and returned when it ends: an idle connection
/// holds none, and a writing one at most three (message buffer, compressed output, frame
/// buffer). For 10,000 chat connections that last sent ~1 KiB messages, compressed, that is
/// on the order of 10 to 20 MiB held for nothing without a pool, and a few dozen KiB with
/// one. Read
/// buffers are not pooled (as in gorilla); a connection's read buffer shrinks back after a
/// large message.
///
/// Buffers come back with whatever capacity they grew to; a pool may drop large ones
/// rather than keep them.
///
/// ```
/// use std::sync::{Arc, Mutex};
///
/// use bytes::BytesMut;
/// use websocket::{BufferPool, Upgrader};
///
/// #[derive(Default)]
/// struct Pool(Mutex<Vec<BytesMut>>);
///
/// impl BufferPool for Pool {
///     fn get(&self) -> Option<BytesMut> {
///         self.0.lock().unwrap().pop()
///     }
///     fn put(&self, buf: BytesMut) {
///         if buf.capacity() <= 64 * 1024 {
///             self.0.lock().unwrap().push(buf);
///         }
///     }
/// }
///
/// let upgrader = Upgrader::new().write_buffer_pool(Arc::new(Pool::default()));
/// # drop(upgrader);
/// ```
pub trait BufferPool: Send + Sync + 'static {
    /// Takes a buffer from the pool, or `None` when it is empty (the connection then allocates).
    fn get(&self) -> Option<BytesMut>;
    /// Returns a buffer to the pool.
    fn put(&self, buf: BytesMut);
}

impl std::fmt::Debug for dyn BufferPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BufferPool")
    }
}
