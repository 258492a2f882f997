//! Giving up root once sources and sockets are open.
//!
//! Order: look the user up, chroot to an empty directory (created
//! root-owned, mode 0755, if missing), then set groups, gid and uid with
//! the set-res calls, and check that root cannot be regained. A user that
//! does not exist is an error: the daemon never silently stays root.

use std::ffi::{CStr, CString};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::Path;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: libc::uid_t,
    pub gid: libc::gid_t,
}

/// Looks a user up in the password database.
pub fn lookup_user(name: &str) -> Result<User, String> {
    let c = CString::new(name).map_err(|_| format!("bad user name '{name}'"))?;
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0u8; 16_384];
    let mut res: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: getpwnam_r fills `pw` with pointers into `buf`, both live here.
    let rc = unsafe {
        libc::getpwnam_r(
            c.as_ptr(),
            &mut pw,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut res,
        )
    };
    if rc != 0 {
        return Err(format!(
            "looking up user '{name}': {}",
            io::Error::from_raw_os_error(rc)
        ));
    }
    if res.is_null() {
        return Err(format!(
            "user '{name}' does not exist (create it, or choose another with -u)"
        ));
    }
    // SAFETY: pw_name points into `buf`, NUL-terminated by getpwnam_r.
    let uname = unsafe { CStr::from_ptr(pw.pw_name) }
        .to_string_lossy()
        .into_owned();
    Ok(User {
        name: uname,
        uid: pw.pw_uid,
        gid: pw.pw_gid,
    })
}

/// Makes sure `dir` exists, is a directory and is owned by root.
pub fn prepare_chroot(dir: &Path) -> Result<(), String> {
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .map_err(|e| format!("creating chroot {}: {e}", dir.display()))?;
    }
    let md = std::fs::metadata(dir).map_err(|e| format!("chroot {}: {e}", dir.display()))?;
    if !md.is_dir() {
        return Err(format!("chroot {} is not a directory", dir.display()));
    }
    if md.uid() != 0 {
        return Err(format!("chroot {} must be owned by root", dir.display()));
    }
    // Writable by others, the empty root could be filled with whatever
    // they like for the daemon to find (as sshd's ChrootDirectory rule).
    if md.mode() & 0o022 != 0 {
        return Err(format!(
            "chroot {} must not be writable by group or others (mode {:o})",
            dir.display(),
            md.mode() & 0o7777
        ));
    }
    Ok(())
}

/// Chroots (when `chroot` is given) and switches to `user` for good.
pub fn drop_to(user: &User, chroot: Option<&Path>) -> Result<(), String> {
    if let Some(dir) = chroot {
        prepare_chroot(dir)?;
        let c = CString::new(dir.as_os_str().as_encoded_bytes())
            .map_err(|_| "chroot path has a NUL".to_string())?;
        // SAFETY: chroot/chdir with NUL-terminated paths.
        unsafe {
            if libc::chroot(c.as_ptr()) != 0 {
                return Err(format!(
                    "chroot {}: {}",
                    dir.display(),
                    io::Error::last_os_error()
                ));
            }
            if libc::chdir(c"/".as_ptr()) != 0 {
                return Err(format!("chdir /: {}", io::Error::last_os_error()));
            }
        }
    }
    let groups = [user.gid];
    // SAFETY: plain credential system calls with valid arguments.
    unsafe {
        if libc::setgroups(1, groups.as_ptr()) != 0 {
            return Err(format!("setgroups: {}", io::Error::last_os_error()));
        }
        if libc::setresgid(user.gid, user.gid, user.gid) != 0 {
            return Err(format!("setresgid: {}", io::Error::last_os_error()));
        }
        if libc::setresuid(user.uid, user.uid, user.uid) != 0 {
            return Err(format!("setresuid: {}", io::Error::last_os_error()));
        }
        if user.uid != 0 && libc::setuid(0) == 0 {
            return Err("privileges could be regained after dropping them".into());
        }
    }
    Ok(())
}

/// Where the state file's directory is, for [`restrict`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateDir {
    /// No `--state-file`.
    None,
    /// Named by this absolute path from the root the daemon runs in
    /// (`--no-chroot`).
    At(std::path::PathBuf),
    /// Outside the chroot: reached only through the descriptor opened
    /// before it (see [`super::statefile`]).
    OutOfReach,
}

