//! A minimal RFC 6455 client: the handshake request, masked frames, and parsing of the
//! server's (unmasked) frames. Just enough for an echo load, and strict: anything unexpected is
//! an error, so a server that corrupts the stream cannot score.

use std::io;

use bytes::{Buf, BytesMut};
use rand::RngCore;

/// A fresh `Sec-WebSocket-Key`.
pub fn new_key(rng: &mut impl RngCore) -> String {
    let mut raw = [0u8; 16];
    rng.fill_bytes(&mut raw);
    // Base64 by hand: the key only has to be 16 random bytes, encoded.
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(24);
    for chunk in raw.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The upgrade request for `path` on `host`.
pub fn handshake_request(host: &str, path: &str, key: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// Checks a complete response head: `101` with the right `Sec-WebSocket-Accept`.
pub fn check_handshake_response(head: &[u8], key: &str) -> io::Result<()> {
    let text = std::str::from_utf8(head).map_err(|_| bad("response head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let status = lines.next().unwrap_or("");
    if !status.starts_with("HTTP/1.1 101") {
        return Err(bad(&format!("expected 101, got {status:?}")));
    }
    let want = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let accept = lines.find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("sec-websocket-accept")
            .then(|| value.trim())
    });
    if accept != Some(want.as_str()) {
        return Err(bad("wrong or missing Sec-WebSocket-Accept"));
    }
    Ok(())
}

/// Where the response head ends (after `\r\n\r\n`), if it is complete.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

pub const OP_CONT: u8 = 0x0;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// Appends one final, masked client frame to `out`, with a fresh mask key (RFC 6455 5.3).
pub fn put_masked_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8], rng: &mut impl RngCore) {
    put_header(out, opcode, payload.len());
    let key = rng.next_u32().to_ne_bytes();
    out.extend_from_slice(&key);
    let start = out.len();
    out.extend_from_slice(payload);
    mask(&mut out[start..], key);
}

/// Appends one final, masked binary frame whose payload is `pattern` with `seq` in its first
/// 8 bytes (when it has 8), masking as it copies: one pass over the payload. Returns the key.
pub fn put_pattern_frame(
    out: &mut Vec<u8>,
    pattern: &[u8],
    seq: u64,
    rng: &mut impl RngCore,
) -> [u8; 4] {
    put_header(out, OP_BINARY, pattern.len());
    let key = rng.next_u32().to_ne_bytes();
    out.extend_from_slice(&key);
    let start = out.len();
    out.extend_from_slice(pattern);
    if pattern.len() >= 8 {
        out[start..start + 8].copy_from_slice(&seq.to_le_bytes());
    }
    mask(&mut out[start..], key);
    key
}

/// Checks a masked payload against `pattern` with `seq`, unmasking as it compares.
pub fn masked_payload_matches(masked: &[u8], key: [u8; 4], pattern: &[u8], seq: u64) -> bool {
    if masked.len() != pattern.len() {
        return false;
    }
    let word = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut offset = 0;
    if pattern.len() >= 8 {
        let first = u64::from_ne_bytes(masked[..8].try_into().unwrap()) ^ word;
        if first.to_ne_bytes() != seq.to_le_bytes() {
            return false;
        }
        offset = 8;
    }
    let (m, p) = (&masked[offset..], &pattern[offset..]);
    let mut mc = m.chunks_exact(8);
    let mut pc = p.chunks_exact(8);
    for (a, b) in (&mut mc).zip(&mut pc) {
        if u64::from_ne_bytes(a.try_into().unwrap()) ^ word
            != u64::from_ne_bytes(b.try_into().unwrap())
        {
            return false;
        }
    }
    mc.remainder()
        .iter()
        .zip(pc.remainder())
        .zip(key.iter().cycle())
        .all(|((a, b), k)| a ^ k == *b)
}

/// The header (mask bit set, key not included) of a masked binary frame of `len` bytes.
pub fn masked_header(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(10);
    put_header(&mut out, OP_BINARY, len);
    out
}

