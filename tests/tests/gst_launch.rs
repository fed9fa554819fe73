// SPDX-License-Identifier: MIT OR Apache-2.0
//! The built plugin from plain GStreamer tools, as the README shows.

use hmg_e2e::*;

#[test]
fn test_gst_inspect_documents_every_element_and_property() {
    let dir = temp_dir("inspect");
    // gst-inspect-1.0 <name> must succeed and mention each of these (for the plugin "hmg": its
    // elements; for an element: its properties and the words a user looks for).
    let documented: [(&str, &[&str]); 9] = [
        (
            "hmg",
            &[
                "hailoinfer",
                "yolodecode",
                "yolonms",
                "detoverlay",
                "dettrack",
                "detzone",
                "detlog",
                "detcapture",
                "detmqtt",
                "detverify",
                "calibpack",
            ][..],
        ),
        (
            "detcapture",
            &[
                "location",
                "mode",
                "band-low",
                "band-high",
                "max-rate",
                "max-size-mb",
                "captured",
                "dropped",
                "skipped",
                "classes=NAME,NAME",
            ][..],
        ),
        (
            "dettrack",
            &[
                "high-thresh",
                "low-thresh",
                "new-track-thresh",
                "match-thresh",
                "track-buffer",
                "fuse-score",
                "classes",
                "keep-untracked",
                "active-tracks",
                "ByteTrack",
            ][..],
        ),
        (
            "detzone",
            &["config", "counts", "hmg-zone-event", "HmgEvents", "dwell"][..],
        ),
        (
            "calibpack",
            &["location", "num-samples", "width", "height", "uint8"][..],
        ),
        (
            "detverify",
            &[
                "mode",
                "images",
                "labels-dir",
                "max-false-positives",
                "min-map50",
                "location",
                "fail",
                "false-positives",
                "map50",
                "map50-95",
                "passed",
            ][..],
        ),
        (
            "detmqtt",
            &[
                "location",
                "spool-dir",
                "spool-max-messages",
                "credentials-file",
                "ca-file",
                "cert-file",
                "key-file",
                "dropped",
                "HMG_MQTT_USERNAME", // where credentials come from instead of the command line
            ][..],
        ),
        (
            "hailoinfer",
            &[
                "model",
                "hef",
                "backend",
                "labels",
                "batch-size",
                "interval",
                "vdevice-group",
                "ultralytics data.yaml",
            ][..],
        ),
        (
            "yolonms",
            &[
                "conf",
                "iou",
                "max-det",
                "class-agnostic",
                "classes",
                "PAUSED or PLAYING state",
            ][..],
        ),
    ];
    for (name, words) in documented {
        let out = gst_command("gst-inspect-1.0", &dir)
            .arg(name)
            .output()
            .unwrap();
        let t = text(&out);
        assert!(out.status.success(), "{name}: {t}");
        for w in words {
            assert!(t.contains(w), "{name}: {w} missing:\n{t}");
        }
    }
}

