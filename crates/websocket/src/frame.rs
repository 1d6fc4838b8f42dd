//! Frame headers: parsing, the RFC 6455 rules a single header must satisfy,
//! and encoding.
//!
//! tungstenite's `WebSocket` cannot be used for the connection itself (it
//! rejects RSV1, which permessage-deflate needs, and only yields whole
//! messages), but its header parser is public and well exercised, so
//! [`parse_header`] wraps it and adds the one check it lacks (the 64-bit
//! length's top bit). [`check_header`] holds the per-frame rules; rules that
//! span frames (continuations, interleaving) belong to the reader.
//! [`write_header`] encodes by hand into the caller's write buffer so header
//! and payload go out in one write without an intermediate allocation.

use std::io::Cursor;

use bytes::{BufMut, BytesMut};
use tungstenite::error::ProtocolError;
use tungstenite::protocol::frame::FrameHeader;
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

use crate::close::CloseCode;

/// The longest possible header: 2 fixed bytes, an 8-byte length and a 4-byte
/// mask key.
pub(crate) const MAX_HEADER_LEN: usize = 14;

/// The largest payload a control frame may carry (RFC 6455, section 5.5).
pub(crate) const MAX_CONTROL_PAYLOAD: u64 = 125;

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    /// The FIN bit: this is the last frame of its message.
    pub(crate) fin: bool,
    /// RSV1: with permessage-deflate, the message is compressed.
    pub(crate) rsv1: bool,
    /// RSV2: no extension this crate speaks uses it.
    pub(crate) rsv2: bool,
    /// RSV3: no extension this crate speaks uses it.
    pub(crate) rsv3: bool,
    /// The frame's opcode.
    pub(crate) opcode: OpCode,
    /// The masking key; present exactly on client-to-server frames.
    pub(crate) mask: Option<[u8; 4]>,
    /// The payload length in bytes.
    pub(crate) payload_len: u64,
}

impl Header {
    fn is_control(&self) -> bool {
        matches!(self.opcode, OpCode::Control(_))
    }
}

fn protocol_error(reason: &'static str) -> crate::Error {
    crate::Error::protocol(CloseCode::PROTOCOL_ERROR, reason)
}

/// Decodes the frame header at the start of `buf` without consuming it.
///
/// Returns `Ok(None)` until `buf` holds the whole header, then the header and
/// its length in bytes (2 to [`MAX_HEADER_LEN`]). Reserved opcodes and 64-bit
/// lengths with the most significant bit set (RFC 6455, section 5.2) are
/// protocol errors.
pub(crate) fn parse_header(buf: &[u8]) -> Result<Option<(Header, usize)>, crate::Error> {
    let mut cursor = Cursor::new(buf);
    let (header, payload_len) = match FrameHeader::parse(&mut cursor) {
        Ok(Some(parsed)) => parsed,
        Ok(None) => return Ok(None),
        Err(tungstenite::Error::Protocol(ProtocolError::InvalidOpcode(_))) => {
            return Err(protocol_error("unknown opcode"));
        }
        // Reading from a slice cannot fail, and tungstenite reports nothing
        // else from header parsing; kept total rather than panicking.
        Err(_) => return Err(protocol_error("invalid frame header")),
    };
    if payload_len >> 63 != 0 {
        return Err(protocol_error(
            "frame length has the most significant bit set",
        ));
    }
    let header_len =
        usize::try_from(cursor.position()).expect("a frame header is at most 14 bytes");
    Ok(Some((
        Header {
            fin: header.is_final,
            rsv1: header.rsv1,
            rsv2: header.rsv2,
            rsv3: header.rsv3,
            opcode: header.opcode,
            mask: header.mask,
            payload_len,
        },
        header_len,
    )))
}

/// The whole length, header and payload, of the frame at the start of `buf`, once enough of
/// its header has arrived to tell. Nothing is validated: [`parse_header`] does that.
pub(crate) fn frame_len(buf: &[u8]) -> Option<u64> {
    let second = *buf.get(1)?;
    let mask_len = if second & 0x80 != 0 { 4 } else { 0 };
    let (extended_len, payload_len) = match second & 0x7f {
        126 => (
            2,
            u64::from(u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?)),
        ),
        127 => (8, u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?)),
        short => (0, u64::from(short)),
    };
    Some(payload_len.saturating_add(2 + extended_len + mask_len))
}

