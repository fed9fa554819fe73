// SPDX-License-Identifier: MIT OR Apache-2.0
//! onnxruntime engine (crate `ort`, loaded at run time from `libonnxruntime.so`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, OnceLock, Weak};

use ort::environment::Environment;
use ort::session::Session;
use ort::value::{TensorElementType, TensorRef, ValueType};

use super::shared_runs::{RunResult, SharedRuns};
use super::{Engine, EngineOptions, ModelInfo};
use crate::error::DetectError;
use crate::labels::parse_python_names;
use crate::layout::Layout;
use crate::letterbox::{Letterbox, Letterboxer, hwc_to_nchw_unit};
use crate::pixel::FrameRef;
use crate::tensor::Tensor;

const DEFAULT_IMGSZ: usize = 640;
const LIB_NAME: &str = "libonnxruntime.so";

static ENVIRONMENT: OnceLock<Result<Environment, String>> = OnceLock::new();
static EXTRA_DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Adds a folder to search for `libonnxruntime.so` (the plugin adds its own folder).
pub fn add_library_dir(dir: &Path) {
    if let Ok(mut dirs) = EXTRA_DIRS.lock()
        && !dirs.iter().any(|d| d == dir)
    {
        dirs.push(dir.to_path_buf());
    }
}

/// Where hmg looks for onnxruntime, in order. `ORT_DYLIB_PATH`, when set, is the only place.
///
/// ```
/// let places = hmg_detect::engine::onnx::library_candidates();
/// assert!(places.iter().all(|p| p.ends_with("libonnxruntime.so")));
/// ```
pub fn library_candidates() -> Vec<PathBuf> {
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        return vec![PathBuf::from(p)];
    }
    let mut dirs: Vec<PathBuf> = EXTRA_DIRS.lock().map(|d| d.clone()).unwrap_or_default();
    if let Some(exe_dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        dirs.push(exe_dir.clone());
        dirs.push(exe_dir.join("lib"));
        // The Debian package: /usr/bin/hmg, /usr/lib/hmg/libonnxruntime.so.
        if let Some(prefix) = exe_dir.parent() {
            dirs.push(prefix.join("lib/hmg"));
        }
    }
    let data_home = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")));
    if let Some(d) = data_home {
        dirs.push(d.join("hmg/lib"));
    }
    dirs.into_iter().map(|d| d.join(LIB_NAME)).collect()
}

fn environment() -> Result<&'static Environment, DetectError> {
    let env = ENVIRONMENT.get_or_init(|| {
        let candidates = library_candidates();
        let lib = candidates
            .iter()
            .find(|p| p.is_file())
            .cloned()
            .ok_or_else(|| {
                let tried: Vec<String> =
                    candidates.iter().map(|p| p.display().to_string()).collect();
                format!(
                    "the onnxruntime library was not found (looked for {})",
                    tried.join(", ")
                )
            })?;
        let builder = ort::init_from(&lib).map_err(|e| {
            format!(
                "the onnxruntime library '{}' could not be loaded: {e}",
                lib.display()
            )
        })?;
        builder
            .with_name("hmg")
            .build()
            .map_err(|e| format!("onnxruntime '{}' failed to start: {e}", lib.display()))
    });
    env.as_ref()
        .map_err(|e| DetectError::RuntimeMissing(e.clone()))
}

/// A model loaded into onnxruntime, shared by every engine of the process that opens the same
/// file with the same threads in the same `session_group`: one copy of the weights however many
/// streams run it. Runs take turns: the `ort` crate does not let one session run from two threads
/// at once (onnxruntime's `Run` is not safe to call concurrently).
struct LoadedModel {
    session: Mutex<Session>,
    info: ModelInfo,
    input_name: String,
    /// The input's batch axis: `None` when dynamic, else the images every run must carry (an
    /// export with `batch=4` takes exactly four; fewer frames are padded with the last ones).
    fixed_batch: Option<usize>,
    /// The outputs decoding reads, from the first (a segment model's mask prototypes, 3 MB a
    /// frame, are not copied out).
    outputs_read: usize,
    /// In a session group, with a dynamic batch axis: the streams' frames batched into shared
    /// runs (None: runs take turns, a stream's frames at a time).
    shared_runs: Option<SharedRuns>,
    /// onnxruntime runs so far, and the frames they carried.
    runs: AtomicU64,
    frames_run: AtomicU64,
}

