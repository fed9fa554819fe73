// SPDX-License-Identifier: MIT OR Apache-2.0
//! docs/metadata.md is the metadata contract: every field it lists, with its type, must be what
//! the elements attach — no more, no less.

mod common;

use std::collections::{BTreeMap, BTreeSet};

/// (structure, field) → type name, from the tables of docs/metadata.md.
fn documented() -> (u32, BTreeMap<(String, String), String>) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/metadata.md");
    let text = std::fs::read_to_string(path).expect("docs/metadata.md");
    let version = text
        .lines()
        .find_map(|l| l.strip_prefix("Contract version: **"))
        .and_then(|v| v.trim_end_matches("**").parse().ok())
        .expect("a 'Contract version: **N**' line");
    let mut fields = BTreeMap::new();
    for line in text.lines() {
        let cells: Vec<&str> = line
            .trim()
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .collect();
        if cells.len() == 4 && !cells[0].starts_with("---") && cells[0] != "structure" {
            let key = (cells[0].to_string(), cells[1].to_string());
            assert!(
                fields.insert(key.clone(), cells[2].to_string()).is_none(),
                "{key:?} twice"
            );
        }
    }
    (version, fields)
}

fn collect(s: &gst::StructureRef, out: &mut BTreeMap<(String, String), String>) {
    for (field, value) in s.iter() {
        out.insert(
            (s.name().to_string(), field.to_string()),
            value.type_().name().to_string(),
        );
        if let Ok(array) = value.get::<gst::Array>() {
            for v in array.iter() {
                if let Ok(inner) = v.get::<gst::Structure>() {
                    collect(&inner, out);
                }
            }
        }
    }
}

#[test]
fn elements_attach_exactly_the_documented_fields() {
    let description = format!(
        "filesrc location={} ! decodebin ! videoconvert name=source ! hailoinfer model={} ! yolodecode ! yolonms ! appsink name=sink",
        common::image("astronaut.png"),
        common::model("nudenet_320n.onnx"),
    );
    let pipeline = common::launch(&description);
    // A source that reads pictures one by one names each frame's file (as hmg detect's folder
    // input does); the meta must reach the end of the graph.
    pipeline
        .by_name("source")
        .and_then(|e| e.static_pad("src"))
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, |_, info| {
            if let Some(buffer) = info.buffer_mut() {
                gsthmg::meta::set_source_file(buffer.make_mut(), "astronaut.png");
            }
            gst::PadProbeReturn::Ok
        });
    let sink = common::appsink(&pipeline, "sink");
    use gst::prelude::*;
    pipeline.set_state(gst::State::Playing).unwrap();
    let sample = sink.pull_sample().unwrap();
    pipeline.set_state(gst::State::Null).unwrap();
    let buffer = sample.buffer().unwrap();
    assert_eq!(
        gsthmg::meta::source_file(buffer).as_deref(),
        Some("astronaut.png")
    );

    let mut attached = BTreeMap::new();
    for name in ["HmgTensors", "HmgCandidates", "HmgSource"] {
        let meta = gst::meta::CustomMeta::from_buffer(buffer, name)
            .unwrap_or_else(|_| panic!("{name} attached"));
        collect(meta.structure(), &mut attached);
    }
    let rois: Vec<_> = buffer
        .iter_meta::<gst_video::VideoRegionOfInterestMeta>()
        .collect();
    assert!(!rois.is_empty(), "astronaut.png has a detection");
    for (i, roi) in rois.iter().enumerate() {
        assert_eq!(roi.id(), i as i32, "ROI ids number the detections");
        assert_eq!(roi.parent_id(), -1);
        let param = roi.param("detection").expect("detection param");
        assert_eq!(roi.roi_type(), param.get::<&str>("label").unwrap());
        collect(param, &mut attached);
    }
    let (version, documented) = documented();
    assert_eq!(version, 5, "bump the contract version with the tables");
    // The tracking param comes from dettrack, the events from detzone, near misses from yolonms
    // when asked for: checked below.
    let documented: BTreeMap<_, _> = documented
        .into_iter()
        .filter(|((structure, _), _)| {
            ![
                "tracking",
                "HmgEvents",
                "event",
                "HmgZones",
                "HmgNearMisses",
            ]
            .contains(&structure.as_str())
        })
        .collect();
    let missing: BTreeSet<_> = documented
        .keys()
        .filter(|k| !attached.contains_key(*k))
        .collect();
    let undocumented: BTreeSet<_> = attached
        .keys()
        .filter(|k| !documented.contains_key(*k))
        .collect();
    assert!(
        missing.is_empty(),
        "documented but not attached: {missing:?}"
    );
    assert!(
        undocumented.is_empty(),
        "attached but not in docs/metadata.md: {undocumented:?}"
    );
    for (key, ty) in &documented {
        assert_eq!(&attached[key], ty, "type of {key:?}");
    }
}

