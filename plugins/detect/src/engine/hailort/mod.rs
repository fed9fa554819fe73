// SPDX-License-Identifier: MIT OR Apache-2.0
//! The HailoRT engine (cargo feature `hailo`): a HEF on a Hailo device through libhailort.
//!
//! Flow (HailoRT's own vstreams example): virtual device with the scheduler → HEF → configure →
//! UINT8 input vstream, output vstreams (UINT8 raw heads, or FLOAT32 for on-chip NMS) → per
//! frame write the input and read every output. libhailort is opened at run time, so one
//! build runs with or without it; everything it returns is checked before use.

mod ffi;
pub mod status;

use std::collections::HashMap;
use std::ffi::{CString, c_void};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use ffi::*;

use super::{EngineOptions, ModelInfo};
use crate::error::DetectError;
use crate::hef::HefHeader;
use crate::layout::{Layout, hailo_heads};
use crate::pool::OutputPool;
use crate::tensor::{Tensor, TensorData};

/// Frames written before the oldest is read: HailoRT's default vstream queue holds two.
pub const IN_FLIGHT: usize = 2;
/// Frames whose outputs the graph downstream typically still holds (queues, a tee, a sink's last
/// sample): the output pool keeps buffers for these too.
const FRAMES_HELD_DOWNSTREAM: usize = 4;

/// Frames' worth of output buffers the pool keeps: those in flight and those held downstream, or
/// `HMG_OUTPUT_POOL_FRAMES` (a graph that holds more frames; 0 turns the pool off, which is how
/// `benches/hailo_output_pool.sh` measures what it saves).
fn pool_frames() -> usize {
    std::env::var("HMG_OUTPUT_POOL_FRAMES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(IN_FLIGHT + FRAMES_HELD_DOWNSTREAM)
}

/// Environment variable naming the libhailort to load (else the system's).
pub const LIBRARY_ENV: &str = "HMG_HAILORT_LIBRARY";

/// The loaded library.
pub struct HailoRt {
    api: Api,
    /// HailoRT version, e.g. `4.20.0`.
    pub version: String,
    /// The same as (major, minor), for comparisons.
    major_minor: (u32, u32),
}

// SAFETY: HailoRT's C API is thread-safe; `Api` only holds function pointers and the library.
unsafe impl Send for HailoRt {}
unsafe impl Sync for HailoRt {}

/// HailoRT versions whose struct layouts hmg's FFI was checked against (`layout_probe.c`
/// compiled against their `hailort.h`): 4.20 … 4.23, the Hailo-8 line. Before 4.20
/// `hailo_vstream_info_t` is 4 bytes shorter; 5.x is the Hailo-10H/15 line.
pub const SUPPORTED: (u32, std::ops::RangeInclusive<u32>) = (4, 20..=23);

/// Whether hmg may read HailoRT `v`'s structs, and if not, what to do.
pub fn check_version(v: (u32, u32, u32)) -> Result<(), String> {
    let (major, minor, revision) = v;
    let (want_major, want_minor) = &SUPPORTED;
    let installed = format!("{major}.{minor}.{revision}");
    let range = format!(
        "{want_major}.{} … {want_major}.{}",
        want_minor.start(),
        want_minor.end()
    );
    if major == *want_major && want_minor.contains(&minor) {
        return Ok(());
    }
    if major < *want_major || (major == *want_major && minor < *want_minor.start()) {
        return Err(format!(
            "libhailort {installed} is too old: hmg needs HailoRT {range} (its structs changed in 4.20). Upgrade with \
             `sudo apt update && sudo apt install hailo-all` and reboot (driver and library must stay the same version)"
        ));
    }
    if major > *want_major {
        return Err(format!(
            "libhailort {installed} is the HailoRT {major}.x line (Hailo-10H/15); a Hailo-8 or 8L runs HailoRT {range}: \
             install it with `sudo apt install hailo-all` (hmg has not checked {major}.x's struct layouts)"
        ));
    }
    Err(format!(
        "libhailort {installed} is newer than this hmg knows ({range}); its struct layouts have not been checked, so hmg \
         will not read them: update hmg, or install HailoRT {range}"
    ))
}

fn library_candidates() -> Vec<PathBuf> {
    if let Some(p) = std::env::var_os(LIBRARY_ENV).filter(|p| !p.is_empty()) {
        return vec![PathBuf::from(p)];
    }
    // Hailo's packages install libhailort.so.<x.y.z> plus, usually, the unversioned link.
    // Older versions are tried too, so that the error can say "too old" instead of "missing".
    let mut names = vec![PathBuf::from("libhailort.so")];
    names.extend(
        (17..=23)
            .rev()
            .map(|minor| PathBuf::from(format!("libhailort.so.4.{minor}.0"))),
    );
    names
}

/// libhailort, loaded once per process; refused unless its version is one hmg checked.
pub fn runtime() -> Result<Arc<HailoRt>, String> {
    static RUNTIME: OnceLock<Result<Arc<HailoRt>, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            let mut tried = Vec::new();
            for candidate in library_candidates() {
                // SAFETY: loading libhailort runs its initialisers, which is what it is for.
                match unsafe { libloading::Library::new(&candidate) } {
                    Ok(lib) => return load(lib, &candidate),
                    Err(_) => tried.push(candidate.display().to_string()),
                }
            }
            Err(format!(
                "the HailoRT library (libhailort) is not installed: on the Raspberry Pi run `sudo apt install hailo-all` and reboot \
                 (or set {LIBRARY_ENV} to its path); none of {} loads",
                tried.join(", ")
            ))
        })
        .clone()
}

