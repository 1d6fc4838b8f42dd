//! Close codes, the close error a peer's close frame becomes, and the close
//! frame payload format.
//!
//! A close frame's payload is empty or a big-endian status code followed by a
//! UTF-8 reason (RFC 6455, section 5.5.1). [`CloseCode`] is an open newtype
//! rather than an enum because applications may use any code in 3000-4999 and
//! a peer may send codes this crate has never heard of; the well-known codes
//! are associated constants named after gorilla's `Close*` constants.
//! [`CloseError`] is what the read methods return when the peer closes, with
//! the same `Display` text as gorilla's `*CloseError`, so log lines and string
//! matches carry over from Go.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

/// A WebSocket close status code (RFC 6455, section 7.4).
///
/// The constants cover the codes defined in RFC 6455, section 11.7 and the
/// IANA registry, under gorilla's names. Any other `u16` can be wrapped for
/// application-defined codes (3000-4999).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: the purpose of the connection has been fulfilled.
    #[doc(alias = "CloseNormalClosure")]
    pub const NORMAL_CLOSURE: CloseCode = CloseCode(1000);
    /// 1001: the endpoint is going away (server shutdown, page navigation).
    #[doc(alias = "CloseGoingAway")]
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: the endpoint is terminating the connection after a protocol error.
    #[doc(alias = "CloseProtocolError")]
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: the endpoint received a type of data it cannot accept.
    #[doc(alias = "CloseUnsupportedData")]
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1005: the close frame carried no status code.
    ///
    /// Reported locally only; it is never sent in a close frame, which is why
    /// [`format_close_message`] returns an empty payload for it.
    #[doc(alias = "CloseNoStatusReceived")]
    pub const NO_STATUS_RECEIVED: CloseCode = CloseCode(1005);
    /// 1006: the connection closed without a close frame.
    ///
    /// Reported locally only; never sent in a close frame.
    #[doc(alias = "CloseAbnormalClosure")]
    pub const ABNORMAL_CLOSURE: CloseCode = CloseCode(1006);
    /// 1007: a message's data did not match its type (for example, a text
    /// message that is not valid UTF-8).
    #[doc(alias = "CloseInvalidFramePayloadData")]
    pub const INVALID_FRAME_PAYLOAD_DATA: CloseCode = CloseCode(1007);
    /// 1008: a message violated the endpoint's policy.
    #[doc(alias = "ClosePolicyViolation")]
    pub const POLICY_VIOLATION: CloseCode = CloseCode(1008);
    /// 1009: a message was too big to process.
    #[doc(alias = "CloseMessageTooBig")]
    pub const MESSAGE_TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: the client expected the server to negotiate an extension.
    #[doc(alias = "CloseMandatoryExtension")]
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: the server hit an unexpected condition.
    #[doc(alias = "CloseInternalServerErr")]
    pub const INTERNAL_SERVER_ERR: CloseCode = CloseCode(1011);
    /// 1012: the service is restarting.
    #[doc(alias = "CloseServiceRestart")]
    pub const SERVICE_RESTART: CloseCode = CloseCode(1012);
    /// 1013: the service is overloaded; try again later.
    #[doc(alias = "CloseTryAgainLater")]
    pub const TRY_AGAIN_LATER: CloseCode = CloseCode(1013);
    /// 1015: the TLS handshake failed.
    ///
    /// Reported locally only; never sent in a close frame.
    #[doc(alias = "CloseTLSHandshake")]
    pub const TLS_HANDSHAKE: CloseCode = CloseCode(1015);

    /// Whether this code may appear in a close frame, sent or received.
    ///
    /// RFC 6455, section 7.4 reserves 1004-1006 and 1015 for local reporting
    /// and leaves 1016-2999 to future RFCs; 1012-1014 were registered with
    /// IANA later and peers do send them. 3000-4999 belong to libraries and
    /// applications. Everything else is a protocol error on receipt.
    pub(crate) fn is_valid_on_wire(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }

    /// gorilla's parenthesised name for the code in `CloseError` messages.
    /// gorilla names only these codes, so 1012 and 1013 print bare numbers.
    fn gorilla_description(self) -> Option<&'static str> {
        Some(match self {
            Self::NORMAL_CLOSURE => "normal",
            Self::GOING_AWAY => "going away",
            Self::PROTOCOL_ERROR => "protocol error",
            Self::UNSUPPORTED_DATA => "unsupported data",
            Self::NO_STATUS_RECEIVED => "no status",
            Self::ABNORMAL_CLOSURE => "abnormal closure",
            Self::INVALID_FRAME_PAYLOAD_DATA => "invalid payload data",
            Self::POLICY_VIOLATION => "policy violation",
            Self::MESSAGE_TOO_BIG => "message too big",
            Self::MANDATORY_EXTENSION => "mandatory extension missing",
            Self::INTERNAL_SERVER_ERR => "internal server error",
            Self::TLS_HANDSHAKE => "TLS handshake error",
            _ => return None,
        })
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        CloseCode(code)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> u16 {
        code.0
    }
}

