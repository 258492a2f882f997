//! The state file: the table written at shutdown and read back at start, so
//! a restart does not forget the states pf still holds.
//!
//! Format (all integers big-endian), version 1:
//!
//! | off | size | field |
//! | --- | --- | --- |
//! | 0 | 8 | magic `SFDSTATE` |
//! | 8 | 4 | format version (1) |
//! | 12 | 4 | record size ([`RECORD_LEN`]) |
//! | 16 | 8 | record count |
//! | 24 | count × 133 | records (layout in [`encode_record`]) |
//! | end − 8 | 8 | FNV-1a 64 of every byte before it |
//!
//! Writing goes to `PATH.tmp`, is flushed and fsynced, then renamed over
//! `PATH` (and the directory fsynced), so a crash leaves either the old file
//! or the new one. Reading trusts nothing in the file: the whole file must
//! be exactly header + count × record + checksum long (so the count can
//! never size an allocation beyond the file itself), the version must be
//! ours and the checksum must match; otherwise [`load`] says why and the
//! caller starts with an empty table (and logs a warning).
//!
//! What a state file cannot do: states deleted while we were down are not
//! known — their DEL_C went by unseen. They stay until something ends them:
//! a CLR, the next completed bulk transfer (they are not resent, so they go
//! stale and end after the grace period), or eviction by the bound. Their
//! flows are then reported late, with the counters we had.

use super::table::{Completed, StateId, StateTable, Tracked};
use crate::pfsync::{Family, IfName, PfDirection, StateKey};
use crate::time::Timestamp;
use crate::wire::{array_at, be16, be32, be64, put, u8_at};
use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

pub const MAGIC: [u8; 8] = *b"SFDSTATE";
pub const VERSION: u32 = 1;
pub const HEADER_LEN: usize = 24;
pub const RECORD_LEN: usize = 133;
const TRAILER_LEN: usize = 8;

/// Why a state file was not used.
#[derive(Debug)]
pub enum PersistError {
    Io(io::Error),
    /// Not a state file (or its first bytes are damaged).
    BadMagic,
    /// Written by another format version.
    WrongVersion(u32),
    /// Its length does not match its header (cut short, or grown).
    BadLength {
        file: u64,
        expected: Option<u64>,
    },
    /// Damaged contents.
    BadChecksum,
    /// Larger than any table could have written ([`MAX_FILE_STATES`]):
    /// not read into memory at all.
    TooLarge(u64),
}

/// The most states a state file may hold (16 Mi, far above any pf limit in
/// use); a larger file is refused before it is read.
pub const MAX_FILE_STATES: u64 = 1 << 24;

impl fmt::Display for PersistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PersistError::Io(e) => write!(f, "{e}"),
            PersistError::BadMagic => write!(f, "not a stateflowd state file"),
            PersistError::WrongVersion(v) => {
                write!(f, "state file format {v}, this version reads {VERSION}")
            }
            PersistError::BadLength { file, expected } => match expected {
                Some(e) => write!(f, "state file is {file} bytes, its header says {e}"),
                None => write!(f, "state file is {file} bytes, its header is impossible"),
            },
            PersistError::BadChecksum => write!(f, "state file checksum mismatch"),
            PersistError::TooLarge(n) => write!(
                f,
                "state file is {n} bytes, more than {MAX_FILE_STATES} states could fill"
            ),
        }
    }
}

impl std::error::Error for PersistError {}

impl From<io::Error> for PersistError {
    fn from(e: io::Error) -> Self {
        PersistError::Io(e)
    }
}