fn load(lib: libloading::Library, path: &Path) -> Result<Arc<HailoRt>, String> {
    // The version first: it is the one call whose layout is the same in every release.
    // SAFETY: hailo_get_library_version(hailo_version_t*) in every HailoRT.
    let get_version: unsafe extern "C" fn(*mut hailo_version_t) -> hailo_status =
        *unsafe { lib.get(b"hailo_get_library_version\0") }
            .map_err(|e| format!("{} is not a HailoRT library: {e}", path.display()))?;
    let mut v = hailo_version_t::default();
    // SAFETY: valid out-pointer.
    let status = unsafe { get_version(&mut v) };
    if status != HAILO_SUCCESS {
        return Err(format!(
            "{} did not report its version (status {status}); hmg reads only HailoRT versions it has checked",
            path.display()
        ));
    }
    check_version((v.major, v.minor, v.revision))
        .map_err(|e| format!("{e} [{}]", path.display()))?;
    let api = Api::new(lib)?;
    Ok(Arc::new(HailoRt {
        api,
        version: format!("{}.{}.{}", v.major, v.minor, v.revision),
        major_minor: (v.major, v.minor),
    }))
}

/// Refuses a HEF whose header format the loaded HailoRT cannot read, before HailoRT sees it.
fn check_header_support(rt: &HailoRt, header: &HefHeader) -> Result<(), String> {
    let Some((major, minor)) = header.min_hailort() else {
        return Ok(());
    };
    if rt.major_minor >= (major, minor) {
        return Ok(());
    }
    Err(format!(
        "this HEF has header format v{} ({}), which HailoRT reads from {major}.{minor}; libhailort {} is older: \
         upgrade with `sudo apt install hailo-all`, or compile with the Dataflow Compiler that matches HailoRT {}",
        header.version,
        header
            .sdk_version
            .as_deref()
            .map(|v| format!("Dataflow Compiler {v}"))
            .unwrap_or_else(|| "a newer Dataflow Compiler".into()),
        rt.version,
        rt.version
    ))
}

/// A HailoRT failure: which call, which status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallError {
    /// The HailoRT function that failed.
    pub function: &'static str,
    /// Its `hailo_status`.
    pub status: i32,
}

fn check(function: &'static str, status: hailo_status) -> Result<(), CallError> {
    if status == HAILO_SUCCESS {
        Ok(())
    } else {
        Err(CallError { function, status })
    }
}

/// A virtual device; instances in one vdevice group share it (HailoRT's scheduler then
/// time-shares the chip between their network groups).
struct VDevice {
    rt: Arc<HailoRt>,
    handle: hailo_vdevice,
    _group: CString,
}

// SAFETY: a vdevice handle may be used from any thread (HailoRT locks internally).
unsafe impl Send for VDevice {}
unsafe impl Sync for VDevice {}

impl Drop for VDevice {
    fn drop(&mut self) {
        // SAFETY: created by hailo_create_vdevice, released once.
        unsafe { (self.rt.api.release_vdevice)(self.handle) };
    }
}

