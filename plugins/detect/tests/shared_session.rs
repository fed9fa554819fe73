// SPDX-License-Identifier: MIT OR Apache-2.0
//! Streams of one process that run the same ONNX model in one session group share one onnxruntime
//! session (one copy of the weights): the same file with the same threads is loaded once, and
//! every engine still gets its own frames' outputs, equal to a session of its own. Without a
//! group, every engine has its own. With a dynamic batch axis, the frames of streams running
//! together go through the shared session in one run.

mod common;

use common::{read_png, testdata};
use hmg_detect::engine::onnx::OnnxEngine;
use hmg_detect::{Engine, EngineOptions, FrameRef, Letterboxer, PixelFormat};

#[test]
fn engines_of_one_model_share_a_session_and_keep_their_own_frames() {
    let model = testdata().join("models/yolov12n.onnx");
    let options = EngineOptions {
        session_group: Some("cams".into()),
        ..Default::default()
    };
    let Ok(mut first) = OnnxEngine::open(&model, &options) else {
        panic!("onnxruntime is needed for this test: run scripts/setup");
    };
    let mut second = OnnxEngine::open(&model, &options).unwrap();
    assert!(first.shares_session_with(&second));
    // Other threads make another session (its own thread pool), and so does no group.
    let single = EngineOptions {
        threads: 1,
        ..options.clone()
    };
    let mut alone = OnnxEngine::open(&model, &single).unwrap();
    assert!(!alone.shares_session_with(&first));
    let ungrouped = OnnxEngine::open(&model, &EngineOptions::default()).unwrap();
    let ungrouped_too = OnnxEngine::open(&model, &EngineOptions::default()).unwrap();
    assert!(!ungrouped.shares_session_with(&first));
    assert!(!ungrouped.shares_session_with(&ungrouped_too));
    assert_eq!(first.info(), second.info());

    let inputs = letterboxed(&["astronaut.png", "coffee.png"], first.info().input_width);
    // Interleaved: each engine gets back its own frame's outputs, as from a session of its own.
    first.submit(&inputs[0]).unwrap();
    second.submit(&inputs[1]).unwrap();
    let (a, b) = (first.collect().unwrap(), second.collect().unwrap());
    let (a_alone, b_alone) = (
        alone.infer(&inputs[0]).unwrap(),
        alone.infer(&inputs[1]).unwrap(),
    );
    let differs = |x: &[hmg_detect::Tensor], y: &[hmg_detect::Tensor]| {
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        let (x, y) = (x[0].view(), y[0].view());
        let (x, y) = (x.to_f32(&mut xs), y.to_f32(&mut ys));
        x.iter()
            .zip(y)
            .map(|(p, q)| (p - q).abs())
            .fold(0f32, f32::max)
    };
    assert!(differs(&a, &a_alone) < 1e-3, "{}", differs(&a, &a_alone));
    assert!(differs(&b, &b_alone) < 1e-3, "{}", differs(&b, &b_alone));
    // The two pictures do give different outputs, so a mix-up would show.
    assert!(differs(&a, &b) > 0.1);
}

#[test]
fn streams_sharing_a_dynamic_batch_model_run_their_frames_together() {
    // A real model exported with a dynamic batch axis (ultralytics' dynamic=True).
    let model = testdata().join("models/nudenet_320n.onnx");
    let options = EngineOptions {
        session_group: Some("batched".into()),
        threads: 2,
        ..Default::default()
    };
    let Ok(lone) = OnnxEngine::open(&model, &EngineOptions::default()) else {
        panic!("onnxruntime is needed for this test: run scripts/setup");
    };
    let pictures = letterboxed(
        &["astronaut.png", "coffee.png", "camera.png"],
        lone.info().input_width,
    );
    let mut lone = lone;
    let expected: Vec<Vec<f32>> = pictures
        .iter()
        .map(|p| first_output(&lone.infer(p).unwrap()))
        .collect();

    let engines: Vec<OnnxEngine> = (0..3)
        .map(|_| OnnxEngine::open(&model, &options).unwrap())
        .collect();
    assert!(engines[0].shares_session_with(&engines[2]));
    let (runs_before, frames_before) = engines[0].session_runs();
    let frames_each = 6;
    std::thread::scope(|scope| {
        let handles: Vec<_> = engines
            .into_iter()
            .enumerate()
            .map(|(stream, mut engine)| {
                let (pictures, expected) = (&pictures, &expected);
                scope.spawn(move || {
                    for frame in 0..frames_each {
                        // Each stream its own picture sequence, so a mix-up would show.
                        let k = (stream + frame) % pictures.len();
                        engine.submit(&pictures[k]).unwrap();
                        let got = first_output(&engine.collect().unwrap());
                        let worst = got
                            .iter()
                            .zip(&expected[k])
                            .map(|(a, b)| (a - b).abs())
                            .fold(0f32, f32::max);
                        assert!(
                            worst < 1e-3,
                            "stream {stream} frame {frame}: off by {worst}"
                        );
                    }
                    engine
                })
            })
            .collect();
        let engines: Vec<OnnxEngine> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let (runs, frames) = engines[0].session_runs();
        let (runs, frames) = (runs - runs_before, frames - frames_before);
        assert_eq!(frames, 3 * frames_each as u64, "every frame ran once");
        assert!(
            runs < frames,
            "{runs} runs for {frames} frames: the streams' frames were never batched"
        );
        println!("{frames} frames of 3 streams in {runs} runs");
    });
}

/// The first output of a frame, as floats.
fn first_output(outputs: &[hmg_detect::Tensor]) -> Vec<f32> {
    let mut scratch = Vec::new();
    outputs[0].view().to_f32(&mut scratch).to_vec()
}

/// The test pictures letterboxed to a square model input of `size`.
fn letterboxed(names: &[&str], size: usize) -> Vec<Vec<u8>> {
    let mut letterboxer = Letterboxer::new();
    names
        .iter()
        .map(|name| {
            let (rgb, w, h) = read_png(&testdata().join("images").join(name));
            let frame = FrameRef::packed(PixelFormat::Rgb, w, h, &rgb).unwrap();
            letterboxer.run(&frame, size, size).0.to_vec()
        })
        .collect()
}
