//! The `stateflowd` binary: parse the command line, run the chosen mode,
//! map the result to an exit status (64 for usage errors, 1 for failures,
//! 2 for a run that finished but lost something).

use stateflowd::cli;
use std::process::ExitCode;

fn main() -> ExitCode {
    let matches = match cli::command().try_get_matches() {
        Ok(m) => m,
        Err(e) => {
            let code = if e.use_stderr() { 64 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let cfg = match cli::config_from(&matches) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("stateflowd: {e}");
            return ExitCode::from(64);
        }
    };
    if stateflowd::capture::run::wants_capture(&cfg) {
        return match stateflowd::capture::run::run(cfg) {
            Ok(code) => code,
            Err(e) => {
                stateflowd::log::log(stateflowd::log::Level::Error, &e);
                ExitCode::from(1)
            }
        };
    }
    match stateflowd::daemon::run::run(cfg) {
        Ok(code) => code,
        Err(e) => {
            stateflowd::log::log(stateflowd::log::Level::Error, &e);
            ExitCode::from(1)
        }
    }
}
