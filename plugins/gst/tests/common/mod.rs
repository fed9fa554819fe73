// SPDX-License-Identifier: MIT OR Apache-2.0
//! Shared helpers of the element tests: plugin registration, test data, graph runners.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex, Once};

use gst::prelude::*;
use hmg_detect::Detection;

pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().unwrap();
        gsthmg::plugin_register_static().expect("hmg plugin registers");
    });
}

pub fn testdata() -> PathBuf {
    std::env::var_os("HMG_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata")
        })
}

pub fn reference(name: &str) -> serde_json::Value {
    let text =
        std::fs::read_to_string(testdata().join("reference").join(name)).expect("reference json");
    serde_json::from_str(&text).expect("reference parses")
}

pub fn model(name: &str) -> String {
    testdata().join("models").join(name).display().to_string()
}

pub fn image(name: &str) -> String {
    testdata().join("images").join(name).display().to_string()
}

/// Each buffer's pts and detections.
pub type FrameDetections = Vec<(Option<u64>, Vec<Detection>)>;

/// Runs a launch line ending in `appsink name=sink` and returns each buffer's pts and detections.
pub fn run_collect(description: &str) -> Result<FrameDetections, String> {
    init();
    let pipeline = gst::parse::launch(description)
        .map_err(|e| e.to_string())?
        .downcast::<gst::Pipeline>()
        .unwrap();
    let sink = pipeline
        .by_name("sink")
        .expect("appsink named sink")
        .downcast::<gst_app::AppSink>()
        .unwrap();
    sink.set_property("sync", false);
    let out = Arc::new(Mutex::new(Vec::new()));
    let out2 = out.clone();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| {
                let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let buf = sample.buffer().ok_or(gst::FlowError::Error)?;
                out2.lock().unwrap().push((
                    buf.pts().map(|p| p.nseconds()),
                    gsthmg::detections_from_buffer(buf),
                ));
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    let res = run_to_end(&pipeline);
    let _ = pipeline.set_state(gst::State::Null);
    res?;
    Ok(std::mem::take(&mut *out.lock().unwrap()))
}

/// Plays a pipeline to EOS; `Err` carries the first error message (with its debug text).
pub fn run_to_end(pipeline: &gst::Pipeline) -> Result<(), String> {
    let bus = pipeline.bus().unwrap();
    let _ = pipeline.set_state(gst::State::Playing);
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(300)) {
        match msg.view() {
            gst::MessageView::Eos(_) => return Ok(()),
            gst::MessageView::Error(e) => return Err(format!("{} ({:?})", e.error(), e.debug())),
            _ => {}
        }
    }
    Err("timed out".into())
}

/// The error a graph posts (it must post one).
pub fn expect_error(description: &str) -> String {
    init();
    let pipeline = gst::parse::launch(description)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let res = run_to_end(&pipeline);
    let _ = pipeline.set_state(gst::State::Null);
    res.expect_err("the graph must fail")
}

pub fn iou(a: [f64; 4], b: [f64; 4]) -> f64 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

pub fn boxed(d: &Detection) -> [f64; 4] {
    [d.x1 as f64, d.y1 as f64, d.x2 as f64, d.y2 as f64]
}

pub fn ref_box(v: &serde_json::Value) -> [f64; 4] {
    let b: Vec<f64> = v["box_xyxy"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    [b[0], b[1], b[2], b[3]]
}

/// The appsink named `name` of `pipeline`.
pub fn appsink(pipeline: &gst::Pipeline, name: &str) -> gst_app::AppSink {
    pipeline
        .by_name(name)
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
        .unwrap_or_else(|| panic!("no appsink named {name}"))
}

/// Plays a launch line ending in `appsink name=sink` and returns its first buffer.
pub fn run_collect_buffer(description: &str) -> gst::Buffer {
    let pipeline = launch(description);
    let sink = appsink(&pipeline, "sink");
    pipeline.set_state(gst::State::Playing).unwrap();
    let sample = sink.pull_sample().unwrap();
    pipeline.set_state(gst::State::Null).unwrap();
    sample.buffer_owned().unwrap()
}

/// A pipeline from a launch line (plugin registered).
pub fn launch(description: &str) -> gst::Pipeline {
    init();
    gst::parse::launch(description)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap()
}
