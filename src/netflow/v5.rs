//! NetFlow version 5 datagrams.
//!
//! Header (24 bytes): version, count, sys_uptime (ms), unix_secs,
//! unix_nsecs, flow_sequence (flows sent before this datagram), engine type,
//! engine id, sampling interval. Record (48 bytes): addresses, next hop,
//! input/output ifIndex (16-bit), packets, octets, First/Last (sys_uptime
//! at the first/last packet), ports, TCP flags, protocol, ToS, AS numbers,
//! masks. All big-endian.

use crate::wire::{array_at, be16, be32, put, u8_at};
use std::fmt;
use std::net::Ipv4Addr;

pub const VERSION: u16 = 5;
pub const HEADER_LEN: usize = 24;
pub const RECORD_LEN: usize = 48;
/// Most records one datagram may carry.
pub const MAX_RECORDS: usize = 30;
/// Size of a full datagram.
pub const MAX_DATAGRAM: usize = HEADER_LEN + MAX_RECORDS * RECORD_LEN;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Header {
    pub count: u16,
    pub sys_uptime: u32,
    pub unix_secs: u32,
    pub unix_nsecs: u32,
    pub flow_sequence: u32,
    pub engine_type: u8,
    pub engine_id: u8,
    pub sampling_interval: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub nexthop: Ipv4Addr,
    pub input: u16,
    pub output: u16,
    pub packets: u32,
    pub octets: u32,
    pub first: u32,
    pub last: u32,
    pub src_port: u16,
    pub dst_port: u16,
    pub tcp_flags: u8,
    pub protocol: u8,
    pub tos: u8,
    pub src_as: u16,
    pub dst_as: u16,
    pub src_mask: u8,
    pub dst_mask: u8,
}

impl Default for Record {
    fn default() -> Self {
        Record {
            src: Ipv4Addr::UNSPECIFIED,
            dst: Ipv4Addr::UNSPECIFIED,
            nexthop: Ipv4Addr::UNSPECIFIED,
            input: 0,
            output: 0,
            packets: 0,
            octets: 0,
            first: 0,
            last: 0,
            src_port: 0,
            dst_port: 0,
            tcp_flags: 0,
            protocol: 0,
            tos: 0,
            src_as: 0,
            dst_as: 0,
            src_mask: 0,
            dst_mask: 0,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    TooShort {
        len: usize,
    },
    BadVersion(u16),
    /// The header announces more records than the datagram holds.
    CountMismatch {
        count: u16,
        len: usize,
    },
    /// More than [`MAX_RECORDS`] records announced (and present): no v5
    /// exporter sends that, and collectors (nfcapd) drop such a datagram.
    TooManyRecords {
        count: u16,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::TooShort { len } => write!(f, "{len} bytes is shorter than a v5 header"),
            Error::BadVersion(v) => write!(f, "version {v} is not 5"),
            Error::CountMismatch { count, len } => write!(
                f,
                "header announces {count} records ({} bytes) in a {len}-byte datagram",
                HEADER_LEN + usize::from(*count) * RECORD_LEN
            ),
            Error::TooManyRecords { count } => write!(
                f,
                "header announces {count} records, more than the {MAX_RECORDS} v5 allows"
            ),
        }
    }
}

impl std::error::Error for Error {}

impl Header {
    pub fn emit(&self, b: &mut [u8]) {
        put(b, 0, &VERSION.to_be_bytes());
        put(b, 2, &self.count.to_be_bytes());
        put(b, 4, &self.sys_uptime.to_be_bytes());
        put(b, 8, &self.unix_secs.to_be_bytes());
        put(b, 12, &self.unix_nsecs.to_be_bytes());
        put(b, 16, &self.flow_sequence.to_be_bytes());
        put(b, 20, &[self.engine_type, self.engine_id]);
        put(b, 22, &self.sampling_interval.to_be_bytes());
    }

    fn parse(b: &[u8]) -> Header {
        Header {
            count: be16(b, 2),
            sys_uptime: be32(b, 4),
            unix_secs: be32(b, 8),
            unix_nsecs: be32(b, 12),
            flow_sequence: be32(b, 16),
            engine_type: u8_at(b, 20),
            engine_id: u8_at(b, 21),
            sampling_interval: be16(b, 22),
        }
    }
}

impl Record {
    pub fn emit(&self, b: &mut [u8]) {
        put(b, 0, &self.src.octets());
        put(b, 4, &self.dst.octets());
        put(b, 8, &self.nexthop.octets());
        put(b, 12, &self.input.to_be_bytes());
        put(b, 14, &self.output.to_be_bytes());
        put(b, 16, &self.packets.to_be_bytes());
        put(b, 20, &self.octets.to_be_bytes());
        put(b, 24, &self.first.to_be_bytes());
        put(b, 28, &self.last.to_be_bytes());
        put(b, 32, &self.src_port.to_be_bytes());
        put(b, 34, &self.dst_port.to_be_bytes());
        put(b, 36, &[0, self.tcp_flags, self.protocol, self.tos]);
        put(b, 40, &self.src_as.to_be_bytes());
        put(b, 42, &self.dst_as.to_be_bytes());
        put(b, 44, &[self.src_mask, self.dst_mask, 0, 0]);
    }