fn vdevice(rt: &Arc<HailoRt>, group: Option<&str>) -> Result<Arc<VDevice>, CallError> {
    static GROUPS: OnceLock<Mutex<HashMap<String, Weak<VDevice>>>> = OnceLock::new();
    let groups = GROUPS.get_or_init(Default::default);
    let mut groups = groups.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(shared) = group.and_then(|g| groups.get(g)).and_then(Weak::upgrade) {
        return Ok(shared);
    }
    let group_id = CString::new(group.unwrap_or("UNIQUE").replace('\0', "")).expect("no NUL left");
    // SAFETY: zeroed params are then filled with HailoRT's defaults.
    let mut params: hailo_vdevice_params_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid out-pointer.
    check("hailo_init_vdevice_params", unsafe {
        (rt.api.init_vdevice_params)(&mut params)
    })?;
    params.device_count = 1;
    params.device_ids = std::ptr::null_mut();
    params.scheduling_algorithm = HAILO_SCHEDULING_ALGORITHM_ROUND_ROBIN;
    params.group_id = group_id.as_ptr();
    params.multi_process_service = false;
    let mut handle: hailo_vdevice = std::ptr::null_mut();
    // SAFETY: params and group_id outlive the call; out-pointer valid.
    check("hailo_create_vdevice", unsafe {
        (rt.api.create_vdevice)(&mut params, &mut handle)
    })?;
    if handle.is_null() {
        return Err(CallError {
            function: "hailo_create_vdevice",
            status: 8,
        });
    }
    let device = Arc::new(VDevice {
        rt: rt.clone(),
        handle,
        _group: group_id,
    });
    if let Some(g) = group {
        groups.insert(g.to_string(), Arc::downgrade(&device));
    }
    Ok(device)
}

/// One vstream's description.
/// One input or output stream of a HEF, as `hmg hef info` shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct VStreamDescription {
    /// Vstream name.
    pub name: String,
    /// Network group / network it belongs to.
    pub network: String,
    /// `input` or `output`.
    pub direction: &'static str,
    /// NHWC shape, or [classes, max boxes per class] for NMS outputs.
    pub shape: Vec<usize>,
    /// Whether HailoRT's NMS produces it.
    pub nms: bool,
    /// `hailo_format_type_t` of the host-side data (1 UINT8, 2 UINT16, 3 FLOAT32).
    pub format_type: i32,
    /// `hailo_format_order_t` (1 NHWC, 22 NMS by class, …).
    pub format_order: i32,
    /// Quantization zero point.
    pub zero_point: f32,
    /// Quantization scale.
    pub scale: f32,
}

fn describe(info: &hailo_vstream_info_t) -> VStreamDescription {
    let nms = info.is_nms();
    // SAFETY: the union member is chosen by the format order, as HailoRT documents.
    let shape = unsafe {
        if nms {
            vec![
                info.shape.nms_shape.number_of_classes as usize,
                info.shape.nms_shape.max_bboxes_per_class as usize,
            ]
        } else {
            vec![
                info.shape.shape.height as usize,
                info.shape.shape.width as usize,
                info.shape.shape.features as usize,
            ]
        }
    };
    VStreamDescription {
        name: name_of(&info.name),
        network: name_of(&info.network_name),
        direction: if info.direction == HAILO_H2D_STREAM {
            "input"
        } else {
            "output"
        },
        shape,
        nms,
        format_type: info.format.type_,
        format_order: info.format.order,
        zero_point: info.quant_info.qp_zp,
        scale: info.quant_info.qp_scale,
    }
}

/// A loaded HEF (no device needed).
struct Hef {
    rt: Arc<HailoRt>,
    handle: hailo_hef,
}

// SAFETY: the handle is only used behind &mut self or during construction.
unsafe impl Send for Hef {}

impl Hef {
    fn open(rt: &Arc<HailoRt>, path: &Path) -> Result<Self, CallError> {
        let c_path = CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| CallError {
            function: "hailo_create_hef_file",
            status: 2,
        })?;
        let mut handle: hailo_hef = std::ptr::null_mut();
        // SAFETY: valid C string and out-pointer.
        check("hailo_create_hef_file", unsafe {
            (rt.api.create_hef_file)(&mut handle, c_path.as_ptr())
        })?;
        Ok(Self {
            rt: rt.clone(),
            handle,
        })
    }

    fn vstream_infos(&self) -> Result<Vec<VStreamDescription>, CallError> {
        let mut count = HAILO_MAX_STREAMS_COUNT;
        let mut infos = vec![hailo_vstream_info_t::zeroed(); count];
        // SAFETY: `infos` has `count` entries.
        let status = unsafe {
            (self.rt.api.hef_get_all_vstream_infos)(
                self.handle,
                std::ptr::null(),
                infos.as_mut_ptr(),
                &mut count,
            )
        };
        check("hailo_hef_get_all_vstream_infos", status)?;
        if count > infos.len() {
            return Err(CallError {
                function: "hailo_hef_get_all_vstream_infos",
                status: HAILO_INSUFFICIENT_BUFFER,
            });
        }
        Ok(infos[..count].iter().map(describe).collect())
    }
}