/// What makes two opens the same model: the group asked for, the file (as it is now: a re-export
/// is another model) and onnxruntime's threads.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ModelKey {
    group: String,
    path: PathBuf,
    len: u64,
    modified: Option<std::time::SystemTime>,
    threads: usize,
}

impl ModelKey {
    /// None without a `session_group`: such an engine never shares.
    fn of(path: &Path, options: &EngineOptions) -> Option<Self> {
        let group = options.session_group.clone()?;
        let meta = std::fs::metadata(path).ok()?;
        Some(Self {
            group,
            path: std::fs::canonicalize(path).ok()?,
            len: meta.len(),
            modified: meta.modified().ok(),
            threads: options.threads,
        })
    }
}

/// The models loaded now (an entry goes when its last engine does).
static LOADED: LazyLock<Mutex<HashMap<ModelKey, Weak<LoadedModel>>>> =
    LazyLock::new(Default::default);

/// Numbers the engines, so that a shared model tells their frames apart.
static NEXT_STREAM: AtomicU64 = AtomicU64::new(1);

/// A loaded ONNX detector.
pub struct OnnxEngine {
    model: Arc<LoadedModel>,
    info: ModelInfo,
    /// Frames per onnxruntime run: `batch_size`, at most the model's batch when it is fixed.
    batch: usize,
    /// This engine among those sharing its model.
    stream: u64,
    /// CHW images of the frames submitted since the last run.
    input: Vec<f32>,
    /// The geometry each image slot of `input` was last letterboxed with (its pad is there).
    slot_geometry: Vec<Option<Letterbox>>,
    queued: usize,
    ready: std::collections::VecDeque<Vec<Tensor>>,
}

