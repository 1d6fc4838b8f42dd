//! Incremental UTF-8 validation for text messages.
//!
//! A text message arrives in frames, and each frame in pieces, so a code point
//! can be split anywhere. RFC 6455, section 8.1 requires failing the
//! connection as soon as the bytes received cannot be valid UTF-8, not when the
//! message ends (Autobahn case 6.4 measures exactly this), which also stops a
//! peer from making the reader buffer a huge invalid message. [`Utf8Validator`]
//! carries the at most three bytes of an unfinished code point between calls
//! and leaves all real validation to `std::str::from_utf8`, which already tells
//! an invalid byte apart from a sequence that is merely cut short.

use std::fmt;

/// The bytes seen so far are not, and cannot become, valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InvalidUtf8;

impl fmt::Display for InvalidUtf8 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid UTF-8 in text message")
    }
}

impl std::error::Error for InvalidUtf8 {}

/// Validates one text message fed in arbitrary pieces.
#[derive(Debug, Clone, Default)]
pub(crate) struct Utf8Validator {
    /// The start of a code point that the previous pieces left unfinished.
    /// Room for four bytes so the completed sequence can be checked in place.
    pending: [u8; 4],
    pending_len: usize,
}

impl Utf8Validator {
    /// A validator at the start of a message.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Checks the next piece of the message.
    ///
    /// Fails as soon as the bytes seen so far cannot be the beginning of valid
    /// UTF-8; a code point cut off at the end of `data` is remembered and
    /// checked when the next piece arrives. After an error the validator must
    /// be [reset](Self::reset) before reuse.
    pub(crate) fn feed(&mut self, mut data: &[u8]) -> Result<(), InvalidUtf8> {
        if self.pending_len > 0 {
            let width = sequence_width(self.pending[0]);
            let take = (width - self.pending_len).min(data.len());
            self.pending[self.pending_len..self.pending_len + take].copy_from_slice(&data[..take]);
            let filled = self.pending_len + take;
            match std::str::from_utf8(&self.pending[..filled]) {
                Ok(_) => {
                    self.pending_len = 0;
                    data = &data[take..];
                }
                Err(e) if e.error_len().is_some() => return Err(InvalidUtf8),
                // Still short: `data` was too small to finish the code point.
                Err(_) => {
                    self.pending_len = filled;
                    return Ok(());
                }
            }
        }
        match std::str::from_utf8(data) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_some() => Err(InvalidUtf8),
            Err(e) => {
                let tail = &data[e.valid_up_to()..];
                self.pending[..tail.len()].copy_from_slice(tail);
                self.pending_len = tail.len();
                Ok(())
            }
        }
    }

    /// Ends the message: fails if it stopped in the middle of a code point.
    /// The validator is ready for the next message either way.
    pub(crate) fn finish(&mut self) -> Result<(), InvalidUtf8> {
        let incomplete = self.pending_len > 0;
        self.reset();
        if incomplete { Err(InvalidUtf8) } else { Ok(()) }
    }

    /// Forgets any unfinished code point, for a new message.
    pub(crate) fn reset(&mut self) {
        self.pending_len = 0;
    }
}

