// SPDX-License-Identifier: MIT OR Apache-2.0
//! The `HmgTensors` custom meta as any upstream element could attach it — any field values,
//! negative or huge sizes, unknown dtypes, data of the wrong length — read back and decoded the
//! way yolonms does: Ok or Err, never a panic.
#![no_main]

use std::sync::Once;

use gst::glib;
use hmg_detect::{PostprocessOptions, Postprocessor};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct FuzzTensor {
    name: String,
    shape: Vec<i32>,
    dtype: u8,
    zero_point: f64,
    scale: f64,
    data: Vec<u8>,
}

#[derive(Arbitrary, Debug)]
struct FuzzMeta {
    layout: u8,
    letterbox: [i32; 8],
    gain: f64,
    tensors: Vec<FuzzTensor>,
}

fuzz_target!(|input: FuzzMeta| {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().unwrap();
        gsthmg::plugin_register_static().unwrap();
    });
    let layouts = [
        "ultralytics-raw",
        "ultralytics-nms",
        "hailo-raw",
        "hailo-nms",
        "auto",
        "",
    ];
    let dtypes = ["float32", "uint8", "int8", ""];
    let mut buffer = gst::Buffer::new();
    {
        let buffer = buffer.get_mut().unwrap();
        let mut meta = gst::meta::CustomMeta::add(buffer, "HmgTensors").unwrap();
        let s = meta.mut_structure();
        s.set("model", "fuzz.onnx");
        s.set("layout", layouts[input.layout as usize % layouts.len()]);
        s.set("labels", "a\nb");
        let names = [
            "model-width",
            "model-height",
            "frame-width",
            "frame-height",
            "resized-width",
            "resized-height",
            "pad-left",
            "pad-top",
        ];
        for (name, v) in names.iter().zip(input.letterbox) {
            s.set(*name, v);
        }
        s.set("scale", input.gain);
        let tensors = input.tensors.iter().take(8).map(|t| {
            // C strings: a GStreamer field cannot hold an interior NUL.
            let name = t.name.replace('\0', "");
            gst::Structure::builder("tensor")
                .field("name", name.as_str())
                .field("shape", gst::Array::new(t.shape.iter().take(6).copied()))
                .field("dtype", dtypes[t.dtype as usize % dtypes.len()])
                .field("zero-point", t.zero_point)
                .field("scale", t.scale)
                .field("data", glib::Bytes::from(&t.data[..]))
                .build()
        });
        s.set("tensors", gst::Array::new(tensors));
    }
    let Some(Ok(meta)) = gsthmg::meta::read(&buffer) else {
        return;
    };
    let Ok(layout) = meta.layout() else {
        return;
    };
    let mut scratch = Vec::new();
    let Ok(views) = meta.views(&mut scratch) else {
        return;
    };
    let mut out = Vec::new();
    let _ = Postprocessor::new().run(
        layout,
        &views,
        &meta.letterbox,
        &[],
        &PostprocessOptions::default(),
        &mut out,
    );
});
