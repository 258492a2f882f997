pub mod harness;

mod capture;
mod cli_errors;
mod dialects;
mod docs;
mod export;
mod faults;
mod hostile;
mod longrun;
mod netns;
mod pfsync_to_nfcapd;
mod restart;
mod sanitizers;
mod selection;
