// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg nms` on saved raw outputs: an ultralytics ONNX output against ultralytics' own
//! detections, Hailo raw heads and a HailoRT NMS buffer against the fixtures' boxes.

use std::fs::File;
use std::path::Path;
use std::process::Command;

use hmg_e2e::*;
use ndarray::{Array1, Array2, ArrayD, IxDyn};
use ndarray_npy::{NpzReader, NpzWriter};

fn nms(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new(profile_dir().join("hmg"))
        .current_dir(repo())
        .arg("nms")
        .args(args)
        .arg("--output")
        .arg(dir.join("detections.npz"))
        .output()
        .unwrap()
}

struct Found {
    boxes: Array2<f32>,
    scores: Array1<f32>,
    class_ids: Array1<i64>,
}

fn read_detections(dir: &Path) -> Found {
    let mut npz = NpzReader::new(File::open(dir.join("detections.npz")).unwrap()).unwrap();
    Found {
        boxes: npz.by_name("boxes").unwrap(),
        scores: npz.by_name("scores").unwrap(),
        class_ids: npz.by_name("class_ids").unwrap(),
    }
}

#[test]
fn test_nms_of_a_saved_ultralytics_output_matches_ultralytics() {
    let dir = temp_dir("nms-raw");
    let out = nms(
        &[
            "--input",
            "tests/fixtures/nms/nudenet320-person-raw.npy",
            "--source-size",
            "640x424",
        ],
        &dir,
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("1 detections (ultralytics-raw layout, input 320x320)"));
    let found = read_detections(&dir);
    let reference: serde_json::Value = serde_json::from_slice(
        &std::fs::read(testdata().join("reference/nudenet_320n.json")).unwrap(),
    )
    .unwrap();
    let expected = reference["images"]["person.jpg"]["detections_square_input"]
        .as_array()
        .unwrap();
    assert_eq!(found.boxes.nrows(), expected.len());
    for (i, e) in expected.iter().enumerate() {
        assert_eq!(found.class_ids[i], e["class_id"].as_i64().unwrap());
        assert!((found.scores[i] as f64 - e["confidence"].as_f64().unwrap()).abs() < 1e-5);
        for (j, v) in e["box_xyxy"].as_array().unwrap().iter().enumerate() {
            assert!((found.boxes[[i, j]] as f64 - v.as_f64().unwrap()).abs() < 0.01);
        }
    }

    // Without --source-size the boxes stay in model-input pixels (letterbox: scale 0.5, top 54).
    let out = nms(
        &["--input", "tests/fixtures/nms/nudenet320-person-raw.npy"],
        &dir,
    );
    assert!(out.status.success(), "{}", text(&out));
    let input_px = read_detections(&dir);
    assert!((input_px.boxes[[0, 0]] - found.boxes[[0, 0]] * 0.5).abs() < 0.01);
    assert!((input_px.boxes[[0, 1]] - (found.boxes[[0, 1]] * 0.5 + 54.0)).abs() < 0.01);
}

/// One recorded Hailo head: HailoRT's name, its uint8 bytes as an array, zero point and scale.
struct Head {
    name: String,
    quantized: ArrayD<u8>,
    zero_point: f64,
    scale: f64,
}

/// The six quantized heads of the Hailo fixture for `image`, and the device NMS's boxes for them.
fn recorded_heads(image: &str) -> (Vec<Head>, serde_json::Value) {
    let fixtures = repo().join("tests/fixtures/hailo");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixtures.join("manifest.json")).unwrap()).unwrap();
    let entry = &manifest["images"][image];
    let bytes = std::fs::read(fixtures.join(entry["heads"].as_str().unwrap())).unwrap();
    let mut offset = 0;
    let mut heads = Vec::new();
    for o in manifest["outputs"].as_array().unwrap() {
        let shape: Vec<usize> = o["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect();
        let len: usize = shape.iter().product();
        let quantized =
            ArrayD::from_shape_vec(IxDyn(&shape), bytes[offset..offset + len].to_vec()).unwrap();
        offset += len;
        heads.push(Head {
            name: o["name"].as_str().unwrap().to_string(),
            quantized,
            zero_point: o["zero_point"].as_f64().unwrap(),
            scale: o["scale"].as_f64().unwrap(),
        });
    }
    (heads, entry["nms_boxes"].clone())
}

/// The heads dequantized, as float arrays named as numpy.savez keys allow.
fn hailo_heads(image: &str) -> (Vec<(String, ArrayD<f32>)>, serde_json::Value) {
    let (heads, boxes) = recorded_heads(image);
    let arrays = heads
        .into_iter()
        .map(|h| {
            let real = h
                .quantized
                .mapv(|q| ((q as f64 - h.zero_point) * h.scale) as f32);
            (h.name.replace('/', "_"), real)
        })
        .collect();
    (arrays, boxes)
}

