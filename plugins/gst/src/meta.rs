// SPDX-License-Identifier: MIT OR Apache-2.0
//! The `HmgTensors` custom meta: a model's raw outputs plus the letterbox that produced them.
//!
//! Structure `HmgTensors` (readable from C/Python with `gst_buffer_get_custom_meta`):
//! - `model` (string): model file; `layout` (string): `ultralytics-raw` | `ultralytics-nms` |
//!   `hailo-raw` | `hailo-nms`
//! - `labels` (string): class names, one per line
//! - `classes` (int, optional): the model's class count, where the layout's shapes do not tell
//!   it (a segment or pose model's first output has rows after the class scores)
//! - `model-width`, `model-height`, `frame-width`, `frame-height`, `resized-width`,
//!   `resized-height`, `pad-left`, `pad-top` (int): the letterbox transform; `scale` (double)
//! - `tensors` (GstValueArray of `tensor` structures): `name` (string), `shape` (array of
//!   int), `dtype` (`float32` | `uint8`), `zero-point`, `scale` (double; real = (q − zp)·scale),
//!   `data` (GBytes, native endian, row-major)

use gst::glib;
use hmg_detect::pool::OutputPool;
use hmg_detect::{
    Candidate, LAYOUT_NAMES, Layout, Letterbox, Tensor, TensorData, TensorRef, TensorSlice,
};

pub const TENSORS_META: &str = "HmgTensors";
/// Candidate boxes before NMS, as `yolodecode` leaves them: `layout`, `labels`, the letterbox
/// fields of `HmgTensors`, and `candidates` (GBytes of native-endian float32 rows
/// x1, y1, x2, y2, score, class-id in model-input pixels).
pub const CANDIDATES_META: &str = "HmgCandidates";

/// The file a frame was decoded from: `file` (string). Sources that read pictures one by one
/// (hmg detect's folder input) set it; `detlog` and `detmqtt` name it in each record.
pub const SOURCE_META: &str = "HmgSource";

/// The `file` of a frame's `HmgSource` meta, if it has one.
pub fn source_file(buf: &gst::BufferRef) -> Option<String> {
    let meta = gst::meta::CustomMeta::from_buffer(buf, SOURCE_META).ok()?;
    meta.structure().get::<String>("file").ok()
}

/// Names the file `buf` was decoded from.
pub fn set_source_file(buf: &mut gst::BufferRef, file: &str) {
    register();
    if let Ok(mut meta) = gst::meta::CustomMeta::add(buf, SOURCE_META) {
        meta.mut_structure().set("file", file);
    }
}

/// What `detzone` saw happen in a frame: line crossings, zone entries and exits.
pub const EVENTS_META: &str = "HmgEvents";

/// A frame's `HmgEvents` as the JSON records of detlog and detmqtt write them:
/// `[{"kind", "name", "track_id", "class_id", "label", "direction"?, "dwell_s"?}]`.
pub fn events_json(buf: &gst::BufferRef) -> Option<serde_json::Value> {
    let meta = gst::meta::CustomMeta::from_buffer(buf, EVENTS_META).ok()?;
    let events = meta.structure().get::<gst::Array>("events").ok()?;
    let records: Vec<serde_json::Value> = events
        .iter()
        .filter_map(|v| v.get::<gst::Structure>().ok())
        .map(|e| {
            let text = |f: &str| e.get::<String>(f).ok();
            let mut r = serde_json::json!({
                "kind": text("kind"),
                "name": text("name"),
                "track_id": e.get::<u64>("track-id").ok(),
                "class_id": e.get::<i32>("class-id").ok(),
                "label": text("label"),
            });
            if let Some(d) = text("direction") {
                r["direction"] = d.into();
            }
            if let Ok(d) = e.get::<f64>("dwell") {
                r["dwell_s"] = ((d * 1e3).round() / 1e3).into();
            }
            r
        })
        .collect();
    Some(records.into())
}