fn put_header(out: &mut Vec<u8>, opcode: u8, len: usize) {
    out.push(0x80 | opcode);
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= u16::MAX as usize {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
}

/// The length of a masked client frame with a payload of `len` bytes.
pub fn masked_frame_len(len: usize) -> usize {
    let ext = if len < 126 {
        0
    } else if len <= u16::MAX as usize {
        2
    } else {
        8
    };
    2 + ext + 4 + len
}

fn mask(buf: &mut [u8], key: [u8; 4]) {
    let word = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut chunks = buf.chunks_exact_mut(8);
    for c in &mut chunks {
        let v = u64::from_ne_bytes(c.try_into().unwrap()) ^ word;
        c.copy_from_slice(&v.to_ne_bytes());
    }
    for (b, k) in chunks.into_remainder().iter_mut().zip(key.iter().cycle()) {
        *b ^= k;
    }
}

/// A server frame's header.
#[derive(Debug, Clone, Copy)]
pub struct Header {
    pub fin: bool,
    pub opcode: u8,
    pub header_len: usize,
    pub payload_len: usize,
}

/// Parses a server frame header at the start of `buf`; `None` until enough bytes arrived.
pub fn parse_header(buf: &[u8]) -> io::Result<Option<Header>> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let (b0, b1) = (buf[0], buf[1]);
    if b0 & 0x70 != 0 {
        return Err(bad("RSV bits set in a server frame"));
    }
    if b1 & 0x80 != 0 {
        return Err(bad("server frame is masked"));
    }
    let (payload_len, header_len) = match b1 & 0x7f {
        126 => {
            if buf.len() < 4 {
                return Ok(None);
            }
            (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4)
        }
        127 => {
            if buf.len() < 10 {
                return Ok(None);
            }
            (
                u64::from_be_bytes(buf[2..10].try_into().unwrap()) as usize,
                10,
            )
        }
        n => (n as usize, 2),
    };
    Ok(Some(Header {
        fin: b0 & 0x80 != 0,
        opcode: b0 & 0x0f,
        header_len,
        payload_len,
    }))
}

/// Reassembles the server's messages from a byte stream.
#[derive(Debug, Default)]
pub struct MessageParser {
    /// The fragments of a message in progress.
    partial: Option<BytesMut>,
}

/// One parsed event.
#[derive(Debug)]
pub enum Event {
    /// A complete data message (binary or text).
    Message(BytesMut),
    /// The server's close frame.
    Close,
}

impl MessageParser {
    /// Takes the next complete message or close frame out of `buf`. Pings and pongs are skipped.
    pub fn next(&mut self, buf: &mut BytesMut) -> io::Result<Option<Event>> {
        loop {
            let Some(h) = parse_header(buf)? else {
                return Ok(None);
            };
            if buf.len() < h.header_len + h.payload_len {
                return Ok(None);
            }
            buf.advance(h.header_len);
            let payload = buf.split_to(h.payload_len);
            match h.opcode {
                OP_CLOSE => return Ok(Some(Event::Close)),
                OP_PING | OP_PONG => continue,
                OP_CONT => {
                    let Some(partial) = self.partial.as_mut() else {
                        return Err(bad("continuation without a message"));
                    };
                    partial.extend_from_slice(&payload);
                    if h.fin {
                        return Ok(self.partial.take().map(Event::Message));
                    }
                }
                0x1 | OP_BINARY => {
                    if self.partial.is_some() {
                        return Err(bad("new message inside a fragmented one"));
                    }
                    if h.fin {
                        return Ok(Some(Event::Message(payload)));
                    }
                    self.partial = Some(payload);
                }
                op => return Err(bad(&format!("unexpected opcode {op}"))),
            }
        }
    }
}

pub fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_frames_mask_and_check() {
        for len in [0, 5, 8, 13, 126, 70000] {
            let pattern: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let mut out = Vec::new();
            let key = put_pattern_frame(&mut out, &pattern, 42, &mut rand::rng());
            let payload = &out[out.len() - len..];
            assert!(
                masked_payload_matches(payload, key, &pattern, 42),
                "len {len}"
            );
            if len >= 8 {
                assert!(!masked_payload_matches(payload, key, &pattern, 43));
                let mut bad = payload.to_vec();
                bad[len - 1] ^= 1;
                assert!(!masked_payload_matches(&bad, key, &pattern, 42));
            }
        }
    }

    #[test]
    fn key_is_24_chars_of_base64() {
        let key = new_key(&mut rand::rng());
        assert_eq!(key.len(), 24);
        assert!(key.ends_with("=="));
    }

    #[test]
    fn frames_round_trip_when_unmasked() {
        for len in [0, 5, 125, 126, 65535, 65536, 70000] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut out = Vec::new();
            put_masked_frame(&mut out, OP_BINARY, &payload, &mut rand::rng());
            assert_eq!(out.len(), masked_frame_len(len));
            // Unmask and clear the mask bit, as a server would echo it.
            let hl = masked_frame_len(len) - 4 - len;
            let key: [u8; 4] = out[hl..hl + 4].try_into().unwrap();
            let mut echoed = out[..hl].to_vec();
            echoed[1] &= 0x7f;
            let mut body = out[hl + 4..].to_vec();
            mask(&mut body, key);
            assert_eq!(body, payload);
            echoed.extend_from_slice(&body);
            let mut buf = BytesMut::from(&echoed[..]);
            match MessageParser::default().next(&mut buf).unwrap() {
                Some(Event::Message(m)) => assert_eq!(&m[..], &payload[..]),
                other => panic!("{other:?}"),
            }
        }
    }
}
