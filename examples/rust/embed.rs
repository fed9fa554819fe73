// SPDX-License-Identifier: MIT OR Apache-2.0
//! hmg inside a gstreamer-rs application: the elements are created with `gst::ElementFactory`,
//! linked into the application's own pipeline, and each frame's detections and raw outputs are
//! read with the typed helpers of the `gsthmg` crate.
//!
//! `cargo run --release -p gst-hmg --example embed -- MODEL INPUT [FRAMES] [track]`
//! Prints one JSON line per frame: {"frame", "pts_ns", "detections": [...], "tensors": [...]}.
//! With `track` (dettrack in the pipeline) each detection also has "track": {"id", "age"}.

use gst::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, model, input, rest @ ..] = args.as_slice() else {
        eprintln!("usage: embed MODEL INPUT [FRAMES] [track]");
        std::process::exit(2);
    };
    let max_frames: u64 = rest.first().map(|f| f.parse()).transpose()?.unwrap_or(0);
    let track = rest.get(1).is_some_and(|t| t == "track");

    gst::init()?;
    // Linked into this program: no plugin installation needed.
    gsthmg::plugin_register_static()?;

    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make("filesrc")
        .property("location", input)
        .build()?;
    let decode = gst::ElementFactory::make("decodebin").build()?;
    let convert = gst::ElementFactory::make("videoconvert").build()?;
    let infer = gst::ElementFactory::make("hailoinfer")
        .property("model", model)
        .build()?;
    let nms = gst::ElementFactory::make("yolonms").build()?;
    if track {
        // Weak detections keep tracks alive, as in ultralytics' tracking (conf 0.1).
        nms.set_property("conf", 0.1f64);
    }
    let sink = gst::ElementFactory::make("fakesink")
        .property("sync", false)
        .build()?;
    pipeline.add_many([&src, &decode, &convert, &infer, &nms, &sink])?;
    src.link(&decode)?;
    if track {
        let tracker = gst::ElementFactory::make("dettrack").build()?;
        pipeline.add(&tracker)?;
        gst::Element::link_many([&convert, &infer, &nms, &tracker, &sink])?;
    } else {
        gst::Element::link_many([&convert, &infer, &nms, &sink])?;
    }
    let convert_weak = convert.downgrade();
    decode.connect_pad_added(move |_, pad| {
        if let Some(convert) = convert_weak.upgrade()
            && let Some(sink_pad) = convert.static_pad("sink")
            && !sink_pad.is_linked()
        {
            let _ = pad.link(&sink_pad);
        }
    });

    let frames = std::sync::atomic::AtomicU64::new(0);
    let pipeline_weak = pipeline.downgrade();
    sink.static_pad("sink")
        .expect("fakesink has a sink pad")
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            let Some(buffer) = info.buffer() else {
                return gst::PadProbeReturn::Ok;
            };
            // dettrack's track, when it ran: the same id for the same object from frame to frame.
            let tracks = gsthmg::roi::tracks_from_buffer(buffer);
            let detections: Vec<serde_json::Value> = gsthmg::detections_from_buffer(buffer)
                .iter()
                .zip(tracks.iter().map(Some).chain(std::iter::repeat(None)))
                .map(|(d, t)| {
                    let mut json = d.to_json();
                    if let Some(Some(t)) = t {
                        json["track"] = serde_json::json!({"id": t.track_id, "age": t.age});
                    }
                    json
                })
                .collect();
            let tensors: Vec<serde_json::Value> = match gsthmg::meta::read(buffer) {
                Some(Ok(meta)) => meta
                    .tensors
                    .iter()
                    .map(|t| {
                        serde_json::json!({"name": t.name, "shape": t.shape, "dtype": t.dtype, "bytes": t.data.len()})
                    })
                    .collect(),
                _ => Vec::new(),
            };
            let frame = frames.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            println!(
                "{}",
                serde_json::json!({
                    "frame": frame,
                    "pts_ns": buffer.pts().map(|t| t.nseconds()),
                    "detections": detections,
                    "tensors": tensors,
                })
            );
            if max_frames > 0 && frame + 1 >= max_frames {
                if let Some(p) = pipeline_weak.upgrade() {
                    // EOS from another thread: sending it from the streaming thread would deadlock.
                    std::thread::spawn(move || p.send_event(gst::event::Eos::new()));
                }
                return gst::PadProbeReturn::Remove;
            }
            gst::PadProbeReturn::Ok
        });

    pipeline.set_state(gst::State::Playing)?;
    let bus = pipeline.bus().expect("a pipeline has a bus");
    let mut result = Ok(());
    for msg in bus.iter_timed(gst::ClockTime::NONE) {
        match msg.view() {
            gst::MessageView::Eos(..) => break,
            gst::MessageView::Error(err) => {
                result = Err(format!(
                    "{}: {}",
                    err.src().map(|s| s.name().to_string()).unwrap_or_default(),
                    err.error()
                ));
                break;
            }
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null)?;
    result.map_err(Into::into)
}
