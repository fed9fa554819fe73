// SPDX-License-Identifier: MIT OR Apache-2.0
//! Pictures with arbitrary bytes (headers claiming any size, damaged data, any format the image
//! crate knows): decoded within hmg's size limits or refused, never a panic or an abort.
#![no_main]

use std::io::Cursor;

use hmg_launcher::images::{MAX_PIXELS, MAX_SIDE, decode_rgb};
use image::ImageReader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(picture) = decode_rgb(ImageReader::new(Cursor::new(bytes))) {
        let (w, h) = picture.dimensions();
        assert!(w <= MAX_SIDE && h <= MAX_SIDE, "{w}x{h}");
        assert!(u64::from(w) * u64::from(h) <= MAX_PIXELS, "{w}x{h}");
    }
});
