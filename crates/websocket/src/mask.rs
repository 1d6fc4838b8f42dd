//! Payload masking (RFC 6455, section 5.3).
//!
//! Every byte a client sends is XORed with a 4-byte key from the frame header.
//! The reader unmasks payload as it arrives, which may be in several pieces
//! per frame, so [`apply_mask`] takes the position of the piece within the
//! frame payload. Masking is on the hot path of every client-to-server byte;
//! the implementation works on 8-byte words without `unsafe`.

/// XORs `buf` with `key` as if `buf` began `offset` bytes into a frame payload.
///
/// Masking is its own inverse, so this both masks and unmasks. Calling it on
/// consecutive pieces of a payload with their running offsets gives the same
/// result as one call on the whole payload.
pub(crate) fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let mut key = key;
    // Byte i of buf pairs with key[(offset + i) % 4]; rotating once lets the
    // word loop below start at key[0].
    key.rotate_left(offset % 4);
    let [k0, k1, k2, k3] = key;
    let word_key = u64::from_ne_bytes([k0, k1, k2, k3, k0, k1, k2, k3]);

    let mut words = buf.chunks_exact_mut(8);
    for word in &mut words {
        // Native endianness on both sides: the byte order in memory is what
        // matters, and `word_key` repeats the key in memory order.
        let bytes: &mut [u8; 8] = word
            .try_into()
            .expect("chunks_exact_mut(8) yields 8-byte chunks");
        *bytes = (u64::from_ne_bytes(*bytes) ^ word_key).to_ne_bytes();
    }
    // Each word consumed a multiple of 4 bytes, so the tail starts at key[0].
    for (byte, k) in words.into_remainder().iter_mut().zip(key.iter().cycle()) {
        *byte ^= k;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(buf: &mut [u8], key: [u8; 4], offset: usize) {
        for (i, byte) in buf.iter_mut().enumerate() {
            *byte ^= key[(offset + i) % 4];
        }
    }

    /// Deterministic bytes that are not periodic in 4 or 8, so a misaligned
    /// key cannot go unnoticed.
    fn sample(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (i.wrapping_mul(151).wrapping_add(i / 7) % 251) as u8)
            .collect()
    }

    const KEY: [u8; 4] = [0x12, 0x9a, 0xc3, 0x7f];

    #[test]
    fn rfc_6455_example() {
        // RFC 6455 section 5.7: masked "Hello".
        let mut buf = *b"Hello";
        apply_mask(&mut buf, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(buf, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    }

    #[test]
    fn matches_naive_for_many_lengths_and_offsets() {
        for len in 0..80 {
            for offset in 0..12 {
                let mut fast = sample(len);
                let mut slow = fast.clone();
                apply_mask(&mut fast, KEY, offset);
                naive(&mut slow, KEY, offset);
                assert_eq!(fast, slow, "len {len} offset {offset}");
            }
        }
        let mut fast = sample(100_003);
        let mut slow = fast.clone();
        apply_mask(&mut fast, KEY, 5);
        naive(&mut slow, KEY, 5);
        assert_eq!(fast, slow);
    }

    #[test]
    fn large_offsets_only_matter_mod_4() {
        let mut a = sample(37);
        let mut b = a.clone();
        apply_mask(&mut a, KEY, 3);
        apply_mask(&mut b, KEY, usize::MAX - 4 * 1000); // ≡ 3 (mod 4)
        assert_eq!(a, b);
    }

    #[test]
    fn applying_twice_is_identity() {
        for len in [0, 1, 7, 8, 9, 64, 1000] {
            for offset in 0..4 {
                let original = sample(len);
                let mut buf = original.clone();
                apply_mask(&mut buf, KEY, offset);
                if len > 0 {
                    assert_ne!(buf, original, "masking changed nothing");
                }
                apply_mask(&mut buf, KEY, offset);
                assert_eq!(buf, original, "len {len} offset {offset}");
            }
        }
    }

    #[test]
    fn piecewise_equals_whole() {
        let original = sample(257);
        let mut whole = original.clone();
        apply_mask(&mut whole, KEY, 0);
        for split_a in [0, 1, 3, 8, 13, 100] {
            for split_b in [split_a, split_a + 1, split_a + 9, 200] {
                let mut pieces = original.clone();
                let (head, rest) = pieces.split_at_mut(split_a);
                let (mid, tail) = rest.split_at_mut(split_b - split_a);
                apply_mask(head, KEY, 0);
                apply_mask(mid, KEY, split_a);
                apply_mask(tail, KEY, split_b);
                assert_eq!(pieces, whole, "splits {split_a} {split_b}");
            }
        }
    }
}
