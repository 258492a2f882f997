pub mod harness;

mod cli_errors;
mod docs;
mod netns;
mod pfsync_to_nfcapd;
