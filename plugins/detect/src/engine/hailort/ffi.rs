// SPDX-License-Identifier: MIT OR Apache-2.0
//! Our declarations of the HailoRT 4.2x C API subset hmg calls (`<hailo/hailort.h>`).
//!
//! Why not `hailort-sys`: its 0.1.1 release has wrong symbol names, swapped arguments and
//! 5.x struct layouts (reference/HAILO.md §1.4), and its build script links `libhailort` at
//! build time, which would make our plugin fail to load wherever HailoRT is absent. The
//! library is opened at run time instead (like onnxruntime), and every struct we pass is
//! checked against the 4.2x header below.
#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_int, c_void};

use libloading::Library;

pub type hailo_status = c_int;
pub type hailo_vdevice = *mut c_void;
pub type hailo_hef = *mut c_void;
pub type hailo_configured_network_group = *mut c_void;
pub type hailo_input_vstream = *mut c_void;
pub type hailo_output_vstream = *mut c_void;

pub const HAILO_SUCCESS: hailo_status = 0;
pub const HAILO_INSUFFICIENT_BUFFER: hailo_status = 5;
pub const HAILO_MAX_STREAM_NAME_SIZE: usize = 128;
pub const HAILO_MAX_NETWORK_NAME_SIZE: usize = 257;
pub const HAILO_MAX_STREAMS_COUNT: usize = 40;
pub const HAILO_MAX_NETWORK_GROUPS: usize = 8;
pub const HAILO_SCHEDULING_ALGORITHM_ROUND_ROBIN: c_int = 1;
/// `hailo_stream_direction_t`: host to device (inputs); outputs are 1.
pub const HAILO_H2D_STREAM: c_int = 0;

pub const HAILO_FORMAT_TYPE_AUTO: c_int = 0;
pub const HAILO_FORMAT_TYPE_UINT8: c_int = 1;
pub const HAILO_FORMAT_TYPE_FLOAT32: c_int = 3;
/// Before 4.20 NMS outputs had this order (same by-class layout).
pub const HAILO_FORMAT_ORDER_HAILO_NMS: c_int = 9;
pub const HAILO_FORMAT_ORDER_HAILO_NMS_BY_CLASS: c_int = 22;

#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct hailo_version_t {
    pub major: u32,
    pub minor: u32,
    pub revision: u32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct hailo_vdevice_params_t {
    pub device_count: u32,
    pub device_ids: *mut c_void,
    pub scheduling_algorithm: c_int,
    pub group_id: *const c_char,
    pub multi_process_service: bool,
}

#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct hailo_format_t {
    pub type_: c_int,
    pub order: c_int,
    pub flags: c_int,
}

#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct hailo_quant_info_t {
    pub qp_zp: f32,
    pub qp_scale: f32,
    pub limvals_min: f32,
    pub limvals_max: f32,
}

#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct hailo_3d_image_shape_t {
    pub height: u32,
    pub width: u32,
    pub features: u32,
}

#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct hailo_nms_shape_t {
    pub number_of_classes: u32,
    /// A C union with `max_bboxes_total` (by-score order): one field, two names.
    pub max_bboxes_per_class: u32,
    pub max_accumulated_mask_size: u32,
    /// `hailo_nms_result_order_type_t`.
    pub order_type: c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub union hailo_vstream_info_shape_t {
    pub shape: hailo_3d_image_shape_t,
    pub nms_shape: hailo_nms_shape_t,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct hailo_vstream_info_t {
    pub name: [c_char; HAILO_MAX_STREAM_NAME_SIZE],
    pub network_name: [c_char; HAILO_MAX_NETWORK_NAME_SIZE],
    pub direction: c_int,
    pub format: hailo_format_t,
    pub shape: hailo_vstream_info_shape_t,
    pub quant_info: hailo_quant_info_t,
}

impl hailo_vstream_info_t {
    pub fn zeroed() -> Self {
        // SAFETY: plain old data; all-zero is a valid value of every field.
        unsafe { std::mem::zeroed() }
    }

    pub fn is_nms(&self) -> bool {
        matches!(
            self.format.order,
            HAILO_FORMAT_ORDER_HAILO_NMS | HAILO_FORMAT_ORDER_HAILO_NMS_BY_CLASS
        )
    }
}

#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct hailo_vstream_params_t {
    pub user_buffer_format: hailo_format_t,
    pub timeout_ms: u32,
    pub queue_size: u32,
    pub vstream_stats_flags: c_int,
    pub pipeline_elements_stats_flags: c_int,
}