    pub fn parse(b: &[u8]) -> Record {
        Record {
            src: Ipv4Addr::from(array_at::<4>(b, 0)),
            dst: Ipv4Addr::from(array_at::<4>(b, 4)),
            nexthop: Ipv4Addr::from(array_at::<4>(b, 8)),
            input: be16(b, 12),
            output: be16(b, 14),
            packets: be32(b, 16),
            octets: be32(b, 20),
            first: be32(b, 24),
            last: be32(b, 28),
            src_port: be16(b, 32),
            dst_port: be16(b, 34),
            tcp_flags: u8_at(b, 37),
            protocol: u8_at(b, 38),
            tos: u8_at(b, 39),
            src_as: be16(b, 40),
            dst_as: be16(b, 42),
            src_mask: u8_at(b, 44),
            dst_mask: u8_at(b, 45),
        }
    }
}

/// Parses a datagram: its header and an iterator over its records. Bytes
/// after the last announced record are ignored. A count past the datagram
/// is refused first (it says most about the damage), then one above
/// [`MAX_RECORDS`].
pub fn parse(b: &[u8]) -> Result<(Header, Records<'_>), Error> {
    if b.len() < HEADER_LEN {
        return Err(Error::TooShort { len: b.len() });
    }
    let version = be16(b, 0);
    if version != VERSION {
        return Err(Error::BadVersion(version));
    }
    let h = Header::parse(b);
    let need = HEADER_LEN + usize::from(h.count) * RECORD_LEN;
    let Some(body) = b.get(HEADER_LEN..need) else {
        return Err(Error::CountMismatch {
            count: h.count,
            len: b.len(),
        });
    };
    if usize::from(h.count) > MAX_RECORDS {
        return Err(Error::TooManyRecords { count: h.count });
    }
    Ok((
        h,
        Records {
            chunks: body.chunks_exact(RECORD_LEN),
        },
    ))
}

/// The records of a parsed datagram.
#[derive(Clone, Debug)]
pub struct Records<'a> {
    chunks: std::slice::ChunksExact<'a, u8>,
}

impl Iterator for Records<'_> {
    type Item = Record;
    fn next(&mut self) -> Option<Record> {
        self.chunks.next().map(Record::parse)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.chunks.size_hint()
    }
}

impl ExactSizeIterator for Records<'_> {}

