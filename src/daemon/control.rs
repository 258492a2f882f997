//! The control socket: a Unix-domain socket, root-only, one command per
//! connection (a line of text in, a text answer out), as softflowctl does.
//!
//! Commands: `statistics`, `dump-states`, `flush` (send pending datagrams
//! now), `expire-all` (end every tracked state now and export it),
//! `shutdown` (as SIGTERM). Request parsing is pure and bounded.

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Longest request line read.
pub const MAX_REQUEST: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    Statistics,
    DumpStates,
    Flush,
    ExpireAll,
    Shutdown,
    Help,
}

pub const COMMANDS: &[(&str, &str)] = &[
    (
        "statistics",
        "counters: frames, messages, states, flows, collectors, drops",
    ),
    ("dump-states", "every tracked pf state, one per line"),
    ("flush", "send pending datagrams now"),
    ("expire-all", "end every tracked state now and export it"),
    (
        "shutdown",
        "export, save the state table and exit (as SIGTERM)",
    ),
    ("help", "this list"),
];

pub fn parse_request(line: &str) -> Result<Command, String> {
    Ok(match line.trim() {
        "statistics" | "stats" => Command::Statistics,
        "dump-states" => Command::DumpStates,
        "flush" => Command::Flush,
        "expire-all" => Command::ExpireAll,
        "shutdown" => Command::Shutdown,
        "help" => Command::Help,
        other => {
            let shown: String = other.chars().take(40).collect();
            return Err(format!("unknown command '{shown}' (try 'help')"));
        }
    })
}

#[derive(Debug)]
pub struct ControlSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ControlSocket {
    /// Binds `path` with mode 0600. A leftover socket nobody answers on is
    /// replaced; one that answers means another instance runs.
    pub fn bind(path: &Path) -> Result<ControlSocket, String> {
        if path.exists() {
            if UnixStream::connect(path).is_ok() {
                return Err(format!(
                    "control socket {} is in use: is stateflowd already running?",
                    path.display()
                ));
            }
            std::fs::remove_file(path)
                .map_err(|e| format!("removing stale {}: {e}", path.display()))?;
        }
        // Create it private from the start: umask 077 while binding.
        // SAFETY: umask has no failure mode.
        let old = unsafe { libc::umask(0o077) };
        let l = UnixListener::bind(path);
        // SAFETY: restoring the previous mask.
        unsafe { libc::umask(old) };
        let listener = l.map_err(|e| format!("control socket {}: {e}", path.display()))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("control socket {}: {e}", path.display()))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("control socket: {e}"))?;
        Ok(ControlSocket {
            listener,
            path: path.to_path_buf(),
        })
    }

    pub fn fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        self.listener.as_raw_fd()
    }

    /// Accepts one waiting client and reads its request. The client has a
    /// short deadline: the daemon does not wait on a slow one.
    pub fn accept(&self) -> Option<(UnixStream, Result<Command, String>)> {
        let (stream, _) = self.listener.accept().ok()?;
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        let _ = stream.set_write_timeout(Some(Duration::from_millis(500)));
        let mut line = String::new();
        let read = BufReader::new(stream.try_clone().ok()?)
            .take(MAX_REQUEST as u64)
            .read_line(&mut line);
        let req = match read {
            Ok(_) => parse_request(&line),
            Err(e) => Err(format!("reading request: {e}")),
        };
        Some((stream, req))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Writes an answer and closes.
pub fn reply(mut s: UnixStream, text: &str) -> io::Result<()> {
    s.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        s.write_all(b"\n")?;
    }
    s.flush()
}

use std::io::Read as _;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_and_unknown_ones_are_refused_briefly() {
        assert_eq!(parse_request("statistics\n"), Ok(Command::Statistics));
        assert_eq!(parse_request("  shutdown "), Ok(Command::Shutdown));
        assert_eq!(parse_request("expire-all"), Ok(Command::ExpireAll));
        let e = parse_request(&"x".repeat(1000)).unwrap_err();
        assert!(e.len() < 100, "{e}");
        assert!(parse_request("").is_err());
    }

    #[test]
    fn socket_is_private_and_answers() {
        let p = std::env::temp_dir().join(format!("sfd-ctl-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&p);
        let c = ControlSocket::bind(&p).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // a second bind sees the first answering
        assert!(ControlSocket::bind(&p).unwrap_err().contains("in use"));
        let mut client = UnixStream::connect(&p).unwrap();
        client.write_all(b"flush\n").unwrap();
        // The probe connection of the second bind comes first: it closed
        // without a request.
        let (_, probe) = c.accept().unwrap();
        assert!(probe.is_err());
        let (s, req) = loop {
            if let Some(x) = c.accept() {
                break x;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        assert_eq!(req, Ok(Command::Flush));
        reply(s, "ok").unwrap();
        let mut ans = String::new();
        client.read_to_string(&mut ans).unwrap();
        assert_eq!(ans, "ok\n");
        drop(c);
        let _ = std::fs::remove_file(&p);
    }
}
