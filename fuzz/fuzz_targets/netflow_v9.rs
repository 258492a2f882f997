//! Fuzzes the NetFlow v9 decoder and the v9 encode → decode round trip:
//! see `stateflowd::netflow::decode::fuzz_one` for the property. Seeds in
//! fuzz/corpus/netflow_*/ are datagrams our own encoder wrote.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stateflowd::export::Format;
use stateflowd::netflow::decode;

fuzz_target!(|data: &[u8]| {
    assert!(decode::fuzz_one(Format::V9, data));
});
