pub mod harness;

mod cli_errors;
mod pfsync_to_nfcapd;