/// `hailo_input_vstream_params_by_name_t` and `hailo_output_vstream_params_by_name_t`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct hailo_vstream_params_by_name_t {
    pub name: [c_char; HAILO_MAX_STREAM_NAME_SIZE],
    pub params: hailo_vstream_params_t,
}

impl hailo_vstream_params_by_name_t {
    pub fn zeroed() -> Self {
        // SAFETY: plain old data.
        unsafe { std::mem::zeroed() }
    }
}

/// `hailo_configure_params_t` is large and version-dependent; we never build it ourselves.
/// HailoRT fills it (`hailo_init_configure_params_by_vdevice`) in a buffer bigger than any
/// 4.2x layout, and we set only the first group's `batch_size`, which directly follows the
/// `size_t` group count and the 128-byte group name in every 4.x release.
pub const CONFIGURE_PARAMS_BUFFER: usize = 1 << 20;
pub const CONFIGURE_BATCH_SIZE_OFFSET: usize =
    std::mem::size_of::<usize>() + HAILO_MAX_STREAM_NAME_SIZE;

// Layouts checked against HailoRT 4.2x's hailort.h on a 64-bit target (the Pi 5 and hosts).
#[cfg(target_pointer_width = "64")]
const _: () = {
    use std::mem::{offset_of, size_of};
    assert!(size_of::<hailo_version_t>() == 12);
    assert!(size_of::<hailo_vdevice_params_t>() == 40);
    assert!(offset_of!(hailo_vdevice_params_t, device_ids) == 8);
    assert!(offset_of!(hailo_vdevice_params_t, scheduling_algorithm) == 16);
    assert!(offset_of!(hailo_vdevice_params_t, group_id) == 24);
    assert!(offset_of!(hailo_vdevice_params_t, multi_process_service) == 32);
    assert!(size_of::<hailo_format_t>() == 12);
    assert!(size_of::<hailo_quant_info_t>() == 16);
    assert!(size_of::<hailo_vstream_info_shape_t>() == 16);
    assert!(size_of::<hailo_vstream_info_t>() == 436);
    assert!(offset_of!(hailo_vstream_info_t, network_name) == 128);
    assert!(offset_of!(hailo_vstream_info_t, direction) == 388);
    assert!(offset_of!(hailo_vstream_info_t, format) == 392);
    assert!(offset_of!(hailo_vstream_info_t, shape) == 404);
    assert!(offset_of!(hailo_vstream_info_t, quant_info) == 420);
    assert!(size_of::<hailo_vstream_params_t>() == 28);
    assert!(offset_of!(hailo_vstream_params_t, timeout_ms) == 12);
    assert!(size_of::<hailo_vstream_params_by_name_t>() == 156);
    assert!(offset_of!(hailo_vstream_params_by_name_t, params) == 128);
    assert!(CONFIGURE_BATCH_SIZE_OFFSET == 136);
};

type VStreamParamsFn = unsafe extern "C" fn(
    hailo_configured_network_group,
    bool,
    c_int,
    *mut hailo_vstream_params_by_name_t,
    *mut usize,
) -> hailo_status;
type HefVStreamParamsFn = unsafe extern "C" fn(
    hailo_hef,
    *const c_char,
    bool,
    c_int,
    *mut hailo_vstream_params_by_name_t,
    *mut usize,
) -> hailo_status;
type CreateVStreamsFn = unsafe extern "C" fn(
    hailo_configured_network_group,
    *const hailo_vstream_params_by_name_t,
    usize,
    *mut *mut c_void,
) -> hailo_status;
type VStreamInfoFn = unsafe extern "C" fn(*mut c_void, *mut hailo_vstream_info_t) -> hailo_status;
type FrameSizeFn = unsafe extern "C" fn(*mut c_void, *mut usize) -> hailo_status;
type SetThresholdFn = unsafe extern "C" fn(hailo_output_vstream, f32) -> hailo_status;
type ReleaseVStreamsFn = unsafe extern "C" fn(*const *mut c_void, usize) -> hailo_status;