/// The length of the sequence a lead byte starts. Only lead bytes that
/// `from_utf8` reported as an incomplete (not invalid) sequence reach this.
fn sequence_width(lead: u8) -> usize {
    match lead {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => unreachable!("{lead:#04x} cannot start an incomplete UTF-8 sequence"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validate_in_pieces(pieces: &[&[u8]]) -> Result<(), InvalidUtf8> {
        let mut v = Utf8Validator::new();
        for piece in pieces {
            v.feed(piece)?;
        }
        v.finish()
    }

    /// The index of the piece (fed one byte at a time) that first fails.
    fn first_failing_byte(bytes: &[u8]) -> Option<usize> {
        let mut v = Utf8Validator::new();
        for (i, b) in bytes.iter().enumerate() {
            if v.feed(std::slice::from_ref(b)).is_err() {
                return Some(i);
            }
        }
        None
    }

    const MIXED: &str = "aé€😀 ÿ\u{10FFFF}\u{7FF}\u{800}\u{FFFF}\u{10000}z";

    #[test]
    fn accepts_valid_text_whole() {
        assert_eq!(validate_in_pieces(&[MIXED.as_bytes()]), Ok(()));
        assert_eq!(validate_in_pieces(&[]), Ok(()));
        assert_eq!(validate_in_pieces(&[b"", b"", b""]), Ok(()));
    }

    #[test]
    fn accepts_valid_text_at_every_split_point() {
        let bytes = MIXED.as_bytes();
        for i in 0..=bytes.len() {
            let (a, b) = bytes.split_at(i);
            assert_eq!(validate_in_pieces(&[a, b]), Ok(()), "split at {i}");
        }
        for i in 0..=bytes.len() {
            for j in i..=bytes.len() {
                let pieces = [&bytes[..i], &bytes[i..j], &bytes[j..]];
                assert_eq!(validate_in_pieces(&pieces), Ok(()), "splits {i} {j}");
            }
        }
    }

    #[test]
    fn accepts_valid_text_byte_by_byte() {
        assert_eq!(first_failing_byte(MIXED.as_bytes()), None);
        let pieces: Vec<&[u8]> = MIXED.as_bytes().chunks(1).collect();
        assert_eq!(validate_in_pieces(&pieces), Ok(()));
    }

    #[test]
    fn four_byte_sequences_split_in_all_positions() {
        for c in ['\u{10000}', '😀', '\u{10FFFF}'] {
            let mut buf = [0; 4];
            let bytes = c.encode_utf8(&mut buf).as_bytes();
            // Every way to cut 4 bytes into non-empty consecutive pieces.
            for mask in 0u8..8 {
                let mut pieces = Vec::new();
                let mut start = 0;
                for cut in 1..4 {
                    if mask & (1 << (cut - 1)) != 0 {
                        pieces.push(&bytes[start..cut]);
                        start = cut;
                    }
                }
                pieces.push(&bytes[start..]);
                assert_eq!(validate_in_pieces(&pieces), Ok(()), "{c:?} {pieces:?}");
            }
        }
    }

    #[test]
    fn truncated_message_fails_at_finish_only() {
        for text in ["é", "€", "😀"] {
            let bytes = text.as_bytes();
            for cut in 1..bytes.len() {
                let mut v = Utf8Validator::new();
                assert_eq!(v.feed(&bytes[..cut]), Ok(()), "{text} cut {cut}");
                assert_eq!(v.finish(), Err(InvalidUtf8), "{text} cut {cut}");
            }
        }
    }

    #[test]
    fn finish_resets_for_the_next_message() {
        let mut v = Utf8Validator::new();
        v.feed(b"\xe2\x82").unwrap();
        assert!(v.finish().is_err());
        // The leftover bytes must not leak into the next message.
        v.feed(b"abc").unwrap();
        assert_eq!(v.finish(), Ok(()));
    }

    #[test]
    fn reset_discards_pending_bytes() {
        let mut v = Utf8Validator::new();
        v.feed(b"\xf0\x9f").unwrap();
        v.reset();
        // Without the reset, 0x98 0x80 would complete the emoji.
        assert_eq!(v.feed(b"\x98\x80"), Err(InvalidUtf8));
        v.reset();
        v.feed(b"\xf0\x9f").unwrap();
        v.reset();
        v.feed(b"ok").unwrap();
        assert_eq!(v.finish(), Ok(()));
    }

    /// Invalid sequences in the style of Autobahn 6.x with the index of the
    /// first byte at which no valid continuation exists.
    const INVALID: &[(&[u8], usize)] = &[
        // Lone continuation bytes.
        (b"\x80", 0),
        (b"\xbf", 0),
        (b"ab\x80", 2),
        // Overlong encodings: C0/C1 can never lead; E0 80, F0 80 are overlong.
        (b"\xc0\xaf", 0),
        (b"\xc1\xbf", 0),
        (b"\xe0\x80\xaf", 1),
        (b"\xe0\x9f\xbf", 1),
        (b"\xf0\x80\x80\xaf", 1),
        (b"\xf0\x8f\xbf\xbf", 1),
        // UTF-16 surrogates.
        (b"\xed\xa0\x80", 1),
        (b"\xed\xbf\xbf", 1),
        (b"\xed\xa0\x80\xed\xb0\x80", 1),
        // Beyond U+10FFFF.
        (b"\xf4\x90\x80\x80", 1),
        (b"\xf7\xbf\xbf\xbf", 0),
        // Lead bytes that never occur.
        (b"\xf5", 0),
        (b"\xf8\x88\x80\x80\x80", 0),
        (b"\xfc\x84\x80\x80\x80\x80", 0),
        (b"\xfe", 0),
        (b"\xff", 0),
        // A lead byte followed by a non-continuation.
        (b"\xc3a", 1),
        (b"\xe2\x82a", 2),
        (b"\xf0\x9f\x98a", 3),
        // Autobahn 6.3.1: valid text, then a surrogate.
        (
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",
            12,
        ),
    ];

    #[test]
    fn rejects_invalid_sequences_whole() {
        for &(bytes, _) in INVALID {
            let mut v = Utf8Validator::new();
            assert_eq!(v.feed(bytes), Err(InvalidUtf8), "{bytes:x?}");
        }
    }

    #[test]
    fn rejects_invalid_sequences_at_the_earliest_byte() {
        for &(bytes, at) in INVALID {
            assert_eq!(first_failing_byte(bytes), Some(at), "{bytes:x?}");
        }
    }

    #[test]
    fn rejects_invalid_sequences_at_every_split_point() {
        for &(bytes, at) in INVALID {
            for split in 0..=bytes.len() {
                let (a, b) = bytes.split_at(split);
                let mut v = Utf8Validator::new();
                let first = v.feed(a);
                if split > at {
                    assert_eq!(first, Err(InvalidUtf8), "{bytes:x?} split {split}");
                } else {
                    assert_eq!(first, Ok(()), "{bytes:x?} split {split}");
                    assert_eq!(v.feed(b), Err(InvalidUtf8), "{bytes:x?} split {split}");
                }
            }
        }
    }

    #[test]
    fn invalid_after_valid_prefix_in_earlier_frame() {
        let mut v = Utf8Validator::new();
        v.feed("κόσμε".as_bytes()).unwrap();
        v.feed(b"\xe2").unwrap();
        assert_eq!(v.feed(b"\x28"), Err(InvalidUtf8));
    }

    #[test]
    fn error_displays() {
        assert_eq!(InvalidUtf8.to_string(), "invalid UTF-8 in text message");
    }
}
