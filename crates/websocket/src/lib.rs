//! gorilla/websocket in Rust (work in progress).

mod close;
mod conn;
mod error;
mod frame;
mod handshake;
mod mask;
mod message;
mod pool;
mod upgrader;
mod utf8;

pub use close::{CloseCode, CloseError, format_close_message};
pub use conn::{
    CloseHandler, Conn, ConnHandle, HandlerFuture, MessageReader, MessageWriter, PingHandler,
    PongHandler,
};
pub use error::{Error, is_close_error, is_unexpected_close_error};
pub use handshake::{is_websocket_upgrade, subprotocols};
pub use message::MessageType;
pub use pool::BufferPool;
pub use upgrader::{CheckOrigin, ErrorHook, HandshakeRequest, Upgrader};