/// OpenBSD: after the privilege drop, hide the filesystem and promise only
/// what the main loop uses. Reviewed by eye: only the Linux target builds
/// here.
///
/// The veil: `unveil("/", "")` makes the whole filesystem (as seen from
/// the root we now have) invisible; with a state file named from here,
/// its directory is unveiled `wc` (the save opens `NAME.tmp` with
/// `O_WRONLY|O_CREAT|O_TRUNC` and renames it over `NAME`, all relative to
/// the directory's descriptor); then `unveil(NULL, NULL)` locks it (an
/// unveil(NULL, NULL) alone would not activate any veil). A state file
/// outside the chroot cannot be unveiled — unveil(2) names directories by
/// path, and the path is not visible from inside — and a veil would make
/// its directory's descriptor unusable (lookups from it find no unveil and
/// fail with ENOENT), so then there is no veil: the chroot is the
/// confinement, and pledge still allows only writing and creating.
///
/// The promises, checked against what runs after this call: stdio
/// (poll, read/recvmsg, send on the connected collector sockets, clock,
/// the signal pipe and sigaction, fcntl, sendsyslog), inet (sendto with a
/// destination: the counter-refresh requests on the sync link's raw
/// socket), unix (accepting on the control socket and setting its
/// timeouts), bpf when reading an interface through libpcap (its
/// statistics are the BIOCGSTATS ioctl), and, when a state file is kept,
/// wpath and cpath for the save (nothing is read by path after start:
/// no rpath). The pidfile is not removed at exit here (see
/// [`super::life`]): that unlink would need cpath and an unveil.
#[cfg(target_os = "openbsd")]
pub fn restrict(state_dir: &StateDir, bpf: bool) -> Result<(), String> {
    let saves = *state_dir != StateDir::None;
    let promises: &CStr = match (saves, bpf) {
        (true, true) => c"stdio inet unix bpf wpath cpath",
        (true, false) => c"stdio inet unix wpath cpath",
        (false, true) => c"stdio inet unix bpf",
        (false, false) => c"stdio inet unix",
    };
    let unveil = |path: *const libc::c_char, perms: *const libc::c_char| {
        // SAFETY: NUL-terminated strings that outlive the call, or NULL.
        if unsafe { libc::unveil(path, perms) } != 0 {
            return Err(format!("unveil: {}", io::Error::last_os_error()));
        }
        Ok(())
    };
    let dir = match state_dir {
        StateDir::At(p) => Some(
            CString::new(p.as_os_str().as_encoded_bytes())
                .map_err(|_| "state file directory has a NUL".to_string())?,
        ),
        _ => None,
    };
    if *state_dir != StateDir::OutOfReach {
        unveil(c"/".as_ptr(), c"".as_ptr())?;
        if let Some(d) = &dir {
            unveil(d.as_ptr(), c"wc".as_ptr())?;
        }
        unveil(std::ptr::null(), std::ptr::null())?;
    }
    // SAFETY: a NUL-terminated static string; NULL leaves execpromises.
    if unsafe { libc::pledge(promises.as_ptr(), std::ptr::null()) } != 0 {
        return Err(format!("pledge: {}", io::Error::last_os_error()));
    }
    Ok(())
}

/// Elsewhere there is nothing more to give up after the privilege drop.
#[cfg(not(target_os = "openbsd"))]
pub fn restrict(_state_dir: &StateDir, _bpf: bool) -> Result<(), String> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chroot_is_made_root_owned_and_a_writable_one_refused() {
        use std::os::unix::fs::PermissionsExt;
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("SKIPPING: a chroot must be root's, and this test is not root");
            return;
        }
        let base = std::env::temp_dir().join(format!("sfd-chroot-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let made = base.join("empty");
        prepare_chroot(&made).unwrap();
        let md = std::fs::metadata(&made).unwrap();
        assert_eq!(md.mode() & 0o7777, 0o755);
        assert_eq!(md.uid(), 0);
        std::fs::set_permissions(&made, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = prepare_chroot(&made).unwrap_err();
        assert!(e.contains("must not be writable"), "{e}");
        std::fs::set_permissions(&made, std::fs::Permissions::from_mode(0o775)).unwrap();
        assert!(prepare_chroot(&made).is_err());
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn users_are_found_or_refused_clearly() {
        let root = lookup_user("root").unwrap();
        assert_eq!((root.uid, root.gid), (0, 0));
        let e = lookup_user("no_such_user_sfd").unwrap_err();
        assert!(e.contains("does not exist"), "{e}");
    }
}
