//! Panic-free big-endian field access over byte slices.
//!
//! Parsers check a message's length once at its entry and then read fields
//! at fixed offsets with these helpers. They never panic: a read past the end
//! yields zero (a parser that checked its length never sees that), so a
//! mistake in an offset table is a wrong value caught by tests, not a crash
//! on hostile input.

#[inline]
pub fn u8_at(b: &[u8], off: usize) -> u8 {
    b.get(off).copied().unwrap_or(0)
}

#[inline]
pub fn be16(b: &[u8], off: usize) -> u16 {
    match b.get(off..off.wrapping_add(2)) {
        Some(&[x, y]) => u16::from_be_bytes([x, y]),
        _ => 0,
    }
}

#[inline]
pub fn be32(b: &[u8], off: usize) -> u32 {
    match b.get(off..off.wrapping_add(4)) {
        Some(&[a, b1, c, d]) => u32::from_be_bytes([a, b1, c, d]),
        _ => 0,
    }
}

#[inline]
pub fn be64(b: &[u8], off: usize) -> u64 {
    (u64::from(be32(b, off)) << 32) | u64::from(be32(b, off.wrapping_add(4)))
}

/// `N` bytes at `off`, zero-filled where the slice is short.
#[inline]
pub fn array_at<const N: usize>(b: &[u8], off: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(s) = b.get(off..off.wrapping_add(N)) {
        out.copy_from_slice(s);
    }
    out
}

/// Writes into `buf` at `off`; out-of-range writes are ignored (encoders size
/// their buffers first).
#[inline]
pub fn put(buf: &mut [u8], off: usize, bytes: &[u8]) {
    if let Some(d) = buf.get_mut(off..off.wrapping_add(bytes.len())) {
        d.copy_from_slice(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_big_endian_and_never_panics() {
        let b = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08];
        assert_eq!(be16(&b, 0), 0x0102);
        assert_eq!(be32(&b, 4), 0x0506_0708);
        assert_eq!(be64(&b, 0), 0x0102_0304_0506_0708);
        assert_eq!(be32(&b, 6), 0);
        assert_eq!(be16(&b, usize::MAX), 0);
        assert_eq!(u8_at(&b, 8), 0);
        assert_eq!(array_at::<3>(&b, 6), [0, 0, 0]);
        assert_eq!(array_at::<2>(&b, 6), [7, 8]);
    }

    #[test]
    fn put_ignores_out_of_range() {
        let mut b = [0u8; 4];
        put(&mut b, 2, &[9, 9]);
        put(&mut b, 3, &[1, 1]);
        assert_eq!(b, [0, 0, 9, 9]);
    }
}