impl std::fmt::Debug for OnnxEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxEngine")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl OnnxEngine {
    /// Loads `path` into an onnxruntime session and finds its layout with one warm-up run; in a
    /// `session_group`, a model this process already runs (same file, same threads) is shared,
    /// not loaded again.
    pub fn open(path: &Path, options: &EngineOptions) -> Result<Self, DetectError> {
        if let Some(why) = crate::paths::not_a_file(path) {
            return Err(DetectError::ModelMissing {
                path: path.to_path_buf(),
                why,
            });
        }
        let model = match ModelKey::of(path, options) {
            None => Arc::new(Self::load(path, options)?),
            Some(key) => {
                // Held while loading: streams of a group that start together load the model once.
                let mut loaded = LOADED.lock().unwrap();
                loaded.retain(|_, m| m.strong_count() > 0);
                match loaded.get(&key).and_then(Weak::upgrade) {
                    Some(model) => model,
                    None => {
                        let mut model = Self::load(path, options)?;
                        if model.fixed_batch.is_none() {
                            model.shared_runs = Some(SharedRuns::default());
                        }
                        let model = Arc::new(model);
                        loaded.insert(key, Arc::downgrade(&model));
                        model
                    }
                }
            }
        };
        let mut info = model.info.clone();
        // Named as this caller named it.
        info.path = path.to_path_buf();
        Ok(Self {
            batch: match model.fixed_batch {
                None => options.batch_size.max(1),
                Some(fixed) => options.batch_size.clamp(1, fixed),
            },
            model,
            info,
            stream: NEXT_STREAM.fetch_add(1, Ordering::Relaxed),
            input: Vec::new(),
            slot_geometry: Vec::new(),
            queued: 0,
            ready: std::collections::VecDeque::new(),
        })
    }

    /// Whether `self` and `other` run one onnxruntime session (the same weights in memory).
    pub fn shares_session_with(&self, other: &OnnxEngine) -> bool {
        Arc::ptr_eq(&self.model, &other.model)
    }

    /// The onnxruntime runs of this engine's session so far (every engine sharing it counted),
    /// and the frames they carried: more frames than runs when frames were batched.
    pub fn session_runs(&self) -> (u64, u64) {
        (
            self.model.runs.load(Ordering::Relaxed),
            self.model.frames_run.load(Ordering::Relaxed),
        )
    }

    fn load(path: &Path, options: &EngineOptions) -> Result<LoadedModel, DetectError> {
        let env = environment()?;
        let not_onnx = |reason: String| DetectError::NotOnnx {
            path: path.to_path_buf(),
            reason,
        };
        let unknown = |reason: String| DetectError::UnknownLayout {
            path: path.to_path_buf(),
            reason,
        };
        let mut builder = Session::builder(env).map_err(|e| not_onnx(e.to_string()))?;
        if options.threads > 0 {
            builder = builder
                .with_intra_threads(options.threads)
                .map_err(|e| not_onnx(e.to_string()))?;
        }
        let session = builder
            .commit_from_file(path)
            .map_err(|e| not_onnx(e.to_string()))?;

        let (names, imgsz, task) = {
            let meta = session.metadata().ok();
            let custom = |key: &str| meta.as_ref().and_then(|m| m.custom(key));
            (custom("names"), custom("imgsz"), custom("task"))
        };
        let labels = names
            .and_then(|n| parse_python_names(&n).ok())
            .unwrap_or_default();

        let [input] = session.inputs() else {
            return Err(unknown(format!(
                "it has {} inputs; a detector has one image input",
                session.inputs().len()
            )));
        };
        let input_name = input.name().to_string();
        let (height, width, fixed_batch) = match input.dtype() {
            ValueType::Tensor {
                ty: TensorElementType::Float32,
                shape,
                ..
            } => input_size(shape, imgsz.as_deref())
                .map_err(|e| unknown(format!("its input '{input_name}' {e}")))?,
            other => {
                return Err(unknown(format!(
                    "its input '{input_name}' is {other}; hmg feeds float32 images shaped (1, 3, height, width)"
                )));
            }
        };

        let info = ModelInfo {
            path: path.to_path_buf(),
            input_width: width,
            input_height: height,
            layout: Layout::UltralyticsNms { rows: 0 },
            outputs: Vec::new(),
            labels,
        };
        let mut engine = Self {
            model: Arc::new(LoadedModel {
                session: Mutex::new(session),
                info: info.clone(),
                input_name,
                fixed_batch,
                outputs_read: usize::MAX,
                shared_runs: None,
                runs: AtomicU64::new(0),
                frames_run: AtomicU64::new(0),
            }),
            info,
            batch: 1,
            stream: 0,
            input: Vec::new(),
            slot_geometry: Vec::new(),
            queued: 0,
            ready: std::collections::VecDeque::new(),
        };
        // One warm-up run gives the real output shapes (dynamic models report -1) and proves
        // the model runs before the first frame arrives.
        let grey = vec![crate::letterbox::PAD_VALUE; width * height * 3];
        let outputs = engine.infer(&grey)?;
        engine.info.outputs = outputs
            .iter()
            .map(|t| (t.name.clone(), t.shape.clone()))
            .collect();
        let shapes: Vec<Vec<usize>> = outputs.iter().map(|t| t.shape.clone()).collect();
        let names: Vec<&str> = outputs.iter().map(|t| t.name.as_str()).collect();
        let by_task = match &task {
            Some(task) => Layout::for_ultralytics_task(task, engine.info.labels.len(), &shapes)
                .map_err(unknown)?,
            None => None,
        };
        engine.info.layout = match by_task {
            Some(layout) => {
                engine.info.outputs.truncate(1);
                Arc::get_mut(&mut engine.model)
                    .expect("only this engine holds it")
                    .outputs_read = 1;
                layout
            }
            None => Layout::detect_named(&names, &shapes).map_err(unknown)?,
        };
        if let Some(reason) = engine.info.layout.anchor_based_reason(width, height) {
            return Err(unknown(reason));
        }
        if let Some(nc) = engine.info.layout.classes()
            && !engine.info.labels.is_empty()
            && engine.info.labels.len() != nc
        {
            return Err(unknown(format!(
                "its metadata names {} classes but its output carries {nc}",
                engine.info.labels.len()
            )));
        }
        let mut model = Arc::into_inner(engine.model).expect("only this engine holds it");
        model.info = engine.info;
        Ok(model)
    }
}

