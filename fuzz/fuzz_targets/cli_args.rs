#![no_main]
//! See `stateflowd_fuzz::cli_args` for the property this target asserts.
libfuzzer_sys::fuzz_target!(|data: &[u8]| stateflowd_fuzz::cli_args(data));
