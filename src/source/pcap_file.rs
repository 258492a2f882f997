//! Classic pcap files (the tcpdump format), read and written in pure Rust.
//!
//! The reader checks every record's length against a hard cap before it
//! sizes anything, so a corrupt or hostile file cannot make us allocate
//! more than [`MAX_RECORD`] bytes. A file that ends in the middle of a
//! record reports [`PcapError::Truncated`] after the last whole packet.

use crate::time::Timestamp;
use std::fmt;
use std::io::{self, Read, Write};

/// Largest record we accept (libpcap's own maximum snapshot length).
pub const MAX_RECORD: u32 = 262_144;

const MAGIC_US: u32 = 0xa1b2_c3d4;
const MAGIC_NS: u32 = 0xa1b2_3c4d;
const PCAPNG_MAGIC: u32 = 0x0a0d_0d0a;

#[derive(Debug)]
pub enum PcapError {
    Io(io::Error),
    /// Not a classic pcap file (the magic is shown).
    NotPcap(u32),
    /// A pcapng file: not read by this reader.
    Pcapng,
    /// A record header announces an impossible length.
    BadRecord {
        incl_len: u32,
    },
    /// The file ends inside a record.
    Truncated,
}

impl fmt::Display for PcapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PcapError::Io(e) => write!(f, "{e}"),
            PcapError::NotPcap(m) => write!(f, "not a pcap file (magic 0x{m:08x})"),
            PcapError::Pcapng => write!(
                f,
                "pcapng files are not supported; convert with `editcap -F pcap`"
            ),
            PcapError::BadRecord { incl_len } => {
                write!(f, "corrupt record (captured length {incl_len})")
            }
            PcapError::Truncated => write!(f, "file ends in the middle of a packet"),
        }
    }
}

impl std::error::Error for PcapError {}

impl From<io::Error> for PcapError {
    fn from(e: io::Error) -> Self {
        PcapError::Io(e)
    }
}

/// Metadata of one packet; its bytes are in the caller's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketMeta {
    pub ts: Timestamp,
    pub orig_len: u32,
}

/// The fields of a classic pcap file header that reading needs.
struct FileHeader {
    swapped: bool,
    nanos: bool,
    snaplen: u32,
    link_type: u32,
}

impl FileHeader {
    fn parse(h: &[u8; 24]) -> Result<FileHeader, PcapError> {
        let le = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
        let (swapped, nanos) = match le {
            MAGIC_US => (false, false),
            MAGIC_NS => (false, true),
            m if m.swap_bytes() == MAGIC_US => (true, false),
            m if m.swap_bytes() == MAGIC_NS => (true, true),
            PCAPNG_MAGIC => return Err(PcapError::Pcapng),
            m => return Err(PcapError::NotPcap(m)),
        };
        let rd = |o: usize| {
            let v = u32::from_le_bytes([h[o], h[o + 1], h[o + 2], h[o + 3]]);
            if swapped { v.swap_bytes() } else { v }
        };
        Ok(FileHeader {
            swapped,
            nanos,
            snaplen: rd(16),
            // The upper bits may carry FCS information.
            link_type: rd(20) & 0xffff,
        })
    }

    /// The record at the start of `rest`: its metadata and length with
    /// its 16-byte header, or `None` when `rest` does not hold all of it.
    /// A captured length above [`MAX_RECORD`] is an error as soon as the
    /// record header is there.
    #[inline]
    fn record_at(&self, rest: &[u8]) -> Result<Option<(PacketMeta, usize)>, PcapError> {
        let Some(h) = rest.first_chunk::<16>() else {
            return Ok(None);
        };
        let rd = |o: usize| {
            let v = u32::from_le_bytes([h[o], h[o + 1], h[o + 2], h[o + 3]]);
            if self.swapped { v.swap_bytes() } else { v }
        };
        let (secs, frac, incl, orig) = (rd(0), rd(4), rd(8), rd(12));
        if incl > MAX_RECORD {
            return Err(PcapError::BadRecord { incl_len: incl });
        }
        let len = 16 + incl as usize;
        if rest.len() < len {
            return Ok(None);
        }
        let micros = if self.nanos { frac / 1000 } else { frac };
        let meta = PacketMeta {
            ts: Timestamp::from_secs_micros(u64::from(secs), micros.min(999_999)),
            orig_len: orig,
        };
        Ok(Some((meta, len)))
    }
}