/// A frame's `HmgEvents` as detzone made them.
pub fn zone_events(buf: &gst::BufferRef) -> Vec<hmg_detect::zones::ZoneEvent> {
    use hmg_detect::zones::{Direction, EventKind, ZoneEvent};
    let Ok(meta) = gst::meta::CustomMeta::from_buffer(buf, EVENTS_META) else {
        return Vec::new();
    };
    let Ok(events) = meta.structure().get::<gst::Array>("events") else {
        return Vec::new();
    };
    events
        .iter()
        .filter_map(|v| v.get::<gst::Structure>().ok())
        .filter_map(|e| {
            let kind = match (e.get::<&str>("kind").ok()?, e.get::<&str>("direction")) {
                ("line-crossed", Ok("in")) => EventKind::LineCrossed(Direction::In),
                ("line-crossed", Ok("out")) => EventKind::LineCrossed(Direction::Out),
                ("zone-entered", _) => EventKind::ZoneEntered,
                ("zone-exited", _) => EventKind::ZoneExited {
                    dwell_ns: (e.get::<f64>("dwell").unwrap_or(0.0).max(0.0) * 1e9) as u64,
                },
                _ => return None,
            };
            Some(ZoneEvent {
                kind,
                name: e.get::<String>("name").ok()?,
                track_id: e.get::<u64>("track-id").ok()?,
                class_id: e.get::<i32>("class-id").ok()?.max(0) as u32,
                label: e.get::<String>("label").unwrap_or_default(),
                time_ns: e.get::<u64>("pts").unwrap_or(0),
            })
        })
        .collect()
}

/// What `detzone` watches, on every frame it passes: the lines and zones in use and the counts so
/// far, as the JSON of [`hmg_detect::zones::ZoneState`] in the field `state`.
pub const ZONES_META: &str = "HmgZones";

/// The lines, zones and counts `detzone` attached to `buf`.
pub fn zones_state_json(buf: &gst::BufferRef) -> Option<String> {
    let meta = gst::meta::CustomMeta::from_buffer(buf, ZONES_META).ok()?;
    meta.structure().get::<String>("state").ok()
}

/// Attaches `HmgZones` (`state`: the JSON of a `ZoneState`) to `buf`.
pub fn set_zones_state_json(buf: &mut gst::BufferRef, state: &str) {
    register();
    if let Ok(mut meta) = gst::meta::CustomMeta::add(buf, ZONES_META) {
        meta.mut_structure().set("state", state);
    }
}

/// Detections `yolonms` dropped for scoring just below its `conf` (within its `near-misses`
/// margin): `detections` (string), a JSON array of `{"class_id", "label", "confidence", "box"}`
/// in frame pixels, as detlog writes detections. They are not ROIs: nothing draws or counts them;
/// `detcapture` looks at them for frames where the model was unsure.
pub const NEAR_MISSES_META: &str = "HmgNearMisses";

/// Attaches `HmgNearMisses` with `dets` to `buf`.
pub fn set_near_misses(buf: &mut gst::BufferRef, dets: &[hmg_detect::Detection]) {
    register();
    let json: Vec<serde_json::Value> = dets.iter().map(|d| d.to_json()).collect();
    if let Ok(mut meta) = gst::meta::CustomMeta::add(buf, NEAR_MISSES_META) {
        meta.mut_structure()
            .set("detections", serde_json::Value::from(json).to_string());
    }
}

/// The near misses `yolonms` attached to `buf` (none when it was not asked for them).
pub fn near_misses(buf: &gst::BufferRef) -> Vec<hmg_detect::Detection> {
    let Ok(meta) = gst::meta::CustomMeta::from_buffer(buf, NEAR_MISSES_META) else {
        return Vec::new();
    };
    let Ok(text) = meta.structure().get::<&str>("detections") else {
        return Vec::new();
    };
    let Ok(serde_json::Value::Array(items)) = serde_json::from_str(text) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|d| {
            let b: Vec<f32> = d["box"]
                .as_array()?
                .iter()
                .filter_map(|v| v.as_f64().map(|v| v as f32))
                .collect();
            let [x1, y1, x2, y2] = b[..] else { return None };
            Some(hmg_detect::Detection {
                class_id: d["class_id"].as_u64()? as u32,
                label: d["label"].as_str()?.into(),
                confidence: d["confidence"].as_f64()? as f32,
                x1,
                y1,
                x2,
                y2,
            })
        })
        .collect()
}

pub fn register() {
    for name in [
        TENSORS_META,
        CANDIDATES_META,
        SOURCE_META,
        EVENTS_META,
        ZONES_META,
        NEAR_MISSES_META,
    ] {
        if !gst::meta::CustomMeta::is_registered(name) {
            gst::meta::CustomMeta::register(name, &[]);
        }
    }
}

fn set_letterbox(s: &mut gst::StructureRef, lb: &Letterbox) {
    s.set("model-width", lb.dst_width as i32);
    s.set("model-height", lb.dst_height as i32);
    s.set("frame-width", lb.src_width as i32);
    s.set("frame-height", lb.src_height as i32);
    s.set("resized-width", lb.resized_width as i32);
    s.set("resized-height", lb.resized_height as i32);
    s.set("pad-left", lb.pad_left as i32);
    s.set("pad-top", lb.pad_top as i32);
    s.set("scale", lb.gain);
}