/// Prints the bare number, as Go prints gorilla's integer codes.
impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A close message received from the peer, or the abnormal closure reported
/// when the connection ended without one.
///
/// Read methods return it (inside [`Error`](crate::Error), see
/// [`Error::close_error`](crate::Error::close_error)) once the peer has
/// closed. Its `Display` text is gorilla's, for example
/// `websocket: close 1001 (going away): bye`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CloseError {
    /// The status code (RFC 6455, section 11.7), or
    /// [`CloseCode::NO_STATUS_RECEIVED`] if the close frame was empty.
    pub code: CloseCode,
    /// The reason text; empty if the peer sent none.
    pub text: String,
}

impl fmt::Display for CloseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "websocket: close {}", self.code)?;
        if let Some(description) = self.code.gorilla_description() {
            write!(f, " ({description})")?;
        }
        if !self.text.is_empty() {
            write!(f, ": {}", self.text)?;
        }
        Ok(())
    }
}

impl std::error::Error for CloseError {}

/// Formats `code` and `text` as the payload of a close message.
///
/// Returns an empty payload for [`CloseCode::NO_STATUS_RECEIVED`], because
/// that code must not be sent: an empty close frame is how "no status" is
/// expressed on the wire. The text is not truncated; a control frame payload
/// is limited to 125 bytes, so keep it to 123 bytes or fewer.
#[doc(alias = "FormatCloseMessage")]
pub fn format_close_message(code: CloseCode, text: &str) -> Bytes {
    if code == CloseCode::NO_STATUS_RECEIVED {
        return Bytes::new();
    }
    let mut buf = BytesMut::with_capacity(2 + text.len());
    buf.put_u16(code.0);
    buf.put_slice(text.as_bytes());
    buf.freeze()
}

