pub mod harness;

mod cli_errors;
mod netns;
mod pfsync_to_nfcapd;
