//! [`BufferPool`]: hertz-contrib's `BufferPool` interface.

use std::sync::Arc;

use bytes::BytesMut;

/// **Deprecated:** implement [`websocket::BufferPool`] instead; it has the same two methods.
///
/// A pool of write buffers shared by connections (hertz-contrib's `BufferPool`, which
/// `*sync.Pool` satisfies): set it as
/// [`HertzUpgrader::write_buffer_pool`](crate::HertzUpgrader::write_buffer_pool). Go's
/// `Get() interface{}` / `Put(interface{})` become typed: the buffers are [`BytesMut`].
///
/// ```
/// use std::sync::Mutex;
///
/// use bytes::BytesMut;
///
/// /// hertz-contrib's documented `simpleBufferPool`: holds at most one buffer.
/// #[derive(Default)]
/// struct SimpleBufferPool(Mutex<Option<BytesMut>>);
///
/// impl contrib_websocket::BufferPool for SimpleBufferPool {
///     fn get(&self) -> Option<BytesMut> {
///         self.0.lock().unwrap().take()
///     }
///     fn put(&self, buf: BytesMut) {
///         *self.0.lock().unwrap() = Some(buf);
///     }
/// }
///
/// let upgrader = contrib_websocket::HertzUpgrader {
///     write_buffer_pool: Some(std::sync::Arc::new(SimpleBufferPool::default())),
///     ..Default::default()
/// };
/// # drop(upgrader);
/// ```
#[deprecated(
    note = "hertz-contrib/websocket is deprecated: implement websocket::BufferPool; see MIGRATION.md"
)]
pub trait BufferPool: Send + Sync + 'static {
    /// Takes a buffer from the pool, or `None` when it is empty (Go: `Get()` returning `nil`).
    fn get(&self) -> Option<BytesMut>;
    /// Returns a buffer to the pool (Go: `Put(v)`).
    fn put(&self, buf: BytesMut);
}

impl std::fmt::Debug for dyn BufferPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BufferPool")
    }
}

/// Hands a legacy pool to the new path. A blanket `impl websocket::BufferPool for T` is not
/// possible (neither the trait nor `T` is local), hence the wrapper.
pub(crate) struct PoolAdapter(pub(crate) Arc<dyn BufferPool>);

impl websocket::BufferPool for PoolAdapter {
    fn get(&self) -> Option<BytesMut> {
        self.0.get()
    }

    fn put(&self, buf: BytesMut) {
        self.0.put(buf)
    }
}
