pub mod harness;

mod cli_errors;
mod docs;
mod faults;
mod hostile;
mod netns;
mod pfsync_to_nfcapd;
mod sanitizers;
