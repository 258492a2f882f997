pub mod harness;

mod cli_errors;
mod export;
mod pfsync_to_nfcapd;