/// Parses a received close frame payload.
///
/// `Ok(None)` means the frame was empty, which the close handler reports as
/// [`CloseCode::NO_STATUS_RECEIVED`]. A one-byte payload and codes that are
/// not valid on the wire fail with close code 1002; a reason that is not UTF-8
/// fails with 1007 (RFC 6455, sections 5.5.1 and 8.1). The caller has already
/// rejected payloads over 125 bytes.
pub(crate) fn parse_close_payload(
    payload: &[u8],
) -> Result<Option<(CloseCode, &str)>, crate::Error> {
    let (code, reason) = match payload {
        [] => return Ok(None),
        [_] => {
            return Err(crate::Error::protocol(
                CloseCode::PROTOCOL_ERROR,
                "invalid close frame: payload of one byte",
            ));
        }
        [hi, lo, reason @ ..] => (CloseCode(u16::from_be_bytes([*hi, *lo])), reason),
    };
    if !code.is_valid_on_wire() {
        return Err(crate::Error::protocol(
            CloseCode::PROTOCOL_ERROR,
            "invalid close code",
        ));
    }
    let reason = std::str::from_utf8(reason).map_err(|_| {
        crate::Error::protocol(
            CloseCode::INVALID_FRAME_PAYLOAD_DATA,
            "invalid utf8 payload in close frame",
        )
    })?;
    Ok(Some((code, reason)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_have_rfc_values() {
        let table = [
            (CloseCode::NORMAL_CLOSURE, 1000),
            (CloseCode::GOING_AWAY, 1001),
            (CloseCode::PROTOCOL_ERROR, 1002),
            (CloseCode::UNSUPPORTED_DATA, 1003),
            (CloseCode::NO_STATUS_RECEIVED, 1005),
            (CloseCode::ABNORMAL_CLOSURE, 1006),
            (CloseCode::INVALID_FRAME_PAYLOAD_DATA, 1007),
            (CloseCode::POLICY_VIOLATION, 1008),
            (CloseCode::MESSAGE_TOO_BIG, 1009),
            (CloseCode::MANDATORY_EXTENSION, 1010),
            (CloseCode::INTERNAL_SERVER_ERR, 1011),
            (CloseCode::SERVICE_RESTART, 1012),
            (CloseCode::TRY_AGAIN_LATER, 1013),
            (CloseCode::TLS_HANDSHAKE, 1015),
        ];
        for (code, value) in table {
            assert_eq!(u16::from(code), value);
            assert_eq!(CloseCode::from(value), code);
        }
    }

    #[test]
    fn display_is_the_number() {
        assert_eq!(CloseCode::GOING_AWAY.to_string(), "1001");
        assert_eq!(CloseCode(4321).to_string(), "4321");
    }

    #[test]
    fn wire_validity_follows_rfc_6455_and_iana() {
        let valid = |c: u16| CloseCode(c).is_valid_on_wire();
        for c in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
        ] {
            assert!(valid(c), "{c} should be valid");
        }
        for c in [3000, 3999, 4000, 4999] {
            assert!(valid(c), "{c} should be valid");
        }
        // Autobahn 7.9.x sends exactly these and expects a protocol error.
        for c in [
            0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            assert!(!valid(c), "{c} should be invalid");
        }
    }

    #[test]
    fn close_error_display_matches_gorilla() {
        let cases = [
            (1000, "", "websocket: close 1000 (normal)"),
            (1000, "bye", "websocket: close 1000 (normal): bye"),
            (1001, "", "websocket: close 1001 (going away)"),
            (1002, "", "websocket: close 1002 (protocol error)"),
            (1003, "", "websocket: close 1003 (unsupported data)"),
            (1005, "", "websocket: close 1005 (no status)"),
            (
                1006,
                "unexpected EOF",
                "websocket: close 1006 (abnormal closure): unexpected EOF",
            ),
            (1007, "", "websocket: close 1007 (invalid payload data)"),
            (1008, "", "websocket: close 1008 (policy violation)"),
            (1009, "", "websocket: close 1009 (message too big)"),
            (
                1010,
                "",
                "websocket: close 1010 (mandatory extension missing)",
            ),
            (1011, "", "websocket: close 1011 (internal server error)"),
            (1012, "", "websocket: close 1012"),
            (1013, "later", "websocket: close 1013: later"),
            (1015, "", "websocket: close 1015 (TLS handshake error)"),
            (4000, "app", "websocket: close 4000: app"),
        ];
        for (code, text, expected) in cases {
            let err = CloseError {
                code: CloseCode(code),
                text: text.to_owned(),
            };
            assert_eq!(err.to_string(), expected);
        }
    }

    #[test]
    fn close_error_is_a_std_error() {
        let err: Box<dyn std::error::Error + Send + Sync> = Box::new(CloseError {
            code: CloseCode::GOING_AWAY,
            text: String::new(),
        });
        assert!(err.source().is_none());
        assert!(err.downcast_ref::<CloseError>().is_some());
    }

    #[test]
    fn format_close_message_layout() {
        assert_eq!(
            &format_close_message(CloseCode::NORMAL_CLOSURE, "bye")[..],
            b"\x03\xe8bye"
        );
        assert_eq!(&format_close_message(CloseCode(4999), "")[..], b"\x13\x87");
        assert!(format_close_message(CloseCode::NO_STATUS_RECEIVED, "ignored").is_empty());
    }

    #[test]
    fn parse_round_trips_format() {
        for (code, text) in [
            (CloseCode::NORMAL_CLOSURE, ""),
            (CloseCode::GOING_AWAY, "server shutting down"),
            (CloseCode(3000), "héllo ✓"),
        ] {
            let payload = format_close_message(code, text);
            assert_eq!(parse_close_payload(&payload).unwrap(), Some((code, text)));
        }
    }

    #[test]
    fn parse_empty_payload_is_no_status() {
        assert_eq!(parse_close_payload(b"").unwrap(), None);
    }

    #[test]
    fn parse_one_byte_is_protocol_error() {
        let err = parse_close_payload(b"\x03").unwrap_err();
        assert!(err.is_protocol());
        assert_eq!(err.close_code(), Some(CloseCode::PROTOCOL_ERROR));
    }

    #[test]
    fn parse_rejects_codes_not_valid_on_wire() {
        for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
            let err = parse_close_payload(&code.to_be_bytes()).unwrap_err();
            assert!(err.is_protocol(), "{code}");
            assert_eq!(err.close_code(), Some(CloseCode::PROTOCOL_ERROR), "{code}");
        }
    }

    #[test]
    fn parse_rejects_invalid_utf8_reason_with_1007() {
        // A UTF-16 surrogate encoded in UTF-8 (Autobahn 7.5.1 sends similar).
        let err = parse_close_payload(b"\x03\xe8\xed\xa0\x80").unwrap_err();
        assert!(err.is_protocol());
        assert_eq!(
            err.close_code(),
            Some(CloseCode::INVALID_FRAME_PAYLOAD_DATA)
        );
        // A truncated sequence at the end is just as invalid: the reason is complete.
        let err = parse_close_payload(b"\x03\xe8ok\xe2\x82").unwrap_err();
        assert_eq!(
            err.close_code(),
            Some(CloseCode::INVALID_FRAME_PAYLOAD_DATA)
        );
    }

    #[test]
    fn invalid_code_wins_over_invalid_reason() {
        let err = parse_close_payload(b"\x03\xed\xff").unwrap_err();
        assert_eq!(err.close_code(), Some(CloseCode::PROTOCOL_ERROR));
    }
}
