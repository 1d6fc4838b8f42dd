//! The five message types an application sends and receives.
//!
//! gorilla identifies messages by small integers (`TextMessage = 1`, ...) that
//! are the RFC 6455 opcodes themselves. [`MessageType`] keeps those values as
//! its discriminants so code ported from Go can convert with `u8::from` and
//! `MessageType::try_from`, while the frame layer maps it to tungstenite's
//! [`OpCode`]. Continuation frames and reserved opcodes are frame-level details,
//! never message types, so they have no variant here.

use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

/// The type of a WebSocket message (RFC 6455, section 11.8).
///
/// The discriminants are gorilla's integer constants, which are the opcodes
/// of the first frame of the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MessageType {
    /// A text data message: the payload is UTF-8 encoded text.
    #[doc(alias = "TextMessage")]
    Text = 1,
    /// A binary data message.
    #[doc(alias = "BinaryMessage")]
    Binary = 2,
    /// A close control message. The optional payload holds a close code and a
    /// reason; build it with [`format_close_message`](crate::format_close_message).
    #[doc(alias = "CloseMessage")]
    Close = 8,
    /// A ping control message. The optional payload is application data that
    /// the peer echoes in its pong.
    #[doc(alias = "PingMessage")]
    Ping = 9,
    /// A pong control message, normally the answer to a ping.
    #[doc(alias = "PongMessage")]
    Pong = 10,
}

impl MessageType {
    /// Returns `true` for close, ping and pong: messages that are a single
    /// frame of at most 125 bytes and may arrive between the frames of a data
    /// message.
    pub fn is_control(self) -> bool {
        matches!(self, Self::Close | Self::Ping | Self::Pong)
    }

    /// Returns `true` for text and binary messages.
    pub fn is_data(self) -> bool {
        matches!(self, Self::Text | Self::Binary)
    }

    /// The opcode of the first (or only) frame carrying this message.
    pub(crate) fn opcode(self) -> OpCode {
        match self {
            Self::Text => OpCode::Data(Data::Text),
            Self::Binary => OpCode::Data(Data::Binary),
            Self::Close => OpCode::Control(Control::Close),
            Self::Ping => OpCode::Control(Control::Ping),
            Self::Pong => OpCode::Control(Control::Pong),
        }
    }

    /// The message type a frame with this opcode starts, or `None` for a
    /// continuation frame or a reserved opcode.
    pub(crate) fn from_opcode(opcode: OpCode) -> Option<Self> {
        match opcode {
            OpCode::Data(Data::Text) => Some(Self::Text),
            OpCode::Data(Data::Binary) => Some(Self::Binary),
            OpCode::Control(Control::Close) => Some(Self::Close),
            OpCode::Control(Control::Ping) => Some(Self::Ping),
            OpCode::Control(Control::Pong) => Some(Self::Pong),
            OpCode::Data(Data::Continue | Data::Reserved(_))
            | OpCode::Control(Control::Reserved(_)) => None,
        }
    }
}

impl TryFrom<u8> for MessageType {
    /// The rejected value: it is not one of gorilla's message type constants.
    type Error = u8;

    fn try_from(value: u8) -> Result<Self, u8> {
        match value {
            1 => Ok(Self::Text),
            2 => Ok(Self::Binary),
            8 => Ok(Self::Close),
            9 => Ok(Self::Ping),
            10 => Ok(Self::Pong),
            other => Err(other),
        }
    }
}

impl From<MessageType> for u8 {
    fn from(ty: MessageType) -> u8 {
        ty as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [MessageType; 5] = [
        MessageType::Text,
        MessageType::Binary,
        MessageType::Close,
        MessageType::Ping,
        MessageType::Pong,
    ];

    #[test]
    fn values_are_gorillas_constants() {
        assert_eq!(u8::from(MessageType::Text), 1);
        assert_eq!(u8::from(MessageType::Binary), 2);
        assert_eq!(u8::from(MessageType::Close), 8);
        assert_eq!(u8::from(MessageType::Ping), 9);
        assert_eq!(u8::from(MessageType::Pong), 10);
    }

    #[test]
    fn control_and_data_partition_the_types() {
        let control: Vec<_> = ALL.iter().filter(|t| t.is_control()).collect();
        let data: Vec<_> = ALL.iter().filter(|t| t.is_data()).collect();
        assert_eq!(
            control,
            [&MessageType::Close, &MessageType::Ping, &MessageType::Pong]
        );
        assert_eq!(data, [&MessageType::Text, &MessageType::Binary]);
        for t in ALL {
            assert_ne!(t.is_control(), t.is_data(), "{t:?}");
        }
    }

    #[test]
    fn try_from_u8_round_trips_and_rejects_everything_else() {
        for t in ALL {
            assert_eq!(MessageType::try_from(u8::from(t)), Ok(t));
        }
        let valid = [1u8, 2, 8, 9, 10];
        for b in 0..=u8::MAX {
            if !valid.contains(&b) {
                assert_eq!(MessageType::try_from(b), Err(b));
            }
        }
    }

    #[test]
    fn opcode_matches_the_integer_value() {
        for t in ALL {
            assert_eq!(u8::from(t.opcode()), u8::from(t), "{t:?}");
        }
    }

    #[test]
    fn from_opcode_inverts_opcode_and_rejects_frame_only_opcodes() {
        for t in ALL {
            assert_eq!(MessageType::from_opcode(t.opcode()), Some(t));
        }
        for b in 0u8..16 {
            let expected = MessageType::try_from(b).ok();
            assert_eq!(MessageType::from_opcode(OpCode::from(b)), expected, "{b}");
        }
        assert_eq!(MessageType::from_opcode(OpCode::Data(Data::Continue)), None);
    }
}
