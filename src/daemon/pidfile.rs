//! The pidfile: refuses a second instance, replaces a stale file.
//!
//! The file is locked with flock(2) for as long as the process lives, so
//! "a live process holds it" is decided by the kernel, not by guessing from
//! a pid that may have been reused: a locked file means another instance
//! runs; an unlocked one is stale and is taken over. The lock is taken
//! before daemonising (so the error reaches the terminal) and the pid is
//! written after (so it is the daemon's).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub struct Pidfile {
    file: File,
    path: PathBuf,
}

impl Pidfile {
    /// Opens and locks `path`, or says which process holds it.
    pub fn lock(path: &Path) -> Result<Pidfile, String> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| format!("pidfile {}: {e}", path.display()))?;
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let e = io::Error::last_os_error();
            let mut s = String::new();
            let _ = file.read_to_string(&mut s);
            return Err(if e.kind() == io::ErrorKind::WouldBlock {
                format!(
                    "already running (pid {}, pidfile {})",
                    s.trim(),
                    path.display()
                )
            } else {
                format!("pidfile {}: {e}", path.display())
            });
        }
        Ok(Pidfile {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Writes the current process id (after daemonising).
    pub fn write_pid(&mut self) -> io::Result<()> {
        self.file.set_len(0)?;
        self.file.seek(SeekFrom::Start(0))?;
        writeln!(self.file, "{}", std::process::id())?;
        self.file.flush()
    }

    /// Removes the file (possible only while its directory is reachable).
    pub fn remove(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_pidfile_is_refused_and_a_stale_one_taken_over() {
        let dir = std::env::temp_dir().join(format!("sfd-pid-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("x.pid");
        std::fs::write(&p, "999999\n").unwrap(); // stale: nobody holds the lock
        let mut a = Pidfile::lock(&p).unwrap();
        a.write_pid().unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap().trim(),
            std::process::id().to_string()
        );
        let err = Pidfile::lock(&p).err().unwrap();
        assert!(err.contains("already running"), "{err}");
        assert!(err.contains(&std::process::id().to_string()), "{err}");
        a.remove();
        assert!(!p.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