/// Bytes asked of the underlying reader at a time.
const CHUNK: usize = 256 << 10;

/// A classic pcap file read from any [`Read`] in large chunks into one
/// reused buffer (so a replay costs a copy per chunk, not page faults or a
/// read per packet); records are handed out as slices of that buffer.
pub struct PcapReader<R> {
    inner: R,
    head: FileHeader,
    buf: Vec<u8>,
    /// Unread bytes are `buf[pos..end]`.
    pos: usize,
    end: usize,
    eof: bool,
    /// Bytes of the file consumed, header included.
    consumed: u64,
    pub link_type: u32,
    pub snaplen: u32,
}

impl<R: Read> PcapReader<R> {
    pub fn new(mut inner: R) -> Result<Self, PcapError> {
        let mut h = [0u8; 24];
        read_exact_or(&mut inner, &mut h, |n| {
            if n < 4 {
                PcapError::NotPcap(0)
            } else {
                PcapError::Truncated
            }
        })?;
        let head = FileHeader::parse(&h)?;
        Ok(PcapReader {
            inner,
            link_type: head.link_type,
            snaplen: head.snaplen,
            head,
            buf: Vec::new(),
            pos: 0,
            end: 0,
            eof: false,
            consumed: 24,
        })
    }

    /// Bytes of the file consumed so far.
    pub fn position(&self) -> u64 {
        self.consumed
    }

    /// The next record, its bytes borrowed from the reader until the next
    /// call. `Ok(None)` at a clean end of file.
    #[inline]
    pub fn next_record(&mut self) -> Result<Option<(PacketMeta, &[u8])>, PcapError> {
        loop {
            let rest = &self.buf[self.pos..self.end];
            if let Some((meta, len)) = self.head.record_at(rest)? {
                let start = self.pos;
                self.pos += len;
                self.consumed += len as u64;
                return Ok(Some((meta, &self.buf[start + 16..start + len])));
            }
            if self.eof {
                return if rest.is_empty() {
                    Ok(None)
                } else {
                    Err(PcapError::Truncated)
                };
            }
            self.fill()?;
        }
    }

    /// Moves the unread tail to the front and reads up to [`CHUNK`] more
    /// bytes after it (room for a whole record of [`MAX_RECORD`] always).
    fn fill(&mut self) -> Result<(), PcapError> {
        if self.buf.is_empty() {
            self.buf = vec![0; CHUNK + 16 + MAX_RECORD as usize];
        }
        self.buf.copy_within(self.pos..self.end, 0);
        self.end -= self.pos;
        self.pos = 0;
        loop {
            match self.inner.read(&mut self.buf[self.end..self.end + CHUNK]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
            return Ok(());
        }
    }

    /// Reads the next packet into `buf` (resized to it). `Ok(None)` at a
    /// clean end of file.
    pub fn next_packet(&mut self, buf: &mut Vec<u8>) -> Result<Option<PacketMeta>, PcapError> {
        Ok(self.next_record()?.map(|(meta, data)| {
            buf.clear();
            buf.extend_from_slice(data);
            meta
        }))
    }
}

fn read_exact_or<R: Read>(
    r: &mut R,
    buf: &mut [u8],
    short: impl Fn(usize) -> PcapError,
) -> Result<(), PcapError> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => return Err(short(got)),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Writes a microsecond-resolution, little-endian classic pcap file.
pub struct PcapWriter<W> {
    inner: W,
}

impl<W: Write> PcapWriter<W> {
    pub fn new(mut inner: W, link_type: u32) -> io::Result<Self> {
        let mut h = Vec::with_capacity(24);
        h.extend_from_slice(&MAGIC_US.to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&0i32.to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes());
        h.extend_from_slice(&MAX_RECORD.to_le_bytes());
        h.extend_from_slice(&link_type.to_le_bytes());
        inner.write_all(&h)?;
        Ok(PcapWriter { inner })
    }

    pub fn write_packet(&mut self, ts: Timestamp, data: &[u8]) -> io::Result<()> {
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&(ts.secs() as u32).to_le_bytes());
        h[4..8].copy_from_slice(&((ts.as_micros() % 1_000_000) as u32).to_le_bytes());
        h[8..12].copy_from_slice(&(data.len() as u32).to_le_bytes());
        h[12..16].copy_from_slice(&(data.len() as u32).to_le_bytes());
        self.inner.write_all(&h)?;
        self.inner.write_all(data)
    }

