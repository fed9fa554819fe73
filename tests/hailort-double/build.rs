// SPDX-License-Identifier: MIT OR Apache-2.0
//! Builds the HailoRT test double as a shared library, the way libhailort.so is loaded, against
//! the real `hailort.h` (HailoRT 4.20.0 from scripts/build-libhailort), and compiles hmg's FFI
//! layout probe against the same header: a struct, constant or status of ours that differs from
//! HailoRT's stops the build.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where scripts/build-libhailort puts HailoRT (`--print` says the same).
fn hailort_home() -> PathBuf {
    if let Some(home) = std::env::var_os("HMG_HAILORT_HOME").filter(|h| !h.is_empty()) {
        return home.into();
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|c| !c.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache")
        });
    cache.join("hmg/hailort-4.20.0")
}

fn compile(compiler: &cc::Tool, include: &Path, args: &[&str], what: &str) {
    let status = Command::new(compiler.path())
        .args(compiler.args())
        .arg("-I")
        .arg(include)
        .args(["-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror"])
        .args(args)
        .status()
        .expect("run the C compiler");
    assert!(
        status.success(),
        "{what} failed against {}",
        include.display()
    );
}

fn main() {
    let source = "src/hailort_double.c";
    let probe = "../../plugins/detect/src/engine/hailort/layout_probe.c";
    println!("cargo:rerun-if-changed={source}");
    println!("cargo:rerun-if-changed={probe}");
    println!("cargo:rerun-if-env-changed=HMG_HAILORT_HOME");
    let include = hailort_home().join("include");
    println!(
        "cargo:rerun-if-changed={}",
        include.join("hailo/hailort.h").display()
    );
    assert!(
        include.join("hailo/hailort.h").is_file(),
        "HailoRT's headers are not in {}: run scripts/build-libhailort --headers (scripts/setup does)",
        include.display()
    );
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").unwrap());
    let out = out_dir.join("libhailort_double.so");
    // `cc` picks the C compiler (CC, target); we only need it to link a shared object.
    let compiler = cc::Build::new().opt_level(2).get_compiler();
    compile(
        &compiler,
        &include,
        &["-fsyntax-only", probe],
        "hmg's HailoRT layout probe",
    );
    let out_arg = out.to_str().expect("UTF-8 OUT_DIR");
    compile(
        &compiler,
        &include,
        &[
            "-shared",
            "-fPIC",
            "-Wno-format-truncation",
            "-o",
            out_arg,
            source,
            "-lpthread",
        ],
        "building the HailoRT test double",
    );
    println!("cargo:rustc-env=HAILORT_DOUBLE_LIBRARY={}", out.display());
    // The real library scripts/build-libhailort builds beside the headers (tests that need it
    // fail with the command that builds it when it is missing).
    println!(
        "cargo:rustc-env=HAILORT_REAL_HOME={}",
        hailort_home().display()
    );
}
