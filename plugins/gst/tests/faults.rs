// SPDX-License-Identifier: MIT OR Apache-2.0
//! Faults injected into running graphs: each ends in a clear error message or is survived —
//! never a panic, a hang or a half-written file.

mod common;

use common::*;
use gst::prelude::*;
use hmg_detect::{Letterbox, Tensor};

fn nudenet() -> String {
    model("nudenet_320n.onnx")
}

#[test]
fn detlog_on_a_full_disk_posts_an_error() {
    let err = expect_error(&format!(
        "videotestsrc num-buffers=5 ! video/x-raw,width=160,height=120 ! hailoinfer model={} ! yolonms ! detlog location=/dev/full ! fakesink",
        nudenet()
    ));
    assert!(
        err.contains("/dev/full") || err.contains("No space left"),
        "{err}"
    );
}

#[test]
fn resolution_changes_mid_stream_are_followed() {
    init();
    // Two sizes in one stream: concat of two test sources with different caps.
    let pipeline = launch(&format!(
        "concat name=c ! videoconvert ! hailoinfer model={} ! yolonms ! appsink name=sink \
         videotestsrc num-buffers=3 ! video/x-raw,width=320,height=240,framerate=30/1 ! c. \
         videotestsrc num-buffers=3 ! video/x-raw,width=200,height=400,framerate=30/1 ! c.",
        nudenet()
    ));
    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut sizes = Vec::new();
    while let Ok(sample) = sink.pull_sample() {
        let s = sample.caps().unwrap().structure(0).unwrap().to_owned();
        sizes.push((
            s.get::<i32>("width").unwrap(),
            s.get::<i32>("height").unwrap(),
        ));
        let meta = gsthmg::meta::read(sample.buffer().unwrap())
            .unwrap()
            .unwrap();
        // The letterbox of each frame is the letterbox of its own size.
        assert_eq!(
            (
                meta.letterbox.src_width as i32,
                meta.letterbox.src_height as i32
            ),
            *sizes.last().unwrap()
        );
    }
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(
        sizes,
        [
            (320, 240),
            (320, 240),
            (320, 240),
            (200, 400),
            (200, 400),
            (200, 400)
        ]
    );
}

#[test]
fn playing_null_playing_a_hundred_times() {
    init();
    let pipeline = launch(&format!(
        "videotestsrc is-live=true ! video/x-raw,width=64,height=48 ! hailoinfer model={} ! yolonms ! detlog location=/dev/null ! fakesink",
        nudenet()
    ));
    let bus = pipeline.bus().unwrap();
    for round in 0..100 {
        pipeline.set_state(gst::State::Playing).unwrap();
        let (res, state, _) = pipeline.state(gst::ClockTime::from_seconds(20));
        assert!(
            res.is_ok() && state == gst::State::Playing,
            "round {round}: {res:?} {state:?}"
        );
        pipeline.set_state(gst::State::Null).unwrap();
        if let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
            panic!("round {round}: {msg:?}");
        }
    }
}

/// A graph where a probe attaches `tensors` before yolonms: (frames that reached the sink,
/// warnings posted).
fn run_with_tensors(tensors: Vec<Tensor>, layout: &str) -> (usize, Vec<String>) {
    init();
    let pipeline = launch(
        "videotestsrc num-buffers=3 ! video/x-raw,format=RGB,width=64,height=48 ! identity name=inject ! yolonms ! fakesink name=sink",
    );
    let pad = pipeline
        .by_name("inject")
        .unwrap()
        .static_pad("src")
        .unwrap();
    let layout = layout.to_string();
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(gst::PadProbeData::Buffer(buffer)) = &mut info.data {
            let lb = Letterbox::new(64, 48, 64, 64);
            let _ = gsthmg::meta::attach_raw(
                buffer.make_mut(),
                "injected.onnx",
                &layout,
                "",
                &lb,
                tensors.clone(),
            );
        }
        gst::PadProbeReturn::Ok
    });
    let frames = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = frames.clone();
    pipeline
        .by_name("sink")
        .unwrap()
        .static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            gst::PadProbeReturn::Ok
        });
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut warnings = Vec::new();
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(30)) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{}", e.error()),
            gst::MessageView::Warning(w) => {
                warnings.push(format!("{} {}", w.error(), w.debug().unwrap_or_default()))
            }
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    (frames.load(std::sync::atomic::Ordering::SeqCst), warnings)
}

#[test]
fn malformed_model_outputs_warn_once_and_the_video_flows_on() {
    let cases = [
        // A shape no YOLO layout has.
        (
            vec![Tensor::f32("output0", vec![1, 3], vec![0.0; 3])],
            "auto",
        ),
        // A layout name that does not fit the shapes.
        (
            vec![Tensor::f32("output0", vec![1, 84, 100], vec![0.0; 8400])],
            "hailo-nms",
        ),
        // Fewer values than the shape says.
        (
            vec![Tensor::f32("output0", vec![1, 84, 8400], vec![0.5; 10])],
            "ultralytics-raw",
        ),
        // Heads whose element count overflows (found by the tensors_meta fuzz target: the shape
        // product overflowed before the size check).
        (
            vec![
                Tensor::f32(
                    "boxes",
                    vec![i32::MAX as usize, i32::MAX as usize, 64],
                    vec![0.0; 4],
                ),
                Tensor::f32(
                    "classes",
                    vec![i32::MAX as usize, i32::MAX as usize, 2],
                    vec![0.0; 4],
                ),
            ],
            "hailo-raw",
        ),
        // Hailo heads that do not pair up.
        (
            vec![
                Tensor::f32("a", vec![20, 20, 64], vec![0.0; 25600]),
                Tensor::f32("b", vec![10, 10, 3], vec![0.0; 300]),
            ],
            "hailo-raw",
        ),
    ];
    for (tensors, layout) in cases {
        let shapes: Vec<_> = tensors.iter().map(|t| t.shape.clone()).collect();
        let (frames, warnings) = run_with_tensors(tensors, layout);
        assert_eq!(frames, 3, "{layout} {shapes:?}: every frame still flows");
        assert_eq!(
            warnings.len(),
            1,
            "{layout} {shapes:?}: one warning, not one per frame: {warnings:?}"
        );
        assert!(
            warnings[0].contains("Cannot decode the model output"),
            "{warnings:?}"
        );
    }
}

#[test]
fn frames_without_model_outputs_pass_through() {
    init();
    let frames = run_collect(
        "videotestsrc num-buffers=4 ! video/x-raw,format=RGB,width=64,height=48 ! yolonms ! appsink name=sink",
    )
    .unwrap();
    assert_eq!(frames.len(), 4);
    assert!(frames.iter().all(|(_, dets)| dets.is_empty()));
}
