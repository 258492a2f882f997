//! NetFlow version 9 (RFC 3954) packets.
//!
//! Header (20 bytes): version 9, count (records of every kind in the
//! packet: template and data), sysUpTime (ms), UNIX secs, sequence number
//! (export packets sent before this one), source ID. Then FlowSets: id 0 =
//! templates, 1 = options templates, ≥ 256 = data of that template; each
//! `id(2) length(2)` and padded to a 32-bit boundary.
//!
//! [`parse`] splits a packet into its header and sets without knowing any
//! template; [`crate::netflow::decode::Decoder`] keeps templates across
//! packets and turns data sets into flows. Nothing here panics or trusts a
//! length before checking it.

use super::template::Error;
use crate::wire::{be16, be32, put};

pub const VERSION: u16 = 9;
pub const HEADER_LEN: usize = 20;
pub const TEMPLATE_SET_ID: u16 = 0;
pub const OPTIONS_TEMPLATE_SET_ID: u16 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Header {
    pub count: u16,
    pub sys_uptime: u32,
    pub unix_secs: u32,
    pub sequence: u32,
    pub source_id: u32,
}

impl Header {
    pub fn emit(&self, b: &mut [u8]) {
        put(b, 0, &VERSION.to_be_bytes());
        put(b, 2, &self.count.to_be_bytes());
        put(b, 4, &self.sys_uptime.to_be_bytes());
        put(b, 8, &self.unix_secs.to_be_bytes());
        put(b, 12, &self.sequence.to_be_bytes());
        put(b, 16, &self.source_id.to_be_bytes());
    }
}

/// One FlowSet: its id and body (without the 4-byte set header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Set<'a> {
    pub id: u16,
    pub body: &'a [u8],
}

/// Parses the header and splits the FlowSets. A set whose length is below
/// 4 or runs past the packet is an error; trailing bytes shorter than a set
/// header are ignored.
pub fn parse(b: &[u8]) -> Result<(Header, Vec<Set<'_>>), Error> {
    if b.len() < HEADER_LEN {
        return Err(Error::TooShort { len: b.len() });
    }
    let v = be16(b, 0);
    if v != VERSION {
        return Err(Error::BadVersion(v));
    }
    let h = Header {
        count: be16(b, 2),
        sys_uptime: be32(b, 4),
        unix_secs: be32(b, 8),
        sequence: be32(b, 12),
        source_id: be32(b, 16),
    };
    Ok((h, split_sets(b, HEADER_LEN)?))
}

/// Splits `b[off..]` into sets (shared with IPFIX, whose set headers are
/// laid out the same way).
pub(crate) fn split_sets(b: &[u8], mut off: usize) -> Result<Vec<Set<'_>>, Error> {
    let mut sets = Vec::new();
    while b.len().saturating_sub(off) >= 4 {
        let id = be16(b, off);
        let len = be16(b, off + 2);
        let Some(body) = (usize::from(len) >= 4)
            .then(|| b.get(off + 4..off + usize::from(len)))
            .flatten()
        else {
            return Err(Error::BadSetLength { offset: off, len });
        };
        sets.push(Set { id, body });
        off += usize::from(len);
    }
    Ok(sets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fields_sit_at_rfc3954_offsets() {
        let h = Header {
            count: 0x0304,
            sys_uptime: 0x0506_0708,
            unix_secs: 0x090a_0b0c,
            sequence: 0x0d0e_0f10,
            source_id: 0x1112_1314,
        };
        let mut b = [0u8; HEADER_LEN];
        h.emit(&mut b);
        assert_eq!(b[..2], [0, 9]);
        for (i, &v) in b.iter().enumerate().skip(2) {
            assert_eq!(v, i as u8 + 1, "byte {i}");
        }
        let (back, sets) = parse(&b).unwrap();
        assert_eq!(back, h);
        assert!(sets.is_empty());
    }

    #[test]
    fn sets_are_split_and_bad_lengths_refused() {
        let mut b = vec![0u8; HEADER_LEN];
        Header::default().emit(&mut b);
        b.extend_from_slice(&[1, 0, 0, 8, 0xaa, 0xbb, 0xcc, 0xdd]);
        b.extend_from_slice(&[0, 0, 0, 4]);
        let (_, sets) = parse(&b).unwrap();
        assert_eq!(sets.len(), 2);
        assert_eq!(sets[0].id, 256);
        assert_eq!(sets[0].body, [0xaa, 0xbb, 0xcc, 0xdd]);
        assert_eq!(sets[1].body.len(), 0);
        let mut bad = b.clone();
        bad[HEADER_LEN + 3] = 200;
        assert_eq!(
            parse(&bad).unwrap_err(),
            Error::BadSetLength {
                offset: HEADER_LEN,
                len: 200
            }
        );
        bad[HEADER_LEN + 3] = 2;
        assert!(parse(&bad).is_err());
        assert_eq!(parse(&b[..5]).unwrap_err(), Error::TooShort { len: 5 });
    }
}
