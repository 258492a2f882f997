#![no_main]
//! See `stateflowd_fuzz::pcap_file` for the property this target asserts.
libfuzzer_sys::fuzz_target!(|data: &[u8]| stateflowd_fuzz::pcap_file(data));