#[test]
fn tracked_detections_carry_exactly_the_documented_tracking_fields() {
    let description = format!(
        "filesrc location={} ! decodebin ! videoconvert ! imagefreeze num-buffers=3 ! hailoinfer model={} ! yolonms conf=0.05 ! tee name=t ! queue ! dettrack high-thresh=0.5 new-track-thresh=0.5 ! appsink name=sink t. ! queue ! appsink name=all",
        common::image("astronaut.png"),
        common::model("nudenet_320n.onnx"),
    );
    let pipeline = common::launch(&description);
    let sink = common::appsink(&pipeline, "sink");
    let all = common::appsink(&pipeline, "all");
    use gst::prelude::*;
    pipeline.set_state(gst::State::Playing).unwrap();
    let samples: Vec<gst::Sample> = (0..3).map(|_| sink.pull_sample().unwrap()).collect();
    let untracked: Vec<gst::Sample> = (0..3).map(|_| all.pull_sample().unwrap()).collect();
    pipeline.set_state(gst::State::Null).unwrap();
    // Weak detections (below 0.5 here) start no track and are removed: the ids of the rest are
    // numbered again.
    let count = |s: &gst::Sample| {
        s.buffer()
            .unwrap()
            .iter_meta::<gst_video::VideoRegionOfInterestMeta>()
            .count()
    };
    assert!(
        count(&samples[0]) < count(&untracked[0]),
        "{} tracked of {}",
        count(&samples[0]),
        count(&untracked[0])
    );
    let mut attached = BTreeMap::new();
    let mut ids = Vec::new();
    for sample in &samples {
        let buffer = sample.buffer().unwrap();
        let mut frame_ids = Vec::new();
        let mut roi_ids = Vec::new();
        for roi in buffer.iter_meta::<gst_video::VideoRegionOfInterestMeta>() {
            let tracking = roi
                .param("tracking")
                .expect("dettrack removes untracked detections");
            frame_ids.push(tracking.get::<u64>("track-id").unwrap());
            roi_ids.push(roi.id());
            collect(tracking, &mut attached);
        }
        roi_ids.sort_unstable();
        let numbered: Vec<i32> = (0..roi_ids.len() as i32).collect();
        assert_eq!(roi_ids, numbered, "ROI ids still number the detections");
        frame_ids.sort_unstable();
        ids.push(frame_ids);
    }
    assert!(!ids[0].is_empty(), "astronaut.png has a detection");
    assert!(
        ids.iter().all(|f| *f == ids[0]),
        "a still picture keeps its ids: {ids:?}"
    );
    let documented: BTreeMap<_, _> = documented()
        .1
        .into_iter()
        .filter(|((structure, _), _)| structure == "tracking")
        .collect();
    assert_eq!(attached, documented);
}

