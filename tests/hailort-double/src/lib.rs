// SPDX-License-Identifier: MIT OR Apache-2.0
//! A TEST DOUBLE of libhailort (HailoRT 4.2x C API), for tests only: see `hailort_double.c`.
//! Point hmg at it with `HMG_HAILORT_LIBRARY=<library()>`; drive its faults with [`Controls`].

use std::path::Path;
use std::sync::Mutex;

/// The double's shared library.
pub fn library() -> &'static Path {
    Path::new(env!("HAILORT_DOUBLE_LIBRARY"))
}

/// Tests that change the double's global state (faults, device count) take this lock.
pub static SERIAL: Mutex<()> = Mutex::new(());

/// The double's test-only control functions (not part of HailoRT).
pub struct Controls {
    lib: libloading::Library,
}

impl Controls {
    /// Opens the same library instance hmg loads (dlopen returns the loaded one).
    pub fn open() -> Self {
        // SAFETY: the double has no initialisers with side effects.
        let lib = unsafe { libloading::Library::new(library()) }.expect("load the HailoRT double");
        Self { lib }
    }

    /// Makes HailoRT `function` return `status` from now on (`""` clears it).
    pub fn fail(&self, function: &str, status: i32) {
        let name = std::ffi::CString::new(function).unwrap();
        // SAFETY: signature as defined in hailort_double.c.
        unsafe {
            let f: libloading::Symbol<unsafe extern "C" fn(*const std::ffi::c_char, i32)> =
                self.lib.get(b"hailort_double_fail").unwrap();
            f(name.as_ptr(), status)
        }
    }

    /// Appends every input frame written from now on to `path` (`""` stops).
    pub fn dump_inputs(&self, path: &str) {
        let path = std::ffi::CString::new(path).unwrap();
        // SAFETY: signature as defined in hailort_double.c.
        unsafe {
            let f: libloading::Symbol<unsafe extern "C" fn(*const std::ffi::c_char)> =
                self.lib.get(b"hailort_double_dump_inputs").unwrap();
            f(path.as_ptr())
        }
    }

    fn get_i32(&self, symbol: &[u8]) -> i32 {
        // SAFETY: the controls take no arguments and return int.
        unsafe {
            self.lib
                .get::<unsafe extern "C" fn() -> i32>(symbol)
                .unwrap()()
        }
    }

    fn get_f32(&self, symbol: &[u8]) -> f32 {
        // SAFETY: the controls take no arguments and return float.
        unsafe {
            self.lib
                .get::<unsafe extern "C" fn() -> f32>(symbol)
                .unwrap()()
        }
    }

    /// Batch size the last configured network group got (0 = HailoRT's automatic).
    pub fn last_batch_size(&self) -> i32 {
        self.get_i32(b"hailort_double_last_batch_size")
    }

    pub fn last_nms_iou(&self) -> f32 {
        self.get_f32(b"hailort_double_last_nms_iou")
    }

    pub fn last_nms_score(&self) -> f32 {
        self.get_f32(b"hailort_double_last_nms_score")
    }

    pub fn devices_in_use(&self) -> i32 {
        self.get_i32(b"hailort_double_devices_in_use")
    }

    pub fn frames_written(&self) -> u64 {
        // SAFETY: returns uint64_t.
        unsafe {
            self.lib
                .get::<unsafe extern "C" fn() -> u64>(b"hailort_double_frames_written")
                .unwrap()()
        }
    }
}

/// The REAL libhailort 4.20.0 built from HailoRT's source by `scripts/build-libhailort`
/// (not a double): the reference the double, the FFI and the HEF reader are checked against.
pub fn real_library() -> std::path::PathBuf {
    let lib = Path::new(env!("HAILORT_REAL_HOME")).join("lib/libhailort.so.4.20.0");
    assert!(
        lib.is_file(),
        "the real HailoRT library is not built ({}): run scripts/build-libhailort (about 7 minutes; scripts/test does)",
        lib.display()
    );
    lib
}

/// The fixtures directory (`scripts/make-hailo-fixtures`).
pub fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/hailo")
}
