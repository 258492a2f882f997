//! The daemon's side of `--state-file`: the table read back at start and
//! written at exit (format and guarantees in [`crate::state::persist`]).
//!
//! The directory is opened at start, before the chroot, and the file is
//! written relative to that descriptor at exit, so a daemon confined to an
//! empty directory can still save. At start we also prove the directory is
//! writable by the user we run as (a file is created and removed there), so
//! a state file that could never be saved is an error on the terminal, not
//! a surprise at the next shutdown.

use crate::log::{self, Level};
use crate::state::persist::{self, PersistError};
use crate::state::{StateId, StateTable, Tracked};
use std::ffi::{CString, OsString};
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

pub struct StateFile {
    path: PathBuf,
    dir: File,
    name: OsString,
}

impl StateFile {
    /// Opens the directory of `path`.
    pub fn open(path: &Path) -> Result<StateFile, String> {
        let name = path
            .file_name()
            .ok_or_else(|| format!("--state-file {}: not a file name", path.display()))?
            .to_owned();
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let dir = File::open(parent)
            .and_then(|d| {
                if d.metadata()?.is_dir() {
                    Ok(d)
                } else {
                    Err(io::Error::from_raw_os_error(libc::ENOTDIR))
                }
            })
            .map_err(|e| format!("--state-file {}: {}: {e}", path.display(), parent.display()))?;
        Ok(StateFile {
            path: path.to_owned(),
            dir,
            name,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved states; none (with a log line saying why) when there is
    /// no file yet or it cannot be used.
    pub fn load(&self) -> Vec<(StateId, Tracked)> {
        match persist::load(&self.path) {
            Ok(v) => {
                log::log(
                    Level::Notice,
                    &format!("{}: read {} saved states", self.path.display(), v.len()),
                );
                v
            }
            Err(PersistError::Io(e)) if e.kind() == io::ErrorKind::NotFound => {
                log::log(
                    Level::Info,
                    &format!("{}: no saved states yet", self.path.display()),
                );
                Vec::new()
            }
            Err(e) => {
                log::log(
                    Level::Warning,
                    &format!(
                        "{}: ignoring the state file ({e}); starting with an empty table",
                        self.path.display()
                    ),
                );
                Vec::new()
            }
        }
    }

    /// Proves that we can create (and remove) a file in the directory,
    /// as the user we now are.
    pub fn check_writable(&self) -> Result<(), String> {
        let mut probe = self.name.as_bytes().to_vec();
        probe.extend_from_slice(b".probe");
        let probe = CString::new(probe).map_err(|_| "state file name holds a NUL".to_string())?;
        let made = persist::create_at(&self.dir, &probe).map_err(|e| {
            format!(
                "--state-file {}: cannot write in its directory: {e}",
                self.path.display()
            )
        })?;
        drop(made);
        // SAFETY: valid directory descriptor and NUL-terminated name.
        unsafe { libc::unlinkat(self.dir.as_raw_fd(), probe.as_ptr(), 0) };
        Ok(())
    }

    /// Writes the table; returns how many states were saved.
    pub fn save(&self, table: &StateTable) -> Result<usize, String> {
        persist::save_at(table, &self.dir, &self.name)
            .map_err(|e| format!("saving states to {}: {e}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pfsync::{Message, PfState};
    use crate::state::TableConfig;
    use crate::time::Timestamp;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sfd-statefile-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn table(n: u64) -> StateTable {
        let mut t = StateTable::new(TableConfig::default());
        for i in 0..n {
            let s = PfState {
                id: i,
                creator: 9,
                proto: 6,
                packets: [i, 2 * i],
                ..Default::default()
            };
            t.apply(
                &Message::Insert(s),
                Timestamp::from_secs(50 + i),
                &mut vec![],
            );
        }
        t
    }

    #[test]
    fn saves_through_the_directory_descriptor_and_reads_back() {
        let d = dir("ok");
        let path = d.join("states");
        let sf = StateFile::open(&path).unwrap();
        sf.check_writable().unwrap();
        assert!(sf.load().is_empty(), "no file yet");
        assert_eq!(sf.save(&table(7)).unwrap(), 7);
        let back = sf.load();
        assert_eq!(back.len(), 7);
        let (id, t) = back.iter().find(|(id, _)| id.id == 3).unwrap();
        assert_eq!((id.creator, t.packets), (9, [3, 6]));
        // nothing left beside it: no probe, no temp file
        let names: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![OsString::from("states")]);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_removed_directory_is_an_error_at_save_and_a_missing_one_at_open() {
        let d = dir("gone");
        let sf = StateFile::open(&d.join("states")).unwrap();
        std::fs::remove_dir_all(&d).unwrap();
        let e = sf.save(&table(2)).unwrap_err();
        assert!(e.contains("saving states to"), "{e}");
        assert!(sf.check_writable().is_err());
        let e = StateFile::open(&d.join("states")).err().unwrap();
        assert!(e.contains("No such file"), "{e}");
    }

    #[test]
    fn a_corrupt_file_is_ignored() {
        let d = dir("bad");
        let path = d.join("states");
        std::fs::write(&path, b"SFDSTATE but cut short").unwrap();
        let sf = StateFile::open(&path).unwrap();
        assert!(sf.load().is_empty());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