impl Drop for Hef {
    fn drop(&mut self) {
        // SAFETY: created by hailo_create_hef_file, released once.
        unsafe { (self.rt.api.release_hef)(self.handle) };
    }
}

/// The vstream parameters HailoRT makes for a HEF's inputs and outputs (no device needed):
/// what hmg then adjusts (the user format type) and hands back when it creates vstreams.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct VStreamParams {
    /// Vstream name.
    pub name: String,
    /// `input` or `output`.
    pub direction: &'static str,
    /// User buffer format type asked for (hmg asks AUTO for outputs, UINT8 for the input).
    pub format_type: i32,
    /// User buffer format order (HailoRT leaves it AUTO until the vstream is created).
    pub format_order: i32,
    /// Read/write timeout.
    pub timeout_ms: u32,
    /// Frames the vstream queues.
    pub queue_size: u32,
}

/// The default vstream parameters of the HEF at `path`, as HailoRT makes them with hmg's
/// format types (UINT8 input, AUTO outputs).
pub fn hef_vstream_params(path: &Path) -> Result<Vec<VStreamParams>, String> {
    let rt = runtime()?;
    let header = crate::hef::read_header(path).map_err(|e| e.to_string())?;
    check_header_support(&rt, &header)?;
    if header.network_groups == 0 {
        return Err("the HEF holds no network group".into());
    }
    let hef = Hef::open(&rt, path)
        .map_err(|e| status::explain(e.function, e.status, None, &rt.version))?;
    let mut all = Vec::new();
    for (input, f, name, format) in [
        (
            true,
            rt.api.hef_make_input_vstream_params,
            "hailo_hef_make_input_vstream_params",
            HAILO_FORMAT_TYPE_UINT8,
        ),
        (
            false,
            rt.api.hef_make_output_vstream_params,
            "hailo_hef_make_output_vstream_params",
            HAILO_FORMAT_TYPE_AUTO,
        ),
    ] {
        let mut params = vec![hailo_vstream_params_by_name_t::zeroed(); HAILO_MAX_STREAMS_COUNT];
        let mut n = params.len();
        // SAFETY: `params` has `n` entries; a NULL name is the HEF's first network group.
        check(name, unsafe {
            f(
                hef.handle,
                std::ptr::null(),
                false,
                format,
                params.as_mut_ptr(),
                &mut n,
            )
        })
        .map_err(|e| status::explain(e.function, e.status, None, &rt.version))?;
        if n > params.len() {
            return Err(format!("{name} reported {n} vstreams"));
        }
        all.extend(params[..n].iter().map(|p| VStreamParams {
            name: name_of(&p.name),
            direction: if input { "input" } else { "output" },
            format_type: p.params.user_buffer_format.type_,
            format_order: p.params.user_buffer_format.order,
            timeout_ms: p.params.timeout_ms,
            queue_size: p.params.queue_size,
        }));
    }
    Ok(all)
}

/// Whether the loaded HailoRT opens the HEF at `path` (`hailo_create_hef_file`: header, size,
/// checksum and protobuf), without a device; the status when it does not.
/// Files HailoRT would crash on (`HefError::CrashesHailoRt`) are refused without calling it.
pub fn library_opens_hef(path: &Path) -> Result<(), String> {
    let rt = runtime()?;
    if let Err(e @ crate::hef::HefError::CrashesHailoRt(_)) = crate::hef::read_header(path) {
        return Err(e.to_string());
    }
    Hef::open(&rt, path)
        .map(drop)
        .map_err(|e| status::explain(e.function, e.status, None, &rt.version))
}

