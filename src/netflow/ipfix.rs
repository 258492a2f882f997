//! IPFIX (RFC 7011) messages.
//!
//! Message header (16 bytes): version 10, length (of the whole message),
//! export time (UTC seconds), sequence number (data records sent before
//! this message in this observation domain; templates do not count),
//! observation domain id. Then sets: 2 = templates, 3 = options templates,
//! ≥ 256 = data. Field specifiers may carry an enterprise number (top bit
//! of the id) and a length of 65535 for variable-length values.
//!
//! [`parse`] checks the message length against the datagram and splits the
//! sets; template state lives in [`crate::netflow::decode::Decoder`].

use super::template::Error;
use crate::wire::{be16, be32, put};

pub const VERSION: u16 = 10;
pub const HEADER_LEN: usize = 16;
pub const TEMPLATE_SET_ID: u16 = 2;
pub const OPTIONS_TEMPLATE_SET_ID: u16 = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Header {
    pub length: u16,
    pub export_time: u32,
    pub sequence: u32,
    pub domain: u32,
}

impl Header {
    pub fn emit(&self, b: &mut [u8]) {
        put(b, 0, &VERSION.to_be_bytes());
        put(b, 2, &self.length.to_be_bytes());
        put(b, 4, &self.export_time.to_be_bytes());
        put(b, 8, &self.sequence.to_be_bytes());
        put(b, 12, &self.domain.to_be_bytes());
    }
}

pub use super::v9::Set;

/// Parses one message. Bytes after `length` are ignored (the caller may
/// parse them as the next message, as in a stream).
pub fn parse(b: &[u8]) -> Result<(Header, Vec<Set<'_>>), Error> {
    if b.len() < HEADER_LEN {
        return Err(Error::TooShort { len: b.len() });
    }
    let v = be16(b, 0);
    if v != VERSION {
        return Err(Error::BadVersion(v));
    }
    let h = Header {
        length: be16(b, 2),
        export_time: be32(b, 4),
        sequence: be32(b, 8),
        domain: be32(b, 12),
    };
    let len = usize::from(h.length);
    let Some(msg) = (len >= HEADER_LEN).then(|| b.get(..len)).flatten() else {
        return Err(Error::BadMessageLength {
            announced: h.length,
            len: b.len(),
        });
    };
    Ok((h, super::v9::split_sets(msg, HEADER_LEN)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fields_sit_at_rfc7011_offsets() {
        let h = Header {
            length: 16,
            export_time: 0x0506_0708,
            sequence: 0x090a_0b0c,
            domain: 0x0d0e_0f10,
        };
        let mut b = [0u8; HEADER_LEN];
        h.emit(&mut b);
        assert_eq!(b[..4], [0, 10, 0, 16]);
        for (i, &v) in b.iter().enumerate().skip(4) {
            assert_eq!(v, i as u8 + 1, "byte {i}");
        }
        assert_eq!(parse(&b).unwrap().0, h);
    }

    #[test]
    fn message_length_is_checked() {
        let mut b = [0u8; 24];
        Header {
            length: 24,
            ..Default::default()
        }
        .emit(&mut b);
        b[16..20].copy_from_slice(&[1, 0, 0, 8]);
        let (_, sets) = parse(&b).unwrap();
        assert_eq!(sets[0].id, 256);
        b[3] = 40;
        assert_eq!(
            parse(&b).unwrap_err(),
            Error::BadMessageLength {
                announced: 40,
                len: 24
            }
        );
        b[3] = 3;
        assert!(parse(&b).is_err());
    }
}
