#![no_main]
//! See `stateflowd_fuzz::state_file` for the property this target asserts.
libfuzzer_sys::fuzz_target!(|data: &[u8]| stateflowd_fuzz::state_file(data));
