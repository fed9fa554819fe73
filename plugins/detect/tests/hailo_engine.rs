// SPDX-License-Identifier: MIT OR Apache-2.0
//! The HailoRT engine against the HailoRT TEST DOUBLE (tests/hailort-double): the real engine
//! code and FFI, a fake libhailort that serves what a Hailo-8 returns for the real YOLOv8n.
//! Without the `hailo` feature only the "no HailoRT support" message is checked.

mod common;

use common::hailo_fixtures;
use hmg_detect::{EngineOptions, open_engine};

#[cfg(not(feature = "hailo"))]
#[test]
fn default_build_says_how_to_get_hailort() {
    let err = open_engine(
        &hailo_fixtures().join("nudenet320.hef"),
        &EngineOptions::default(),
    )
    .err()
    .unwrap();
    assert!(
        matches!(err, hmg_detect::DetectError::HefUnsupported(_)),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("without HailoRT support")
            && text.contains("--features hailo")
            && text.contains("hailo-all"),
        "{text}"
    );
}

#[test]
fn broken_hef_files_are_refused_before_hailort() {
    let dir = std::env::temp_dir().join(format!("hmg-hef-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let not_hef = dir.join("model.hef");
    std::fs::write(&not_hef, b"PK\x03\x04 this is a zip").unwrap();
    let err = open_engine(&not_hef, &EngineOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("model.hef") && err.contains("is not a HEF"),
        "{err}"
    );
    let good = std::fs::read(hailo_fixtures().join("nudenet320.hef")).unwrap();
    let cut = dir.join("cut.hef");
    std::fs::write(&cut, &good[..good.len() - 3]).unwrap();
    let err = open_engine(&cut, &EngineOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("cut.hef") && err.contains("truncated"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(feature = "hailo")]
mod with_hailort {
    use std::sync::Once;

    use hailort_double::{Controls, SERIAL};
    use hmg_detect::{Detector, EngineOptions, FrameRef, Layout, PixelFormat, open_engine};

    use super::common::{hailo_fixtures, json, read_png, reference, testdata};

    fn use_double() -> Controls {
        static ONCE: Once = Once::new();
        // SAFETY: set once, before any thread loads HailoRT, to the same value.
        ONCE.call_once(|| unsafe {
            std::env::set_var("HMG_HAILORT_LIBRARY", hailort_double::library())
        });
        Controls::open()
    }

    fn labels() -> Vec<String> {
        let r = reference("nudenet_320n.json");
        (0..18)
            .map(|i| {
                r["model"]["names"][i.to_string()]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn raw_hef_detects_like_ultralytics() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let controls = use_double();
        let mut det = Detector::open(hailo_fixtures().join("nudenet320.hef"))
            .unwrap()
            .labels(labels());
        assert_eq!(det.info().layout, Layout::HailoRaw { classes: 18 });
        assert_eq!(
            (det.info().input_width, det.info().input_height),
            (320, 320)
        );
        assert_eq!(det.info().outputs.len(), 6);
        let r = reference("nudenet_320n.json");
        let before = controls.frames_written();
        for image in ["astronaut.png", "camera.png", "coffee.png"] {
            let (rgb, w, h) = read_png(&testdata().join("images").join(image));
            let frame = FrameRef::packed(PixelFormat::Rgb, w, h, &rgb).unwrap();
            let got = det.detect(&frame).unwrap();
            let want = r["images"][image]["detections_square_input"]
                .as_array()
                .unwrap();
            assert_eq!(got.len(), want.len(), "{image}: {got:?}");
            for (g, w) in got.iter().zip(want) {
                assert_eq!(&*g.label, w["class_name"].as_str().unwrap());
                assert!(
                    (g.confidence - w["confidence"].as_f64().unwrap() as f32).abs() <= 0.03,
                    "{image}: {g:?} vs {w}"
                );
                let b: Vec<f32> = w["box_xyxy"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().unwrap() as f32)
                    .collect();
                for (x, y) in [g.x1, g.y1, g.x2, g.y2].iter().zip(&b) {
                    assert!((x - y).abs() < 3.0, "{image}: {g:?} vs {b:?}");
                }
            }
        }
        assert_eq!(controls.frames_written() - before, 3);
    }

    #[test]
    fn nms_hef_returns_its_boxes_and_takes_thresholds() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let controls = use_double();
        let options = EngineOptions {
            nms_score_threshold: Some(0.3),
            nms_iou_threshold: Some(0.6),
            ..Default::default()
        };
        let mut engine =
            open_engine(&hailo_fixtures().join("nudenet320-nms.hef"), &options).unwrap();
        assert_eq!(
            engine.info().layout,
            Layout::HailoNms {
                classes: 18,
                max_per_class: 100
            }
        );
        assert_eq!(
            (controls.last_nms_score(), controls.last_nms_iou()),
            (0.3, 0.6)
        );
        let manifest = json(&hailo_fixtures().join("manifest.json"));
        let (rgb, w, h) = read_png(&testdata().join("images/astronaut.png"));
        let frame = FrameRef::packed(PixelFormat::Rgb, w, h, &rgb).unwrap();
        let mut lb = hmg_detect::Letterboxer::new();
        let (input, _) = lb.run(&frame, 320, 320);
        let out = engine.infer(input).unwrap();
        let hmg_detect::TensorData::F32(buf) = &out[0].data else {
            panic!("NMS output must be float32")
        };
        let boxes = manifest["images"]["astronaut.png"]["nms_boxes"]
            .as_array()
            .unwrap();
        let kept: Vec<_> = boxes
            .iter()
            .filter(|b| b["score"].as_f64().unwrap() >= 0.3)
            .collect();
        let class = kept[0]["class_id"].as_u64().unwrap() as usize;
        // The device dropped boxes under its score threshold: class counts say so.
        let count_at = (0..class).fold(0, |at, _| at + 1 + 5 * buf[at] as usize);
        assert_eq!(
            buf[count_at] as usize,
            kept.iter()
                .filter(|b| b["class_id"].as_u64().unwrap() as usize == class)
                .count()
        );
    }

    #[test]
    fn one_device_is_shared_only_within_a_vdevice_group() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let controls = use_double();
        let hef = hailo_fixtures().join("nudenet320.hef");
        let first = open_engine(&hef, &EngineOptions::default()).unwrap();
        let err = open_engine(&hef, &EngineOptions::default())
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("HAILO_OUT_OF_PHYSICAL_DEVICES (74)") && err.contains("vdevice-group"),
            "{err}"
        );
        drop(first);
        assert_eq!(controls.devices_in_use(), 0);
        let group = EngineOptions {
            vdevice_group: Some("cams".into()),
            ..Default::default()
        };
        let mut a = open_engine(&hef, &group).unwrap();
        let mut b = open_engine(&hef, &group).unwrap();
        assert_eq!(controls.devices_in_use(), 1);
        let grey = vec![114u8; 320 * 320 * 3];
        let (ta, tb) = std::thread::scope(|s| {
            let ta = s.spawn(|| a.infer(&grey).unwrap());
            let tb = s.spawn(|| b.infer(&grey).unwrap());
            (ta.join().unwrap(), tb.join().unwrap())
        });
        assert_eq!((ta.len(), tb.len()), (6, 6));
        drop((a, b));
        assert_eq!(controls.devices_in_use(), 0);
    }

    #[test]
    fn statuses_become_actionable_errors() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let controls = use_double();
        let hef = hailo_fixtures().join("nudenet320.hef");
        for (function, status, needle) in [
            ("hailo_create_vdevice", 76, "hailo-all"),
            ("hailo_create_vdevice", 64, "/dev/hailo0"),
            ("hailo_create_hef_file", 92, "Dataflow Compiler 3.33.0"),
            ("hailo_configure_vdevice", 26, "compiled for Hailo-8"),
        ] {
            controls.fail(function, status);
            let err = open_engine(&hef, &EngineOptions::default())
                .err()
                .map(|e| e.to_string());
            controls.fail("", 0);
            let err = err.unwrap_or_else(|| panic!("{function} {status} did not fail"));
            assert!(
                err.contains(needle)
                    && err.contains(&format!("({status})]"))
                    && err.contains("nudenet320.hef"),
                "{err}"
            );
            assert_eq!(
                controls.devices_in_use(),
                0,
                "a failed open leaks its device"
            );
        }
        controls.fail("hailo_vstream_read_raw_buffer", 4);
        let mut engine = open_engine(&hef, &EngineOptions::default()).unwrap();
        let err = engine
            .infer(&vec![0u8; 320 * 320 * 3])
            .err()
            .unwrap()
            .to_string();
        controls.fail("", 0);
        assert!(err.contains("HAILO_TIMEOUT"), "{err}");
        assert!(
            engine
                .infer(&[0u8; 10])
                .err()
                .unwrap()
                .to_string()
                .contains("input of 10 bytes")
        );
    }

    #[test]
    fn architecture_mismatch_names_both_chips() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        use_double();
        // SAFETY: tests touching the double's environment hold SERIAL.
        unsafe { std::env::set_var("HAILORT_DOUBLE_ARCH", "hailo8l") };
        let on_8l = open_engine(
            &hailo_fixtures().join("nudenet320.hef"),
            &EngineOptions::default(),
        )
        .err()
        .map(|e| e.to_string());
        let l_on_8l = open_engine(
            &hailo_fixtures().join("nudenet320-hailo8l.hef"),
            &EngineOptions::default(),
        )
        .map(|_| ());
        unsafe { std::env::remove_var("HAILORT_DOUBLE_ARCH") };
        let err = on_8l.expect("a Hailo-8 HEF on a Hailo-8L must fail");
        assert!(
            err.contains("compiled for Hailo-8")
                && err.contains("--hw-arch hailo8l")
                // HailoRT 4.20 (the double's default, like the real library CI builds) answers
                // 26 here; 4.21+ answer 93. Both get the same sentence.
                && err.contains("(26)"),
            "{err}"
        );
        l_on_8l.unwrap();
        // A Hailo-8 runs 8L HEFs (HailoRT warns they run slower).
        open_engine(
            &hailo_fixtures().join("nudenet320-hailo8l.hef"),
            &EngineOptions::default(),
        )
        .unwrap();
    }

    #[test]
    fn hef_vstreams_are_described_without_a_device() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let controls = use_double();
        controls.fail("hailo_create_vdevice", 64); // no device needed to describe a HEF
        let described =
            hmg_detect::engine::hailort::describe_hef(&hailo_fixtures().join("nudenet320-nms.hef"));
        controls.fail("", 0);
        let (version, infos) = described.unwrap();
        assert_eq!(version, "4.20.0");
        assert_eq!(infos.len(), 2);
        assert_eq!(
            (infos[0].direction, infos[0].shape.clone()),
            ("input", vec![320, 320, 3])
        );
        assert_eq!(
            (infos[1].nms, infos[1].shape.clone()),
            (true, vec![18, 100])
        );
        assert_eq!(infos[1].network, "nudenet320/nudenet320");
    }

    #[test]
    fn batch_size_reaches_the_device() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let controls = use_double();
        let options = EngineOptions {
            batch_size: 4,
            ..Default::default()
        };
        let _engine = open_engine(&hailo_fixtures().join("nudenet320.hef"), &options).unwrap();
        assert_eq!(controls.last_batch_size(), 4);
        drop(_engine);
        let _engine = open_engine(
            &hailo_fixtures().join("nudenet320.hef"),
            &EngineOptions::default(),
        )
        .unwrap();
        assert_eq!(
            controls.last_batch_size(),
            0,
            "batch 1 leaves HailoRT's automatic batch"
        );
    }
}
