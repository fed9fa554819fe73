// SPDX-License-Identifier: MIT OR Apache-2.0
//! The letterbox against ultralytics' own `LetterBox` (cv2), bit for bit: SHA-256 of the output
//! for every case `scripts/make-letterbox-fixtures` recorded, through every packed pixel format.
//! YUV frames must give exactly what converting the whole frame to RGB first and then
//! letterboxing gives (the fast path converts only the pixels the resize samples).

mod common;

use common::{json, read_png, testdata};
use hmg_detect::{FrameRef, Letterboxer, PixelFormat, YuvMatrix, yuv};
use sha2::{Digest, Sha256};
use std::path::PathBuf;

fn fixture() -> serde_json::Value {
    json(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/letterbox/ultralytics-letterbox.json"),
    )
}

/// The generator's noise: byte i = ((i * 2654435761) mod 2^32) >> 24.
fn noise(w: usize, h: usize) -> Vec<u8> {
    (0..w * h * 3)
        .map(|i| (((i as u64 * 2654435761) % (1 << 32)) >> 24) as u8)
        .collect()
}

fn source(name: &str) -> (Vec<u8>, usize, usize) {
    if let Some(size) = name.strip_prefix("noise ") {
        let (w, h) = size.split_once('x').unwrap();
        let (w, h) = (w.parse().unwrap(), h.parse().unwrap());
        (noise(w, h), w, h)
    } else {
        let file = name.strip_prefix("image ").unwrap();
        read_png(&testdata().join("images").join(file))
    }
}

fn repack(rgb: &[u8], format: PixelFormat) -> Vec<u8> {
    let (bpp, off) = format.packed_layout().unwrap();
    let mut out = vec![0xEEu8; rgb.len() / 3 * bpp];
    for (d, s) in out.chunks_exact_mut(bpp).zip(rgb.chunks_exact(3)) {
        for c in 0..3 {
            d[off[c]] = s[c];
        }
    }
    out
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn every_case_is_bit_exact_with_ultralytics_in_every_packed_format() {
    let doc = fixture();
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 40);
    let formats: Vec<PixelFormat> = PixelFormat::ALL
        .into_iter()
        .filter(|f| f.packed_layout().is_some_and(|(bpp, _)| bpp > 1))
        .collect();
    let mut letterboxer = Letterboxer::new();
    let mut failures = Vec::new();
    for case in cases {
        let name = case["source"].as_str().unwrap();
        let (tw, th) = (
            case["width"].as_u64().unwrap() as usize,
            case["height"].as_u64().unwrap() as usize,
        );
        let want = case["sha256"].as_str().unwrap();
        let (rgb, w, h) = source(name);
        for &format in &formats {
            let data = repack(&rgb, format);
            let frame = FrameRef::packed(format, w, h, &data).unwrap();
            let got = sha256(letterboxer.run(&frame, tw, th).0);
            if got != want {
                failures.push(format!("{name} -> {tw}x{th} as {format:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "not bit-exact: {failures:#?}");
}

/// A YUV 4:2:0 frame from the noise, with odd sizes and padded strides.
fn yuv_planes(w: usize, h: usize, stride_pad: usize) -> (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>) {
    let n = noise(w + stride_pad, h + 1);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let cs = cw + stride_pad;
    let y = n[..(w + stride_pad) * h].to_vec();
    let u = n[1..1 + cs * ch].to_vec();
    let v = n[7..7 + cs * ch].to_vec();
    let uv: Vec<u8> = (0..ch)
        .flat_map(|r| {
            let (u, v) = (&u, &v);
            (0..cs).flat_map(move |c| [u[r * cs + c], v[r * cs + c]])
        })
        .collect();
    (y, u, v, uv)
}

#[test]
fn yuv_frames_equal_converting_first_then_letterboxing() {
    let mut fast = Letterboxer::new();
    let mut reference = Letterboxer::new();
    for (w, h) in [
        (1920, 1080),
        (1280, 720),
        (999, 577),
        (203, 301),
        (320, 240),
        (640, 480),
    ] {
        let pad = 6;
        let (y, u, v, uv) = yuv_planes(w, h, pad);
        let cs = w.div_ceil(2) + pad;
        for matrix in [YuvMatrix::Bt601Limited, YuvMatrix::Bt709Full] {
            let frames = [
                FrameRef::new(
                    PixelFormat::Nv12,
                    w,
                    h,
                    [&y, &uv, &[]],
                    [w + pad, cs * 2, 0],
                ),
                FrameRef::new(PixelFormat::I420, w, h, [&y, &u, &v], [w + pad, cs, cs]),
            ];
            for frame in frames {
                let frame = frame.unwrap().with_yuv_matrix(matrix);
                let mut rgb = vec![0u8; w * h * 3];
                for (row, out) in rgb.chunks_exact_mut(w * 3).enumerate() {
                    yuv::row_to_rgb(&frame, row, out);
                }
                let converted = FrameRef::packed(PixelFormat::Rgb, w, h, &rgb).unwrap();
                for (tw, th) in [(640, 640), (320, 320)] {
                    let want = reference.run(&converted, tw, th).0.to_vec();
                    let got = fast.run(&frame, tw, th).0;
                    assert!(
                        got == want.as_slice(),
                        "{:?} {matrix:?} {w}x{h} -> {tw}x{th}",
                        frame.format
                    );
                }
            }
        }
    }
}