fn assert_boxes(found: &Found, expected: &serde_json::Value, tolerance: f32) {
    let expected = expected.as_array().unwrap();
    assert_eq!(found.boxes.nrows(), expected.len(), "{expected:?}");
    for (i, e) in expected.iter().enumerate() {
        assert_eq!(found.class_ids[i], e["class_id"].as_i64().unwrap());
        for (j, v) in e["box"].as_array().unwrap().iter().enumerate() {
            let v = v.as_f64().unwrap() as f32;
            assert!(
                (found.boxes[[i, j]] - v).abs() < tolerance,
                "{} vs {v}",
                found.boxes[[i, j]]
            );
        }
    }
}

/// `dir/heads.npz` as numpy.savez writes it: one array per head.
fn write_heads_npz(dir: &Path, arrays: &[(String, ArrayD<f32>)]) -> std::path::PathBuf {
    let path = dir.join("heads.npz");
    let mut npz = NpzWriter::new(File::create(&path).unwrap());
    for (name, a) in arrays {
        npz.add_array(name.as_str(), a).unwrap();
    }
    npz.finish().unwrap();
    path
}

#[test]
fn test_nms_of_hailo_raw_heads_in_an_npz() {
    let dir = temp_dir("nms-hailo-raw");
    let (arrays, expected) = hailo_heads("astronaut.png");
    let path = write_heads_npz(&dir, &arrays);
    let out = nms(&["--input", path.to_str().unwrap()], &dir);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("hailo-raw layout, input 320x320"),
        "{}",
        text(&out)
    );
    // Decoded from 8-bit heads, as a Hailo-8 would give them: boxes within a pixel.
    assert_boxes(&read_detections(&dir), &expected, 1.0);
}

/// numpy's savez_compressed (deflated members) reads as its savez does; a deflated member that
/// unpacks past any model output's size is refused, not unpacked into memory.
#[test]
fn test_nms_reads_savez_compressed_and_refuses_a_zip_bomb() {
    let dir = temp_dir("nms-savez-compressed");
    let (arrays, expected) = hailo_heads("astronaut.png");
    let plain = write_heads_npz(&dir, &arrays);
    let compressed = dir.join("heads-compressed.npz");
    let bomb = dir.join("bomb.npz");
    let script = r#"
import sys, zipfile, numpy as np
arrays = dict(np.load(sys.argv[1]))
np.savez_compressed(sys.argv[2], **arrays)
with zipfile.ZipFile(sys.argv[2]) as z:
    kinds = sorted({i.compress_type for i in z.infolist()})
# A .npy header for 1.1 GiB of float32, followed by the zeros it claims, deflated.
count = (1100 << 20) // 4
header = np.lib.format.header_data_from_array_1_0(np.zeros(1, np.float32))
header["shape"] = (count,)
with zipfile.ZipFile(sys.argv[3], "w", zipfile.ZIP_DEFLATED) as z:
    with z.open("zeros.npy", "w", force_zip64=True) as f:
        np.lib.format.write_array_header_1_0(f, header)
        chunk = bytes(64 << 20)
        for _ in range(count * 4 // len(chunk)):
            f.write(chunk)
print("@json", str(kinds == [zipfile.ZIP_DEFLATED]).lower())
"#;
    let kinds = python_json(
        &dir,
        script,
        &[plain.as_os_str(), compressed.as_os_str(), bomb.as_os_str()],
    );
    assert_eq!(kinds, true, "numpy deflated every member");

    let out = nms(&["--input", compressed.to_str().unwrap()], &dir);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("hailo-raw layout, input 320x320"),
        "{}",
        text(&out)
    );
    assert_boxes(&read_detections(&dir), &expected, 1.0);

    std::fs::remove_file(dir.join("detections.npz")).unwrap();
    let out = nms(&["--input", bomb.to_str().unwrap()], &dir);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("unpack to more than"), "{}", text(&out));
    assert!(text(&out).contains("bomb.npz"), "{}", text(&out));
    assert!(!dir.join("detections.npz").exists());
}

#[test]
fn test_nms_of_a_hailort_nms_buffer_needs_and_uses_the_input_size() {
    let dir = temp_dir("nms-hailo-nms");
    let fixtures = repo().join("tests/fixtures/hailo");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixtures.join("manifest.json")).unwrap()).unwrap();
    let entry = &manifest["images"]["camera.png"];
    let bytes = std::fs::read(fixtures.join(entry["nms"].as_str().unwrap())).unwrap();
    let floats: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let classes = manifest["classes"].as_u64().unwrap() as usize;
    let buffer = Array2::from_shape_vec((classes, floats.len() / classes), floats).unwrap();
    let path = dir.join("yolov8_nms_postprocess.npy");
    ndarray_npy::write_npy(&path, &buffer).unwrap();

    let out = nms(&["--input", path.to_str().unwrap()], &dir);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--imgsz"), "{}", text(&out));

    let out = nms(&["--input", path.to_str().unwrap(), "--imgsz", "320"], &dir);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("hailo-nms layout"), "{}", text(&out));
    assert_boxes(&read_detections(&dir), &entry["nms_boxes"], 0.01);
}