    pub fn into_inner(self) -> W {
        self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_shared_akvorado_capture() {
        let f = std::fs::File::open(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/testdata/netflow/akvorado-nfv5.pcap"
        ))
        .unwrap();
        let mut r = PcapReader::new(f).unwrap();
        assert_eq!(r.link_type, 1);
        let mut buf = vec![];
        let m = r.next_packet(&mut buf).unwrap().unwrap();
        assert_eq!(buf.len(), 1458);
        assert_eq!(m.orig_len, 1458);
        assert!(r.next_packet(&mut buf).unwrap().is_none());
    }

    #[test]
    fn round_trip_and_truncation() {
        let mut w = PcapWriter::new(Vec::new(), 246).unwrap();
        w.write_packet(Timestamp::from_secs_micros(7, 5), &[1, 2, 3])
            .unwrap();
        w.write_packet(Timestamp::from_secs_micros(8, 6), &[4; 10])
            .unwrap();
        let bytes = w.into_inner();
        let mut r = PcapReader::new(&bytes[..]).unwrap();
        assert_eq!(r.link_type, 246);
        let mut buf = vec![];
        let m = r.next_packet(&mut buf).unwrap().unwrap();
        assert_eq!(
            (m.ts, buf.as_slice()),
            (Timestamp::from_secs_micros(7, 5), &[1u8, 2, 3][..])
        );
        // Cut the file inside the second packet.
        let cut = &bytes[..bytes.len() - 4];
        let mut r = PcapReader::new(cut).unwrap();
        r.next_packet(&mut buf).unwrap().unwrap();
        assert!(matches!(r.next_packet(&mut buf), Err(PcapError::Truncated)));
    }

    #[test]
    fn big_endian_nanosecond_files_and_bad_input() {
        let mut f = vec![];
        f.extend_from_slice(&MAGIC_NS.to_be_bytes());
        f.extend_from_slice(&[0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0]);
        f.extend_from_slice(&65535u32.to_be_bytes());
        f.extend_from_slice(&18u32.to_be_bytes());
        f.extend_from_slice(&9u32.to_be_bytes());
        f.extend_from_slice(&1_500u32.to_be_bytes()); // 1.5 µs in ns
        f.extend_from_slice(&2u32.to_be_bytes());
        f.extend_from_slice(&2u32.to_be_bytes());
        f.extend_from_slice(&[0xaa, 0xbb]);
        let mut r = PcapReader::new(&f[..]).unwrap();
        assert_eq!(r.link_type, 18);
        let mut buf = vec![];
        let m = r.next_packet(&mut buf).unwrap().unwrap();
        assert_eq!(m.ts, Timestamp::from_secs_micros(9, 1));
        assert_eq!(buf, [0xaa, 0xbb]);

        let mut huge = f[..24].to_vec();
        huge.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 1]);
        let mut r = PcapReader::new(&huge[..]).unwrap();
        assert!(matches!(
            r.next_packet(&mut buf),
            Err(PcapError::BadRecord { .. })
        ));
        assert!(matches!(
            PcapReader::new(&b"hello world, not pcap..."[..]),
            Err(PcapError::NotPcap(_))
        ));
        assert!(matches!(
            PcapReader::new(
                &[
                    0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                    0, 0
                ][..]
            ),
            Err(PcapError::Pcapng)
        ));
        assert!(matches!(
            PcapReader::new(&[1u8, 2][..]),
            Err(PcapError::NotPcap(_))
        ));
    }
}

/// A classic pcap file held in memory: records are handed out as slices
/// of it, without copying. Same checks as [`PcapReader`] (the same record
/// parser); kept as the simple reference that reader's chunked buffering
/// is held to by its tests and the `pcap_file` fuzz target.
pub struct PcapSlice<'a> {
    data: &'a [u8],
    pos: usize,
    head: FileHeader,
    pub link_type: u32,
}

impl<'a> PcapSlice<'a> {
    pub fn new(data: &'a [u8]) -> Result<Self, PcapError> {
        let Some(h) = data.first_chunk::<24>() else {
            return Err(if data.len() < 4 {
                PcapError::NotPcap(0)
            } else {
                PcapError::Truncated
            });
        };
        let head = FileHeader::parse(h)?;
        Ok(PcapSlice {
            data,
            pos: 24,
            link_type: head.link_type,
            head,
        })
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The next record, `Ok(None)` at a clean end.
    #[inline]
    pub fn next_packet(&mut self) -> Result<Option<(PacketMeta, &'a [u8])>, PcapError> {
        let rest = &self.data[self.pos.min(self.data.len())..];
        if rest.is_empty() {
            return Ok(None);
        }
        let Some((meta, len)) = self.head.record_at(rest)? else {
            return Err(PcapError::Truncated);
        };
        self.pos += len;
        Ok(Some((meta, &rest[16..len])))
    }
}

#[cfg(test)]
mod slice_tests {
    use super::*;

