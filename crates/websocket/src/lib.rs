//! gorilla/websocket in Rust (work in progress).

mod close;
mod error;
mod frame;
mod mask;
mod message;
mod utf8;

pub use close::{CloseCode, CloseError, format_close_message};
pub use error::{Error, is_close_error, is_unexpected_close_error};
pub use message::MessageType;
