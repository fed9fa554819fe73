// SPDX-License-Identifier: MIT OR Apache-2.0
//! What a model file says about itself (its input shape, the `imgsz` and `names` metadata
//! ultralytics writes): any values give a bounded input size and batch or an error, never a
//! panic or an allocation sized by the file.
#![no_main]

use hmg_detect::engine::onnx::input_size;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (Vec<i64>, &str, &str)| {
    let (shape, imgsz, names) = input;
    if let Ok((h, w, batch)) = input_size(&shape, Some(imgsz)) {
        assert!(
            (1..=8192).contains(&h) && (1..=8192).contains(&w),
            "{h}x{w}"
        );
        // A fixed batch's images together are no larger than one image of the largest side.
        assert!(batch.is_none_or(|b| (1..=64).contains(&b) && b * h * w <= 8192 * 8192));
    }
    if let Ok(names) = hmg_detect::labels::parse_python_names(names) {
        assert!(names.len() <= names.iter().map(String::len).sum::<usize>() + 100_000);
    }
});