/// The largest model input hmg feeds: a side of 8192 pixels (a float32 tensor of 805 MB). A
/// dynamic input whose metadata claims more would make every frame allocate gigabytes.
const MAX_INPUT_SIDE: usize = 8192;

/// The largest fixed batch hmg pads its runs to; a batch's images together also stay within one
/// image of the largest side.
const MAX_FIXED_BATCH: usize = 64;

/// The (height, width) hmg feeds an input shaped `shape` (NCHW, -1 for a dynamic axis) and its
/// batch when that is fixed (`None`: dynamic). Dynamic sides take the model's `imgsz` metadata
/// (what the model file says, so never trusted: a size beyond `MAX_INPUT_SIDE` (8192) is
/// refused, as is a fixed batch beyond `MAX_FIXED_BATCH` or beyond one such image in all).
pub fn input_size(
    shape: &[i64],
    imgsz: Option<&str>,
) -> Result<(usize, usize, Option<usize>), String> {
    let [batch, channels, height, width] = shape else {
        return Err(format!(
            "has {} axes; hmg feeds images shaped (1, 3, height, width)",
            shape.len()
        ));
    };
    if *channels != 3 && *channels > 0 {
        return Err(format!("has {channels} channels, not 3"));
    }
    let fallback = imgsz
        .and_then(parse_imgsz)
        .unwrap_or((DEFAULT_IMGSZ, DEFAULT_IMGSZ));
    let side = |d: i64, fallback: usize| {
        usize::try_from(d)
            .ok()
            .filter(|&d| d > 0)
            .unwrap_or(fallback)
    };
    let (h, w) = (side(*height, fallback.0), side(*width, fallback.1));
    check_input_size(h, w)?;
    // A fixed batch beyond what hmg would ever queue is a broken or hostile model.
    let fixed_batch = match usize::try_from(*batch) {
        Ok(0) | Err(_) => None,
        Ok(b) if b <= MAX_FIXED_BATCH && b * h * w <= MAX_INPUT_SIDE * MAX_INPUT_SIDE => Some(b),
        Ok(b) => {
            return Err(format!(
                "takes a fixed batch of {b} images of {w}x{h}, more than hmg feeds: export it again with batch=1 or dynamic=True"
            ));
        }
    };
    Ok((h, w, fixed_batch))
}

fn check_input_size(h: usize, w: usize) -> Result<(), String> {
    if h > MAX_INPUT_SIDE || w > MAX_INPUT_SIDE {
        return Err(format!(
            "would be {w}x{h} (from its shape or its imgsz metadata), more than hmg feeds ({MAX_INPUT_SIDE} a side): export it again with a real --imgsz"
        ));
    }
    Ok(())
}

/// ultralytics writes `imgsz` as "[640, 640]" (height, width).
fn parse_imgsz(s: &str) -> Option<(usize, usize)> {
    let nums: Vec<usize> = s
        .trim_matches(|c| c == '[' || c == ']' || c == '(' || c == ')')
        .split(',')
        .filter_map(|p| p.trim().parse().ok())
        .collect();
    match nums.as_slice() {
        [h, w] if *h > 0 && *w > 0 => Some((*h, *w)),
        [s] if *s > 0 => Some((*s, *s)),
        _ => None,
    }
}

