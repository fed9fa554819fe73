// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg dataset init | verify | split` on generated datasets with every kind of defect.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hmg_e2e::*;

fn hmg(dir: &Path, args: &[&str]) -> Output {
    Command::new(profile_dir().join("hmg"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn write(path: PathBuf, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// `datasets/` with data.yaml (drone, IR-Drone) and the six test images in train/.
fn dataset(name: &str) -> PathBuf {
    let dir = temp_dir(name);
    let out = hmg(
        &dir,
        &["dataset", "init", "datasets", "--names", "drone,IR-Drone"],
    );
    assert!(out.status.success(), "{}", text(&out));
    for entry in std::fs::read_dir(testdata().join("images")).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(
            &p,
            dir.join("datasets/train/images")
                .join(p.file_name().unwrap()),
        )
        .unwrap();
    }
    dir
}

#[test]
fn test_verify_reports_each_defect_like_the_golden_report() {
    let dir = dataset("dataset-verify");
    let train = dir.join("datasets/train");
    write(
        train.join("labels/dog.txt"),
        "0 0.5 0.5 0.2 0.2\n1 0.3 0.3 0.1 0.1\n",
    );
    write(
        train.join("labels/eagle.txt"),
        "0 0.5 0.5 0.2 0.2\n0 0.5 0.5 0.2 0.2\n",
    );
    write(
        train.join("labels/person.txt"),
        "2 0.5 0.5 0.2 0.2\n0 1.5 0.5 0.2 0.2\n0 0.5 0.5 0 0.2\nhello\n1 0.4 0.6 0.2 0.3\n",
    );
    write(train.join("labels/astronaut.txt"), "");
    write(train.join("labels/coffee.txt"), "1 0.5 0.5 0.3 0.3\n");
    write(train.join("labels/ghost.txt"), "0 0.1 0.1 0.1 0.1\n");
    write(train.join("images/broken.png"), "not a png");
    // camera.png keeps no label file.

    let out = hmg(&dir, &["dataset", "verify", "datasets"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report = String::from_utf8(out.stdout).unwrap();
    let golden = std::fs::read_to_string(repo().join("tests/golden/dataset-verify.txt")).unwrap();
    assert_eq!(
        report, golden,
        "report differs from tests/golden/dataset-verify.txt:\n{report}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("7 error(s) in datasets"));

    let out = hmg(&dir, &["dataset", "verify", "datasets/data.yaml", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let kinds: Vec<&str> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    for kind in [
        "corrupt-image",
        "missing-label",
        "class-out-of-range",
        "outside-image",
        "zero-area",
        "malformed-line",
        "duplicate-box",
        "orphan-label",
        "empty-annotations",
        "empty-split",
    ] {
        assert!(kinds.contains(&kind), "{kind} not in {kinds:?}");
    }
    assert_eq!(v["splits"][0]["images"], 7);
    assert_eq!(v["classes"][1]["boxes"][0], 3);

    // Fixed, it passes (warnings only: exit code 0).
    for f in ["images/broken.png", "labels/ghost.txt"] {
        std::fs::remove_file(train.join(f)).unwrap();
    }
    write(train.join("labels/person.txt"), "1 0.4 0.6 0.2 0.3\n");
    write(train.join("labels/camera.txt"), "");
    let out = hmg(&dir, &["dataset", "verify", "datasets"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("result: 0 error(s)"), "{}", text(&out));
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn test_split_is_stratified_reproducible_and_writes_data_yaml() {
    let mut results = Vec::new();
    for (name, seed) in [("split-a", "0"), ("split-b", "0"), ("split-c", "7")] {
        let dir = dataset(name);
        let labels = dir.join("datasets/train/labels");
        write(labels.join("dog.txt"), "1 0.5 0.5 0.2 0.2\n");
        write(labels.join("coffee.txt"), "1 0.5 0.5 0.3 0.3\n");
        write(labels.join("eagle.txt"), "0 0.5 0.5 0.2 0.2\n");
        write(labels.join("person.txt"), "0 0.5 0.5 0.2 0.2\n");
        write(labels.join("astronaut.txt"), "");
        // The user's own keys and comments survive the split.
        let yaml_path = dir.join("datasets/data.yaml");
        let mut mine = std::fs::read_to_string(&yaml_path).unwrap();
        mine += "# kept: my notes\ntest: test/images\ndownload: https://example.com/set.zip\n";
        std::fs::write(&yaml_path, mine).unwrap();
        // camera.png has no label: it stays in train, untouched.
        let out = hmg(
            &dir,
            &[
                "dataset", "split", "datasets", "--val", "0.5", "--seed", seed,
            ],
        );
        assert!(out.status.success(), "{}", text(&out));
        assert!(
            text(&out).contains("train 2 images, val 3 images"),
            "{}",
            text(&out)
        );
        assert!(
            text(&out).contains("1 image(s) without a label file"),
            "{}",
            text(&out)
        );
        let val = listing(&dir.join("datasets/val/images"));
        // One of each class's two images went to val; labels moved with their images.
        let has = |names: &[&str]| {
            val.iter()
                .filter(|v| names.iter().any(|n| v.starts_with(n)))
                .count()
        };
        assert_eq!(has(&["dog", "coffee"]), 1, "{val:?}");
        assert_eq!(has(&["eagle", "person"]), 1, "{val:?}");
        assert_eq!(
            has(&["astronaut"]),
            1,
            "the one negative sample rounds to val: {val:?}"
        );
        for v in &val {
            let stem = v.rsplit_once('.').unwrap().0;
            assert!(
                dir.join(format!("datasets/val/labels/{stem}.txt"))
                    .is_file()
            );
        }
        assert!(dir.join("datasets/train/images/camera.png").is_file());
        let yaml = std::fs::read_to_string(dir.join("datasets/data.yaml")).unwrap();
        let abs = std::fs::canonicalize(dir.join("datasets")).unwrap();
        assert!(
            yaml.contains(&format!("val: {}/val/images\n", abs.display())),
            "{yaml}"
        );
        assert!(
            yaml.contains("nc: 2\nnames:\n  0: drone\n  1: IR-Drone\n"),
            "{yaml}"
        );
        assert!(
            yaml.contains(
                "# kept: my notes\ntest: test/images\ndownload: https://example.com/set.zip\n"
            ),
            "{yaml}"
        );
        // Splitting again changes nothing.
        let out = hmg(
            &dir,
            &[
                "dataset", "split", "datasets", "--val", "0.5", "--seed", seed,
            ],
        );
        assert!(text(&out).contains("(0 moved)"), "{}", text(&out));
        results.push(val);
    }
    assert_eq!(results[0], results[1], "same seed, same split");
}

#[test]
fn test_dataset_commands_refuse_bad_input_with_exit_2() {
    let dir = dataset("dataset-usage");
    let cases: [(&[&str], &str); 5] = [
        (
            &["dataset", "verify", "nowhere"],
            "'nowhere' does not exist",
        ),
        (
            &["dataset", "split", "datasets", "--val", "1.5"],
            "--val 1.5",
        ),
        (
            &["dataset", "split", "nowhere"],
            "has no train/ or val/ folder",
        ),
        (
            &["dataset", "init", "datasets", "--names", "a,b,c"],
            "pass --force",
        ),
        (
            &["dataset", "init", "other", "--names", "a,,b"],
            "empty class name",
        ),
    ];
    for (args, message) in cases {
        let out = hmg(&dir, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(message), "{args:?}: {}", text(&out));
    }
    // The refused init left the existing data.yaml as it was.
    let yaml = std::fs::read_to_string(dir.join("datasets/data.yaml")).unwrap();
    assert!(yaml.contains("1: IR-Drone"));
}

/// Label cases at the edges of the format: (name, label file text or None for no file,
/// whether hmg is deliberately stricter than ultralytics there, with the kind it reports).
const EDGE_CASES: &[(&str, Option<&str>, Option<&str>)] = &[
    ("bom", Some("\u{feff}0 0.5 0.5 0.2 0.2\n"), None),
    ("polygon", Some("1 0.1 0.1 0.4 0.1 0.4 0.5 0.1 0.5\n"), None),
    ("integral-float-class", Some("1.0 0.5 0.5 0.2 0.2\n"), None),
    ("edge-within-1-percent", Some("0 0.5 0.5 1.005 0.2\n"), None),
    (
        "negative-within-1-percent",
        Some("0 -0.005 0.5 0.2 0.2\n"),
        None,
    ),
    ("blank-lines", Some("\n\n0 0.5 0.5 0.2 0.2  \n\n"), None),
    (
        "duplicate",
        Some("0 0.5 0.5 0.2 0.2\n0 0.5 0.5 0.2 0.2\n"),
        None,
    ),
    ("empty", Some(""), None),
    ("beyond-1-percent", Some("0 0.5 0.5 1.02 0.2\n"), None),
    (
        "mixed-rows",
        Some("1 0.1 0.1 0.4 0.1 0.4 0.5\n0 0.5 0.5 0.2 0.2\n"),
        None,
    ),
    ("class-out-of-range", Some("2 0.5 0.5 0.2 0.2\n"), None),
    ("malformed", Some("hello\n"), None),
    ("six-fields", Some("0 0.5 0.5 0.2 0.2 0.9\n"), None),
    ("odd-polygon", Some("0 0.1 0.1 0.4 0.1 0.4 0.5 0.1\n"), None),
    ("negative-class", Some("-1 0.5 0.5 0.2 0.2\n"), None),
    ("fractional-class", Some("0.5 0.5 0.5 0.2 0.2\n"), None),
    ("zero-area", Some("0 0.5 0.5 0 0.2\n"), Some("zero-area")),
    ("no-label-file", None, Some("missing-label")),
];

/// `hmg dataset verify` against ultralytics' own check of each pair on the same files: an image
/// ultralytics would drop has an error in hmg's report, and an image hmg reports an error on is
/// one ultralytics drops, except where hmg is deliberately stricter (a zero-area box, an image
/// without a label file: both train silently as something the user did not mean).
#[test]
fn test_verify_agrees_with_ultralytics_verify_image_label() {
    let dir = dataset("dataset-verify-ultralytics");
    let train = dir.join("datasets/train");
    // The six test pictures stay (with good labels); every case gets its own copy of one.
    for entry in std::fs::read_dir(train.join("images")).unwrap() {
        let p = entry.unwrap().path();
        let stem = p.file_stem().unwrap().to_str().unwrap().to_string();
        write(
            train.join(format!("labels/{stem}.txt")),
            "0 0.5 0.5 0.2 0.2\n",
        );
    }
    let source = testdata().join("images/coffee.png");
    let mut cases: Vec<(String, Option<&str>, Option<&str>)> = EDGE_CASES
        .iter()
        .map(|(n, l, s)| (n.to_string(), *l, *s))
        .collect();
    for (name, label, _) in &cases {
        std::fs::copy(&source, train.join(format!("images/{name}.png"))).unwrap();
        if let Some(text) = label {
            write(train.join(format!("labels/{name}.txt")), text);
        }
    }
    // Two image faults: not a picture at all, and one smaller than ultralytics takes.
    write(train.join("images/corrupt.png"), "not a png");
    write(train.join("labels/corrupt.txt"), "0 0.5 0.5 0.2 0.2\n");
    image::RgbImage::new(8, 8)
        .save(train.join("images/tiny.png"))
        .unwrap();
    write(train.join("labels/tiny.txt"), "0 0.5 0.5 0.2 0.2\n");
    cases.push(("corrupt".into(), None, None));
    cases.push(("tiny".into(), None, None));
    // A JPEG cut short (a copy that did not finish), the same with bytes after its end, and whole.
    let jpeg = std::fs::read(testdata().join("images/person.jpg")).unwrap();
    let cut_short = &jpeg[..jpeg.len() * 4 / 5];
    std::fs::write(train.join("images/jpeg-cut-short.jpg"), cut_short).unwrap();
    let trailing = [jpeg.as_slice(), b"\x00 trailer from a camera"].concat();
    std::fs::write(train.join("images/jpeg-data-after.jpg"), trailing).unwrap();
    std::fs::write(train.join("images/jpeg-whole.jpg"), &jpeg).unwrap();
    for name in ["jpeg-cut-short", "jpeg-data-after", "jpeg-whole"] {
        write(
            train.join(format!("labels/{name}.txt")),
            "0 0.5 0.5 0.2 0.2\n",
        );
        cases.push((name.into(), None, None));
    }
    let picture = |name: &str| {
        let extension = if name.starts_with("jpeg-") {
            "jpg"
        } else {
            "png"
        };
        format!("images/{name}.{extension}")
    };

    let out = hmg(&dir, &["dataset", "verify", "datasets", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let problems = report["problems"].as_array().unwrap();
    let kinds_of = |name: &str, severity: &str| -> Vec<String> {
        problems
            .iter()
            .filter(|p| p["severity"] == severity)
            .filter(|p| {
                let f = p["file"].as_str().unwrap();
                f.ends_with(&format!("/{}", picture(name)))
                    || f.ends_with(&format!("/labels/{name}.txt"))
            })
            .map(|p| p["kind"].as_str().unwrap().to_string())
            .collect()
    };

    let mut args: Vec<std::ffi::OsString> = vec!["2".into()];
    for (name, _, _) in &cases {
        args.push(train.join(picture(name)).into());
        args.push(train.join(format!("labels/{name}.txt")).into());
    }
    let script = std::fs::read_to_string(repo().join("tests/reference/verify_labels.py")).unwrap();
    let arg_refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    let reference = python_json(&dir, &script, &arg_refs);
    let pairs = reference["pairs"].as_array().unwrap();
    println!("ultralytics {}", reference["ultralytics"]);
    for ((name, _, stricter), verdict) in cases.iter().zip(pairs) {
        let dropped = verdict["corrupt"].as_bool().unwrap();
        let errors = kinds_of(name, "error");
        let warnings = kinds_of(name, "warning");
        println!(
            "{name:28} ultralytics: {:7} hmg errors {errors:?} warnings {warnings:?}",
            if dropped { "drops" } else { "trains" }
        );
        match stricter {
            Some(kind) => {
                assert!(!dropped, "{name}: ultralytics drops it ({verdict})");
                assert_eq!(errors, vec![kind.to_string()], "{name}");
            }
            None => assert_eq!(
                !errors.is_empty(),
                dropped,
                "{name}: hmg errors {errors:?}, ultralytics {verdict}"
            ),
        }
        let duplicates = verdict["message"].as_str().unwrap().contains("duplicate");
        assert_eq!(
            warnings.iter().any(|k| k == "duplicate-box"),
            duplicates,
            "{name}: {warnings:?} vs {verdict}"
        );
        // ultralytics rewrites a JPEG with data after its end ("corrupt JPEG restored").
        let restored = verdict["message"]
            .as_str()
            .unwrap()
            .contains("corrupt JPEG restored");
        assert_eq!(
            warnings.iter().any(|k| k == "data-after-jpeg"),
            restored,
            "{name}: {warnings:?} vs {verdict}"
        );
    }
    // Both JPEG faults were among what ultralytics saw.
    let said = |what: &str| {
        pairs
            .iter()
            .any(|p| p["message"].as_str().unwrap().contains(what))
    };
    assert!(
        said("corrupt JPEG restored") && said("truncated"),
        "{reference}"
    );
}
