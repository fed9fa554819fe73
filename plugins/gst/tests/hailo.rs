// SPDX-License-Identifier: MIT OR Apache-2.0
//! yolodecode, and the HailoRT path of hailoinfer in real graphs. With `--features hailo` the
//! graphs run HEFs on the HailoRT TEST DOUBLE (tests/hailort-double), which answers with the
//! recorded outputs of the real YOLOv8n (NudeNet 320n) for these images.

mod common;

use std::path::PathBuf;
#[cfg(feature = "hailo")]
use std::sync::{Arc, Mutex};

use common::*;
#[cfg(feature = "hailo")]
use gst::prelude::*;
#[cfg(feature = "hailo")]
use hmg_detect::Detection;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/hailo")
}

fn png_source(name: &str) -> String {
    format!(
        "filesrc location=\"{}\" ! pngdec ! videoconvert ! video/x-raw,format=RGB",
        image(name)
    )
}

#[test]
fn test_yolodecode_then_yolonms_equals_yolonms_alone() {
    let onnx = model("yolov12n.onnx");
    let direct = run_collect(&format!(
        "{} ! hailoinfer model=\"{onnx}\" ! yolonms ! appsink name=sink",
        png_source("coffee.png")
    ))
    .unwrap();
    let split = run_collect(&format!(
        "{} ! hailoinfer model=\"{onnx}\" ! yolodecode ! yolonms ! appsink name=sink",
        png_source("coffee.png")
    ))
    .unwrap();
    assert_eq!(direct.len(), 1);
    assert!(
        direct[0].1.len() >= 3,
        "coffee.png has cup, spoon, table: {:?}",
        direct[0].1
    );
    assert_eq!(direct, split);
}

#[test]
fn test_yolodecode_layout_errors_are_clear() {
    let onnx = model("yolov12n.onnx");
    let e = expect_error(&format!(
        "{} ! hailoinfer model=\"{onnx}\" ! yolodecode layout=yolov5 ! fakesink",
        png_source("coffee.png")
    ));
    assert!(
        e.contains("unknown layout 'yolov5'") && e.contains("hailo-raw"),
        "{e}"
    );
    let e = expect_error(&format!(
        "{} ! hailoinfer model=\"{onnx}\" ! yolodecode layout=hailo-raw ! fakesink",
        png_source("coffee.png")
    ));
    assert!(
        e.contains("Cannot decode the model output") && e.contains("box/class pairs"),
        "{e}"
    );
}

#[cfg(not(feature = "hailo"))]
#[test]
fn test_hef_without_hailort_support_says_how_to_get_it() {
    let e = expect_error(&format!(
        "{} ! hailoinfer hef=\"{}\" ! fakesink",
        png_source("coffee.png"),
        fixtures().join("nudenet320.hef").display()
    ));
    assert!(
        e.contains("without HailoRT support") && e.contains("--features hailo"),
        "{e}"
    );
}

