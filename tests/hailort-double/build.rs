// SPDX-License-Identifier: MIT OR Apache-2.0
//! Builds the HailoRT test double as a shared library, the way libhailort.so is loaded.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let source = "src/hailort_double.c";
    println!("cargo:rerun-if-changed={source}");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap()).join("libhailort_double.so");
    // `cc` picks the C compiler (CC, target); we only need it to link a shared object.
    let compiler = cc::Build::new().opt_level(2).get_compiler();
    let status = Command::new(compiler.path())
        .args(compiler.args())
        .args([
            "-shared",
            "-fPIC",
            "-std=c11",
            "-D_GNU_SOURCE",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-Wno-format-truncation",
            "-o",
        ])
        .arg(&out)
        .arg(source)
        .arg("-lpthread")
        .status()
        .expect("run the C compiler");
    assert!(status.success(), "building the HailoRT test double failed");
    println!("cargo:rustc-env=HAILORT_DOUBLE_LIBRARY={}", out.display());
}
