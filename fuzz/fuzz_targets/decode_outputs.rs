// SPDX-License-Identifier: MIT OR Apache-2.0
//! Layout detection, decode and NMS on model outputs of arbitrary shapes and values, as any
//! upstream element could attach them (HmgTensors meta): Ok or Err, never a panic, and every
//! detection finite and above the threshold.
#![no_main]

use hmg_detect::{
    Layout, Letterbox, PostprocessOptions, Postprocessor, Tensor, TensorData, TensorRef,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // data = [n_tensors, (rank, dims…)…, u8 flag, values…]
    let mut it = data.iter().copied();
    let n = (it.next().unwrap_or(1) % 7).max(1) as usize;
    let mut shapes = Vec::new();
    for _ in 0..n {
        let rank = (it.next().unwrap_or(3) % 5) as usize;
        let shape: Vec<usize> = (0..rank)
            .map(|_| it.next().unwrap_or(1) as usize % 90)
            .collect();
        shapes.push(shape);
    }
    let quantized = it.next().unwrap_or(0) % 2 == 1;
    let rest: Vec<u8> = it.collect();
    let tensors: Vec<Tensor> = shapes
        .iter()
        .enumerate()
        .map(|(i, shape)| {
            let len: usize = shape.iter().product::<usize>().min(1 << 14);
            let bytes: Vec<u8> = (0..len)
                .map(|k| rest.get(k + i).copied().unwrap_or(0))
                .collect();
            let data = if quantized {
                TensorData::U8(bytes)
            } else {
                // Values may also be shorter than the shape says.
                TensorData::F32(
                    bytes
                        .iter()
                        .take(rest.len())
                        .map(|&b| b as f32 / 64.0 - 1.0)
                        .collect(),
                )
            };
            Tensor {
                name: format!("out{i}_nms"),
                shape: shape.clone(),
                data,
                zero_point: 3.0,
                scale: 0.05,
            }
        })
        .collect();
    let names: Vec<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
    let Ok(layout) = Layout::detect_named(&names, &shapes) else {
        return;
    };
    let views: Vec<TensorRef<'_>> = tensors.iter().map(Tensor::view).collect();
    let lb = Letterbox::new(640, 360, 320, 320);
    let opts = PostprocessOptions::default();
    let mut out = Vec::new();
    if Postprocessor::new()
        .run(layout, &views, &lb, &[], &opts, &mut out)
        .is_ok()
    {
        for d in &out {
            assert!(d.confidence > opts.conf && d.confidence.is_finite());
            assert!(
                [d.x1, d.y1, d.x2, d.y2].iter().all(|v| v.is_finite()),
                "{d:?}"
            );
        }
    }
});
