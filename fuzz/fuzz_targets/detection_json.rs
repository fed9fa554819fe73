// SPDX-License-Identifier: MIT OR Apache-2.0
//! The detection record every hmg output writes (detlog lines, `hmg batch`): for any values, the
//! JSON is valid and reads back to the detection within its rounding.
#![no_main]

use hmg_detect::Detection;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u32, String, f32, [f32; 4])| {
    let (class_id, label, confidence, [x1, y1, x2, y2]) = input;
    let d = Detection {
        class_id,
        label: label.into(),
        confidence,
        x1,
        y1,
        x2,
        y2,
    };
    let text = d.to_json().to_string();
    let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(v["class_id"].as_u64(), Some(u64::from(class_id)));
    assert_eq!(v["label"].as_str(), Some(d.label.as_str()));
    let close = |json: &serde_json::Value, x: f32, step: f64| match json.as_f64() {
        Some(j) => x.is_finite() && (j - x as f64).abs() <= step / 2.0 + 1e-9 * (x as f64).abs(),
        // serde_json writes NaN and infinities as null.
        None => !x.is_finite() && json.is_null(),
    };
    assert!(close(&v["confidence"], confidence, 1e-6), "{text}");
    for (i, x) in [x1, y1, x2, y2].into_iter().enumerate() {
        assert!(close(&v["box"][i], x, 1e-3), "{text}");
    }
});
