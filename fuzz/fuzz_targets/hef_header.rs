// SPDX-License-Identifier: MIT OR Apache-2.0
//! HEF header parser on arbitrary bytes: it must return Ok or Err, never panic or over-read.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = hmg_detect::hef::parse(data) {
        assert!(h.declared_size <= data.len() as u64);
        assert!(h.header_size + h.proto_size <= h.declared_size);
    }
});
