// SPDX-License-Identifier: MIT OR Apache-2.0
//! Model-assisted labelling: `hmg annotate --model` in headless Chromium shows the model's boxes
//! as suggestions (checked against ultralytics' reference detections, classes matched by name to
//! a dataset that numbers them differently); Enter accepts them all, a click and `x` drop one,
//! Space saves plain YOLO files. `--auto-label` fills a review queue that `hmg dataset verify`
//! counts and `hmg train` refuses; saving a picture takes it off the queue. Pictures `hmg detect
//! --capture` kept are suggested their own predictions without any model.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use hmg_e2e::webdriver::{Browser, http};
use hmg_e2e::*;

/// Dataset class names numbered unlike COCO's, so suggestions must be matched by name.
const NAMES: [&str; 3] = ["dog", "person", "car"];

fn hmg(dir: &Path) -> Command {
    let mut c = Command::new(profile_dir().join("hmg"));
    c.current_dir(dir);
    c
}

fn setup(name: &str, pictures: &[&str]) -> PathBuf {
    let dir = temp_dir(name);
    let out = hmg(&dir)
        .args(["dataset", "init", "datasets", "--names", &NAMES.join(",")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    std::fs::create_dir_all(dir.join("pictures")).unwrap();
    for p in pictures {
        std::fs::copy(
            testdata().join("images").join(p),
            dir.join("pictures").join(p),
        )
        .unwrap();
    }
    dir
}

/// A box of a dataset class: class, confidence, corners in pixels.
type Labelled = (u32, f64, [f64; 4]);

/// ultralytics' detections of `image` (conf ≥ `conf`) whose class the dataset has, as
/// (dataset class, confidence, box in pixels), strongest first; and the picture's size.
fn reference(image: &str, conf: f64) -> (Vec<Labelled>, (f64, f64)) {
    let r: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(testdata().join("reference/yolov12n.json")).unwrap(),
    )
    .unwrap();
    let entry = &r["images"][image];
    let mut out: Vec<Labelled> = entry["detections"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["confidence"].as_f64().unwrap() >= conf)
        .filter_map(|d| {
            let class = NAMES
                .iter()
                .position(|n| *n == d["class_name"].as_str().unwrap())?;
            Some((
                class as u32,
                d["confidence"].as_f64().unwrap(),
                json_box(d, "box_xyxy"),
            ))
        })
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1));
    let size = (
        entry["width"].as_f64().unwrap(),
        entry["height"].as_f64().unwrap(),
    );
    (out, size)
}

/// A YOLO line (class, cx, cy, w, h) as a pixel box.
fn line_box(line: &[f64], (w, h): (f64, f64)) -> [f64; 4] {
    [
        (line[1] - line[3] / 2.0) * w,
        (line[2] - line[4] / 2.0) * h,
        (line[1] + line[3] / 2.0) * w,
        (line[2] + line[4] / 2.0) * h,
    ]
}

/// Each reference box has one saved line of its class over it (IoU ≥ 0.9), and no line is left.
fn assert_lines_match(lines: &[Vec<f64>], want: &[Labelled], size: (f64, f64)) {
    assert_eq!(lines.len(), want.len(), "{lines:?} vs {want:?}");
    for (class, _, b) in want {
        assert!(
            lines
                .iter()
                .any(|l| l[0] == *class as f64 && box_iou(line_box(l, size), *b) >= 0.9),
            "no saved box of class {class} over {b:?}: {lines:?}"
        );
    }
}

fn start(dir: &Path, extra: &[&str]) -> (std::process::Child, String) {
    let mut child = hmg(dir)
        .args([
            "annotate",
            "--images",
            "pictures",
            "--dataset",
            "datasets/train",
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("annotate.err")).unwrap())
        .spawn()
        .unwrap();
    let (url, _) = annotator_url(&mut child);
    (child, url)
}

/// The annotator's API, with the token of the link it printed.
struct Api {
    base: String,
    token: String,
    agent: ureq::Agent,
}

impl Api {
    fn new(url: &str) -> Self {
        Self {
            base: url.split("/?").next().unwrap().to_string(),
            token: url.split("token=").nth(1).unwrap().to_string(),
            agent: http(),
        }
    }

    fn get(&self, path: &str) -> serde_json::Value {
        self.agent
            .get(format!("{}{path}", self.base))
            .header("X-Hmg-Token", &self.token)
            .call()
            .unwrap()
            .body_mut()
            .read_json()
            .unwrap()
    }

    fn post(&self, path: &str, body: serde_json::Value) -> u16 {
        self.agent
            .post(format!("{}{path}", self.base))
            .header("X-Hmg-Token", &self.token)
            .send_json(body)
            .unwrap()
            .status()
            .as_u16()
    }