/// Applies the RFC 6455 rules that one header must satisfy on its own.
///
/// `expect_masked` is `true` on the server (clients must mask, section 5.1)
/// and `false` on the client. `rsv1_allowed` is `true` once permessage-deflate
/// has been negotiated; RSV1 then marks the first frame of a compressed data
/// message (RFC 7692, section 6), never a control or continuation frame.
/// Every violation is a protocol error answered with close code 1002.
pub(crate) fn check_header(
    h: &Header,
    expect_masked: bool,
    rsv1_allowed: bool,
) -> Result<(), crate::Error> {
    if matches!(
        h.opcode,
        OpCode::Data(Data::Reserved(_)) | OpCode::Control(Control::Reserved(_))
    ) {
        return Err(protocol_error("unknown opcode"));
    }
    if h.rsv2 || h.rsv3 {
        return Err(protocol_error("unexpected reserved bits"));
    }
    if h.is_control() {
        if !h.fin {
            return Err(protocol_error("control frame not final"));
        }
        if h.payload_len > MAX_CONTROL_PAYLOAD {
            return Err(protocol_error("control frame length > 125"));
        }
    }
    if h.rsv1 && (!rsv1_allowed || h.is_control() || h.opcode == OpCode::Data(Data::Continue)) {
        return Err(protocol_error("unexpected reserved bits"));
    }
    if h.mask.is_some() != expect_masked {
        return Err(protocol_error("incorrect mask flag"));
    }
    Ok(())
}

