//! `stateflowctl`: talk to a running stateflowd over its control socket.
//!
//! ```text
//! stateflowctl [-c SOCKET] statistics|dump-states|flush|expire-all|shutdown|help
//! ```

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str =
    "usage: stateflowctl [-c SOCKET] statistics|dump-states|flush|expire-all|shutdown|help";

fn usage() -> ExitCode {
    eprintln!("{USAGE}");
    ExitCode::from(64)
}

fn main() -> ExitCode {
    let mut sock = String::from(stateflowd::cli::DEFAULT_CONTROL);
    let mut cmd = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "-c" | "--control" => match args.next() {
                Some(s) => sock = s,
                None => return usage(),
            },
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ if a.starts_with('-') => return usage(),
            _ if cmd.is_none() => cmd = Some(a),
            _ => return usage(),
        }
    }
    let Some(cmd) = cmd else { return usage() };
    if let Err(e) = stateflowd::daemon::control::parse_request(cmd.as_bytes()) {
        eprintln!("stateflowctl: {e}");
        return ExitCode::from(64);
    }
    let mut s = match UnixStream::connect(&sock) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("stateflowctl: {sock}: {e} (is stateflowd running?)");
            return ExitCode::from(1);
        }
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    if let Err(e) = s.write_all(format!("{cmd}\n").as_bytes()) {
        eprintln!("stateflowctl: {e}");
        return ExitCode::from(1);
    }
    let mut answer = String::new();
    if let Err(e) = s.read_to_string(&mut answer) {
        eprintln!("stateflowctl: {e}");
        return ExitCode::from(1);
    }
    print!("{answer}");
    if answer.starts_with("error:") {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
