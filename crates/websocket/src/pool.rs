//! [`BufferPool`]: gorilla's `WriteBufferPool`.

use bytes::BytesMut;

/// A pool of write buffers shared by many connections (gorilla's `BufferPool`).
///
/// A connection with a pool holds a write buffer only while it writes a message and returns it
/// afterwards, so an application with many mostly idle connections keeps one buffer per
/// concurrent writer instead of one per connection. Use one pool for all connections.
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
