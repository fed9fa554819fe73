// SPDX-License-Identifier: MIT OR Apache-2.0
//! Which instruction set the hot loops are compiled for at run time.

/// Whether the x86-64 AVX2 builds of the hot loops may run: the CPU has AVX2 and FMA (every
/// AVX2 core but a few early VIA ones; the tensor pass uses FMA for its exact division) and
/// `HMG_DISABLE_AVX2` is not set (the tests set it to run the baseline build, which is also
/// what non-x86 targets run). Read once.
#[cfg(target_arch = "x86_64")]
pub(crate) fn avx2() -> bool {
    static AVX2: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVX2.get_or_init(|| {
        std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("fma")
            && std::env::var_os("HMG_DISABLE_AVX2").is_none()
    })
}