impl Engine for OnnxEngine {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn submit(&mut self, rgb: &[u8]) -> Result<(), DetectError> {
        let (w, h) = (self.info.input_width, self.info.input_height);
        let image = w * h * 3;
        if rgb.len() != image {
            return Err(DetectError::Inference {
                path: self.info.path.clone(),
                reason: format!("input image has {} bytes, expected {w}x{h}x3", rgb.len()),
            });
        }
        let start = self.queued * image;
        self.input.resize(start + image, 0.0);
        hwc_to_nchw_unit(rgb, &mut self.input[start..]);
        if let Some(g) = self.slot_geometry.get_mut(self.queued) {
            *g = None;
        }
        self.queued_one()
    }

    fn submit_frame(
        &mut self,
        frame: &FrameRef<'_>,
        letterboxer: &mut Letterboxer,
    ) -> Result<Letterbox, DetectError> {
        let (w, h) = (self.info.input_width, self.info.input_height);
        let image = w * h * 3;
        let start = self.queued * image;
        self.input.resize(start + image, 0.0);
        self.slot_geometry.resize(self.queued + 1, None);
        let previous = self.slot_geometry[self.queued];
        let slot = &mut self.input[start..start + image];
        let lb = letterboxer.run_nchw_unit_over(frame, w, h, slot, previous);
        self.slot_geometry[self.queued] = Some(lb);
        self.queued_one()?;
        Ok(lb)
    }

    fn collect(&mut self) -> Result<Vec<Tensor>, DetectError> {
        if self.ready.is_empty() && self.queued > 0 {
            self.run_queued()?;
        }
        self.ready
            .pop_front()
            .ok_or_else(|| DetectError::Inference {
                path: self.info.path.clone(),
                reason: "collect without a submitted frame".into(),
            })
    }

    fn max_in_flight(&self) -> usize {
        self.batch
    }
}

impl OnnxEngine {
    /// Counts a frame written into the input; a full batch runs.
    fn queued_one(&mut self) -> Result<(), DetectError> {
        self.queued += 1;
        if self.queued >= self.batch {
            self.run_queued()?;
        }
        Ok(())
    }

    /// Runs the queued frames as one batch (with other streams' frames when the session is
    /// shared and batches) and splits the outputs per frame.
    fn run_queued(&mut self) -> Result<(), DetectError> {
        let n = std::mem::take(&mut self.queued);
        if n == 0 {
            return Ok(());
        }
        let (w, h) = (self.info.input_width, self.info.input_height);
        let image = 3 * h * w;
        let model = &*self.model;
        // A fixed batch runs full: the slots after the frames repeat the last one (real pixels,
        // so the padding costs time, never a wrong value), and only the frames' outputs count.
        let run = model.fixed_batch.unwrap_or(n).max(n);
        self.input.resize(run * image, 0.0);
        let (frames_part, padding) = self.input[..run * image].split_at_mut(n * image);
        let last = &frames_part[(n - 1) * image..];
        for slot in padding.chunks_exact_mut(image) {
            slot.copy_from_slice(last);
        }
        self.slot_geometry.truncate(n);
        let input = &self.input[..run * image];
        // Alone on the model (the others gone), an engine runs its frames as they are.
        let frames = match &model.shared_runs {
            Some(runs) if Arc::strong_count(&self.model) > 1 => {
                runs.run(self.stream, input.to_vec(), n, |all, frames| {
                    model.run(all, frames, w, h)
                })
            }
            _ => model.run(input, run, w, h).map(|mut frames| {
                frames.truncate(n);
                frames
            }),
        }
        .map_err(|reason| DetectError::Inference {
            path: self.info.path.clone(),
            reason,
        })?;
        self.ready.extend(frames);
        Ok(())
    }
}