#[derive(Clone, Copy)]
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn update(&mut self, b: &[u8]) {
        for &x in b {
            self.0 ^= u64::from(x);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// One state as a fixed-size record.
pub fn encode_record(id: StateId, t: &Tracked) -> [u8; RECORD_LEN] {
    let mut b = [0u8; RECORD_LEN];
    put(&mut b, 0, &id.creator.to_be_bytes());
    put(&mut b, 4, &id.id.to_be_bytes());
    put(&mut b, 12, &t.key.addr[0]);
    put(&mut b, 28, &t.key.addr[1]);
    put(&mut b, 44, &t.key.port[0].to_be_bytes());
    put(&mut b, 46, &t.key.port[1].to_be_bytes());
    put(&mut b, 48, &t.key.rdomain.to_be_bytes());
    put(&mut b, 50, &t.ifname.0);
    let (tag, val) = match t.family {
        Family::Inet => (0, 0),
        Family::Inet6 => (1, 0),
        Family::Other(x) => (2, x),
    };
    b[66] = tag;
    b[67] = val;
    b[68] = t.proto;
    b[69] = t.direction.to_wire();
    b[70] = u8::from(t.flags_known);
    put(&mut b, 71, &t.rule.to_be_bytes());
    put(&mut b, 75, &t.state_flags.to_be_bytes());
    put(&mut b, 77, &t.first.as_micros().to_be_bytes());
    put(&mut b, 85, &t.last.as_micros().to_be_bytes());
    put(&mut b, 93, &t.counters_at.as_micros().to_be_bytes());
    put(&mut b, 101, &t.packets[0].to_be_bytes());
    put(&mut b, 109, &t.packets[1].to_be_bytes());
    put(&mut b, 117, &t.bytes[0].to_be_bytes());
    put(&mut b, 125, &t.bytes[1].to_be_bytes());
    b
}

/// The inverse of [`encode_record`].
pub fn decode_record(b: &[u8]) -> (StateId, Tracked) {
    let family = match (u8_at(b, 66), u8_at(b, 67)) {
        (0, _) => Family::Inet,
        (1, _) => Family::Inet6,
        (_, x) => Family::Other(x),
    };
    (
        StateId {
            creator: be32(b, 0),
            id: be64(b, 4),
        },
        Tracked {
            key: StateKey {
                addr: [array_at(b, 12), array_at(b, 28)],
                port: [be16(b, 44), be16(b, 46)],
                rdomain: be16(b, 48),
            },
            ifname: IfName(array_at(b, 50)),
            family,
            proto: u8_at(b, 68),
            direction: PfDirection::from_wire(u8_at(b, 69)),
            flags_known: u8_at(b, 70) != 0,
            rule: be32(b, 71),
            state_flags: be16(b, 75),
            first: Timestamp(be64(b, 77)),
            last: Timestamp(be64(b, 85)),
            counters_at: Timestamp(be64(b, 93)),
            packets: [be64(b, 101), be64(b, 109)],
            bytes: [be64(b, 117), be64(b, 125)],
        },
    )
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

/// Writes every state of `table` to `path` atomically (temp file, fsync,
/// rename). Returns the number of states written.
pub fn save(table: &StateTable, path: &Path) -> Result<usize, PersistError> {
    let tmp = tmp_path(path);
    match File::create(&tmp)
        .map_err(PersistError::from)
        .and_then(|f| write_states(table, f))
    {
        Ok(n) => {
            fs::rename(&tmp, path)?;
            // Make the rename itself durable; not all systems allow
            // opening a directory, so this is best effort.
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                if let Ok(d) = File::open(dir) {
                    let _ = d.sync_all();
                }
            }
            Ok(n)
        }
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// [`save`] into `name` inside the open directory `dir`, for a daemon that
/// opened the directory before it changed root (the path is unreachable
/// afterwards): `name.tmp` is written and fsynced, renamed over `name`,
/// and the directory fsynced, all relative to `dir`.
pub fn save_at(
    table: &StateTable,
    dir: &File,
    name: &std::ffi::OsStr,
) -> Result<usize, PersistError> {
    use std::ffi::CString;
    use std::os::fd::AsRawFd;
    use std::os::unix::ffi::OsStrExt;
    let bad = || PersistError::Io(io::Error::from(io::ErrorKind::InvalidInput));
    let final_c = CString::new(name.as_bytes()).map_err(|_| bad())?;
    let mut tmp = name.as_bytes().to_vec();
    tmp.extend_from_slice(b".tmp");
    let tmp_c = CString::new(tmp).map_err(|_| bad())?;
    let d = dir.as_raw_fd();
    let f = create_at(dir, &tmp_c)?;
    let unlink_tmp = || {
        // SAFETY: as above.
        unsafe { libc::unlinkat(d, tmp_c.as_ptr(), 0) };
    };
    let n = match write_states(table, f) {
        Ok(n) => n,
        Err(e) => {
            unlink_tmp();
            return Err(e);
        }
    };
    // SAFETY: as above.
    if unsafe { libc::renameat(d, tmp_c.as_ptr(), d, final_c.as_ptr()) } != 0 {
        let e = io::Error::last_os_error();
        unlink_tmp();
        return Err(e.into());
    }
    let _ = dir.sync_all();
    Ok(n)
}

/// Creates (or truncates) `name` in the open directory `dir`, mode 0600,
/// not following a symbolic link.
pub fn create_at(dir: &File, name: &std::ffi::CStr) -> io::Result<File> {
    use std::os::fd::{AsRawFd, FromRawFd};
    // SAFETY: valid directory descriptor and NUL-terminated name.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC | libc::O_NOFOLLOW,
            0o600 as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened and is owned by nobody else.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// The file's bytes, written to `f` and fsynced.
fn write_states(table: &StateTable, f: File) -> Result<usize, PersistError> {
    let mut w = BufWriter::with_capacity(1 << 16, f);
    let mut sum = Fnv::new();
    let mut header = [0u8; HEADER_LEN];
    put(&mut header, 0, &MAGIC);
    put(&mut header, 8, &VERSION.to_be_bytes());
    put(&mut header, 12, &(RECORD_LEN as u32).to_be_bytes());
    put(&mut header, 16, &(table.len() as u64).to_be_bytes());
    sum.update(&header);
    w.write_all(&header)?;
    let mut n = 0usize;
    for (id, t) in table.iter() {
        let r = encode_record(id, &t);
        sum.update(&r);
        w.write_all(&r)?;
        n += 1;
    }
    debug_assert_eq!(n, table.len());
    w.write_all(&sum.0.to_be_bytes())?;
    let f = w.into_inner().map_err(|e| e.into_error())?;
    f.sync_all()?;
    Ok(n)
}

/// Checks and decodes a state file's bytes.
pub fn parse(b: &[u8]) -> Result<Vec<(StateId, Tracked)>, PersistError> {
    if b.len() < 8 || b[..8] != MAGIC {
        return Err(PersistError::BadMagic);
    }
    let file = b.len() as u64;
    if b.len() < HEADER_LEN + TRAILER_LEN {
        return Err(PersistError::BadLength {
            file,
            expected: None,
        });
    }
    let version = be32(b, 8);
    if version != VERSION {
        return Err(PersistError::WrongVersion(version));
    }
    let rec = be32(b, 12) as usize;
    let count = be64(b, 16);
    let expected = count
        .checked_mul(RECORD_LEN as u64)
        .and_then(|x| x.checked_add((HEADER_LEN + TRAILER_LEN) as u64));
    if rec != RECORD_LEN || expected != Some(file) {
        return Err(PersistError::BadLength { file, expected });
    }
    let body = &b[..b.len() - TRAILER_LEN];
    let mut sum = Fnv::new();
    sum.update(body);
    if sum.0 != be64(b, b.len() - TRAILER_LEN) {
        return Err(PersistError::BadChecksum);
    }
    // count × RECORD_LEN fits in the file we hold: the allocation is
    // bounded by what we already read.
    Ok(body[HEADER_LEN..]
        .chunks_exact(RECORD_LEN)
        .map(decode_record)
        .collect())
}

/// Reads a state file written by [`save`].
pub fn load(path: &Path) -> Result<Vec<(StateId, Tracked)>, PersistError> {
    use std::io::Read;
    let max = (HEADER_LEN + TRAILER_LEN) as u64 + MAX_FILE_STATES * RECORD_LEN as u64;
    let f = fs::File::open(path)?;
    let len = f.metadata()?.len();
    if len > max {
        return Err(PersistError::TooLarge(len));
    }
    // Read no more than the bound, whatever the file does meanwhile.
    let mut bytes = Vec::with_capacity(len as usize);
    f.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(PersistError::TooLarge(bytes.len() as u64));
    }
    parse(&bytes)
}

/// Reads `path` into `table`; returns how many states were restored.
/// States beyond the table's bound are ended into `out` (the longest idle
/// first), as any insertion over the bound would.
pub fn load_into(
    path: &Path,
    table: &mut StateTable,
    out: &mut Vec<Completed>,
) -> Result<usize, PersistError> {
    let states = load(path)?;
    let n = states.len();
    for (id, t) in &states {
        table.restore(*id, t, out);
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pfsync::{Message, PfState};
    use crate::state::TableConfig;

    fn table(n: u64) -> StateTable {
        let mut tab = StateTable::new(TableConfig::default());
        let mut out = vec![];
        for i in 0..n {
            let mut s = PfState {
                id: i,
                creator: 7,
                ifname: IfName::new(if i % 2 == 0 { "em0" } else { "vio1" }),
                family: if i % 3 == 0 {
                    Family::Inet6
                } else {
                    Family::Other(i as u8)
                },
                proto: 17,
                direction: PfDirection::Out,
                rule: i as u32,
                state_flags: 0x1234,
                flags_known: i % 2 == 0,
                creation: 3,
                packets: [i, u64::MAX - i],
                bytes: [i << 40, 5],
                ..Default::default()
            };
            s.keys[1].addr[1] = [i as u8; 16];
            s.keys[1].port = [i as u16, 9];
            s.keys[1].rdomain = 4;
            tab.apply(&Message::Insert(s), Timestamp::from_secs(100 + i), &mut out);
        }
        tab
    }

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sfd-persist-{tag}-{}", std::process::id()));
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_file_larger_than_any_table_is_refused_unread() {
        let d = std::env::temp_dir().join(format!("sfd-persist-big-{}", std::process::id()));
        fs::create_dir_all(&d).unwrap();
        let p = d.join("huge.state");
        let f = fs::File::create(&p).unwrap();
        let max = (HEADER_LEN + TRAILER_LEN) as u64 + MAX_FILE_STATES * RECORD_LEN as u64;
        // Sparse: no disk is used, and nothing may be read from it.
        f.set_len(max + 1).unwrap();
        assert!(matches!(load(&p), Err(PersistError::TooLarge(n)) if n == max + 1));
        // A small file of zeros is read, and judged by its header.
        f.set_len(64).unwrap();
        assert!(matches!(load(&p), Err(PersistError::BadMagic)));
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn save_then_load_gives_the_same_states_and_size() {
        let d = dir("rt");
        let p = d.join("states");
        let tab = table(50);
        assert_eq!(save(&tab, &p).unwrap(), 50);
        assert!(!tmp_path(&p).exists());
        let b = fs::read(&p).unwrap();
        assert_eq!(b.len(), HEADER_LEN + 50 * RECORD_LEN + TRAILER_LEN);
        assert_eq!(&b[..8], b"SFDSTATE");
        assert_eq!(be32(&b, 8), 1);
        assert_eq!(be64(&b, 16), 50);
        // first record, longest idle = id 0: creator @24, id @28
        assert_eq!((be32(&b, 24), be64(&b, 28)), (7, 0));
        let got = load(&p).unwrap();
        assert_eq!(got, tab.iter().collect::<Vec<_>>());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn damaged_files_are_refused_with_their_reason() {
        let d = dir("bad");
        let p = d.join("states");
        save(&table(20), &p).unwrap();
        let good = fs::read(&p).unwrap();
        // cut in half
        assert!(matches!(
            parse(&good[..good.len() / 2]),
            Err(PersistError::BadLength { .. })
        ));
        // another version
        let mut v = good.clone();
        v[11] = 2;
        assert!(matches!(parse(&v), Err(PersistError::WrongVersion(2))));
        // one flipped bit
        let mut c = good.clone();
        c[200] ^= 1;
        assert!(matches!(parse(&c), Err(PersistError::BadChecksum)));
        // a count that would need exabytes: refused before any allocation
        let mut huge = good.clone();
        huge[16..24].copy_from_slice(&u64::MAX.to_be_bytes());
        assert!(matches!(
            parse(&huge),
            Err(PersistError::BadLength { expected: None, .. })
        ));
        assert!(matches!(parse(b"hello"), Err(PersistError::BadMagic)));
        assert!(matches!(load(&d.join("missing")), Err(PersistError::Io(_))));
        // an empty table saves and loads
        save(&StateTable::new(TableConfig::default()), &p).unwrap();
        assert!(load(&p).unwrap().is_empty());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn loading_over_the_bound_ends_the_longest_idle() {
        let d = dir("bound");
        let p = d.join("states");
        save(&table(10), &p).unwrap();
        let mut small = StateTable::new(TableConfig { max_states: 4 });
        let mut out = vec![];
        assert_eq!(load_into(&p, &mut small, &mut out).unwrap(), 10);
        assert_eq!(small.len(), 4);
        assert_eq!(
            out.iter().map(|c| c.id.id).collect::<Vec<_>>(),
            [0, 1, 2, 3, 4, 5]
        );
        fs::remove_dir_all(&d).unwrap();
    }
}