/// Runs a graph with appsinks named `sink0`, `sink1`, … and returns each one's detections.
#[cfg(feature = "hailo")]
fn run_sinks(description: &str, sinks: usize) -> Result<Vec<Vec<Vec<Detection>>>, String> {
    init();
    let pipeline = gst::parse::launch(description)
        .map_err(|e| e.to_string())?
        .downcast::<gst::Pipeline>()
        .unwrap();
    let out = Arc::new(Mutex::new(vec![Vec::new(); sinks]));
    for i in 0..sinks {
        let sink = pipeline
            .by_name(&format!("sink{i}"))
            .unwrap()
            .downcast::<gst_app::AppSink>()
            .unwrap();
        sink.set_property("sync", false);
        let out = out.clone();
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |s| {
                    let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    let buf = sample.buffer().ok_or(gst::FlowError::Error)?;
                    out.lock().unwrap()[i].push(gsthmg::detections_from_buffer(buf));
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
    }
    let res = run_to_end(&pipeline);
    let _ = pipeline.set_state(gst::State::Null);
    res?;
    Ok(std::mem::take(&mut *out.lock().unwrap()))
}

#[cfg(feature = "hailo")]
mod with_hailort {
    use std::sync::{MutexGuard, Once};

    use super::*;

    /// Points HailoRT at the double and serialises tests (one fake device per process).
    fn double() -> MutexGuard<'static, ()> {
        static ONCE: Once = Once::new();
        // SAFETY: set once, before HailoRT is loaded, always to the same value.
        ONCE.call_once(|| unsafe {
            std::env::set_var("HMG_HAILORT_LIBRARY", hailort_double::library())
        });
        hailort_double::SERIAL
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn labels_file() -> String {
        let r = reference("nudenet_320n.json");
        let names: Vec<String> = (0..18)
            .map(|i| {
                r["model"]["names"][i.to_string()]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        let path =
            std::env::temp_dir().join(format!("hmg-nudenet-labels-{}.txt", std::process::id()));
        std::fs::write(&path, names.join("\n")).unwrap();
        path.display().to_string()
    }

    fn hef(name: &str) -> String {
        fixtures().join(name).display().to_string()
    }

    fn only(dets: &[Vec<Detection>]) -> &Detection {
        assert_eq!(dets.len(), 1, "one frame");
        assert_eq!(dets[0].len(), 1, "one detection: {:?}", dets[0]);
        &dets[0][0]
    }

    #[test]
    fn test_hef_graph_detects_like_ultralytics_with_and_without_yolodecode() {
        let _d = double();
        let r = reference("nudenet_320n.json");
        let want = &r["images"]["astronaut.png"]["detections_square_input"][0];
        for middle in ["yolonms", "yolodecode ! yolonms"] {
            let out = run_sinks(
                &format!(
                    "{} ! hailoinfer hef=\"{}\" labels=\"{}\" ! {middle} ! appsink name=sink0",
                    png_source("astronaut.png"),
                    hef("nudenet320.hef"),
                    labels_file()
                ),
                1,
            )
            .unwrap();
            let d = only(&out[0]);
            assert_eq!(&*d.label, "FACE_FEMALE");
            assert!((d.confidence as f64 - want["confidence"].as_f64().unwrap()).abs() <= 0.03);
            assert!(iou(boxed(d), ref_box(want)) >= 0.95, "{d:?} vs {want}");
        }
    }

    /// The calibration set (calibpack) holds exactly the bytes hailoinfer writes to the device
    /// for the same pictures: one letterbox, RGB, uint8.
    #[test]
    fn test_calibpack_bytes_equal_what_hailoinfer_feeds_the_device() {
        let _d = double();
        let controls = hailort_double::Controls::open();
        let dir = std::env::temp_dir().join(format!("hmg-calib-bytes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let dump = dir.join("device-inputs.raw");
        let npy = dir.join("calib_set.npy");
        let mut device = Vec::new();
        let mut packed = Vec::new();
        // A 512x512 RGB, a 600x400 RGB and a grayscale picture, each letterboxed to 320x320.
        for name in ["astronaut.png", "coffee.png", "camera.png"] {
            let _ = std::fs::remove_file(&dump);
            controls.dump_inputs(dump.to_str().unwrap());
            run_sinks(
                &format!(
                    "{} ! hailoinfer hef=\"{}\" ! yolonms ! appsink name=sink0",
                    png_source(name),
                    hef("nudenet320.hef")
                ),
                1,
            )
            .unwrap();
            controls.dump_inputs("");
            device.extend(std::fs::read(&dump).unwrap());
            let out = run_sinks(
                &format!(
                    "{} ! calibpack location=\"{}\" num-samples=4 width=320 height=320 ! appsink name=sink0",
                    png_source(name),
                    npy.display()
                ),
                1,
            );
            out.unwrap();
            let bytes = std::fs::read(&npy).unwrap();
            let header = hmg_detect::npy::NpyHeader::parse(&bytes).unwrap();
            assert_eq!(header.descr, "|u1");
            assert_eq!(header.shape, vec![1, 320, 320, 3]);
            packed.extend_from_slice(&bytes[header.data_offset..]);
        }
        assert_eq!(device.len(), 3 * 320 * 320 * 3);
        assert!(
            device == packed,
            "calibpack and hailoinfer letterbox differently"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_nms_hef_graph_and_thresholds() {
        let _d = double();
        let controls = hailort_double::Controls::open();
        let out = run_sinks(
            &format!(
                "{} ! hailoinfer hef=\"{}\" nms-score-threshold=0.3 nms-iou-threshold=0.5 ! yolonms ! appsink name=sink0",
                png_source("camera.png"),
                hef("nudenet320-nms.hef")
            ),
            1,
        )
        .unwrap();
        let d = only(&out[0]);
        assert_eq!((d.class_id, &*d.label), (12, "class-12"));
        assert_eq!(
            (controls.last_nms_score(), controls.last_nms_iou()),
            (0.3, 0.5)
        );
    }

    #[test]
    fn test_three_streams_share_one_device_in_a_vdevice_group() {
        let _d = double();
        let branch = |i: usize, img: &str, group: &str| {
            format!(
                "{} ! hailoinfer hef=\"{}\" {group} ! yolonms ! appsink name=sink{i}",
                png_source(img),
                hef("nudenet320.hef")
            )
        };
        let images = ["astronaut.png", "camera.png", "coffee.png"];
        let shared: Vec<String> = images
            .iter()
            .enumerate()
            .map(|(i, img)| branch(i, img, "vdevice-group=cams"))
            .collect();
        let out = run_sinks(&shared.join("  "), 3).unwrap();
        let classes: Vec<Vec<u32>> = out
            .iter()
            .map(|frames| frames[0].iter().map(|d| d.class_id).collect())
            .collect();
        // Each stream gets its own picture's classes, as ultralytics finds them on the model the
        // HEF was compiled from (square input: a HEF's shape is fixed).
        let r = reference("nudenet_320n.json");
        let expected: Vec<Vec<u32>> = images
            .iter()
            .map(|img| {
                r["images"][img]["detections_square_input"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d["class_id"].as_u64().unwrap() as u32)
                    .collect()
            })
            .collect();
        assert!(
            expected.iter().any(|c| !c.is_empty()),
            "the pictures have faces"
        );
        assert_eq!(classes, expected);

        let alone: Vec<String> = images[..2]
            .iter()
            .enumerate()
            .map(|(i, img)| branch(i, img, ""))
            .collect();
        let e = run_sinks(&alone.join("  "), 2).unwrap_err();
        assert!(
            e.contains("HAILO_OUT_OF_PHYSICAL_DEVICES") && e.contains("vdevice-group"),
            "{e}"
        );
    }

    /// A file source is not live, so hailoinfer keeps two frames on the device; every frame must
    /// still come out once, in order, with its own outputs. The double answers unknown frames
    /// with its recordings in turn: astronaut (class 1), coffee (none), camera (12), dog (none),
    /// person (9), eagle (none).
    #[test]
    fn test_pipelined_frames_keep_their_order_and_outputs() {
        let _d = double();
        let video = testdata().join("video/bikes.mp4").display().to_string();
        let expected = [vec![1], vec![], vec![12], vec![], vec![9], vec![]];
        for interval in [1usize, 2] {
            let out = run_collect(&format!(
                "filesrc location=\"{video}\" ! decodebin ! videoconvert ! video/x-raw,format=RGB \
                 ! hailoinfer hef=\"{}\" interval={interval} ! yolonms ! appsink name=sink",
                hef("nudenet320.hef")
            ))
            .unwrap();
            assert_eq!(out.len(), 250, "interval {interval}");
            assert!(out.windows(2).all(|w| w[0].0 < w[1].0), "pts in order");
            for (i, (_, dets)) in out.iter().enumerate() {
                let classes: Vec<u32> = dets.iter().map(|d| d.class_id).collect();
                let want = if i % interval == 0 {
                    expected[(i / interval) % 6].clone()
                } else {
                    vec![]
                };
                assert_eq!(classes, want, "frame {i}, interval {interval}");
            }
        }
    }

    /// The most frames hailoinfer held at once (taken in, not yet handed on) over a run of
    /// `source`, and how many it handed on.
    fn frames_held(source: &str) -> (usize, usize) {
        let pipeline = launch(&format!(
            "{source} ! hailoinfer name=infer hef=\"{}\" ! fakesink",
            hef("nudenet320.hef")
        ));
        let infer = pipeline.by_name("infer").unwrap();
        // (taken in, handed on, most held): both probes run on the streaming thread, in order.
        let counts = Arc::new(Mutex::new((0usize, 0usize, 0usize)));
        let c = counts.clone();
        infer
            .static_pad("sink")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                let mut c = c.lock().unwrap();
                c.0 += 1;
                c.2 = c.2.max(c.0 - c.1);
                gst::PadProbeReturn::Ok
            });
        let c = counts.clone();
        infer
            .static_pad("src")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                c.lock().unwrap().1 += 1;
                gst::PadProbeReturn::Ok
            });
        run_to_end(&pipeline).unwrap();
        // Hands the device back for the next run.
        pipeline.set_state(gst::State::Null).unwrap();
        let (_, out, held) = *counts.lock().unwrap();
        (held, out)
    }

    /// A live source runs frame by frame (each frame out before the next comes in: lowest
    /// latency); a file keeps the device busy with the next frame while one is decoded.
    #[test]
    fn test_live_source_runs_frame_by_frame() {
        let _d = double();
        let (held, out) = frames_held(
            "videotestsrc is-live=true num-buffers=6 ! video/x-raw,format=RGB,width=320,height=240",
        );
        assert_eq!((held, out), (1, 6), "live: one frame at a time");
        let (held, out) =
            frames_held("videotestsrc num-buffers=6 ! video/x-raw,format=RGB,width=320,height=240");
        assert_eq!(out, 6);
        assert!(held >= 2, "not live: frames are pipelined, held {held}");
    }

    #[test]
    fn test_hef_for_another_chip_fails_at_start_with_the_fix() {
        let _d = double();
        // SAFETY: serialised by the double's lock.
        unsafe { std::env::set_var("HAILORT_DOUBLE_ARCH", "hailo8l") };
        let e = expect_error(&format!(
            "{} ! hailoinfer hef=\"{}\" ! fakesink",
            png_source("coffee.png"),
            hef("nudenet320.hef")
        ));
        unsafe { std::env::remove_var("HAILORT_DOUBLE_ARCH") };
        assert!(
            e.contains("compiled for Hailo-8") && e.contains("--hw-arch hailo8l"),
            "{e}"
        );
    }
}