/// Writes a datagram of `records` (at most [`MAX_RECORDS`]; extra ones are
/// not written) into a new buffer. `header.count` is set from the records.
pub fn emit(header: &Header, records: &[Record]) -> Vec<u8> {
    let n = records.len().min(MAX_RECORDS);
    let mut b = vec![0u8; HEADER_LEN + n * RECORD_LEN];
    let h = Header {
        count: n as u16,
        ..*header
    };
    h.emit(&mut b);
    for (r, chunk) in records[..n]
        .iter()
        .zip(b[HEADER_LEN..].chunks_exact_mut(RECORD_LEN))
    {
        r.emit(chunk);
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/testdata/netflow/");

    fn read(name: &str) -> Vec<u8> {
        std::fs::read(format!("{SHARED}{name}")).unwrap()
    }

    #[test]
    fn record_fields_sit_at_their_offsets() {
        let r = Record {
            src: Ipv4Addr::new(1, 2, 3, 4),
            dst: Ipv4Addr::new(5, 6, 7, 8),
            nexthop: Ipv4Addr::new(9, 10, 11, 12),
            input: 0x0d0e,
            output: 0x0f10,
            packets: 0x1112_1314,
            octets: 0x1516_1718,
            first: 0x191a_1b1c,
            last: 0x1d1e_1f20,
            src_port: 0x2122,
            dst_port: 0x2324,
            tcp_flags: 0x26,
            protocol: 0x27,
            tos: 0x28,
            src_as: 0x292a,
            dst_as: 0x2b2c,
            src_mask: 0x2d,
            dst_mask: 0x2e,
        };
        let mut b = [0u8; RECORD_LEN];
        r.emit(&mut b);
        // Each byte equals its offset + 1, except the pads (36, 46, 47).
        for (i, &v) in b.iter().enumerate() {
            let want = if matches!(i, 36 | 46 | 47) {
                0
            } else {
                i as u8 + 1
            };
            assert_eq!(v, want, "byte {i}");
        }
        assert_eq!(Record::parse(&b), r);
    }

    #[test]
    fn akvorado_capture_record_zero_matches_its_published_decode() {
        let pcap = read("akvorado-nfv5.pcap");
        // classic pcap: 24-byte file header, 16-byte record header, then
        // Ethernet (14) + IPv4 (20) + UDP (8).
        let payload = &pcap[24 + 16 + 14 + 20 + 8..];
        let (h, recs) = parse(payload).unwrap();
        assert_eq!(h.count, 29);
        assert_eq!(h.sys_uptime, 2_874_339_000);
        assert_eq!(h.unix_secs, 1_680_626_679);
        assert_eq!(h.flow_sequence, 1_961_402_419);
        assert_eq!(h.engine_id, 3);
        let recs: Vec<_> = recs.collect();
        assert_eq!(recs.len(), 29);
        let r = recs[0];
        assert_eq!(r.src, Ipv4Addr::new(161, 202, 212, 212));
        assert_eq!(r.dst, Ipv4Addr::new(202, 152, 70, 24));
        assert_eq!(r.nexthop, Ipv4Addr::new(61, 6, 255, 150));
        assert_eq!((r.input, r.output), (117, 86));
        assert_eq!((r.src_as, r.dst_as), (36351, 10101));
        assert_eq!((r.src_mask, r.dst_mask), (19, 24));
        assert_eq!((r.octets, r.packets), (133, 1));
        assert_eq!((r.protocol, r.src_port, r.dst_port), (6, 30104, 11963));
        assert_eq!(r.tcp_flags, 0x18);
        // First is 15,000 ms before the header's uptime: 15 s before export.
        // (akvorado's own expectation, 1680611679, subtracts those 15,000 ms
        // as seconds.)
        assert_eq!(h.sys_uptime - r.first, 15_000);
        let first_unix =
            i64::from(h.unix_secs) - (i64::from(h.sys_uptime) - i64::from(r.first)) / 1000;
        assert_eq!(first_unix, 1_680_626_664);
        // Re-encoding gives the same bytes.
        assert_eq!(emit(&h, &recs), payload[..HEADER_LEN + 29 * RECORD_LEN]);
    }

    #[test]
    fn softflowd_stream_walks_twelve_datagrams_with_flow_sequence() {
        let data = read("logstash-netflow5.dat");
        let mut off = 0;
        let mut counts = vec![];
        let mut seqs = vec![];
        while off < data.len() {
            let (h, recs) = parse(&data[off..]).unwrap();
            assert_eq!(recs.count(), usize::from(h.count));
            counts.push(h.count);
            seqs.push(h.flow_sequence);
            off += HEADER_LEN + usize::from(h.count) * RECORD_LEN;
        }
        assert_eq!(off, data.len());
        assert_eq!(counts, [2, 4, 4, 4, 2, 2, 2, 2, 2, 2, 2, 2]);
        // softflowd numbers flows: each sequence is the previous plus its count.
        for w in seqs.windows(2).zip(counts.iter()) {
            assert_eq!(w.0[1], w.0[0] + u32::from(*w.1));
        }
        assert_eq!(seqs[0], 0);
    }

    #[test]
    fn vendor_samples_decode_with_their_counts() {
        let b = read("logstash-netflow5_test_juniper_mx80.dat");
        let (h, r) = parse(&b).unwrap();
        assert_eq!(
            (h.count, h.flow_sequence, h.sampling_interval),
            (29, 528_678, 0x03e8)
        );
        assert_eq!(r.count(), 29);
        let b = read("logstash-netflow5_test_microtik.dat");
        let (h, r) = parse(&b).unwrap();
        assert_eq!((h.count, h.flow_sequence), (30, 8_140_050));
        assert_eq!(r.count(), 30);
    }

    #[test]
    fn malformed_samples_are_refused_not_overread() {
        for (f, count) in [
            ("logstash-netflow5_test_invalid01.dat", 55582),
            ("logstash-netflow5_test_invalid02.dat", 163),
        ] {
            let b = read(f);
            match parse(&b) {
                Err(Error::CountMismatch { count: c, len }) => {
                    assert_eq!(c, count);
                    assert_eq!(len, 1464);
                }
                Err(e) => panic!("{f}: unexpected error {e}"),
                Ok(_) => panic!("{f}: accepted"),
            }
        }
        assert_eq!(parse(&[0, 5]).unwrap_err(), Error::TooShort { len: 2 });
        // 31 records, all present: one more than v5 allows.
        let r = Record::default();
        let mut b = emit(&Header::default(), &[r; 30]);
        b[3] = 31;
        b.resize(HEADER_LEN + 31 * RECORD_LEN, 0);
        assert_eq!(parse(&b).unwrap_err(), Error::TooManyRecords { count: 31 });
        b[3] = 30;
        assert_eq!(parse(&b).unwrap().1.len(), 30);
        // Count 0: a header alone, the bytes after it ignored.
        b[3] = 0;
        assert_eq!(parse(&b).unwrap().1.len(), 0);
        let mut b = vec![0u8; 24];
        b[1] = 9;
        assert_eq!(parse(&b).unwrap_err(), Error::BadVersion(9));
    }
}