#[test]
fn test_nms_names_what_is_wrong_with_the_input() {
    let dir = temp_dir("nms-bad");
    // int16: neither float nor the uint8 of a quantized output.
    let quantized = dir.join("int16.npy");
    ndarray_npy::write_npy(&quantized, &Array2::<i16>::zeros((84, 8400))).unwrap();
    let not_yolo = dir.join("embedding.npy");
    ndarray_npy::write_npy(&not_yolo, &Array1::<f32>::zeros(512)).unwrap();
    let garbage = dir.join("garbage.npy");
    std::fs::write(&garbage, b"\x93NUMPY garbage").unwrap();
    for (path, message) in [
        (&quantized, "dtype"),
        (&not_yolo, "is not a YOLO output hmg decodes"),
        (&garbage, "cannot read the raw output"),
    ] {
        let out = nms(&["--input", path.to_str().unwrap()], &dir);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(text(&out).contains(message), "{}", text(&out));
        assert!(text(&out).contains(path.file_name().unwrap().to_str().unwrap()));
    }
    assert!(!dir.join("detections.npz").exists());
    let out = nms(&["--input", "missing.npy"], &dir);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn test_nms_of_uint8_hailo_heads_with_their_quant_info() {
    let dir = temp_dir("nms-hailo-uint8");
    let (heads, expected) = recorded_heads("astronaut.png");
    // The bytes as HailoRT hands them over (UINT8), one array per output, saved as they are.
    let path = dir.join("heads.npz");
    let mut npz = NpzWriter::new(File::create(&path).unwrap());
    let mut quant = Vec::new();
    for h in &heads {
        npz.add_array(h.name.replace('/', "_").as_str(), &h.quantized)
            .unwrap();
        quant.push(format!("{}={},{}", h.name, h.zero_point, h.scale));
    }
    npz.finish().unwrap();
    let input = path.to_str().unwrap();

    // Without quant info: which array needs it, and how to give it.
    let out = nms(&["--input", input], &dir);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("is uint8")
            && text(&out).contains("--quant nudenet320_conv41=ZP,SCALE"),
        "{}",
        text(&out)
    );

    let mut args = vec!["--input", input];
    for q in &quant {
        args.extend(["--quant", q.as_str()]);
    }
    let out = nms(&args, &dir);
    assert!(out.status.success(), "{}", text(&out));
    // The same boxes as the device's own NMS gave for these bytes.
    assert_boxes(&read_detections(&dir), &expected, 1.0);
}

#[test]
fn test_outputs_over_devices_and_planted_links_are_safe() {
    // `--output /dev/null` streams into the device (run as root, the first writer replaced the
    // device node with a regular file). Checked on a node of the same device in the test's own
    // folder, so that a regression cannot break this machine's /dev/null.
    let dir = temp_dir("nms-planted");
    let null = dir.join("null");
    let made = Command::new("mknod")
        .arg(&null)
        .args(["c", "1", "3"])
        .output()
        .unwrap();
    if made.status.success() {
        let out = Command::new(profile_dir().join("hmg"))
            .current_dir(repo())
            .args([
                "nms",
                "--input",
                "tests/fixtures/nms/nudenet320-person-raw.npy",
                "--output",
            ])
            .arg(&null)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        use std::os::unix::fs::FileTypeExt;
        assert!(
            std::fs::symlink_metadata(&null)
                .unwrap()
                .file_type()
                .is_char_device(),
            "the device node is still one"
        );
        std::fs::remove_file(&null).unwrap();
    } else {
        eprintln!("not root: no device node to write over ({})", text(&made));
    }
    // A `<output>.part` link planted towards another file is never written through.
    let victim = dir.join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    std::os::unix::fs::symlink(&victim, dir.join("detections.npz.part")).unwrap();
    let out = nms(
        &["--input", "tests/fixtures/nms/nudenet320-person-raw.npy"],
        &dir,
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert!(
        !read_detections(&dir).scores.is_empty(),
        "the output was written"
    );
    assert_eq!(
        part_files(&dir),
        ["detections.npz.part"],
        "only the planted link"
    );
    // --output naming the input (another spelling of it) would replace the model outputs.
    let raw = dir.join("raw.npy");
    std::fs::copy(
        repo().join("tests/fixtures/nms/nudenet320-person-raw.npy"),
        &raw,
    )
    .unwrap();
    let before = std::fs::read(&raw).unwrap();
    let out = Command::new(profile_dir().join("hmg"))
        .args(["nms", "--input"])
        .arg(&raw)
        .arg("--output")
        .arg(dir.join(".").join("raw.npy"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("is the input"), "{}", text(&out));
    assert_eq!(std::fs::read(&raw).unwrap(), before);
}
