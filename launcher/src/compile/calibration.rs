// SPDX-License-Identifier: MIT OR Apache-2.0
//! Checks a calibration set before the compiler sees it: a `.npy` of N×H×W×3 uint8 pictures at
//! the model's input size (what `hmg calibrate` writes).

use std::io::Read;
use std::path::{Path, PathBuf};

use hmg_detect::npy::NpyHeader;

use crate::calibrate::CALIB_FILE;
use crate::usage::usage;

/// A checked calibration set.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationInfo {
    pub path: PathBuf,
    pub count: usize,
    /// Picture height and width.
    pub size: [usize; 2],
    /// Where the pixels start in the file.
    pub data_offset: usize,
}

/// `calib` is the folder `hmg calibrate` wrote or the `.npy` itself.
pub fn check(calib: &Path, imgsz: [u32; 2]) -> anyhow::Result<CalibrationInfo> {
    let path = if calib.is_dir() {
        calib.join(CALIB_FILE)
    } else {
        calib.to_path_buf()
    };
    let remake = format!(
        "make it with: hmg calibrate DATASET --imgsz {} --output {}",
        imgsz[1],
        calib.display()
    );
    let mut file = std::fs::File::open(&path).map_err(|e| {
        usage(format!(
            "no calibration set at {} ({e}); {remake}",
            path.display()
        ))
    })?;
    let mut head = vec![0u8; 4096];
    let n = file.read(&mut head)?;
    head.truncate(n);
    let header =
        NpyHeader::parse(&head).map_err(|e| usage(format!("{}: {e}; {remake}", path.display())))?;
    if header.descr != "|u1" {
        let kind = match header.descr.as_str() {
            "<f4" => "float32",
            "<f8" => "float64",
            "<f2" => "float16",
            other => other,
        };
        return Err(usage(format!(
            "Calibration error: Invalid image format: {} holds {kind} data; the quantizer takes \
             UINT8 pictures 0-255 (the model script's normalization divides by 255); {remake}",
            path.display()
        )));
    }
    let shape = &header.shape;
    if header.fortran_order || shape.len() != 4 || shape[3] != 3 {
        return Err(usage(format!(
            "{} has shape {shape:?}; a calibration set is N x height x width x 3 (RGB, C order); {remake}",
            path.display()
        )));
    }
    if shape[1] != imgsz[0] as usize || shape[2] != imgsz[1] as usize {
        return Err(usage(format!(
            "{} holds {}x{} pictures but the model takes {}x{}; {remake}",
            path.display(),
            shape[2],
            shape[1],
            imgsz[1],
            imgsz[0]
        )));
    }
    if shape[0] == 0 {
        return Err(usage(format!(
            "{} holds no pictures; {remake}",
            path.display()
        )));
    }
    let expected = header.data_offset + shape.iter().product::<usize>();
    let actual = std::fs::metadata(&path)?.len() as usize;
    if actual != expected {
        return Err(usage(format!(
            "{} is {actual} bytes but its header promises {expected} (cut short or padded); {remake}",
            path.display()
        )));
    }
    Ok(CalibrationInfo {
        path,
        count: shape[0],
        size: [shape[1], shape[2]],
        data_offset: header.data_offset,
    })
}

/// Hailo's advice (HAILO.md §4.3): level 2 and above want about 1024 pictures; a 128-picture
/// set once cut a model's mAP50 from 0.548 to 0.069.
/// The optimization level a calibration set of `count` pictures supports: 2 (the compiler's
/// default) from the 1024 pictures Hailo recommends for it, 1 from 256, else 0 (the seed's choice
/// with 64 pictures).
pub fn level_for(count: usize) -> u8 {
    match count {
        1024.. => 2,
        256.. => 1,
        _ => 0,
    }
}

pub fn size_warning(count: usize, optimization_level: u8) -> Option<String> {
    if optimization_level >= 2 && count < 1024 {
        Some(format!(
            "the calibration set has {count} pictures; at optimization level {optimization_level} \
             Hailo recommends 1024 or more (a 128-picture set has cut a YOLO model's mAP50 from \
             0.548 to 0.069): use more (hmg calibrate --num-samples 1024) or --optimization-level 0|1"
        ))
    } else if count < 64 {
        Some(format!(
            "the calibration set has only {count} pictures; 64 is the usual minimum"
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, descr: &str, shape: &[usize], data: usize) -> PathBuf {
        let p = dir.join(name);
        let mut bytes = hmg_detect::npy::header_bytes(descr, shape);
        bytes.resize(bytes.len() + data, 0);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn good_float_small_and_cut_sets() {
        let dir = std::env::temp_dir().join(format!("hmg-calib-check-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ok = write(&dir, "ok.npy", "|u1", &[2, 64, 32, 3], 2 * 64 * 32 * 3);
        assert_eq!(check(&ok, [64, 32]).unwrap().count, 2);
        let e = check(&ok, [640, 640]).unwrap_err().to_string();
        assert!(
            e.contains("holds 32x64 pictures but the model takes 640x640"),
            "{e}"
        );
        let f = write(&dir, "f.npy", "<f4", &[2, 64, 32, 3], 4 * 2 * 64 * 32 * 3);
        let e = check(&f, [64, 32]).unwrap_err().to_string();
        assert!(
            e.contains("Invalid image format") && e.contains("float32"),
            "{e}"
        );
        let cut = write(&dir, "cut.npy", "|u1", &[2, 64, 32, 3], 100);
        assert!(
            check(&cut, [64, 32])
                .unwrap_err()
                .to_string()
                .contains("cut short")
        );
        let e = check(&dir.join("none.npy"), [64, 32])
            .unwrap_err()
            .to_string();
        assert!(e.contains("hmg calibrate"), "{e}");
        assert!(size_warning(64, 2).is_some() && size_warning(1024, 2).is_none());
        assert!(size_warning(64, 0).is_none() && size_warning(10, 0).is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
