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
    assert_eq!(version, 4, "bump the contract version with the tables");
    // The tracking param comes from dettrack, the events from detzone: checked below.
    let documented: BTreeMap<_, _> = documented
        .into_iter()
        .filter(|((structure, _), _)| {
            !["tracking", "HmgEvents", "event", "HmgZones"].contains(&structure.as_str())
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
