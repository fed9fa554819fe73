// SPDX-License-Identifier: MIT OR Apache-2.0
//! A bounded soak of `hailoinfer ! yolonms ! detoverlay ! detlog`: memory flat, every frame's line
//! in the log, no growth in threads or file descriptors. Frames: `HMG_SOAK_FRAMES` (default 3000
//! for onnxruntime, RELIABILITY.md records a 20 000-frame run; 10 000 for the HEF). With
//! `--features hailo` the same graph runs a HEF on the HailoRT TEST DOUBLE, on 720p NV12 frames.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use common::*;
use gst::prelude::*;

fn frames(default: u64) -> u64 {
    std::env::var("HMG_SOAK_FRAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Small RGB frames, each drawn anew (onnxruntime on a CPU is the slow part here).
const SMALL_RGB: &str =
    "videotestsrc num-buffers={n} pattern=ball ! video/x-raw,format=RGB,width=96,height=64";
/// A 1280×720 NV12 camera-like frame repeated (the HailoRT double is fast: the host path of a
/// real frame size is what runs).
#[cfg(feature = "hailo")]
const CAMERA_NV12: &str = "videotestsrc num-buffers=1 pattern=smpte ! video/x-raw,format=NV12,width=1280,height=720 ! imagefreeze num-buffers={n}";

unsafe extern "C" {
    /// glibc: hands the free memory at the top of every arena back to the system.
    fn malloc_trim(pad: usize) -> i32;
    /// glibc ≥ 2.33: the allocator's own counts, over every arena.
    fn mallinfo2() -> MallInfo2;
}

/// glibc's `struct mallinfo2`, field for field (only two are read).
#[repr(C)]
#[allow(dead_code)]
struct MallInfo2 {
    arena: usize,
    ordblks: usize,
    smblks: usize,
    hblks: usize,
    hblkhd: usize,
    usmblks: usize,
    fsmblks: usize,
    uordblks: usize,
    fordblks: usize,
    keepcost: usize,
}

/// Memory a leak grows whatever the heap's history: bytes handed out by malloc and not freed
/// (arena chunks in use plus mmapped chunks), in KiB. RSS alone misses a leak that lands in
/// fragments earlier frees left resident: measured here, 3000 leaked KiB did not move RSS at all.
fn heap_in_use_kib() -> u64 {
    // SAFETY: mallinfo2 takes no arguments and returns a plain struct by value.
    let info = unsafe { mallinfo2() };
    ((info.uordblks + info.hblkhd) / 1024) as u64
}

/// Both measures at one moment, in KiB.
#[derive(Clone, Copy, Debug, Default)]
struct Memory {
    rss: u64,
    heap: u64,
}

fn memory() -> Memory {
    Memory {
        rss: rss_kib(),
        heap: heap_in_use_kib(),
    }
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn count(dir: &str) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

/// One soak at a time: threads, descriptors and RSS are counted for the whole process.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `model` for `n` frames (after a short run that loads the runtimes' process-wide pools);
/// returns the memory after warm-up and at the end. With `leak` > 0 a probe leaks that many
/// bytes of every frame (touched, so they count in RSS): the planted fault that shows a bound
/// catches what it claims to.
fn soak(source: &str, model: &str, log: &Path, n: u64, leak: usize) -> (Memory, Memory) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    init();
    run_graph(source, model, log, 10, 0);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let threads_before = count("/proc/self/task");
    let fds_before = count("/proc/self/fd");
    // What earlier runs in this process freed goes back to the system first: kept, it would
    // absorb a leak without RSS moving.
    // SAFETY: malloc_trim takes no pointer and may be called from any thread.
    unsafe { malloc_trim(0) };
    let (warm, end) = run_graph(source, model, log, n, leak);
    // Streaming threads end with the pipeline; nothing may stay behind per run.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let (threads, fds) = (count("/proc/self/task"), count("/proc/self/fd"));
    assert!(
        threads <= threads_before,
        "threads grew from {threads_before} to {threads}"
    );
    assert!(
        fds <= fds_before,
        "file descriptors grew from {fds_before} to {fds}"
    );
    (warm, end)
}

fn run_graph(source: &str, model: &str, log: &Path, n: u64, leak: usize) -> (Memory, Memory) {
    let source = source.replace("{n}", &n.to_string());
    let pipeline = launch(&format!(
        "{source} ! hailoinfer model={model} ! yolonms ! detoverlay ! detlog location={} ! fakesink name=sink",
        log.display()
    ));
    let seen = Arc::new(AtomicU64::new(0));
    // Both marks are taken at the same point of a frame's path, so the buffers in flight then
    // are alike and cancel out.
    let marks = Arc::new(std::sync::Mutex::new((
        Memory::default(),
        Memory::default(),
    )));
    let (seen2, marks2) = (seen.clone(), marks.clone());
    let warm_at = (n / 5).max(1);
    pipeline
        .by_name("sink")
        .unwrap()
        .static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            let frame = seen2.fetch_add(1, Ordering::SeqCst) + 1;
            if frame == warm_at {
                marks2.lock().unwrap().0 = memory();
            } else if frame == n {
                marks2.lock().unwrap().1 = memory();
            }
            if leak > 0 {
                // black_box: an allocation nobody reads may be optimised away.
                std::hint::black_box(Box::leak(vec![0x5a_u8; leak].into_boxed_slice()));
            }
            gst::PadProbeReturn::Ok
        });
    // No fixed cap: a long soak on a slow machine takes as long as it takes (≤ 100 ms a frame).
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let limit = gst::ClockTime::from_seconds(60 + n / 10);
    for msg in bus.iter_timed(limit) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{} ({:?})", e.error(), e.debug()),
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    drop(pipeline);
    assert_eq!(seen.load(Ordering::SeqCst), n);
    let lines = std::fs::read_to_string(log).unwrap().lines().count() as u64;
    assert_eq!(lines, n, "one log line per frame");
    let (warm, end) = *marks.lock().unwrap();
    (warm, end)
}

