// SPDX-License-Identifier: MIT OR Apache-2.0
//! `.npy` / `.npz` reading (what `hmg nms` loads) on arbitrary bytes: Ok or Err, never a panic,
//! and every tensor's values match its shape.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(tensors) = hmg_launcher::nms::tensors_from_bytes(data, "raw") {
        for t in tensors {
            assert_eq!(t.shape_len(), t.data.len());
        }
    }
});