#[test]
fn zone_events_carry_the_documented_fields() {
    let dir = std::env::temp_dir().join(format!("hmg-contract-zones-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let zones = dir.join("zones.json");
    // A zone over the whole frame: every track enters it on its first frame.
    std::fs::write(
        &zones,
        r#"{"zones": [{"name": "all", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}]}"#,
    )
    .unwrap();
    let description = format!(
        "filesrc location={} ! decodebin ! videoconvert ! imagefreeze num-buffers=2 ! hailoinfer model={} ! yolonms ! dettrack ! detzone config={} ! appsink name=sink",
        common::image("astronaut.png"),
        common::model("nudenet_320n.onnx"),
        zones.display(),
    );
    let buffer = common::run_collect_buffer(&description);
    let buffer = buffer.as_ref();
    let meta = gst::meta::CustomMeta::from_buffer(buffer, "HmgEvents").expect("HmgEvents");
    let mut attached = BTreeMap::new();
    collect(meta.structure(), &mut attached);
    let events = meta.structure().get::<gst::Array>("events").unwrap();
    assert!(!events.is_empty());
    for e in events.iter() {
        let e = e.get::<gst::Structure>().unwrap();
        assert_eq!(e.get::<&str>("kind").unwrap(), "zone-entered");
        collect(&e, &mut attached);
    }
    let zones_meta = gst::meta::CustomMeta::from_buffer(buffer, "HmgZones").expect("HmgZones");
    collect(zones_meta.structure(), &mut attached);
    let state: serde_json::Value =
        serde_json::from_str(zones_meta.structure().get::<&str>("state").unwrap()).unwrap();
    assert_eq!(state["zones"][0]["name"], "all");
    let inside: u64 = state["counts"]["zones"]["all"]
        .as_object()
        .unwrap()
        .values()
        .map(|c| c["inside"].as_u64().unwrap())
        .sum();
    assert_eq!(
        inside as usize,
        events.len(),
        "every track entered is inside"
    );
    let documented: BTreeMap<_, _> = documented()
        .1
        .into_iter()
        .filter(|((structure, _), _)| {
            ["HmgEvents", "event", "HmgZones"].contains(&structure.as_str())
        })
        .collect();
    // direction and dwell belong to line crossings and zone exits only.
    for (key, ty) in &attached {
        assert_eq!(documented.get(key), Some(ty), "{key:?} attached as {ty}");
    }
    for key in documented.keys() {
        let optional = ["direction", "dwell"].contains(&key.1.as_str());
        assert!(optional || attached.contains_key(key), "{key:?} missing");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Each frame's detections (as the ROIs say) and near misses (as the documented JSON says).
type Frames = Vec<(Vec<hmg_detect::Detection>, Vec<serde_json::Value>)>;

fn frames_of(pipeline: &gst::Pipeline, sink: &str) -> std::sync::Arc<std::sync::Mutex<Frames>> {
    let out = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = out.clone();
    common::appsink(pipeline, sink).set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| {
                let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let buf = sample.buffer().ok_or(gst::FlowError::Error)?;
                let near = match gst::meta::CustomMeta::from_buffer(buf, "HmgNearMisses") {
                    Ok(meta) => {
                        let s = meta.structure();
                        assert_eq!(s.fields().collect::<Vec<_>>(), ["detections"]);
                        let text = s.get::<&str>("detections").expect("a string");
                        let list: serde_json::Value = serde_json::from_str(text).unwrap();
                        let list = list.as_array().unwrap().clone();
                        assert!(!list.is_empty(), "the meta only on frames that have some");
                        list
                    }
                    Err(_) => Vec::new(),
                };
                keep.lock()
                    .unwrap()
                    .push((gsthmg::detections_from_buffer(buf), near));
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    out
}

#[test]
fn near_misses_are_what_the_lower_threshold_adds_and_the_rest_is_unchanged() {
    // One inference, two yolonms: conf 0.15 alone, and conf 0.25 with near misses down to 0.15.
    let description = format!(
        "filesrc location={} ! decodebin ! videoconvert ! hailoinfer model={} ! tee name=t \
         t. ! queue ! yolonms conf=0.15 ! appsink name=low sync=false \
         t. ! queue ! yolonms conf=0.25 near-misses=0.1 ! appsink name=near sync=false",
        common::testdata().join("video/bikes.mp4").display(),
        common::model("yolov12n.onnx"),
    );
    let pipeline = common::launch(&description);
    let low = frames_of(&pipeline, "low");
    let near = frames_of(&pipeline, "near");
    common::run_to_end(&pipeline).unwrap();
    use gst::prelude::*;
    pipeline.set_state(gst::State::Null).unwrap();
    let (low, near) = (low.lock().unwrap(), near.lock().unwrap());
    assert_eq!(low.len(), near.len());
    let (mut near_total, mut kept_total) = (0, 0);
    for (i, ((all, _), (kept, misses))) in low.iter().zip(near.iter()).enumerate() {
        let above: Vec<_> = all.iter().filter(|d| d.confidence > 0.25).collect();
        let below: Vec<serde_json::Value> = all
            .iter()
            .filter(|d| d.confidence <= 0.25)
            .map(|d| d.to_json())
            .collect();
        assert_eq!(
            kept.iter().collect::<Vec<_>>(),
            above,
            "frame {i}: the ROIs"
        );
        assert_eq!(misses, &below, "frame {i}: the near misses");
        near_total += misses.len();
        kept_total += kept.len();
    }
    // The clip has both, so the comparison could fail either way.
    assert!(
        near_total > 0 && kept_total > 0,
        "{near_total} {kept_total}"
    );
}