/// The functions, resolved once from the loaded library (4.23 prototypes, HAILO.md §1.2).
pub struct Api {
    _lib: Library,
    pub init_vdevice_params: unsafe extern "C" fn(*mut hailo_vdevice_params_t) -> hailo_status,
    pub create_vdevice:
        unsafe extern "C" fn(*mut hailo_vdevice_params_t, *mut hailo_vdevice) -> hailo_status,
    pub release_vdevice: unsafe extern "C" fn(hailo_vdevice) -> hailo_status,
    pub create_hef_file: unsafe extern "C" fn(*mut hailo_hef, *const c_char) -> hailo_status,
    pub release_hef: unsafe extern "C" fn(hailo_hef) -> hailo_status,
    pub hef_get_all_vstream_infos: unsafe extern "C" fn(
        hailo_hef,
        *const c_char,
        *mut hailo_vstream_info_t,
        *mut usize,
    ) -> hailo_status,
    /// (hef, vdevice, params): `hailort-sys` has the first two swapped.
    pub init_configure_params_by_vdevice:
        unsafe extern "C" fn(hailo_hef, hailo_vdevice, *mut c_void) -> hailo_status,
    pub configure_vdevice: unsafe extern "C" fn(
        hailo_vdevice,
        hailo_hef,
        *mut c_void,
        *mut hailo_configured_network_group,
        *mut usize,
    ) -> hailo_status,
    pub hef_make_input_vstream_params: HefVStreamParamsFn,
    pub hef_make_output_vstream_params: HefVStreamParamsFn,
    pub make_input_vstream_params: VStreamParamsFn,
    pub make_output_vstream_params: VStreamParamsFn,
    pub create_input_vstreams: CreateVStreamsFn,
    pub create_output_vstreams: CreateVStreamsFn,
    pub get_input_vstream_info: VStreamInfoFn,
    pub get_output_vstream_info: VStreamInfoFn,
    pub get_input_vstream_frame_size: FrameSizeFn,
    pub get_output_vstream_frame_size: FrameSizeFn,
    pub set_nms_score_threshold: SetThresholdFn,
    pub set_nms_iou_threshold: SetThresholdFn,
    pub write_raw_buffer:
        unsafe extern "C" fn(hailo_input_vstream, *const c_void, usize) -> hailo_status,
    pub read_raw_buffer:
        unsafe extern "C" fn(hailo_output_vstream, *mut c_void, usize) -> hailo_status,
    pub release_output_vstreams: ReleaseVStreamsFn,
    pub release_input_vstreams: ReleaseVStreamsFn,
}

macro_rules! resolve {
    ($lib:expr, $name:literal) => {{
        // SAFETY: the field's type is the 4.2x prototype of this symbol.
        let symbol = unsafe { $lib.get(concat!($name, "\0").as_bytes()) }
            .map_err(|e| format!("{} lacks {}: {e}", "the HailoRT library", $name))?;
        *symbol
    }};
}