    #[test]
    fn slice_reader_matches_the_stream_reader_and_stops_on_damage() {
        let mut w = PcapWriter::new(Vec::new(), 1).unwrap();
        w.write_packet(Timestamp::from_secs_micros(10, 5), &[1, 2, 3])
            .unwrap();
        w.write_packet(Timestamp::from_secs_micros(11, 999_999), &[4; 60])
            .unwrap();
        let bytes = w.into_inner();
        let mut s = PcapSlice::new(&bytes).unwrap();
        assert_eq!(s.link_type, 1);
        let (m, d) = s.next_packet().unwrap().unwrap();
        assert_eq!(
            (m.ts, d),
            (Timestamp::from_secs_micros(10, 5), &[1u8, 2, 3][..])
        );
        let (m, d) = s.next_packet().unwrap().unwrap();
        assert_eq!((m.ts.as_micros(), d.len()), (11_999_999, 60));
        assert!(s.next_packet().unwrap().is_none());
        assert_eq!(s.position(), bytes.len());
        // Cut inside the second record: the first still reads, then Truncated.
        let cut = &bytes[..bytes.len() - 1];
        let mut s = PcapSlice::new(cut).unwrap();
        assert!(s.next_packet().unwrap().is_some());
        assert!(matches!(s.next_packet(), Err(PcapError::Truncated)));
        // An impossible length is refused before anything is sized.
        let mut bad = bytes.clone();
        bad[24 + 8..24 + 12].copy_from_slice(&(MAX_RECORD + 1).to_le_bytes());
        let mut s = PcapSlice::new(&bad).unwrap();
        assert!(matches!(s.next_packet(), Err(PcapError::BadRecord { .. })));
        assert!(matches!(
            PcapSlice::new(&bytes[..3]),
            Err(PcapError::NotPcap(0))
        ));
    }

    /// A reader that hands out at most `step` bytes per call.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn chunked_reads_give_every_record_whole_across_chunk_boundaries() {
        // Sizes that put record boundaries everywhere relative to the
        // reader's chunks, and one record of the largest size allowed.
        let mut w = PcapWriter::new(Vec::new(), 1).unwrap();
        let mut sizes: Vec<usize> = (0..3000).map(|i| (i * 37) % 1500).collect();
        sizes.insert(1234, MAX_RECORD as usize);
        for (i, &n) in sizes.iter().enumerate() {
            let body: Vec<u8> = (0..n).map(|k| (i + k) as u8).collect();
            w.write_packet(Timestamp::from_secs_micros(i as u64, 7), &body)
                .unwrap();
        }
        let bytes = w.into_inner();
        assert!(bytes.len() > 3 * CHUNK);
        for step in [1, 1000, CHUNK - 3, usize::MAX] {
            let mut r = PcapReader::new(Trickle { data: &bytes, step }).unwrap();
            let mut s = PcapSlice::new(&bytes).unwrap();
            let mut n = 0;
            while let Some((m, d)) = r.next_record().unwrap() {
                let (sm, sd) = s.next_packet().unwrap().unwrap();
                assert_eq!((m, d), (sm, sd), "record {n}, reads of {step}");
                assert_eq!(d.len(), sizes[n]);
                assert_eq!(r.position(), s.position() as u64);
                n += 1;
            }
            assert_eq!(n, sizes.len());
            assert!(s.next_packet().unwrap().is_none());
        }
        // Cut anywhere inside the last record: all before it, then Truncated.
        let cut = &bytes[..bytes.len() - 100];
        let mut r = PcapReader::new(Trickle {
            data: cut,
            step: 4096,
        })
        .unwrap();
        let mut n = 0;
        let end = loop {
            match r.next_record() {
                Ok(Some(_)) => n += 1,
                other => break other.map(|o| o.map(|(m, _)| m)),
            }
        };
        assert!(matches!(end, Err(PcapError::Truncated)));
        assert_eq!(n, sizes.len() - 1);
    }
}