/// Input and output vstreams of a HEF, as HailoRT reports them, without opening a device.
pub fn describe_hef(path: &Path) -> Result<(String, Vec<VStreamDescription>), String> {
    let rt = runtime()?;
    let header = crate::hef::read_header(path).map_err(|e| e.to_string())?;
    check_header_support(&rt, &header)?;
    let hef = Hef::open(&rt, path)
        .map_err(|e| status::explain(e.function, e.status, None, &rt.version))?;
    if header.network_groups == 0 {
        // HailoRT 4.20 opens such a file and then crashes in hailo_hef_get_all_vstream_infos.
        return Err(format!(
            "libhailort {} opens it, but it holds no network group (only a header): there is nothing to run; recompile the model",
            rt.version
        ));
    }
    let infos = hef
        .vstream_infos()
        .map_err(|e| status::explain(e.function, e.status, None, &rt.version))?;
    Ok((rt.version.clone(), infos))
}

struct Output {
    handle: hailo_output_vstream,
    name: String,
    shape: Vec<usize>,
    frame_size: usize,
    nms: bool,
    zero_point: f32,
    scale: f32,
}

/// A HEF configured on a (possibly shared) virtual device, with its vstreams.
pub struct HailoEngine {
    info: ModelInfo,
    rt: Arc<HailoRt>,
    input: hailo_input_vstream,
    input_frame_size: usize,
    outputs: Vec<Output>,
    /// Output buffers, handed back by whoever drops the last frame's outputs.
    pool: OutputPool,
    // Dropped after the vstreams (see Drop), in this order.
    hef: Option<Hef>,
    vdevice: Option<Arc<VDevice>>,
}

// SAFETY: vstream handles are used from one thread at a time (&mut self).
unsafe impl Send for HailoEngine {}

impl Drop for HailoEngine {
    fn drop(&mut self) {
        let outputs: Vec<_> = self.outputs.iter().map(|o| o.handle).collect();
        // SAFETY: handles created by hailo_create_*_vstreams and released once, before the HEF
        // and the device they belong to.
        unsafe {
            if !outputs.is_empty() {
                (self.rt.api.release_output_vstreams)(outputs.as_ptr(), outputs.len());
            }
            if !self.input.is_null() {
                (self.rt.api.release_input_vstreams)(&self.input, 1);
            }
        }
        self.hef.take();
        self.vdevice.take();
    }
}