fn get_letterbox(s: &gst::StructureRef) -> Result<Letterbox, String> {
    Ok(Letterbox {
        src_width: int(s, "frame-width")?,
        src_height: int(s, "frame-height")?,
        dst_width: int(s, "model-width")?,
        dst_height: int(s, "model-height")?,
        resized_width: int(s, "resized-width")?,
        resized_height: int(s, "resized-height")?,
        pad_left: int(s, "pad-left")?,
        pad_top: int(s, "pad-top")?,
        gain: s
            .get::<f64>("scale")
            .map_err(|e| format!("field 'scale': {e}"))?,
    })
}

/// Attaches `candidates` of a frame letterboxed with `lb`.
pub fn attach_candidates(
    buffer: &mut gst::BufferRef,
    layout: &str,
    labels: &str,
    lb: &Letterbox,
    candidates: &[Candidate],
) -> Result<(), glib::BoolError> {
    let rows: Vec<f32> = candidates
        .iter()
        .flat_map(|c| [c.x1, c.y1, c.x2, c.y2, c.score, c.class_id as f32])
        .collect();
    let mut meta = gst::meta::CustomMeta::add(buffer, CANDIDATES_META)?;
    let s = meta.mut_structure();
    s.set("layout", layout);
    s.set("labels", labels);
    set_letterbox(s, lb);
    s.set("candidates", glib::Bytes::from_owned(F32Bytes(rows)));
    Ok(())
}

/// What `HmgCandidates` carries.
#[derive(Debug)]
pub struct CandidatesMeta {
    pub layout: String,
    pub labels: String,
    pub letterbox: Letterbox,
    pub candidates: Vec<Candidate>,
}

/// Reads `HmgCandidates`: `None` when absent, `Err` when malformed.
pub fn read_candidates(buffer: &gst::BufferRef) -> Option<Result<CandidatesMeta, String>> {
    let meta = gst::meta::CustomMeta::from_buffer(buffer, CANDIDATES_META).ok()?;
    let s = meta.structure();
    let parse = || {
        let bytes: glib::Bytes = s
            .get("candidates")
            .map_err(|e| format!("field 'candidates': {e}"))?;
        if !bytes.len().is_multiple_of(24) {
            return Err(format!(
                "candidates of {} bytes are not whole rows",
                bytes.len()
            ));
        }
        let candidates = bytes
            .chunks_exact(24)
            .map(|row| {
                let f = |i: usize| f32::from_ne_bytes(row[i * 4..i * 4 + 4].try_into().unwrap());
                Candidate {
                    x1: f(0),
                    y1: f(1),
                    x2: f(2),
                    y2: f(3),
                    score: f(4),
                    class_id: f(5) as u32,
                }
            })
            .collect();
        Ok(CandidatesMeta {
            layout: s
                .get("layout")
                .map_err(|e| format!("field 'layout': {e}"))?,
            labels: s.get("labels").unwrap_or_default(),
            letterbox: get_letterbox(s)?,
            candidates,
        })
    };
    Some(parse())
}

struct F32Bytes(Vec<f32>);

impl AsRef<[u8]> for F32Bytes {
    fn as_ref(&self) -> &[u8] {
        bytemuck::cast_slice(&self.0)
    }
}

fn tensor_structure(t: Tensor, pool: Option<&OutputPool>) -> gst::Structure {
    let shape = gst::Array::new(t.shape.iter().map(|&d| d as i32));
    let dtype = t.data.dtype();
    // Pooled data goes back to the engine when the last buffer holding this meta is freed.
    let data = match (t.data, pool) {
        (TensorData::F32(v), Some(pool)) => glib::Bytes::from_owned(pool.recycle_floats(v)),
        (TensorData::U8(v), Some(pool)) => glib::Bytes::from_owned(pool.recycle_bytes(v)),
        (TensorData::F32(v), None) => glib::Bytes::from_owned(F32Bytes(v)),
        (TensorData::U8(v), None) => glib::Bytes::from_owned(v),
    };
    gst::Structure::builder("tensor")
        .field("name", t.name)
        .field("shape", shape)
        .field("dtype", dtype)
        .field("zero-point", t.zero_point as f64)
        .field("scale", t.scale as f64)
        .field("data", data)
        .build()
}