/// The ONNX soak's bound on growth from the warm-up mark (a fifth of the frames) to the end, for
/// RSS and for the heap in use alike. Measured growth over 4000 frames: 40 KiB of RSS, so the
/// bound is 50 times the noise.
const ONNX_BOUND_KIB: u64 = 2048;

/// The smallest per-frame leak, in bytes, that a soak of `n` frames with `bound_kib` must see.
fn smallest_leak_seen(n: u64, bound_kib: u64) -> u64 {
    (bound_kib * 1024).div_ceil(n - (n / 5).max(1))
}

/// Asserts that neither RSS nor the heap in use grew past `bound_kib`, and says how close each came.
fn assert_flat(what: &str, n: u64, warm: Memory, end: Memory, bound_kib: u64) {
    println!(
        "{what} soak: {n} frames; RSS {} → {} KiB, heap in use {} → {} KiB; a leak of {} bytes a frame would break the bound",
        warm.rss,
        end.rss,
        warm.heap,
        end.heap,
        smallest_leak_seen(n, bound_kib)
    );
    assert!(
        end.rss <= warm.rss + bound_kib,
        "RSS grew from {} to {} KiB over {n} frames",
        warm.rss,
        end.rss
    );
    assert!(
        end.heap <= warm.heap + bound_kib,
        "the heap in use grew from {} to {} KiB over {n} frames",
        warm.heap,
        end.heap
    );
}

fn onnx_soak(leak: usize) -> (u64, Memory, Memory) {
    let log = std::env::temp_dir().join(format!("hmg-soak-{}-{leak}.jsonl", std::process::id()));
    let n = frames(3000);
    let (warm, end) = soak(SMALL_RGB, &model("nudenet_320n.onnx"), &log, n, leak);
    let _ = std::fs::remove_file(&log);
    (n, warm, end)
}

#[test]
fn onnx_graph_memory_stays_flat() {
    let (n, warm, end) = onnx_soak(0);
    assert_flat("onnx", n, warm, end, ONNX_BOUND_KIB);
}

/// The planted leak must break the heap bound whatever ran before in this process. (RSS is not
/// required to move: a leak may first fill fragments that earlier frees left resident.)
#[test]
fn onnx_soak_catches_a_leak_of_one_kib_a_frame() {
    let (n, warm, end) = onnx_soak(1024);
    println!(
        "planted 1 KiB a frame: heap in use {} → {} KiB, RSS {} → {} KiB over {n} frames",
        warm.heap, end.heap, warm.rss, end.rss
    );
    assert!(
        smallest_leak_seen(n, ONNX_BOUND_KIB) <= 1024,
        "{n} frames cannot show a 1 KiB leak under {ONNX_BOUND_KIB} KiB"
    );
    assert!(
        end.heap > warm.heap + ONNX_BOUND_KIB,
        "a planted 1 KiB a frame leak stayed under the bound: heap in use {} → {} KiB (RSS {} → {} KiB) over {n} frames",
        warm.heap,
        end.heap,
        warm.rss,
        end.rss
    );
}

#[cfg(feature = "hailo")]
#[test]
fn hef_graph_on_the_hailort_double_memory_stays_flat() {
    // SAFETY: set before HailoRT is loaded (this test binary loads it only here).
    unsafe { std::env::set_var("HMG_HAILORT_LIBRARY", hailort_double::library()) };
    let _serial = hailort_double::SERIAL
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let hef =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/hailo/nudenet320.hef");
    let log = std::env::temp_dir().join(format!("hmg-soak-hef-{}.jsonl", std::process::id()));
    let n = frames(10_000);
    let (warm, end) = soak(CAMERA_NV12, &hef.display().to_string(), &log, n, 0);
    let _ = std::fs::remove_file(&log);
    // The performance target: flat within 5 MB over 10 000 frames.
    assert_flat("hef", n, warm, end, 5 * 1024);
}