    fn quit(&self) {
        let _ = self.post("/api/quit", serde_json::json!(null));
    }
}

#[test]
fn suggestions_from_the_model_are_accepted_dropped_and_saved_as_plain_labels() {
    let dir = setup("annotate-suggest", &["dog.jpg", "person.jpg"]);
    let model = testdata().join("models/yolov12n.onnx");
    let (mut child, url) = start(&dir, &["--model", model.to_str().unwrap()]);
    let browser = Browser::start(dir.join("profile"));
    browser.goto(&url);
    browser.wait_for(
        "window.hmgReady && document.getElementById('file').textContent.startsWith('dog.jpg') && window.hmgSuggestions",
    );
    // Shown: the model's boxes at the default 0.25, those of classes the dataset has.
    let (want, size) = reference("dog.jpg", 0.25);
    assert!(want.len() >= 2, "{want:?}");
    let shown = browser.script("return window.hmgSuggestions");
    let shown = shown.as_array().unwrap();
    assert_eq!(shown.len(), want.len(), "{shown:?} vs {want:?}");
    for ((class, conf, b), s) in want.iter().zip(shown) {
        let f = |k: &str| s[k].as_f64().unwrap();
        assert_eq!(f("cls"), *class as f64, "{s}");
        assert!((f("conf") - conf).abs() < 0.02, "{s} vs {conf}");
        assert!(
            box_iou([f("x1"), f("y1"), f("x2"), f("y2")], *b) >= 0.95,
            "{s} vs {b:?}"
        );
    }
    browser.key("\u{E007}"); // Enter: accept them all
    browser.key(" "); // Space: save, next
    browser.wait_for(
        "window.hmgReady && document.getElementById('file').textContent.startsWith('person.jpg') && window.hmgSuggestions",
    );
    let dog = label_lines(&dir.join("datasets/train/labels/dog.txt"));
    assert!(
        dog.iter().all(|l| l.len() == 5),
        "plain YOLO lines: {dog:?}"
    );
    assert_lines_match(&dog, &want, size);

    // person.jpg: choose the strongest suggestion with a click, drop it with x, accept the rest.
    let (want, size) = reference("person.jpg", 0.25);
    assert!(want.len() >= 2, "{want:?}");
    let click = browser.script(
        "const s = window.hmgSuggestions[0], v = window.hmgView; \
         return [v.left + v.ox + (s.x1 + s.x2) / 2 * v.scale, v.top + v.oy + (s.y1 + s.y2) / 2 * v.scale, s.x1, s.y1, s.x2, s.y2];",
    );
    let c: Vec<f64> = click
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    // Another suggestion may lie under the same point: the smallest one there is chosen.
    browser.click((c[0], c[1]));
    let chosen = browser.script(
        "const t = document.getElementById('suggestions').textContent; return t.split('\\n').find(l => l.startsWith('▶')) || ''",
    );
    assert!(
        !chosen.as_str().unwrap().is_empty(),
        "a click chooses a suggestion"
    );
    let before = browser
        .script("return window.hmgSuggestions")
        .as_array()
        .unwrap()
        .len();
    browser.key("x");
    let left = browser.script("return window.hmgSuggestions");
    assert_eq!(left.as_array().unwrap().len(), before - 1);
    browser.key("\u{E007}");
    browser.key(" ");
    browser.wait_for("window.hmgReady");
    let person = label_lines(&dir.join("datasets/train/labels/person.txt"));
    assert_eq!(person.len(), want.len() - 1, "{person:?}");
    let kept: Vec<Labelled> = left
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let f = |k: &str| s[k].as_f64().unwrap();
            (
                f("cls") as u32,
                f("conf"),
                [f("x1"), f("y1"), f("x2"), f("y2")],
            )
        })
        .collect();
    assert_lines_match(&person, &kept, size);
    browser.key("\u{E00C}");
    browser.wait_for("window.hmgClosed === true");
    assert!(annotator_exit(&mut child).success());
    assert!(
        !dir.join("datasets/train/unreviewed.json").exists(),
        "nothing auto-labelled"
    );
}