impl LoadedModel {
    /// One onnxruntime run of `n` images (`input`, CHW float each); each frame's outputs.
    fn run(&self, input: &[f32], n: usize, w: usize, h: usize) -> RunResult {
        let fail = |e: &dyn std::fmt::Display| e.to_string();
        let tensor = TensorRef::from_array_view(([n, 3, h, w], input)).map_err(|e| fail(&e))?;
        // Streams sharing the model take turns (onnxruntime spreads each run over its threads).
        let mut session = self.session.lock().unwrap();
        let outputs = session
            .run(ort::inputs![self.input_name.as_str() => tensor])
            .map_err(|e| fail(&e))?;
        self.runs.fetch_add(1, Ordering::Relaxed);
        self.frames_run.fetch_add(n as u64, Ordering::Relaxed);
        let mut frames: Vec<Vec<Tensor>> =
            (0..n).map(|_| Vec::with_capacity(outputs.len())).collect();
        for (name, value) in outputs.iter().take(self.outputs_read) {
            let (shape, data) = value
                .try_extract_tensor::<f32>()
                .map_err(|e| format!("output '{name}' is not float32: {e}"))?;
            let shape: Vec<usize> = shape.iter().map(|&d| d.max(0) as usize).collect();
            if shape.first() != Some(&n) || data.len() % n != 0 {
                return Err(format!(
                    "output '{name}' has shape {shape:?}; expected its first axis to be the batch of {n}"
                ));
            }
            let mut one = shape.clone();
            one[0] = 1;
            let per = data.len() / n;
            for (i, frame) in frames.iter_mut().enumerate() {
                let chunk = data[i * per..(i + 1) * per].to_vec();
                frame.push(Tensor::f32(name.to_string(), one.clone(), chunk));
            }
        }
        Ok(frames)
    }
}

#[cfg(test)]
mod tests {
    use super::{check_input_size, input_size, parse_imgsz};

    #[test]
    fn absurd_input_sizes_are_refused() {
        assert!(check_input_size(640, 640).is_ok());
        assert!(check_input_size(8192, 8192).is_ok());
        let err = check_input_size(1_000_000, 640).unwrap_err();
        assert!(err.contains("640x1000000"), "{err}");
        // What a hostile `imgsz` metadata string parses to is bounded the same way.
        let (h, w) = parse_imgsz("[999999999, 999999999]").unwrap();
        assert!(check_input_size(h, w).is_err());
    }

    #[test]
    fn dynamic_sides_take_the_metadata_within_bounds() {
        assert_eq!(input_size(&[1, 3, 640, 640], None), Ok((640, 640, Some(1))));
        // ultralytics' `batch=4` export: every run carries four images.
        assert_eq!(input_size(&[4, 3, 640, 640], None), Ok((640, 640, Some(4))));
        for shape in [[1 << 40, 3, 640, 640], [65, 3, 64, 64], [2, 3, 8192, 8192]] {
            let err = input_size(&shape, None).unwrap_err();
            assert!(err.contains("batch=1 or dynamic=True"), "{err}");
        }
        assert_eq!(
            input_size(&[4, 3, 4096, 4096], None),
            Ok((4096, 4096, Some(4)))
        );
        assert_eq!(
            input_size(&[-1, 3, -1, -1], Some("[320, 224]")),
            Ok((320, 224, None))
        );
        // A fixed side wins over what the metadata claims; only the dynamic one takes it.
        assert_eq!(
            input_size(&[1, 3, 480, -1], Some("[320, 320]")),
            Ok((480, 320, Some(1)))
        );
        assert!(input_size(&[1, 3, -1, -1], Some("[99999, 99999]")).is_err());
        assert!(input_size(&[1, 3, 640, i64::MAX], None).is_err());
        assert!(
            input_size(&[1, 4, 640, 640], None)
                .unwrap_err()
                .contains("4 channels")
        );
        assert!(
            input_size(&[1, 3, 640], None)
                .unwrap_err()
                .contains("3 axes")
        );
    }

    #[test]
    fn imgsz_metadata() {
        assert_eq!(parse_imgsz("[640, 640]"), Some((640, 640)));
        assert_eq!(parse_imgsz("[320, 224]"), Some((320, 224)));
        assert_eq!(parse_imgsz("320"), Some((320, 320)));
        assert_eq!(parse_imgsz("[]"), None);
    }
}