impl Api {
    /// Resolves every function from `lib`; a missing symbol means an unsupported HailoRT.
    pub fn new(lib: Library) -> Result<Self, String> {
        Ok(Self {
            init_vdevice_params: resolve!(lib, "hailo_init_vdevice_params"),
            create_vdevice: resolve!(lib, "hailo_create_vdevice"),
            release_vdevice: resolve!(lib, "hailo_release_vdevice"),
            create_hef_file: resolve!(lib, "hailo_create_hef_file"),
            release_hef: resolve!(lib, "hailo_release_hef"),
            hef_get_all_vstream_infos: resolve!(lib, "hailo_hef_get_all_vstream_infos"),
            init_configure_params_by_vdevice: resolve!(
                lib,
                "hailo_init_configure_params_by_vdevice"
            ),
            configure_vdevice: resolve!(lib, "hailo_configure_vdevice"),
            hef_make_input_vstream_params: resolve!(lib, "hailo_hef_make_input_vstream_params"),
            hef_make_output_vstream_params: resolve!(lib, "hailo_hef_make_output_vstream_params"),
            make_input_vstream_params: resolve!(lib, "hailo_make_input_vstream_params"),
            make_output_vstream_params: resolve!(lib, "hailo_make_output_vstream_params"),
            create_input_vstreams: resolve!(lib, "hailo_create_input_vstreams"),
            create_output_vstreams: resolve!(lib, "hailo_create_output_vstreams"),
            get_input_vstream_info: resolve!(lib, "hailo_get_input_vstream_info"),
            get_output_vstream_info: resolve!(lib, "hailo_get_output_vstream_info"),
            get_input_vstream_frame_size: resolve!(lib, "hailo_get_input_vstream_frame_size"),
            get_output_vstream_frame_size: resolve!(lib, "hailo_get_output_vstream_frame_size"),
            set_nms_score_threshold: resolve!(lib, "hailo_vstream_set_nms_score_threshold"),
            set_nms_iou_threshold: resolve!(lib, "hailo_vstream_set_nms_iou_threshold"),
            write_raw_buffer: resolve!(lib, "hailo_vstream_write_raw_buffer"),
            read_raw_buffer: resolve!(lib, "hailo_vstream_read_raw_buffer"),
            release_output_vstreams: resolve!(lib, "hailo_release_output_vstreams"),
            release_input_vstreams: resolve!(lib, "hailo_release_input_vstreams"),
            _lib: lib,
        })
    }
}