impl HailoEngine {
    /// Opens `path` on a (possibly shared) virtual device and creates its vstreams.
    pub fn open(
        path: &Path,
        header: &HefHeader,
        options: &EngineOptions,
    ) -> Result<Self, DetectError> {
        let rt = runtime().map_err(DetectError::HailoRtMissing)?;
        let fail = |e: CallError| DetectError::HailoRt {
            path: path.to_path_buf(),
            message: status::explain(e.function, e.status, Some(header), &rt.version),
        };
        let invalid = |message: String| DetectError::HailoRt {
            path: path.to_path_buf(),
            message,
        };
        check_header_support(&rt, header).map_err(invalid)?;
        // A HEF has no class names or batch: hmg compile writes them beside it.
        let sidecar = crate::sidecar::read_beside(path)?.map(|(_, s)| s);
        let labels = sidecar
            .as_ref()
            .map(|s| s.names.clone())
            .unwrap_or_default();
        let mut options = options.clone();
        if options.batch_size <= 1
            && let Some(batch) = sidecar.and_then(|s| s.batch_size)
        {
            options.batch_size = batch as usize;
        }
        let options = &options;
        let device = vdevice(&rt, options.vdevice_group.as_deref()).map_err(fail)?;
        let hef = Hef::open(&rt, path).map_err(fail)?;
        let api = &rt.api;

        // Batch size: only through HailoRT's own configure params (see ffi.rs).
        let mut params_buf: Vec<u64> = Vec::new();
        let params_ptr: *mut c_void = if options.batch_size > 1 {
            params_buf.resize(CONFIGURE_PARAMS_BUFFER / 8, 0);
            let p = params_buf.as_mut_ptr() as *mut c_void;
            // SAFETY: the buffer is larger than any 4.x hailo_configure_params_t.
            check("hailo_init_configure_params_by_vdevice", unsafe {
                (api.init_configure_params_by_vdevice)(hef.handle, device.handle, p)
            })
            .map_err(fail)?;
            let groups = params_buf[0] as usize;
            if !(1..=HAILO_MAX_NETWORK_GROUPS).contains(&groups) {
                return Err(invalid(format!(
                    "HailoRT reported {groups} network groups in its configure parameters"
                )));
            }
            let batch = u16::try_from(options.batch_size).unwrap_or(u16::MAX);
            // SAFETY: in bounds and 2-byte aligned (offset 136 in an 8-aligned buffer).
            unsafe {
                (p as *mut u8)
                    .add(CONFIGURE_BATCH_SIZE_OFFSET)
                    .cast::<u16>()
                    .write(batch)
            };
            p
        } else {
            std::ptr::null_mut()
        };
        let mut groups = [std::ptr::null_mut(); HAILO_MAX_NETWORK_GROUPS];
        let mut count = groups.len();
        // SAFETY: `groups` has `count` slots; params is null or HailoRT-initialised.
        check("hailo_configure_vdevice", unsafe {
            (api.configure_vdevice)(
                device.handle,
                hef.handle,
                params_ptr,
                groups.as_mut_ptr(),
                &mut count,
            )
        })
        .map_err(fail)?;
        if count == 0 || count > groups.len() || groups[0].is_null() {
            return Err(invalid(format!(
                "HailoRT configured {count} network groups; hmg runs HEFs with one"
            )));
        }
        let group = groups[0];

        let make = |input: bool| -> Result<Vec<hailo_vstream_params_by_name_t>, DetectError> {
            let mut params =
                vec![hailo_vstream_params_by_name_t::zeroed(); HAILO_MAX_STREAMS_COUNT];
            let mut n = params.len();
            let (f, name) = if input {
                (
                    api.make_input_vstream_params,
                    "hailo_make_input_vstream_params",
                )
            } else {
                (
                    api.make_output_vstream_params,
                    "hailo_make_output_vstream_params",
                )
            };
            let format = if input {
                HAILO_FORMAT_TYPE_UINT8
            } else {
                HAILO_FORMAT_TYPE_AUTO
            };
            // SAFETY: `params` has `n` entries.
            check(name, unsafe {
                f(group, false, format, params.as_mut_ptr(), &mut n)
            })
            .map_err(fail)?;
            if n == 0 || n > params.len() {
                return Err(invalid(format!("{name} reported {n} vstreams")));
            }
            params.truncate(n);
            Ok(params)
        };
        let in_params = make(true)?;
        if in_params.len() != 1 {
            return Err(invalid(format!(
                "the HEF has {} inputs; hmg feeds models with one image input",
                in_params.len()
            )));
        }
        let mut out_params = make(false)?;
        // Raw heads as UINT8 (dequantized by our decoder), NMS as FLOAT32 (the only type allowed).
        let hef_infos = hef.vstream_infos().map_err(fail)?;
        for p in &mut out_params {
            let name = name_of(&p.name);
            let nms = hef_infos.iter().any(|i| i.name == name && i.nms);
            p.params.user_buffer_format.type_ = if nms {
                HAILO_FORMAT_TYPE_FLOAT32
            } else {
                HAILO_FORMAT_TYPE_UINT8
            };
        }

        let mut engine = Self {
            info: ModelInfo {
                path: path.to_path_buf(),
                input_width: 0,
                input_height: 0,
                layout: Layout::HailoRaw { classes: 0 },
                outputs: Vec::new(),
                labels,
            },
            rt: rt.clone(),
            input: std::ptr::null_mut(),
            input_frame_size: 0,
            outputs: Vec::new(),
            pool: OutputPool::new(0),
            hef: Some(hef),
            vdevice: Some(device),
        };
        let mut input = std::ptr::null_mut();
        // SAFETY: one params entry, one out slot.
        check("hailo_create_input_vstreams", unsafe {
            (api.create_input_vstreams)(group, in_params.as_ptr(), 1, &mut input)
        })
        .map_err(fail)?;
        engine.input = input;
        let mut handles = vec![std::ptr::null_mut(); out_params.len()];
        // SAFETY: as many out slots as params.
        check("hailo_create_output_vstreams", unsafe {
            (api.create_output_vstreams)(
                group,
                out_params.as_ptr(),
                out_params.len(),
                handles.as_mut_ptr(),
            )
        })
        .map_err(fail)?;
        if handles.iter().any(|h| h.is_null()) {
            return Err(invalid("HailoRT returned a null output vstream".into()));
        }
        // Register every handle before anything else can fail, so Drop releases them.
        engine.outputs = handles
            .into_iter()
            .map(|handle| Output {
                handle,
                name: String::new(),
                shape: Vec::new(),
                frame_size: 0,
                nms: false,
                zero_point: 0.0,
                scale: 1.0,
            })
            .collect();

        let mut info = hailo_vstream_info_t::zeroed();
        // SAFETY: valid handle and out-pointers.
        check("hailo_get_input_vstream_info", unsafe {
            (api.get_input_vstream_info)(engine.input, &mut info)
        })
        .map_err(fail)?;
        let input_desc = describe(&info);
        let mut frame_size = 0usize;
        // SAFETY: as above.
        check("hailo_get_input_vstream_frame_size", unsafe {
            (api.get_input_vstream_frame_size)(engine.input, &mut frame_size)
        })
        .map_err(fail)?;
        // An input described in NMS form has a 2-D shape: refused below with the others.
        let (h, w, c) = match input_desc.shape.as_slice() {
            &[h, w, c] => (h, w, c),
            _ => (0, 0, 0),
        };
        if input_desc.nms || c != 3 || h == 0 || w == 0 || frame_size != h * w * 3 {
            return Err(invalid(format!(
                "input '{}' is {}{} ({frame_size} bytes per frame); hmg feeds RGB888 UINT8 images (compile with a 3-channel input)",
                input_desc.name,
                input_desc
                    .shape
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join("x"),
                if input_desc.nms { " in NMS form" } else { "" }
            )));
        }
        engine.input_frame_size = frame_size;
        engine.info.input_width = w;
        engine.info.input_height = h;

        for out in &mut engine.outputs {
            let mut info = hailo_vstream_info_t::zeroed();
            let mut size = 0usize;
            // SAFETY: valid handle and out-pointers.
            unsafe {
                check(
                    "hailo_get_output_vstream_info",
                    (api.get_output_vstream_info)(out.handle, &mut info),
                )
                .map_err(fail)?;
                check(
                    "hailo_get_output_vstream_frame_size",
                    (api.get_output_vstream_frame_size)(out.handle, &mut size),
                )
                .map_err(fail)?;
            }
            let d = describe(&info);
            let (shape, expected) = if d.nms {
                let (classes, per_class) = (d.shape[0], d.shape[1]);
                (
                    vec![classes, 1 + 5 * per_class],
                    classes * (1 + 5 * per_class) * 4,
                )
            } else {
                (d.shape.clone(), d.shape.iter().product())
            };
            if size != expected || expected == 0 {
                return Err(invalid(format!(
                    "output '{}' ({:?}) has {size}-byte frames, hmg expected {expected}; hmg reads 8-bit raw outputs and float32 NMS",
                    d.name, d.shape
                )));
            }
            if !(d.scale.is_finite() && d.zero_point.is_finite()) {
                return Err(invalid(format!(
                    "output '{}' has a broken quantization ({} / {})",
                    d.name, d.zero_point, d.scale
                )));
            }
            *out = Output {
                handle: out.handle,
                name: d.name,
                shape,
                frame_size: size,
                nms: d.nms,
                zero_point: d.zero_point,
                scale: d.scale,
            };
        }

        engine.pool = OutputPool::new(engine.outputs.len() * pool_frames());
        let shapes: Vec<Vec<usize>> = engine.outputs.iter().map(|o| o.shape.clone()).collect();
        engine.info.layout = match engine.outputs.as_slice() {
            [o] if o.nms => Layout::HailoNms {
                classes: o.shape[0],
                max_per_class: (o.shape[1] - 1) / 5,
            },
            outs if outs.iter().any(|o| o.nms) => {
                return Err(invalid(
                    "the HEF mixes NMS and raw outputs; hmg decodes one or the other".into(),
                ));
            }
            _ => {
                let heads = hailo_heads(&shapes).map_err(|e| {
                    invalid(format!("its outputs are not YOLOv8 heads hmg knows: {e}"))
                })?;
                Layout::HailoRaw {
                    classes: heads[0].classes,
                }
            }
        };
        engine.info.outputs = engine
            .outputs
            .iter()
            .map(|o| (o.name.clone(), o.shape.clone()))
            .collect();

        // On-chip (HailoRT host) NMS thresholds; they only exist for NMS outputs.
        for out in engine.outputs.iter().filter(|o| o.nms) {
            // SAFETY: valid handle.
            unsafe {
                if let Some(t) = options.nms_score_threshold {
                    check(
                        "hailo_vstream_set_nms_score_threshold",
                        (api.set_nms_score_threshold)(out.handle, t),
                    )
                    .map_err(fail)?;
                }
                if let Some(t) = options.nms_iou_threshold {
                    check(
                        "hailo_vstream_set_nms_iou_threshold",
                        (api.set_nms_iou_threshold)(out.handle, t),
                    )
                    .map_err(fail)?;
                }
            }
        }
        Ok(engine)
    }