/// Attaches `tensors` (moved, not copied) and the letterbox to `buffer`; with the engine's `pool`,
/// their buffers go back to it when the meta is freed.
pub fn attach(
    buffer: &mut gst::BufferRef,
    model: &str,
    layout: Layout,
    labels: &str,
    lb: &Letterbox,
    tensors: Vec<Tensor>,
    pool: Option<&OutputPool>,
) -> Result<(), glib::BoolError> {
    let classes = layout.classes();
    attach_tensors(
        buffer,
        model,
        layout.name(),
        classes,
        labels,
        lb,
        tensors,
        pool,
    )
}

/// [`attach`] with any layout string, as an upstream element other than hailoinfer might write
/// it (readers check it against the shapes).
pub fn attach_raw(
    buffer: &mut gst::BufferRef,
    model: &str,
    layout: &str,
    labels: &str,
    lb: &Letterbox,
    tensors: Vec<Tensor>,
) -> Result<(), glib::BoolError> {
    attach_tensors(buffer, model, layout, None, labels, lb, tensors, None)
}

#[allow(clippy::too_many_arguments)]
fn attach_tensors(
    buffer: &mut gst::BufferRef,
    model: &str,
    layout: &str,
    classes: Option<usize>,
    labels: &str,
    lb: &Letterbox,
    tensors: Vec<Tensor>,
    pool: Option<&OutputPool>,
) -> Result<(), glib::BoolError> {
    let mut meta = gst::meta::CustomMeta::add(buffer, TENSORS_META)?;
    let s = meta.mut_structure();
    s.set("model", model);
    s.set("layout", layout);
    if let Some(classes) = classes.and_then(|c| i32::try_from(c).ok()) {
        s.set("classes", classes);
    }
    s.set("labels", labels);
    set_letterbox(s, lb);
    s.set(
        "tensors",
        gst::Array::new(tensors.into_iter().map(|t| tensor_structure(t, pool))),
    );
    Ok(())
}

/// One tensor read back from the meta, borrowing its bytes.
#[derive(Debug)]
pub struct TensorView {
    pub name: String,
    pub shape: Vec<usize>,
    pub dtype: String,
    pub zero_point: f32,
    pub scale: f32,
    pub data: glib::Bytes,
}

impl TensorView {
    /// Elements the shape holds (an error when the product overflows: a malformed meta).
    fn elements(&self) -> Result<usize, String> {
        self.shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .ok_or_else(|| {
                format!(
                    "tensor '{}' has an impossible shape {:?}",
                    self.name, self.shape
                )
            })
    }

    /// A borrowed view; quantized data stays quantized (decoders read it directly).
    pub fn view<'a>(&'a self, scratch: &'a mut Vec<f32>) -> Result<TensorRef<'a>, String> {
        let bytes: &[u8] = self.data.as_ref();
        let expected = self.elements()?;
        let data = match self.dtype.as_str() {
            "uint8" if bytes.len() == expected => TensorSlice::U8(bytes),
            "float32" if expected.checked_mul(4) == Some(bytes.len()) => {
                TensorSlice::F32(self.to_f32(scratch)?)
            }
            "uint8" | "float32" => {
                return Err(format!(
                    "tensor '{}' has {} bytes, which does not fit its shape {:?}",
                    self.name,
                    bytes.len(),
                    self.shape
                ));
            }
            other => {
                return Err(format!(
                    "tensor '{}' has unsupported dtype '{other}'",
                    self.name
                ));
            }
        };
        Ok(TensorRef {
            name: &self.name,
            shape: &self.shape,
            data,
            zero_point: self.zero_point,
            scale: self.scale,
        })
    }

    /// The values as `f32`: borrowed when stored as aligned float32, else converted into `scratch`.
    pub fn to_f32<'a>(&'a self, scratch: &'a mut Vec<f32>) -> Result<&'a [f32], String> {
        let bytes: &[u8] = self.data.as_ref();
        let expected = self.elements()?;
        match self.dtype.as_str() {
            "float32" => {
                if expected.checked_mul(4) != Some(bytes.len()) {
                    return Err(format!(
                        "tensor '{}' has {} bytes, shape needs {}",
                        self.name,
                        bytes.len(),
                        expected.saturating_mul(4)
                    ));
                }
                match bytemuck::try_cast_slice::<u8, f32>(bytes) {
                    Ok(v) => Ok(v),
                    Err(_) => {
                        scratch.clear();
                        scratch.extend(
                            bytes
                                .chunks_exact(4)
                                .map(|c| f32::from_ne_bytes([c[0], c[1], c[2], c[3]])),
                        );
                        Ok(scratch)
                    }
                }
            }
            "uint8" => {
                if bytes.len() != expected {
                    return Err(format!(
                        "tensor '{}' has {} bytes, shape needs {expected}",
                        self.name,
                        bytes.len()
                    ));
                }
                scratch.clear();
                scratch.extend(
                    bytes
                        .iter()
                        .map(|&q| (q as f32 - self.zero_point) * self.scale),
                );
                Ok(scratch)
            }
            other => Err(format!(
                "tensor '{}' has unsupported dtype '{other}'",
                self.name
            )),
        }
    }
}