/// Appends the encoding of a frame header to `out`.
///
/// Uses the shortest length encoding, as RFC 6455, section 5.2 requires.
/// Does not allocate when `out` has [`MAX_HEADER_LEN`] bytes of spare
/// capacity.
pub(crate) fn write_header(
    out: &mut BytesMut,
    fin: bool,
    rsv1: bool,
    opcode: OpCode,
    mask: Option<[u8; 4]>,
    payload_len: u64,
) {
    debug_assert!(payload_len >> 63 == 0, "payload length needs the top bit");
    let mut first = u8::from(opcode);
    if fin {
        first |= 0x80;
    }
    if rsv1 {
        first |= 0x40;
    }
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    out.put_u8(first);
    match payload_len {
        0..=125 => out.put_u8(mask_bit | payload_len as u8),
        126..=0xFFFF => {
            out.put_u8(mask_bit | 126);
            out.put_u16(payload_len as u16);
        }
        _ => {
            out.put_u8(mask_bit | 127);
            out.put_u64(payload_len);
        }
    }
    if let Some(key) = mask {
        out.put_slice(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: OpCode = OpCode::Data(Data::Text);
    const BINARY: OpCode = OpCode::Data(Data::Binary);
    const CONTINUE: OpCode = OpCode::Data(Data::Continue);
    const CLOSE: OpCode = OpCode::Control(Control::Close);
    const PING: OpCode = OpCode::Control(Control::Ping);
    const PONG: OpCode = OpCode::Control(Control::Pong);
    const KEY: [u8; 4] = [0xa1, 0xb2, 0xc3, 0xd4];

    const LENGTHS: [u64; 10] = [
        0,
        1,
        125,
        126,
        127,
        65535,
        65536,
        1 << 32,
        (1 << 32) + 7,
        (1 << 63) - 1,
    ];

    fn encode(fin: bool, rsv1: bool, opcode: OpCode, mask: Option<[u8; 4]>, len: u64) -> BytesMut {
        let mut out = BytesMut::new();
        write_header(&mut out, fin, rsv1, opcode, mask, len);
        out
    }

    fn header(opcode: OpCode, mask: Option<[u8; 4]>, payload_len: u64) -> Header {
        Header {
            fin: true,
            rsv1: false,
            rsv2: false,
            rsv3: false,
            opcode,
            mask,
            payload_len,
        }
    }

    fn expected_len(len: u64, masked: bool) -> usize {
        let ext = match len {
            0..=125 => 0,
            126..=65535 => 2,
            _ => 8,
        };
        2 + ext + if masked { 4 } else { 0 }
    }

    fn assert_protocol_error(result: Result<(), crate::Error>, what: &str) {
        let err = result.expect_err(what);
        assert!(err.is_protocol(), "{what}: {err}");
        assert_eq!(err.close_code(), Some(CloseCode::PROTOCOL_ERROR), "{what}");
    }

    #[test]
    fn round_trips() {
        for len in LENGTHS {
            for mask in [None, Some(KEY)] {
                for (fin, rsv1, opcode) in [
                    (true, false, TEXT),
                    (false, true, BINARY),
                    (false, false, CONTINUE),
                    (true, false, PING),
                ] {
                    let buf = encode(fin, rsv1, opcode, mask, len);
                    assert_eq!(buf.len(), expected_len(len, mask.is_some()), "len {len}");
                    let (h, n) = parse_header(&buf).unwrap().expect("complete header");
                    assert_eq!(n, buf.len());
                    assert_eq!(
                        h,
                        Header {
                            fin,
                            rsv1,
                            rsv2: false,
                            rsv3: false,
                            opcode,
                            mask,
                            payload_len: len
                        }
                    );
                }
            }
        }
    }

    #[test]
    fn encoding_matches_tungstenite() {
        for len in LENGTHS {
            for mask in [None, Some(KEY)] {
                for (fin, rsv1, opcode) in [
                    (true, false, TEXT),
                    (false, true, BINARY),
                    (true, false, CLOSE),
                ] {
                    let ours = encode(fin, rsv1, opcode, mask, len);
                    let theirs = FrameHeader {
                        is_final: fin,
                        rsv1,
                        rsv2: false,
                        rsv3: false,
                        opcode,
                        mask,
                    };
                    let mut expected = Vec::new();
                    theirs.format(len, &mut expected).unwrap();
                    assert_eq!(&ours[..], &expected[..], "len {len} mask {mask:?}");
                    assert_eq!(ours.len(), theirs.len(len));
                }
            }
        }
    }

    #[test]
    fn known_encodings() {
        // RFC 6455 section 5.7: unmasked "Hello" and masked "Hello" headers.
        assert_eq!(&encode(true, false, TEXT, None, 5)[..], [0x81, 0x05]);
        assert_eq!(
            &encode(true, false, TEXT, Some([0x37, 0xfa, 0x21, 0x3d]), 5)[..],
            [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d]
        );
        // 256 bytes binary, unmasked; 64 KiB binary, unmasked.
        assert_eq!(
            &encode(true, false, BINARY, None, 256)[..],
            [0x82, 0x7e, 0x01, 0x00]
        );
        assert_eq!(
            &encode(true, false, BINARY, None, 65536)[..],
            [0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0]
        );
        assert_eq!(&encode(false, true, TEXT, None, 0)[..], [0x41, 0x00]);
        assert_eq!(&encode(true, false, PONG, None, 0)[..], [0x8a, 0x00]);
    }

    #[test]
    fn write_header_appends() {
        let mut out = BytesMut::from(&b"xy"[..]);
        write_header(&mut out, true, false, TEXT, None, 3);
        assert_eq!(&out[..], b"xy\x81\x03");
    }

    #[test]
    fn write_header_does_not_allocate_with_capacity() {
        let mut out = BytesMut::with_capacity(MAX_HEADER_LEN);
        let ptr = out.as_ptr();
        let cap = out.capacity();
        write_header(&mut out, true, false, BINARY, Some(KEY), 1 << 40);
        assert_eq!(out.len(), MAX_HEADER_LEN);
        assert_eq!(out.as_ptr(), ptr);
        assert_eq!(out.capacity(), cap);
    }

    #[test]
    fn partial_headers_return_none_at_every_cut() {
        for len in LENGTHS {
            for mask in [None, Some(KEY)] {
                let buf = encode(true, false, BINARY, mask, len);
                for cut in 0..buf.len() {
                    assert!(
                        parse_header(&buf[..cut]).unwrap().is_none(),
                        "len {len} mask {mask:?} cut {cut}"
                    );
                }
            }
        }
    }

    #[test]
    fn parse_ignores_trailing_payload() {
        let mut buf = encode(true, false, TEXT, Some(KEY), 3);
        buf.extend_from_slice(b"abc");
        let (h, n) = parse_header(&buf).unwrap().unwrap();
        assert_eq!(n, 6);
        assert_eq!(h.payload_len, 3);
    }

    #[test]
    fn parse_rejects_length_with_top_bit() {
        let mut buf = vec![0x82, 0x7f];
        buf.extend_from_slice(&(1u64 << 63).to_be_bytes());
        let err = parse_header(&buf).unwrap_err();
        assert!(err.is_protocol());
        assert_eq!(err.close_code(), Some(CloseCode::PROTOCOL_ERROR));
        buf[2] = 0xff;
        assert!(parse_header(&buf).is_err());
        // One below the limit is accepted.
        buf[2] = 0x7f;
        buf[3..10].fill(0xff);
        let (h, _) = parse_header(&buf).unwrap().unwrap();
        assert_eq!(h.payload_len, u64::MAX >> 1);
    }

    #[test]
    fn parse_rejects_reserved_opcodes() {
        for op in (3u8..=7).chain(0xb..=0xf) {
            let err = parse_header(&[0x80 | op, 0x00]).unwrap_err();
            assert!(err.is_protocol(), "opcode {op}");
            assert_eq!(err.close_code(), Some(CloseCode::PROTOCOL_ERROR));
        }
    }

    #[test]
    fn parse_reports_all_bits() {
        let (h, n) = parse_header(&[0x71, 0x00]).unwrap().unwrap();
        assert_eq!(n, 2);
        assert!(!h.fin && h.rsv1 && h.rsv2 && h.rsv3);
        assert_eq!(h.opcode, TEXT);
        assert_eq!(h.mask, None);
    }

    #[test]
    fn check_accepts_well_formed_frames() {
        for masked in [false, true] {
            let mask = masked.then_some(KEY);
            for opcode in [TEXT, BINARY, CONTINUE, CLOSE, PING, PONG] {
                let h = header(opcode, mask, 0);
                check_header(&h, masked, false).unwrap();
                check_header(&h, masked, true).unwrap();
            }
            check_header(&header(PING, mask, 125), masked, false).unwrap();
            check_header(&header(BINARY, mask, 1 << 40), masked, false).unwrap();
            let fragment = Header {
                fin: false,
                ..header(TEXT, mask, 10)
            };
            check_header(&fragment, masked, false).unwrap();
            let compressed = Header {
                rsv1: true,
                ..header(TEXT, mask, 10)
            };
            check_header(&compressed, masked, true).unwrap();
            let compressed_first = Header {
                fin: false,
                ..compressed
            };
            check_header(&compressed_first, masked, true).unwrap();
        }
    }

    #[test]
    fn check_rejects_reserved_opcodes() {
        for op in (3u8..=7).chain(0xb..=0xf) {
            let h = header(OpCode::from(op), None, 0);
            assert_protocol_error(check_header(&h, false, true), &format!("opcode {op}"));
        }
    }

    #[test]
    fn check_rejects_rsv2_and_rsv3() {
        let h = Header {
            rsv2: true,
            ..header(TEXT, None, 0)
        };
        assert_protocol_error(check_header(&h, false, true), "rsv2");
        let h = Header {
            rsv3: true,
            ..header(BINARY, None, 0)
        };
        assert_protocol_error(check_header(&h, false, true), "rsv3");
    }

    #[test]
    fn check_rejects_misplaced_rsv1() {
        let h = Header {
            rsv1: true,
            ..header(TEXT, None, 0)
        };
        assert_protocol_error(check_header(&h, false, false), "rsv1 without deflate");
        for opcode in [CLOSE, PING, PONG] {
            let h = Header {
                rsv1: true,
                ..header(opcode, None, 0)
            };
            assert_protocol_error(check_header(&h, false, true), "rsv1 on control");
        }
        let h = Header {
            rsv1: true,
            ..header(CONTINUE, None, 0)
        };
        assert_protocol_error(check_header(&h, false, true), "rsv1 on continuation");
    }

    #[test]
    fn check_rejects_fragmented_control_frames() {
        for opcode in [CLOSE, PING, PONG] {
            let h = Header {
                fin: false,
                ..header(opcode, None, 0)
            };
            assert_protocol_error(check_header(&h, false, false), "fragmented control");
        }
    }

    #[test]
    fn check_rejects_long_control_frames() {
        for opcode in [CLOSE, PING, PONG] {
            assert_protocol_error(
                check_header(&header(opcode, None, 126), false, false),
                "126",
            );
            assert_protocol_error(
                check_header(&header(opcode, None, 1 << 40), false, false),
                "huge",
            );
        }
    }

    #[test]
    fn check_rejects_wrong_masking() {
        assert_protocol_error(
            check_header(&header(TEXT, None, 0), true, false),
            "server got unmasked",
        );
        assert_protocol_error(
            check_header(&header(TEXT, Some(KEY), 0), false, false),
            "client got masked",
        );
        assert_protocol_error(
            check_header(&header(PING, None, 0), true, false),
            "unmasked ping",
        );
    }

    #[test]
    fn parsed_headers_flow_into_check() {
        // A masked, compressed text frame as a browser sends it.
        let buf = encode(true, true, TEXT, Some(KEY), 300);
        let (h, _) = parse_header(&buf).unwrap().unwrap();
        check_header(&h, true, true).unwrap();
        assert_protocol_error(check_header(&h, true, false), "deflate not negotiated");
        assert_protocol_error(check_header(&h, false, true), "client side");
    }
}
