// SPDX-License-Identifier: MIT OR Apache-2.0
//! Element behaviour through gstreamer-check's Harness and small graphs.

mod common;

use common::*;
use gst::prelude::*;
use gst_video::prelude::*;
use hmg_detect::Detection;

fn rgb_frame(w: u32, h: u32, fill: u8) -> (gst::Caps, gst::Buffer) {
    let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, w, h)
        .build()
        .unwrap();
    let mut buf = gst::Buffer::with_size(info.size()).unwrap();
    buf.get_mut().unwrap().map_writable().unwrap().fill(fill);
    (info.to_caps().unwrap(), buf)
}

/// A minimal ONNX model (Identity on a (1, 3, 64, 64) float input): valid ONNX, not a detector.
fn identity_onnx() -> Vec<u8> {
    fn varint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    fn field(num: u32, bytes: &[u8], out: &mut Vec<u8>) {
        varint(((num << 3) | 2) as u64, out);
        varint(bytes.len() as u64, out);
        out.extend_from_slice(bytes);
    }
    fn int(num: u32, v: u64, out: &mut Vec<u8>) {
        varint((num << 3) as u64, out);
        varint(v, out);
    }
    let value_info = |name: &str| {
        let mut shape = Vec::new();
        for d in [1u64, 3, 64, 64] {
            let mut dim = Vec::new();
            int(1, d, &mut dim);
            field(1, &dim, &mut shape);
        }
        let mut tensor = Vec::new();
        int(1, 1, &mut tensor); // FLOAT
        field(2, &shape, &mut tensor);
        let mut ty = Vec::new();
        field(1, &tensor, &mut ty);
        let mut vi = Vec::new();
        field(1, name.as_bytes(), &mut vi);
        field(2, &ty, &mut vi);
        vi
    };
    let mut node = Vec::new();
    field(1, b"x", &mut node);
    field(2, b"y", &mut node);
    field(4, b"Identity", &mut node);
    let mut graph = Vec::new();
    field(1, &node, &mut graph);
    field(2, b"g", &mut graph);
    field(11, &value_info("x"), &mut graph);
    field(12, &value_info("y"), &mut graph);
    let mut opset = Vec::new();
    int(2, 13, &mut opset);
    let mut model = Vec::new();
    int(1, 8, &mut model);
    field(8, &opset, &mut model);
    field(7, &graph, &mut model);
    model
}

fn infer_graph(model: &str) -> String {
    format!(
        "videotestsrc num-buffers=2 ! video/x-raw,format=RGB,width=64,height=48 ! hailoinfer model=\"{model}\" ! fakesink"
    )
}