/// A C name field to a Rust string, never reading past the array.
pub fn name_of(raw: &[c_char]) -> String {
    let bytes: Vec<u8> = raw
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The C file that checks these declarations against a real `hailort.h`: every struct hmg
/// passes (size and offsets as Rust lays them out here), every constant, enum value and
/// status number it uses. Committed as `layout_probe.c` (a test keeps it equal to this) and
/// compiled against HailoRT's header by the tests and, on a Pi, by the `hailo` build.
#[cfg(test)]
pub fn layout_probe() -> String {
    use std::fmt::Write;
    use std::mem::{offset_of, size_of};
    let mut c = String::from(
        "/* SPDX-License-Identifier: MIT OR Apache-2.0\n \
         * GENERATED from plugins/detect/src/engine/hailort/ffi.rs (do not edit; rewrite with\n \
         * HMG_WRITE_LAYOUT_PROBE=1 cargo test -p hmg-detect --features hailo layout_probe).\n \
         * Compiles only if hmg's HailoRT FFI agrees with the <hailo/hailort.h> it is built against.\n \
         */\n#include <stddef.h>\n#include <hailo/hailort.h>\n\n\
         #define HMG_SAME(c_side, ffi_side) _Static_assert((c_side) == (ffi_side), #c_side \" differs from hmg's FFI\")\n\n",
    );
    let mut same = |c_side: String, ffi: usize| writeln!(c, "HMG_SAME({c_side}, {ffi});").unwrap();
    macro_rules! layout {
        ($ty:ident $(, $field:ident)*) => {{
            same(format!("sizeof({})", stringify!($ty)), size_of::<$ty>());
            // Rust's `type_` is C's `type`.
            $(same(format!("offsetof({}, {})", stringify!($ty), stringify!($field).trim_end_matches('_')), offset_of!($ty, $field));)*
        }};
    }
    layout!(hailo_version_t, major, minor, revision);
    layout!(
        hailo_vdevice_params_t,
        device_count,
        device_ids,
        scheduling_algorithm,
        group_id,
        multi_process_service
    );
    layout!(hailo_format_t, type_, order, flags);
    layout!(
        hailo_quant_info_t,
        qp_zp,
        qp_scale,
        limvals_min,
        limvals_max
    );
    layout!(hailo_3d_image_shape_t, height, width, features);
    layout!(
        hailo_nms_shape_t,
        number_of_classes,
        max_bboxes_per_class,
        max_accumulated_mask_size,
        order_type
    );
    layout!(
        hailo_vstream_info_t,
        name,
        network_name,
        direction,
        format,
        shape,
        quant_info
    );
    layout!(
        hailo_vstream_params_t,
        user_buffer_format,
        timeout_ms,
        queue_size,
        vstream_stats_flags,
        pipeline_elements_stats_flags
    );
    c.push('\n');
    let mut same = |c_side: &str, ffi: usize| writeln!(c, "HMG_SAME({c_side}, {ffi});").unwrap();
    // Both by-name params structs share our one declaration.
    for by_name in [
        "hailo_input_vstream_params_by_name_t",
        "hailo_output_vstream_params_by_name_t",
    ] {
        same(
            &format!("sizeof({by_name})"),
            size_of::<hailo_vstream_params_by_name_t>(),
        );
        same(
            &format!("offsetof({by_name}, params)"),
            offset_of!(hailo_vstream_params_by_name_t, params),
        );
    }
    same(
        "offsetof(hailo_vstream_info_t, nms_shape)",
        offset_of!(hailo_vstream_info_t, shape),
    );
    same(
        "offsetof(hailo_nms_shape_t, max_bboxes_total)",
        offset_of!(hailo_nms_shape_t, max_bboxes_per_class),
    );
    same(
        "offsetof(hailo_configure_params_t, network_group_params[0].batch_size)",
        CONFIGURE_BATCH_SIZE_OFFSET,
    );
    same(
        "sizeof(hailo_configure_params_t) <= CONFIGURE_PARAMS_BUFFER ? 1 : 0",
        1,
    );
    same("sizeof(hailo_status)", size_of::<hailo_status>());
    same("sizeof(hailo_vdevice)", size_of::<hailo_vdevice>());
    same("sizeof(bool)", size_of::<bool>());
    let constants: &[(&str, usize)] = &[
        ("HAILO_MAX_STREAM_NAME_SIZE", HAILO_MAX_STREAM_NAME_SIZE),
        ("HAILO_MAX_NETWORK_NAME_SIZE", HAILO_MAX_NETWORK_NAME_SIZE),
        ("HAILO_MAX_STREAMS_COUNT", HAILO_MAX_STREAMS_COUNT),
        ("HAILO_MAX_NETWORK_GROUPS", HAILO_MAX_NETWORK_GROUPS),
        (
            "HAILO_SCHEDULING_ALGORITHM_ROUND_ROBIN",
            HAILO_SCHEDULING_ALGORITHM_ROUND_ROBIN as usize,
        ),
        ("HAILO_FORMAT_TYPE_AUTO", HAILO_FORMAT_TYPE_AUTO as usize),
        ("HAILO_FORMAT_TYPE_UINT8", HAILO_FORMAT_TYPE_UINT8 as usize),
        (
            "HAILO_FORMAT_TYPE_FLOAT32",
            HAILO_FORMAT_TYPE_FLOAT32 as usize,
        ),
        (
            "HAILO_FORMAT_ORDER_HAILO_NMS",
            HAILO_FORMAT_ORDER_HAILO_NMS as usize,
        ),
        (
            "HAILO_FORMAT_ORDER_HAILO_NMS_BY_CLASS",
            HAILO_FORMAT_ORDER_HAILO_NMS_BY_CLASS as usize,
        ),
        ("HAILO_H2D_STREAM", HAILO_H2D_STREAM as usize),
    ];
    for (name, value) in constants {
        same(name, *value);
    }
    c.push('\n');
    for (value, name) in super::status::STATUSES {
        if *value <= super::status::LAST_STATUS_IN_4_20 {
            writeln!(c, "HMG_SAME({name}, {value});").unwrap();
        }
    }
    c.replace(
        "CONFIGURE_PARAMS_BUFFER",
        &CONFIGURE_PARAMS_BUFFER.to_string(),
    )
}
