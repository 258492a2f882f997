pub mod harness;

mod cli_errors;
mod dialects;
mod pfsync_to_nfcapd;
