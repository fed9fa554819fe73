// SPDX-License-Identifier: MIT OR Apache-2.0
//! hmg's FFI and HEF reader against the REAL libhailort 4.20.0, built from HailoRT's source by
//! scripts/build-libhailort (no device or driver here): the library version, the error a user
//! without a board gets, and the verdict on HEF files, good and corrupt, of our header reader
//! and of HailoRT's own `hailo_create_hef_file`, which must agree on every file.

use std::path::{Path, PathBuf};
use std::sync::Once;

use hmg_detect::engine::hailort::{self, LIBRARY_ENV};
use hmg_detect::engine::{EngineOptions, open_engine};
use hmg_detect::hef;

fn use_real_library() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let lib = hailort_double::real_library();
        // SAFETY: set once, before any thread of this test binary reads the environment.
        unsafe { std::env::set_var(LIBRARY_ENV, lib) };
        // HailoRT writes hailort.log into the working directory.
        let dir = std::env::temp_dir().join(format!("hmg-hailort-real-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::env::set_current_dir(&dir).unwrap();
    });
}

const MAGIC: u32 = 0x0148_4546;

/// A `ProtoHEFHef` holding only its header: hw_arch, a time stamp, sdk_version.
fn proto(arch: u8) -> Vec<u8> {
    let inner = [&[0x08, arch, 0x10, 0xe8, 0x07, 0x1a, 6][..], b"3.33.0"].concat();
    [&[0x0a, inner.len() as u8][..], &inner].concat()
}

/// A HEF with header `version` and the checksum HailoRT expects (v3: none, 4.20 refuses v3).
fn sealed(version: u32, arch: u8) -> Vec<u8> {
    sealed_proto(version, proto(arch))
}