#[test]
fn test_hailoinfer_errors_name_the_file_and_say_what_to_do() {
    let dir = std::env::temp_dir().join(format!("hmg-elements-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let missing = dir.join("nope.onnx");
    let e = expect_error(&infer_graph(&missing.display().to_string()));
    assert!(
        e.contains("nope.onnx") && e.contains("does not exist"),
        "{e}"
    );

    let garbage = dir.join("garbage.onnx");
    std::fs::write(&garbage, b"this is not a model").unwrap();
    let e = expect_error(&infer_graph(&garbage.display().to_string()));
    assert!(
        e.contains("garbage.onnx") && e.contains("yolo export"),
        "{e}"
    );

    let identity = dir.join("identity.onnx");
    std::fs::write(&identity, identity_onnx()).unwrap();
    let e = expect_error(&infer_graph(&identity.display().to_string()));
    assert!(
        e.contains("identity.onnx") && e.contains("not a detector"),
        "{e}"
    );

    let hef = dir.join("model.hef");
    std::fs::write(&hef, b"HEF").unwrap();
    let e = expect_error(&infer_graph(&hef.display().to_string()));
    assert!(e.contains("model.hef") && e.contains("is not a HEF"), "{e}");

    let e = expect_error("videotestsrc num-buffers=1 ! hailoinfer ! fakesink");
    assert!(e.contains("needs a model"), "{e}");

    let e = expect_error(&format!(
        "videotestsrc num-buffers=1 ! video/x-raw,format=RGB,width=64,height=48 ! hailoinfer model=\"{}\" labels=\"{}\" ! fakesink",
        model("yolov12n.onnx"),
        dir.join("labels.txt").display()
    ));
    assert!(e.contains("labels.txt"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn test_unsupported_caps_are_refused_with_the_format_named() {
    init();
    let desc = format!(
        "videotestsrc num-buffers=1 ! video/x-raw,format=YUY2 ! hailoinfer model=\"{}\" ! fakesink",
        model("yolov12n.onnx")
    );
    let e = gst::parse::launch(&desc).expect_err("YUY2 must not link");
    assert!(e.to_string().contains("YUY2"), "{e}");
}

#[test]
fn test_hailoinfer_attaches_tensors_and_frame_is_untouched() {
    init();
    let mut h = gst_check::Harness::new_parse(&format!(
        "hailoinfer model=\"{}\"",
        model("nudenet_320n.onnx")
    ));
    let (caps, buf) = rgb_frame(100, 60, 77);
    h.set_src_caps(caps);
    h.play();
    assert_eq!(h.push(buf), Ok(gst::FlowSuccess::Ok));
    let out = h.pull().unwrap();
    assert!(out.map_readable().unwrap().iter().all(|&v| v == 77));
    let m = gsthmg::meta::read(&out)
        .expect("meta present")
        .expect("meta parses");
    assert_eq!(m.layout, "ultralytics-raw");
    assert_eq!((m.letterbox.dst_width, m.letterbox.dst_height), (320, 320));
    assert_eq!(
        (
            m.letterbox.resized_width,
            m.letterbox.resized_height,
            m.letterbox.pad_top
        ),
        (320, 192, 64)
    );
    assert_eq!(m.tensors[0].shape, vec![1, 22, 2100]);
    assert_eq!(m.labels.lines().count(), 18);
}

/// conf and classes changed while playing, on a picture whose detections (and their classes and
/// confidences) come from ultralytics' reference.
#[test]
fn test_yolonms_thresholds_change_while_playing() {
    init();
    let mut h = gst_check::Harness::new_parse(&format!(
        "hailoinfer model=\"{}\" ! yolonms name=nms conf=0.25",
        model("yolov12n.onnx")
    ));
    let r = reference("yolov12n.json");
    let want: Vec<(u32, String, f32)> = r["images"]["person.jpg"]["detections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["class_id"].as_u64().unwrap() as u32,
                d["class_name"].as_str().unwrap().to_string(),
                d["confidence"].as_f64().unwrap() as f32,
            )
        })
        .collect();
    let mut classes: Vec<u32> = want.iter().map(|w| w.0).collect();
    classes.sort();
    classes.dedup();
    assert!(
        classes.len() >= 3,
        "the picture has several classes: {want:?}"
    );
    let decoded = run_collect_buffer(&format!(
        "filesrc location=\"{}\" ! jpegdec ! videoconvert ! video/x-raw,format=RGB ! appsink name=sink",
        image("person.jpg")
    ));
    let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, 640, 424)
        .build()
        .unwrap();
    h.set_src_caps(info.to_caps().unwrap());
    h.play();
    h.push(decoded.clone()).unwrap();
    let first = gsthmg::detections_from_buffer(&h.pull().unwrap());
    assert_eq!(first.len(), want.len(), "{first:?} vs {want:?}");
    for (class, label, conf) in &want {
        assert!(
            first.iter().any(|d| d.class_id == *class
                && &*d.label == label
                && (d.confidence - conf).abs() < 0.03),
            "{label} {conf} not in {first:?}"
        );
    }
    let nms = h
        .element()
        .unwrap()
        .downcast::<gst::Bin>()
        .unwrap()
        .by_name("nms")
        .unwrap();
    // Above every box: none left.
    let top = want.iter().map(|w| w.2).fold(0.0, f32::max);
    nms.set_property("conf", (top + 0.03) as f64);
    h.push(decoded.clone()).unwrap();
    assert!(gsthmg::detections_from_buffer(&h.pull().unwrap()).is_empty());
    // Two of the picture's classes kept, the rest gone.
    nms.set_property("conf", 0.25f64);
    let kept = &classes[..2];
    nms.set_property(
        "classes",
        kept.iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(","),
    );
    h.push(decoded).unwrap();
    let mut got: Vec<u32> = gsthmg::detections_from_buffer(&h.pull().unwrap())
        .iter()
        .map(|d| d.class_id)
        .collect();
    got.sort();
    let mut expected: Vec<u32> = want
        .iter()
        .map(|w| w.0)
        .filter(|c| kept.contains(c))
        .collect();
    expected.sort();
    assert_eq!(got, expected);
}

fn with_detection(mut buf: gst::Buffer, d: &Detection) -> gst::Buffer {
    gsthmg::roi::add_detections(buf.get_mut().unwrap(), std::slice::from_ref(d));
    buf
}

#[test]
fn test_detoverlay_draws_on_rgb_and_nv12() {
    init();
    let d = Detection {
        class_id: 2,
        label: "car".into(),
        confidence: 0.8,
        x1: 10.0,
        y1: 30.0,
        x2: 50.0,
        y2: 60.0,
    };
    for format in [
        gst_video::VideoFormat::Rgb,
        gst_video::VideoFormat::Bgrx,
        gst_video::VideoFormat::Nv12,
        gst_video::VideoFormat::I420,
    ] {
        let info = gst_video::VideoInfo::builder(format, 64, 64)
            .build()
            .unwrap();
        let mut buf = gst::Buffer::with_size(info.size()).unwrap();
        buf.get_mut().unwrap().map_writable().unwrap().fill(0);
        let before = buf.map_readable().unwrap().to_vec();
        let mut h = gst_check::Harness::new("detoverlay");
        h.set_src_caps(info.to_caps().unwrap());
        h.play();
        h.push(with_detection(buf, &d)).unwrap();
        let out = h.pull().unwrap();
        let after = out.map_readable().unwrap().to_vec();
        assert_ne!(before, after, "{format:?}: nothing drawn");
        let frame =
            gst_video::VideoFrameRef::from_buffer_ref_readable(out.as_ref(), &info).unwrap();
        let stride = frame.plane_stride()[0] as usize;
        let p0 = frame.plane_data(0).unwrap();
        let bpp = if matches!(format, gst_video::VideoFormat::Rgb) {
            3
        } else if matches!(format, gst_video::VideoFormat::Bgrx) {
            4
        } else {
            1
        };
        // The box's left edge is painted; its centre is not.
        assert!(p0[45 * stride + 10 * bpp] != 0, "{format:?}: edge");
        assert!(p0[45 * stride + 30 * bpp] == 0, "{format:?}: centre");
    }
}

#[test]
fn test_detlog_writes_one_line_per_frame_and_flushes_at_eos() {
    init();
    let path = std::env::temp_dir().join(format!("hmg-detlog-{}.jsonl", std::process::id()));
    let mut h = gst_check::Harness::new_parse(&format!(
        "detlog location=\"{}\" stream-name=cam0",
        path.display()
    ));
    let (caps, _) = rgb_frame(64, 48, 0);
    h.set_src_caps(caps);
    h.play();
    let d = Detection {
        class_id: 16,
        label: "dog".into(),
        confidence: 0.8679,
        x1: 1.5,
        y1: 2.25,
        x2: 30.0,
        y2: 40.0,
    };
    for i in 0..3u64 {
        let (_, mut buf) = rgb_frame(64, 48, 0);
        buf.get_mut()
            .unwrap()
            .set_pts(gst::ClockTime::from_mseconds(40 * i));
        let buf = if i == 1 { with_detection(buf, &d) } else { buf };
        h.push(buf).unwrap();
        h.pull().unwrap();
    }
    assert!(h.push_event(gst::event::Eos::new()));
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[1]["stream"], "cam0");
    assert_eq!(lines[1]["frame"], 1);
    assert_eq!(lines[1]["pts_ns"], 40_000_000);
    assert_eq!(lines[1]["detections"][0]["label"], "dog");
    assert_eq!(lines[1]["detections"][0]["box"][1], 2.25);
    assert!(lines[0]["detections"].as_array().unwrap().is_empty());
    let _ = std::fs::remove_file(&path);
}

/// detzone's `HmgZones` as it arrives at detoverlay: a zone over the left half, a line across the
/// bottom, counts.
fn zones_state_json() -> String {
    serde_json::json!({
        "lines": [{"name": "gate", "points": [[0.0, 0.9], [1.0, 0.9]]}],
        "zones": [{"name": "left", "polygon": [[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]}],
        "counts": {"lines": {"gate": {"car": {"in": 2, "out": 1}}}, "zones": {"left": {"car": {"inside": 1, "entered": 3}}}}
    })
    .to_string()
}

#[test]
fn test_detoverlay_draws_zones_translucent_and_lines_opaque() {
    init();
    let (w, h) = (128usize, 96usize);
    let draw = |opacity: f64, show: bool| {
        let (caps, mut buf) = rgb_frame(w as u32, h as u32, 0);
        gsthmg::meta::set_zones_state_json(buf.get_mut().unwrap(), &zones_state_json());
        let mut harness = gst_check::Harness::new("detoverlay");
        let overlay = harness.element().unwrap();
        overlay.set_property("zone-opacity", opacity);
        overlay.set_property("show-zones", show);
        harness.set_src_caps(caps);
        harness.play();
        harness.push(buf).unwrap();
        harness.pull().unwrap().map_readable().unwrap().to_vec()
    };
    let px = |img: &[u8], x: usize, y: usize| [0, 1, 2].map(|c| img[(y * w + x) * 3 + c]);
    let half = draw(0.5, true);
    let full = draw(1.0, true);
    // Inside the zone, away from its outline and name: half the zone's colour at opacity 0.5.
    let (inside, opaque) = (px(&half, 30, 50), px(&full, 30, 50));
    assert_ne!(opaque, [0, 0, 0]);
    for c in 0..3 {
        assert!(
            (i32::from(inside[c]) - i32::from(opaque[c]) / 2).abs() <= 1,
            "{inside:?} is not half of {opaque:?}"
        );
    }
    // Outside the zone, off the line: untouched.
    assert_eq!(px(&half, 100, 50), [0, 0, 0]);
    // The line (y = 0.9 × 96 = 86) is painted at full strength at either opacity.
    assert_ne!(px(&half, 100, 86), [0, 0, 0]);
    assert_eq!(px(&half, 100, 86), px(&full, 100, 86));
    // Nothing at all when show-zones is off.
    assert!(draw(0.5, false).iter().all(|&v| v == 0));
}

#[test]
fn test_detoverlay_draws_a_trail_behind_a_tracked_object() {
    init();
    let (w, h) = (160usize, 64usize);
    let run = |trail: u32| {
        let mut harness = gst_check::Harness::new_parse(&format!(
            "dettrack ! detoverlay trail-length={trail} show-label=false show-conf=false"
        ));
        let (caps, _) = rgb_frame(w as u32, h as u32, 0);
        harness.set_src_caps(caps);
        harness.play();
        let mut last = Vec::new();
        for i in 0..12 {
            let (_, mut buf) = rgb_frame(w as u32, h as u32, 0);
            buf.get_mut()
                .unwrap()
                .set_pts(gst::ClockTime::from_mseconds(40 * i));
            let x = 20.0 + 4.0 * i as f32;
            let d = Detection {
                class_id: 2,
                label: "car".into(),
                confidence: 0.9,
                x1: x,
                y1: 16.0,
                x2: x + 30.0,
                y2: 48.0,
            };
            last = harness
                .push_and_pull(with_detection(buf, &d))
                .unwrap()
                .map_readable()
                .unwrap()
                .to_vec();
        }
        last
    };
    // The centres run from (35, 32) to (79, 32); the last box spans x 64..94, so (50, 32) is
    // painted only by a trail.
    let lit = |img: &[u8], x: usize, y: usize| img[(y * w + x) * 3..][..3] != [0, 0, 0];
    let with = run(20);
    let without = run(0);
    assert!(lit(&with, 50, 32), "no trail drawn");
    assert!(!lit(&without, 50, 32), "a trail drawn with trail-length=0");
    // The trail follows the centres, not the whole frame.
    assert!(!lit(&with, 50, 10));
}

/// `inference-ms`: the engine's share of each frame, more than nothing and less than the whole
/// run's time per frame (the graph runs one frame after another on one thread here).
#[test]
fn test_hailoinfer_reports_its_inference_time() {
    init();
    let pipeline = launch(&format!(
        "videotestsrc num-buffers=8 ! video/x-raw,format=RGB,width=320,height=240 ! hailoinfer name=infer model=\"{}\" ! fakesink",
        model("yolov12n.onnx")
    ));
    let infer = pipeline.by_name("infer").unwrap();
    assert_eq!(
        infer.property::<f64>("inference-ms"),
        0.0,
        "before any frame"
    );
    let started = std::time::Instant::now();
    run_to_end(&pipeline).unwrap();
    let per_frame_ms = started.elapsed().as_secs_f64() * 1000.0 / 8.0;
    let ms = infer.property::<f64>("inference-ms");
    pipeline.set_state(gst::State::Null).unwrap();
    println!("inference {ms:.2} ms of {per_frame_ms:.2} ms a frame");
    assert!(
        ms > 0.0 && ms < per_frame_ms,
        "{ms} ms of {per_frame_ms} ms a frame"
    );
}
