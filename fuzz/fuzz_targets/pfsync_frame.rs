#![no_main]
//! See `stateflowd_fuzz::pfsync_frame` for the property this target asserts.
libfuzzer_sys::fuzz_target!(|data: &[u8]| stateflowd_fuzz::pfsync_frame(data));