#[test]
fn test_gst_launch_graph_finds_the_dog() {
    let dir = temp_dir("launch");
    let log = dir.join("dets.jsonl");
    let mp4 = dir.join("out.mp4");
    let graph = format!(
        "filesrc location={} ! jpegdec ! imagefreeze num-buffers=3 ! videoconvert ! hailoinfer model={} ! yolonms conf=0.25 iou=0.45 ! detlog location={} ! detoverlay ! videoconvert ! x264enc ! mp4mux ! filesink location={}",
        testdata().join("images/dog.jpg").display(),
        repo().join("models/yolov12n-coco.onnx").display(),
        log.display(),
        mp4.display()
    );
    let out = gst_command("gst-launch-1.0", &dir)
        .args(graph.split(' '))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    let labels: Vec<&str> = lines[0]["detections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["label"].as_str().unwrap())
        .collect();
    // What ultralytics finds in the picture at the same thresholds.
    let mut labels: Vec<String> = labels.iter().map(|l| l.to_string()).collect();
    labels.sort();
    let want: Vec<String> = reference_image_labels(&["dog.jpg"])
        .into_iter()
        .flat_map(|(label, n)| std::iter::repeat_n(label, n))
        .collect();
    assert_eq!(labels, want);
    assert!(std::fs::metadata(&mp4).unwrap().len() > 1000);
}

fn failing_launch(dir: &std::path::Path, model: &str, envs: &[(&str, &str)]) -> String {
    let graph = format!(
        "videotestsrc num-buffers=2 ! video/x-raw,format=RGB,width=64,height=48 ! hailoinfer model={model} ! fakesink"
    );
    let mut c = gst_command("gst-launch-1.0", dir);
    for (k, v) in envs {
        c.env(k, v);
    }
    let out = c.args(graph.split(' ')).output().unwrap();
    let t = text(&out);
    assert!(!out.status.success(), "must fail:\n{t}");
    assert!(
        !t.contains("panicked") && out.status.code().is_some(),
        "no panic, no abort:\n{t}"
    );
    t
}

#[test]
fn test_gst_launch_exits_nonzero_with_a_clear_error() {
    let dir = temp_dir("errors");
    let t = failing_launch(&dir, "/no/such/model.onnx", &[]);
    assert!(
        t.contains("/no/such/model.onnx") && t.contains("does not exist"),
        "{t}"
    );

    let model = repo()
        .join("models/yolov12n-coco.onnx")
        .display()
        .to_string();
    let t = failing_launch(
        &dir,
        &model,
        &[("ORT_DYLIB_PATH", "/no/such/libonnxruntime.so")],
    );
    assert!(
        t.contains("/no/such/libonnxruntime.so") && t.contains("scripts/setup"),
        "{t}"
    );

    let not_onnx = dir.join("readme.onnx");
    std::fs::copy(repo().join("README.md"), &not_onnx).unwrap();
    let t = failing_launch(&dir, &not_onnx.display().to_string(), &[]);
    assert!(t.contains("readme.onnx"), "{t}");

    let out = gst_command("gst-launch-1.0", &dir)
        .args(format!("videotestsrc num-buffers=1 ! video/x-raw,format=YUY2 ! hailoinfer model={model} ! fakesink").split(' '))
        .output()
        .unwrap();
    assert!(!out.status.success(), "unsupported caps must fail");
}

/// detverify in a plain gst-launch-1.0 graph: mAP against labels written from ultralytics'
/// reference detections (so our graph should find them all), and a failing blank check.
#[test]
fn test_detverify_map_on_reference_labels_and_blank_failure() {
    let dir = temp_dir("detverify");
    let images = dir.join("set/images");
    let labels = dir.join("set/labels");
    std::fs::create_dir_all(&images).unwrap();
    std::fs::create_dir_all(&labels).unwrap();
    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(testdata().join("reference/yolov12n.json")).unwrap(),
    )
    .unwrap();
    for (i, name) in ["dog.jpg", "person.jpg", "eagle.jpg"].iter().enumerate() {
        std::fs::copy(
            testdata().join("images").join(name),
            images.join(format!("{i}.jpg")),
        )
        .unwrap();
        let r = &reference["images"][name];
        let (w, h) = (r["width"].as_f64().unwrap(), r["height"].as_f64().unwrap());
        let mut lines = String::new();
        for d in r["detections"].as_array().unwrap() {
            let b: Vec<f64> = d["box_xyxy"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            lines.push_str(&format!(
                "{} {} {} {} {}\n",
                d["class_id"],
                (b[0] + b[2]) / 2.0 / w,
                (b[1] + b[3]) / 2.0 / h,
                (b[2] - b[0]) / w,
                (b[3] - b[1]) / h
            ));
        }
        std::fs::write(labels.join(format!("{i}.txt")), lines).unwrap();
    }
    let model = testdata().join("models/yolov12n.onnx");
    let report = dir.join("report.json");
    let out = gst_command("gst-launch-1.0", &dir)
        .arg("multifilesrc")
        .arg(format!("location={}/%d.jpg", images.display()))
        .args([
            "caps=image/jpeg,framerate=1/1",
            "!",
            "jpegdec",
            "!",
            "videoconvert",
            "!",
            "hailoinfer",
        ])
        .arg(format!("model={}", model.display()))
        .args([
            "!",
            "yolonms",
            "conf=0.25",
            "!",
            "detverify",
            "mode=map",
            "min-map50=0.9",
        ])
        .arg(format!("images={}", images.display()))
        .arg(format!("location={}", report.display()))
        .args(["!", "fakesink"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["frames"], 3);
    assert_eq!(r["passed"], true);
    // Every labelled box found with its exact coordinates: ultralytics' best AP, 0.995.
    assert!(r["map50"].as_f64().unwrap() > 0.95, "{r}");

    // Everything above 0.0001 on a black frame counts: the check fails and gst-launch says why.
    let out = gst_command("gst-launch-1.0", &dir)
        .args([
            "videotestsrc",
            "pattern=black",
            "num-buffers=2",
            "!",
            "video/x-raw,width=320,height=240",
            "!",
            "videoconvert",
            "!",
            "hailoinfer",
        ])
        .arg(format!("model={}", model.display()))
        .args([
            "!",
            "yolonms",
            "conf=0.0001",
            "!",
            "detverify",
            "mode=blank",
            "!",
            "fakesink",
        ])
        .output()
        .unwrap();
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(
        t.contains("Verification failed") && t.contains("blank frame"),
        "{t}"
    );
}

/// Labels detlog wrote for dog.jpg through `yolonms {nms}`, and what gst-launch said.
fn dog_labels(dir: &std::path::Path, nms: &str) -> (std::collections::BTreeSet<String>, String) {
    let log = dir.join(format!("{}.jsonl", nms.len()));
    let graph = format!(
        "filesrc location={} ! jpegdec ! videoconvert ! hailoinfer model={} ! yolonms conf=0.25 {nms} ! detlog location={} ! fakesink",
        testdata().join("images/dog.jpg").display(),
        repo().join("models/yolov12n-coco.onnx").display(),
        log.display(),
    );
    let out = gst_command("gst-launch-1.0", dir)
        .args(graph.split(' ').filter(|w| !w.is_empty()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let labels = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .flat_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["detections"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["label"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    (labels, text(&out))
}

#[test]
fn test_yolonms_classes_by_id_or_name_keep_only_those() {
    let dir = temp_dir("classes");
    let (all, _) = dog_labels(&dir, "");
    // The picture has more classes than the filter keeps (the filter has something to remove).
    assert!(all.len() >= 3, "{all:?}");
    let mut wanted: Vec<&String> = all.iter().take(2).collect();
    wanted.sort();
    // One by name, one by its id in the model's labels (COCO order, from the model itself).
    let coco = hmg_detect::Detector::open(repo().join("models/yolov12n-coco.onnx"))
        .expect("the bundled model opens")
        .info()
        .labels
        .clone();
    let id = coco
        .iter()
        .position(|l| l == wanted[1])
        .expect("label in the model");
    let (kept, _) = dog_labels(&dir, &format!("classes={},{id}", wanted[0]));
    assert_eq!(kept.iter().collect::<Vec<_>>(), wanted, "all: {all:?}");
    // A name the model does not have matches nothing, and says so.
    let (none, said) = dog_labels(&dir, "classes=unicorn");
    assert!(none.is_empty(), "{none:?}");
    assert!(
        said.contains("unicorn") && said.contains("match nothing"),
        "{said}"
    );
}

/// `yolonms conf` set between two of ultralytics' confidences on the picture (in the widest gap,
/// so that our few-thousandths differences cannot cross it): what scores above stays, what
/// scores below goes.
#[test]
fn test_yolonms_conf_keeps_boxes_above_it_and_drops_those_below() {
    let dir = temp_dir("conf");
    let r: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(testdata().join("reference/yolov12n.json")).unwrap(),
    )
    .unwrap();
    let mut scored: Vec<(f64, String)> = r["images"]["dog.jpg"]["detections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["confidence"].as_f64().unwrap(),
                d["class_name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let gap = (1..scored.len())
        .max_by(|&i, &j| {
            (scored[i - 1].0 - scored[i].0).total_cmp(&(scored[j - 1].0 - scored[j].0))
        })
        .expect("the reference has several boxes on the picture");
    let conf = (scored[gap - 1].0 + scored[gap].0) / 2.0;
    let above: std::collections::BTreeSet<String> =
        scored[..gap].iter().map(|s| s.1.clone()).collect();
    let (kept, said) = dog_labels(&dir, &format!("conf={conf:.4}"));
    assert_eq!(kept, above, "conf {conf:.4} over {scored:?}: {said}");
    // Both sides of the threshold hold a box that the threshold alone decides.
    let (all, _) = dog_labels(&dir, "");
    assert!(
        all.len() > kept.len() && !kept.is_empty(),
        "{all:?} vs {kept:?}"
    );
}

#[test]
fn test_a_labels_file_shorter_than_the_model_is_warned_about() {
    let dir = temp_dir("short-labels");
    let labels = dir.join("two.txt");
    std::fs::write(&labels, "person\nbicycle\n").unwrap();
    let graph = format!(
        "filesrc location={} ! jpegdec ! videoconvert ! hailoinfer model={} labels={} ! yolonms ! fakesink",
        testdata().join("images/dog.jpg").display(),
        repo().join("models/yolov12n-coco.onnx").display(),
        labels.display(),
    );
    let out = gst_command("gst-launch-1.0", &dir)
        .args(graph.split(' '))
        .output()
        .unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    let classes = hmg_detect::Detector::open(repo().join("models/yolov12n-coco.onnx"))
        .expect("the bundled model opens")
        .info()
        .labels
        .len();
    assert!(
        t.contains(&format!("has 2 names but the model has {classes} classes")),
        "{t}"
    );
}