    /// What the model expects and produces.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn call_failed(&self, e: CallError) -> DetectError {
        DetectError::Inference {
            path: self.info.path.clone(),
            reason: status::explain(e.function, e.status, None, &self.rt.version),
        }
    }

    /// Writes one input frame; the device starts on it while the host prepares the next.
    pub fn submit(&mut self, rgb: &[u8]) -> Result<(), DetectError> {
        if rgb.len() != self.input_frame_size {
            return Err(DetectError::Inference {
                path: self.info.path.clone(),
                reason: format!(
                    "input of {} bytes, the HEF takes {}",
                    rgb.len(),
                    self.input_frame_size
                ),
            });
        }
        // SAFETY: the buffer holds exactly one input frame.
        let status =
            unsafe { (self.rt.api.write_raw_buffer)(self.input, rgb.as_ptr().cast(), rgb.len()) };
        check("hailo_vstream_write_raw_buffer", status).map_err(|e| self.call_failed(e))
    }

    /// The pool `collect`'s output buffers come from.
    pub fn output_pool(&self) -> &OutputPool {
        &self.pool
    }

    /// Reads every output of the oldest written frame.
    pub fn collect(&mut self) -> Result<Vec<Tensor>, DetectError> {
        let api = &self.rt.api;
        let fail = |e: CallError| self.call_failed(e);
        // Every output must be read, or its queue fills and the device stalls.
        let mut tensors = Vec::with_capacity(self.outputs.len());
        for o in &self.outputs {
            // Buffers from the pool: warm, none is allocated or zeroed (the read fills it all).
            let data = if o.nms {
                let mut v = self.pool.floats(o.frame_size / 4);
                // SAFETY: `v` has exactly frame_size bytes.
                check("hailo_vstream_read_raw_buffer", unsafe {
                    (api.read_raw_buffer)(o.handle, v.as_mut_ptr().cast(), o.frame_size)
                })
                .map_err(fail)?;
                TensorData::F32(v)
            } else {
                let mut v = self.pool.bytes(o.frame_size);
                // SAFETY: as above.
                check("hailo_vstream_read_raw_buffer", unsafe {
                    (api.read_raw_buffer)(o.handle, v.as_mut_ptr().cast(), o.frame_size)
                })
                .map_err(fail)?;
                TensorData::U8(v)
            };
            tensors.push(Tensor {
                name: o.name.clone(),
                shape: o.shape.clone(),
                data,
                zero_point: o.zero_point,
                scale: o.scale,
            });
        }
        Ok(tensors)
    }
}