#[test]
fn auto_label_fills_a_review_queue_that_verify_counts_and_train_refuses() {
    let pictures = ["dog.jpg", "person.jpg", "eagle.jpg"];
    let dir = setup("annotate-auto", &pictures);
    let model = testdata().join("models/yolov12n.onnx");
    let out = hmg(&dir)
        .args([
            "annotate",
            "--images",
            "pictures",
            "--dataset",
            "datasets/train",
        ])
        .args([
            "--model",
            model.to_str().unwrap(),
            "--auto-label",
            "--no-page",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let mut weakest: BTreeMap<String, Option<f64>> = BTreeMap::new();
    for p in pictures {
        let (want, size) = reference(p, 0.25);
        let stem = p.trim_end_matches(".jpg");
        let lines = label_lines(&dir.join(format!("datasets/train/labels/{stem}.txt")));
        assert_lines_match(&lines, &want, size);
        weakest.insert(p.into(), want.iter().map(|w| w.1).reduce(f64::min));
    }
    let queue: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("datasets/train/unreviewed.json")).unwrap())
            .unwrap();
    assert_eq!(queue["pictures"].as_object().unwrap().len(), 3, "{queue}");

    let verify = |dir: &Path| {
        hmg(dir)
            .args(["dataset", "verify", "datasets"])
            .output()
            .unwrap()
    };
    let out = verify(&dir);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("unreviewed (labels a model wrote): train 3"),
        "{}",
        text(&out)
    );
    let out = hmg(&dir)
        .args(["train", "datasets/data.yaml", "--epochs", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("not reviewed"), "{}", text(&out));

    // The page walks the queue least certain first (the model's weakest kept box; none last).
    let (mut child, url) = start(&dir, &[]);
    let api = Api::new(&url);
    let state = api.get("/api/state");
    let order: Vec<&str> = state["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    let mut expected: Vec<(&String, &Option<f64>)> = weakest.iter().collect();
    expected.sort_by(|a, b| match (a.1, b.1) {
        (Some(x), Some(y)) => x.total_cmp(y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.0.cmp(b.0),
    });
    let expected: Vec<&str> = expected.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(order, expected);
    assert_eq!(state["start"], 0);
    assert!(state["images"][0]["unreviewed"].as_bool().unwrap());
    // Saving the first (as a person would after checking it) takes it off the queue.
    let saved = api.post(
        "/api/labels/0",
        serde_json::json!([{"class": 0, "cx": 0.5, "cy": 0.5, "w": 0.2, "h": 0.2}]),
    );
    assert_eq!(saved, 200);
    api.quit();
    assert!(annotator_exit(&mut child).success());
    let out = verify(&dir);
    assert!(
        text(&out).contains("unreviewed (labels a model wrote): train 2"),
        "{}",
        text(&out)
    );
}

#[test]
fn captured_pictures_are_suggested_their_own_predictions() {
    let dir = setup("annotate-captured", &[]);
    let out = hmg(&repo())
        .args(["detect", "--model", "models/yolov12n-coco.onnx"])
        .args([
            "--input",
            "media/bikes.mp4",
            "--headless",
            "--capture",
            "all",
        ])
        .args(["--capture-rate", "20", "--capture-dir"])
        .arg(dir.join("pictures"))
        .arg("--output")
        .arg(dir.join("out"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let (mut child, url) = start(&dir, &[]);
    let api = Api::new(&url);
    let state = api.get("/api/state");
    let mut compared = 0;
    for (i, image) in state["images"].as_array().unwrap().iter().enumerate() {
        let name = image["name"].as_str().unwrap();
        let record: serde_json::Value = serde_json::from_slice(
            &std::fs::read(dir.join("pictures").join(name).with_extension("json")).unwrap(),
        )
        .unwrap();
        let found = api.get(&format!("/api/suggestions/{i}"));
        assert_eq!(found["source"], "capture", "{found}");
        let (w, h) = (
            record["width"].as_f64().unwrap(),
            record["height"].as_f64().unwrap(),
        );
        let ours: Vec<&serde_json::Value> = record["detections"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| NAMES.contains(&d["label"].as_str().unwrap()))
            .collect();
        let boxes = found["boxes"].as_array().unwrap();
        assert_eq!(boxes.len(), ours.len(), "{found} vs {record}");
        assert_eq!(
            found["other_classes"].as_u64().unwrap() as usize,
            record["detections"].as_array().unwrap().len() - ours.len()
        );
        for d in ours {
            let b: Vec<f64> = d["box"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            let class = NAMES.iter().position(|n| *n == d["label"]).unwrap() as f64;
            assert!(
                boxes.iter().any(|s| {
                    let f = |k: &str| s[k].as_f64().unwrap();
                    f("class") == class
                        && (f("cx") - (b[0] + b[2]) / 2.0 / w).abs() < 1e-4
                        && (f("w") - (b[2] - b[0]) / w).abs() < 1e-4
                        && (f("cy") - (b[1] + b[3]) / 2.0 / h).abs() < 1e-4
                }),
                "{d} not suggested: {found}"
            );
            compared += 1;
        }
    }
    assert!(compared > 0, "the captures held no dog, person or car");
    api.quit();
    assert!(annotator_exit(&mut child).success());
}
