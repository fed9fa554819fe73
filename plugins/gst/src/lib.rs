// SPDX-License-Identifier: MIT OR Apache-2.0
#![allow(unused_doc_comments)]

/**
 * plugin-hmg:
 *
 * YOLO object detection as GStreamer elements: `hailoinfer` runs a model on each frame and
 * attaches its raw outputs (`HmgTensors` custom meta), `yolodecode` turns them into candidate
 * boxes (`HmgCandidates`), `yolonms` (which also decodes by itself) turns them into standard
 * `GstVideoRegionOfInterestMeta` detections, `dettrack` gives them track ids that stay the same
 * from frame to frame, `detzone` counts tracks crossing lines and entering zones, `detoverlay` draws them, `detlog` writes them
 * as JSON lines, `detcapture` saves the frames the model was unsure about for labelling, `detmqtt` publishes them to an MQTT broker and `detverify` checks them offline
 * (no detections on blank frames, or mAP against YOLO labels); `calibpack` writes the calibration
 * tensor Hailo's compiler quantizes with. The frame itself flows on untouched.
 */
use gst::glib;

pub mod calibpack;
pub mod detcapture;
pub mod detlog;
pub mod detmqtt;
pub mod detoverlay;
pub mod dettrack;
pub mod detverify;
pub mod detzone;
pub mod events;
pub mod frame;
pub mod hailoinfer;
pub mod meta;
pub mod roi;
pub mod yolodecode;
pub mod yolonms;

pub use roi::{DETECTION_PARAM, detections_from_buffer};

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    // The onnxruntime library may sit beside the plugin file.
    if let Some(dir) = plugin
        .filename()
        .and_then(|f| f.parent().map(|p| p.to_path_buf()))
    {
        hmg_detect::engine::onnx::add_library_dir(&dir);
    }
    meta::register();
    hailoinfer::register(plugin)?;
    yolodecode::register(plugin)?;
    yolonms::register(plugin)?;
    detoverlay::register(plugin)?;
    dettrack::register(plugin)?;
    detzone::register(plugin)?;
    detlog::register(plugin)?;
    detcapture::register(plugin)?;
    detmqtt::register(plugin)?;
    detverify::register(plugin)?;
    calibpack::register(plugin)?;
    Ok(())
}

gst::plugin_define!(
    hmg,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    env!("CARGO_PKG_VERSION"),
    "MIT/X11",
    env!("CARGO_PKG_NAME"),
    "hmg",
    "hmg"
);