impl TensorsMeta {
    /// The layout the producer named (checked against the shapes), else the one the names and
    /// shapes imply; with the producer's class count when it gave one.
    pub fn layout(&self) -> Result<Layout, String> {
        let shapes: Vec<Vec<usize>> = self.tensors.iter().map(|t| t.shape.clone()).collect();
        let layout = if LAYOUT_NAMES.contains(&self.layout.as_str()) {
            Layout::from_name(&self.layout, &shapes)?
        } else {
            let names: Vec<&str> = self.tensors.iter().map(|t| t.name.as_str()).collect();
            Layout::detect_named(&names, &shapes)?
        };
        self.with_classes(layout)
    }

    /// `layout` with the class count the producer gave, if it gave one.
    pub fn with_classes(&self, layout: Layout) -> Result<Layout, String> {
        match self.classes {
            Some(classes) => layout.with_classes(classes),
            None => Ok(layout),
        }
    }

    /// Borrowed views of every tensor; float32 data that is not 4-byte aligned is copied into
    /// `scratch` (one vector per tensor, kept between frames).
    pub fn views<'a>(
        &'a self,
        scratch: &'a mut Vec<Vec<f32>>,
    ) -> Result<Vec<TensorRef<'a>>, String> {
        if scratch.len() < self.tensors.len() {
            scratch.resize_with(self.tensors.len(), Vec::new);
        }
        self.tensors
            .iter()
            .zip(scratch.iter_mut())
            .map(|(t, s)| t.view(s))
            .collect()
    }
}

/// Everything the meta carries.
#[derive(Debug)]
pub struct TensorsMeta {
    pub model: String,
    pub layout: String,
    pub classes: Option<usize>,
    pub labels: String,
    pub letterbox: Letterbox,
    pub tensors: Vec<TensorView>,
}

fn int(s: &gst::StructureRef, name: &str) -> Result<usize, String> {
    let v: i32 = s.get(name).map_err(|e| format!("field '{name}': {e}"))?;
    usize::try_from(v).map_err(|_| format!("field '{name}' is negative"))
}

/// Reads the meta of `buffer`: `None` when absent, `Err` when malformed.
pub fn read(buffer: &gst::BufferRef) -> Option<Result<TensorsMeta, String>> {
    let meta = gst::meta::CustomMeta::from_buffer(buffer, TENSORS_META).ok()?;
    Some(parse(meta.structure()))
}

fn parse(s: &gst::StructureRef) -> Result<TensorsMeta, String> {
    let text = |name: &str| {
        s.get::<String>(name)
            .map_err(|e| format!("field '{name}': {e}"))
    };
    let letterbox = get_letterbox(s)?;
    let array = s
        .get::<gst::Array>("tensors")
        .map_err(|e| format!("field 'tensors': {e}"))?;
    let mut tensors = Vec::with_capacity(array.len());
    for v in array.iter() {
        let t = v
            .get::<gst::Structure>()
            .map_err(|e| format!("tensors entry: {e}"))?;
        let f = |name: &str| format!("tensor field '{name}'");
        let shape = t
            .get::<gst::Array>("shape")
            .map_err(|e| format!("{}: {e}", f("shape")))?;
        let shape = shape
            .iter()
            .map(|d| {
                d.get::<i32>()
                    .ok()
                    .and_then(|d| usize::try_from(d).ok())
                    .ok_or_else(|| f("shape"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        tensors.push(TensorView {
            name: t.get("name").map_err(|e| format!("{}: {e}", f("name")))?,
            shape,
            dtype: t.get("dtype").map_err(|e| format!("{}: {e}", f("dtype")))?,
            zero_point: t.get::<f64>("zero-point").unwrap_or(0.0) as f32,
            scale: t.get::<f64>("scale").unwrap_or(1.0) as f32,
            data: t.get("data").map_err(|e| format!("{}: {e}", f("data")))?,
        });
    }
    Ok(TensorsMeta {
        model: text("model").unwrap_or_default(),
        layout: text("layout")?,
        classes: match s.get::<i32>("classes") {
            Ok(c) => Some(usize::try_from(c).map_err(|_| "field 'classes' is negative")?),
            Err(_) => None,
        },
        labels: text("labels").unwrap_or_default(),
        letterbox,
        tensors,
    })
}
