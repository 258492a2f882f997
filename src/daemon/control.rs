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

/// Longest request line accepted, its newline included. Longer requests
/// are refused whole, never cut and then obeyed.
pub const MAX_REQUEST: usize = 256;

/// Longest piece of an unknown request echoed back in the error.
const MAX_ECHO: usize = 40;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    Statistics,
    DumpStates,
    Flush,
    ExpireAll,
    Shutdown,
    Help,
}

impl Command {
    /// Every command, in [`COMMANDS`] order.
    pub const ALL: [Command; 6] = [
        Command::Statistics,
        Command::DumpStates,
        Command::Flush,
        Command::ExpireAll,
        Command::Shutdown,
        Command::Help,
    ];

    /// The request word that names this command.
    pub fn name(self) -> &'static str {
        match self {
            Command::Statistics => "statistics",
            Command::DumpStates => "dump-states",
            Command::Flush => "flush",
            Command::ExpireAll => "expire-all",
            Command::Shutdown => "shutdown",
            Command::Help => "help",
        }
    }
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

/// Parses one request line as read from the socket (its newline, if any,
/// included). Pure: ASCII whitespace around the word is ignored; a line
/// longer than [`MAX_REQUEST`] bytes, or anything but a command word
/// (`stats` is an alias of `statistics`), is an error whose text is short
/// and printable whatever the input.
pub fn parse_request(line: &[u8]) -> Result<Command, String> {
    if line.len() > MAX_REQUEST {
        return Err(format!(
            "request longer than {MAX_REQUEST} bytes (try 'help')"
        ));
    }
    let word = line.trim_ascii();
    if word == b"stats" {
        return Ok(Command::Statistics);
    }
    match Command::ALL.iter().find(|c| c.name().as_bytes() == word) {
        Some(&c) => Ok(c),
        None => {
            let shown = &word[..word.len().min(MAX_ECHO)];
            Err(format!(
                "unknown command '{}' (try 'help')",
                shown.escape_ascii()
            ))
        }
    }
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
        // One byte more than allowed, so an overlong line is seen as such.
        let mut line = Vec::new();
        let read = BufReader::new(stream.try_clone().ok()?)
            .take(MAX_REQUEST as u64 + 1)
            .read_until(b'\n', &mut line);
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
        assert_eq!(parse_request(b"statistics\n"), Ok(Command::Statistics));
        assert_eq!(parse_request(b"stats\r\n"), Ok(Command::Statistics));
        assert_eq!(parse_request(b"  shutdown "), Ok(Command::Shutdown));
        assert_eq!(parse_request(b"expire-all"), Ok(Command::ExpireAll));
        assert_eq!(parse_request(b"dump-states\n"), Ok(Command::DumpStates));
        assert_eq!(parse_request(b"help"), Ok(Command::Help));
        assert_eq!(parse_request(b"\tflush\n"), Ok(Command::Flush));
        let e = parse_request(&[b'x'; 200]).unwrap_err();
        assert!(e.len() < 100, "{e}");
        assert!(e.contains(&"x".repeat(40)) && !e.contains(&"x".repeat(41)));
        assert_eq!(
            parse_request(b""),
            Err("unknown command '' (try 'help')".into())
        );
        // case matters, and a second word is not ignored
        assert!(parse_request(b"FLUSH").is_err());
        assert!(parse_request(b"flush now").is_err());
        assert!(parse_request(b"flush\nshutdown\n").is_err());
    }

    #[test]
    fn every_command_round_trips_through_its_name() {
        assert_eq!(Command::ALL.len(), COMMANDS.len());
        for (c, (word, _)) in Command::ALL.iter().zip(COMMANDS) {
            assert_eq!(c.name(), *word);
            assert_eq!(parse_request(word.as_bytes()), Ok(*c));
        }
    }

    #[test]
    fn long_lines_are_refused_whole_not_cut_and_obeyed() {
        // 'flush' padded to exactly the limit is still a request ...
        let mut at_limit = b"flush".to_vec();
        at_limit.resize(MAX_REQUEST - 1, b' ');
        at_limit.push(b'\n');
        assert_eq!(parse_request(&at_limit), Ok(Command::Flush));
        // ... one byte more is refused, though cutting it would obey it.
        let mut over = at_limit.clone();
        over.insert(5, b' ');
        assert_eq!(over.len(), MAX_REQUEST + 1);
        let e = parse_request(&over).unwrap_err();
        assert!(e.contains("longer than 256 bytes"), "{e}");
    }

    #[test]
    fn binary_requests_are_echoed_printably() {
        let e = parse_request(b"\xff\x00\x1b[2Jboom\n").unwrap_err();
        assert_eq!(e, "unknown command '\\xff\\x00\\x1b[2Jboom' (try 'help')");
        assert!(e.bytes().all(|b| (0x20..0x7f).contains(&b)), "{e}");
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
