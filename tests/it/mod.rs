pub mod harness;

mod capture;
mod cli_errors;
mod pfsync_to_nfcapd;
