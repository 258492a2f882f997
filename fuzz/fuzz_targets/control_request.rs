#![no_main]
//! See `stateflowd_fuzz::control_request` for the property this target asserts.
libfuzzer_sys::fuzz_target!(|data: &[u8]| stateflowd_fuzz::control_request(data));
