// SPDX-License-Identifier: MIT OR Apache-2.0
//! Class-name parsers (a model's `names` metadata, data.yaml `names:`) on arbitrary text:
//! Ok or Err, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = hmg_detect::labels::parse_python_names(text);
    let _ = hmg_detect::labels::parse_yaml_names(text);
});
