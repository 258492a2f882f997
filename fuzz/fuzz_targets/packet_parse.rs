//! Capture-mode packet parser: any link type, any bytes — never panics,
//! and a parsed packet is self-consistent (`packet::check_property`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // First two bytes choose the link type among those capture mode reads
    // (and one it does not), the rest is the frame.
    const LINKS: [u32; 12] = [0, 1, 12, 14, 101, 108, 113, 117, 228, 229, 276, 147];
    let (sel, frame) = match data.split_first() {
        Some((s, f)) => (*s as usize, f),
        None => (0, data),
    };
    stateflowd::packet::check_property(LINKS[sel % LINKS.len()], frame);
});