#[cfg(test)]
mod tests {
    use super::check_version;

    /// `layout_probe.c` is what ffi.rs generates; CI compiles it against HailoRT's header.
    #[test]
    fn layout_probe_is_generated_from_the_ffi() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src/engine/hailort/layout_probe.c"
        );
        let generated = super::ffi::layout_probe();
        if std::env::var_os("HMG_WRITE_LAYOUT_PROBE").is_some() {
            std::fs::write(path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == generated,
            "{path} is not what ffi.rs generates: rewrite it with HMG_WRITE_LAYOUT_PROBE=1 cargo test -p hmg-detect --features hailo layout_probe"
        );
    }

    #[test]
    fn only_checked_versions_are_read() {
        for minor in 20..=23 {
            assert!(check_version((4, minor, 0)).is_ok(), "4.{minor}");
        }
        let old = check_version((4, 19, 0)).unwrap_err();
        assert!(
            old.contains("4.19.0 is too old") && old.contains("sudo apt install hailo-all"),
            "{old}"
        );
        assert!(check_version((4, 17, 1)).is_err());
        let five = check_version((5, 1, 0)).unwrap_err();
        assert!(five.contains("Hailo-10H/15"), "{five}");
        let newer = check_version((4, 24, 0)).unwrap_err();
        assert!(newer.contains("newer than this hmg knows"), "{newer}");
    }
}
