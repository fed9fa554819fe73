// SPDX-License-Identifier: MIT OR Apache-2.0
//! YOLO label lines and data.yaml on arbitrary text: Ok or Err, never a panic; a parsed box
//! written back (6 decimals) parses to the same box.
#![no_main]

use std::path::Path;

use hmg_launcher::dataset::data_yaml::DataYaml;
use hmg_launcher::dataset::labels::{format, parse_line};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = DataYaml::parse(Path::new("/datasets/data.yaml"), text);
    for line in text.lines() {
        if let Ok(b) = parse_line(line)
            && [b.cx, b.cy, b.w, b.h].iter().all(|v| v.abs() < 1e12)
        {
            let again = parse_line(format(&[b]).trim_end()).expect("our own line parses");
            assert_eq!(again.class, b.class);
            for (x, y) in [
                (again.cx, b.cx),
                (again.cy, b.cy),
                (again.w, b.w),
                (again.h, b.h),
            ] {
                assert!((x - y).abs() <= 5e-7 * (1.0 + y.abs()), "{x} vs {y}");
            }
        }
    }
});