/// The same around any protobuf.
fn sealed_proto(version: u32, proto: Vec<u8>) -> Vec<u8> {
    use md5::Digest;
    let code = vec![0u8; 64];
    let rest = [proto.clone(), code.clone()].concat();
    let mut b = Vec::new();
    b.extend(MAGIC.to_be_bytes());
    b.extend(version.to_be_bytes());
    b.extend((proto.len() as u32).to_be_bytes());
    match version {
        0 => {
            b.extend(0u32.to_be_bytes());
            b.extend(md5::Md5::digest(&proto));
            b.extend(&proto);
            return b;
        }
        1 => {
            b.extend(crc32fast::hash(&rest).to_be_bytes());
            b.extend((code.len() as u64).to_be_bytes());
            b.extend(0u32.to_be_bytes());
        }
        2 => {
            b.extend(xxhash_rust::xxh3::xxh3_64(&rest).to_be_bytes());
            b.extend((code.len() as u64).to_be_bytes());
            b.extend([0u8; 16]);
        }
        _ => {
            b.extend(xxhash_rust::xxh3::xxh3_64(&rest).to_be_bytes());
            b.extend((code.len() as u64).to_be_bytes()); // ccws_size_with_padding
            b.extend(16u32.to_be_bytes()); // of which padding
            b.extend(0u64.to_be_bytes()); // additional_info_size
            b.extend([0u8; 16]);
        }
    }
    b.extend(rest);
    b
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Our verdict as a user meets it: the header reader with checksums, and the header format
/// the loaded HailoRT reads.
fn hmg_accepts(path: &Path, library: (u32, u32)) -> Result<(), String> {
    let (header, _) = hef::verify(path).map_err(|e| e.to_string())?;
    match header.min_hailort() {
        Some(min) if min > library => Err(format!("needs HailoRT {min:?}")),
        _ => Ok(()),
    }
}

#[test]
fn the_real_library_loads_and_reports_4_20() {
    use_real_library();
    let rt = hailort::runtime().expect("the real libhailort loads through hmg's FFI");
    assert_eq!(rt.version, "4.20.0");
}

#[test]
fn without_a_driver_the_user_is_told_what_to_do() {
    use_real_library();
    let hef = hailort_double::fixtures().join("nudenet320.hef");
    let err = open_engine(&hef, &EngineOptions::default())
        .err()
        .expect("no device here");
    let text = err.to_string();
    assert!(
        text.contains("/dev/hailo0") && text.contains("hailo-all"),
        "the message must say what to do: {text}"
    );
    assert!(
        text.contains("hailo_create_vdevice returned HAILO_DRIVER_NOT_INSTALLED (64)"),
        "{text}"
    );
}

#[test]
fn header_reader_and_hailort_agree_on_every_file() {
    use_real_library();
    let dir = std::env::temp_dir().join(format!("hmg-hef-agree-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let library = (4, 20);
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    for version in 0..=3 {
        let good = sealed(version, 1);
        cases.push((format!("v{version}"), good.clone()));
        cases.push((
            format!("v{version} trailing byte"),
            [good.clone(), vec![0]].concat(),
        ));
        cases.push((format!("v{version} cut"), good[..good.len() - 1].to_vec()));
        let mut flipped = good.clone();
        *flipped.last_mut().unwrap() ^= 1;
        cases.push((format!("v{version} damaged"), flipped));
    }
    let good = sealed(2, 1);
    for (name, at, value) in [("bad magic", 0, 0u8), ("header version 9", 7, 9)] {
        let mut b = good.clone();
        b[at] = value;
        cases.push((name.into(), b));
    }
    cases.push(("architecture 0".into(), sealed(2, 0)));
    cases.push(("Hailo-8L".into(), sealed(2, 3)));
    cases.push((
        "not a HEF".into(),
        b"\x89PNG\r\n\x1a\n0000000000000000".to_vec(),
    ));
    // The fixture network (scripts/make-hailo-hefs) under every header version.
    for version in 0..=3 {
        let real = std::fs::read(hailort_double::fixtures().join(format!("header-v{version}.hef")))
            .unwrap();
        cases.push((format!("network v{version}"), real.clone()));
        cases.push((
            format!("network v{version} trailing byte"),
            [real.clone(), vec![0]].concat(),
        ));
        let mut damaged = real;
        let middle = damaged.len() / 2;
        damaged[middle] ^= 0x10;
        cases.push((format!("network v{version} damaged"), damaged));
    }
    let mut opened = 0;
    for (name, bytes) in &cases {
        let path = write(&dir, &format!("{}.hef", name.replace(' ', "-")), bytes);
        let ours = hmg_accepts(&path, library);
        let theirs = hailort::library_opens_hef(&path);
        assert_eq!(
            ours.is_ok(),
            theirs.is_ok(),
            "{name}: hmg says {ours:?}, HailoRT 4.20 says {theirs:?}"
        );
        opened += usize::from(theirs.is_ok());
    }
    // v0, v1, v2 (header only and with a network), architecture 0 and Hailo-8L open; v3 waits
    // for HailoRT 4.21.
    assert_eq!(opened, 8);
    // HailoRT opens an architecture-0 file, but a Hailo-8 refuses it at configure
    // (DeviceBase::is_hef_compatible): hmg says so before the device does.
    let arch0 = hef::read_header(&dir.join("architecture-0.hef")).unwrap();
    assert!(!arch0.hw_arch.runs_on_hailo8());
    let _ = std::fs::remove_dir_all(&dir);
}

/// HailoRT's `hailo_format_type_t` / `hailo_format_order_t` values (hailort.h, checked by the
/// layout probe's constants).
const UINT8: i32 = 1;
const FLOAT32: i32 = 3;
const NHWC: i32 = 1;
const NMS_BY_CLASS: i32 = 22;

#[test]
fn the_real_library_describes_the_double_fixtures_through_our_structs() {
    use_real_library();
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(hailort_double::fixtures().join("manifest.json")).unwrap(),
    )
    .unwrap();
    let input = &manifest["input"];
    let network = "nudenet320/nudenet320";
    let shape = |v: &serde_json::Value| -> Vec<usize> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect()
    };
    for name in [
        "nudenet320.hef",
        "nudenet320-hailo8l.hef",
        "nudenet320-nms.hef",
    ] {
        let path = hailort_double::fixtures().join(name);
        hef::verify(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let (version, infos) =
            hailort::describe_hef(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(version, "4.20.0");
        let first = &infos[0];
        assert_eq!(
            (
                first.name.as_str(),
                first.direction,
                first.shape.clone(),
                first.network.as_str()
            ),
            (
                input["name"].as_str().unwrap(),
                "input",
                shape(&input["shape"]),
                network
            ),
            "{name}"
        );
        assert_eq!(
            (first.format_type, first.format_order, first.nms),
            (UINT8, NHWC, false)
        );
        if name.contains("nms") {
            let [_, out] = infos.as_slice() else {
                panic!("{name}: {infos:?}")
            };
            assert_eq!(out.name, "nudenet320/yolov8_nms_postprocess");
            assert_eq!(
                (out.format_type, out.format_order, out.nms),
                (FLOAT32, NMS_BY_CLASS, true)
            );
            // nms_shape read through our declaration of hailo_nms_shape_t.
            assert_eq!(
                out.shape,
                vec![
                    manifest["classes"].as_u64().unwrap() as usize,
                    manifest["max_bboxes_per_class"].as_u64().unwrap() as usize
                ],
                "{name}"
            );
            continue;
        }
        let outputs = manifest["outputs"].as_array().unwrap();
        assert_eq!(infos.len(), 1 + outputs.len(), "{name}");
        for (got, want) in infos[1..].iter().zip(outputs) {
            assert_eq!(got.name, want["name"].as_str().unwrap(), "{name}");
            assert_eq!(
                (got.direction, got.shape.clone(), got.network.as_str()),
                ("output", shape(&want["shape"]), network),
                "{name} {}",
                got.name
            );
            assert_eq!(
                (got.format_type, got.format_order, got.nms),
                (UINT8, NHWC, false)
            );
            // quant_info read at its offset: the HEF's float32 zero point and scale.
            assert_eq!(
                got.zero_point,
                want["zero_point"].as_f64().unwrap() as f32,
                "{}",
                got.name
            );
            assert_eq!(
                got.scale,
                want["scale"].as_f64().unwrap() as f32,
                "{}",
                got.name
            );
        }
    }
}

#[test]
fn the_real_vstream_params_are_what_the_engine_assumes() {
    use_real_library();
    for name in ["nudenet320.hef", "nudenet320-nms.hef"] {
        let params = hailort::hef_vstream_params(&hailort_double::fixtures().join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(params.len() >= 2, "{name}: {params:?}");
        for p in &params {
            // hmg keeps IN_FLIGHT frames written ahead: HailoRT's queue must hold them.
            assert_eq!(p.queue_size as usize, hailort::IN_FLIGHT, "{name}: {p:?}");
            assert_eq!(p.timeout_ms, 10_000, "{name}: {p:?}");
            // The order stays AUTO until the vstream is created; the type is the one asked for.
            assert_eq!(p.format_order, 0, "{name}: {p:?}");
            let asked = if p.direction == "input" { UINT8 } else { 0 };
            assert_eq!(p.format_type, asked, "{name}: {p:?}");
        }
    }
}

#[test]
fn malformed_network_groups_never_reach_hailort() {
    use_real_library();
    let dir = std::env::temp_dir().join(format!("hmg-hef-malformed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Each of these made HailoRT 4.20 segfault inside hailo_create_hef_file when tried by hand:
    // a network group with only a name, and a Hailo-8L network without partial network groups.
    let named_only = [proto(1), vec![0x12, 0x03, 0x52, 0x01, b'n']].concat();
    let context_8l = [
        proto(3),
        vec![0x12, 0x06, 0x0a, 0x02, 0x0a, 0x00, 0x1a, 0x00],
    ]
    .concat();
    for (name, proto) in [
        ("named-only.hef", named_only),
        ("8l-no-partials.hef", context_8l),
    ] {
        let path = write(&dir, name, &sealed_proto(2, proto));
        let refused = hailort::library_opens_hef(&path).unwrap_err();
        assert!(
            refused.contains("HailoRT crashes on such a file"),
            "{name}: {refused}"
        );
        let engine = open_engine(&path, &EngineOptions::default())
            .err()
            .expect(name)
            .to_string();
        assert!(
            engine.contains("HailoRT crashes on such a file"),
            "{name}: {engine}"
        );
        assert!(hailort::describe_hef(&path).is_err());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_hef_without_a_network_group_is_not_handed_to_hailort_for_vstreams() {
    use_real_library();
    let dir = std::env::temp_dir().join(format!("hmg-hef-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // HailoRT 4.20 opens this file and then crashes (SIGSEGV) in hailo_hef_get_all_vstream_infos.
    let path = write(&dir, "header-only.hef", &sealed(2, 1));
    hailort::library_opens_hef(&path).unwrap();
    let refused = hailort::describe_hef(&path).unwrap_err();
    assert!(refused.contains("no network group"), "{refused}");
    let _ = std::fs::remove_dir_all(&dir);
}
