// SPDX-License-Identifier: MIT OR Apache-2.0
//! The per-frame host path allocates nothing once warm: letterbox (every pixel format kind),
//! tensor conversion, decode, NMS, detections with labels, the overlay layout, and the tracker.
//! Counted with a counting global allocator, on the thread doing the work, over 50 frames after
//! warm-up. (The onnxruntime engine's
//! `infer` returns owned tensors, so it allocates per frame; the test prints how many, for the
//! record.) The Hailo engine (against the HailoRT test double) takes its output buffers from its
//! pool: warm, no output buffer is allocated.

mod common;

use std::alloc::{GlobalAlloc, Layout as AllocLayout, System};

use common::{read_png, testdata};
use hmg_detect::draw::{DrawOptions, layout_detections};
use hmg_detect::letterbox::hwc_to_nchw_unit;
use hmg_detect::{
    FrameRef, Layout, Letterboxer, PixelFormat, PostprocessOptions, Postprocessor, open_engine,
};

struct Counting;

/// The tests of this file take turns, so one's engine does not slow the other's.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

std::thread_local! {
    /// This thread's allocations and bytes: the work measured runs on the test's thread (the
    /// engines start no threads of their own; the HailoRT double allocates with C's malloc),
    /// and the harness reporting another test's result meanwhile must not count.
    static THIS_THREAD: std::cell::Cell<(usize, usize)> = const { std::cell::Cell::new((0, 0)) };
}

fn count_this_thread(bytes: usize) {
    // A const thread-local without a destructor: reading it never allocates.
    let _ = THIS_THREAD.try_with(|c| {
        let (n, b) = c.get();
        c.set((n + 1, b + bytes));
    });
}

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: AllocLayout) -> *mut u8 {
        count_this_thread(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: AllocLayout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: AllocLayout, new_size: usize) -> *mut u8 {
        count_this_thread(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations this thread makes while `f` runs (single-threaded work: letterbox, decode, NMS,
/// layout, the tracker).
fn allocations_in(f: impl FnMut()) -> usize {
    allocated_in(f).0
}

/// Allocations and bytes allocated by this thread while `f` runs.
fn allocated_in(mut f: impl FnMut()) -> (usize, usize) {
    let (n, bytes) = THIS_THREAD.with(|c| c.get());
    f();
    let (n2, bytes2) = THIS_THREAD.with(|c| c.get());
    (n2 - n, bytes2 - bytes)
}

#[test]
fn host_path_allocates_nothing_per_frame_once_warm() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Ok(mut engine) = open_engine(
        &testdata().join("models/yolov12n.onnx"),
        &Default::default(),
    ) else {
        panic!("onnxruntime is needed for this test: run scripts/setup");
    };
    let (rgb, w, h) = read_png(&testdata().join("images/astronaut.png"));
    let bgrx: Vec<u8> = rgb
        .chunks_exact(3)
        .flat_map(|p| [p[2], p[1], p[0], 0])
        .collect();
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let (y, uv) = (rgb[..w * h].to_vec(), vec![128u8; cw * ch * 2]);
    let frames = [
        FrameRef::packed(PixelFormat::Rgb, w, h, &rgb).unwrap(),
        FrameRef::packed(PixelFormat::Bgrx, w, h, &bgrx).unwrap(),
        FrameRef::new(PixelFormat::Nv12, w, h, [&y, &uv, &[]], [w, cw * 2, 0]).unwrap(),
    ];
    let size = engine.info().input_width;
    let labels = engine.info().labels.clone();
    let mut letterboxer = Letterboxer::new();
    let (input, _) = letterboxer.run(&frames[0], size, size);
    let output = engine.infer(input).unwrap().remove(0);
    let layout = Layout::detect(std::slice::from_ref(&output.shape)).unwrap();

    let mut post = Postprocessor::new();
    let opts = PostprocessOptions::default();
    let mut chw = vec![0f32; size * size * 3];
    let mut detections = Vec::new();
    let mut rects = Vec::new();
    let mut frame_work = |frame: &FrameRef<'_>| {
        // Both ways the input is made: the ONNX engine's tensor, and the u8 image of Hailo.
        let geometry = letterboxer.run_nchw_unit(frame, size, size, &mut chw);
        let (input, _) = letterboxer.run(frame, size, size);
        hwc_to_nchw_unit(input, &mut chw);
        detections.clear();
        post.run(
            layout,
            &[output.view()],
            &geometry,
            &labels,
            &opts,
            &mut detections,
        )
        .unwrap();
        rects.clear();
        layout_detections(
            &detections,
            w as u32,
            h as u32,
            &DrawOptions::default(),
            &mut rects,
        );
        assert!(!detections.is_empty(), "the astronaut is found");
    };
    for frame in &frames {
        frame_work(frame); // warm-up: scratch buffers grow to size
        let n = allocations_in(|| {
            for _ in 0..50 {
                frame_work(frame);
            }
        });
        assert_eq!(
            n, 0,
            "{:?}: {n} allocations in 50 warm frames",
            frame.format
        );
    }
    let (input, _) = letterboxer.run(&frames[0], size, size);
    let input = input.to_vec();
    let per_frame = allocations_in(|| {
        for _ in 0..5 {
            engine.infer(&input).unwrap();
        }
    }) / 5;
    println!("onnxruntime engine: {per_frame} allocations per infer (owned output tensors)");
}

#[cfg(feature = "hailo")]
#[test]
fn hailo_engine_takes_its_output_buffers_from_its_pool() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    use hmg_detect::TensorData;
    let _serial = hailort_double::SERIAL
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    // SAFETY: set before HailoRT is loaded, by the only test of this binary that loads it.
    unsafe { std::env::set_var("HMG_HAILORT_LIBRARY", hailort_double::library()) };
    let _controls = hailort_double::Controls::open();
    let mut engine = open_engine(
        &common::hailo_fixtures().join("nudenet320.hef"),
        &Default::default(),
    )
    .unwrap();
    let pool = engine
        .output_pool()
        .expect("the Hailo engine has a pool")
        .clone();
    let size = engine.info().input_width;
    let input = vec![114u8; size * size * 3];
    let first = engine.infer(&input).unwrap();
    let output_bytes = (
        first
            .iter()
            .map(|t| t.data.len() * if t.data.dtype() == "float32" { 4 } else { 1 })
            .sum::<usize>(),
        first.len(),
    );
    // What an element does with a frame's outputs: keeps them (in a buffer's meta) until the
    // frame is gone, which hands the buffers back.
    let mut frame = || {
        engine.submit(&input).unwrap();
        let outputs = engine.collect().unwrap();
        let kept: Vec<_> = outputs
            .into_iter()
            .map(|t| match t.data {
                TensorData::U8(v) => pool.recycle_bytes(v),
                TensorData::F32(v) => pool.recycle_floats(v),
            })
            .collect();
        drop(kept);
    };
    let outputs = output_bytes.1;
    frame(); // warm-up: the pool fills
    let (n, bytes) = allocated_in(|| {
        for _ in 0..20 {
            frame()
        }
    });
    // Left per frame, small and named: the list of outputs, each output's name and shape (copied
    // into the meta's structure anyway), and the list the element keeps them in above — under 2 %
    // of the bytes the outputs take (every byte of them, allocated and zeroed, before the pool).
    assert!(
        n <= 20 * (2 + 2 * outputs),
        "{n} allocations in 20 warm frames of {outputs} outputs"
    );
    assert!(
        bytes < 20 * output_bytes.0 / 50,
        "{bytes} bytes allocated in 20 warm frames; a frame's outputs are {} bytes",
        output_bytes.0
    );
    println!(
        "hailo engine: {} allocations, {} bytes per warm frame",
        n / 20,
        bytes / 20
    );
}

#[test]
fn tracker_allocates_nothing_per_frame_once_warm() {
    use hmg_detect::track::{ByteTracker, TrackInput, TrackerOptions};
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // 100 objects on a 1080p frame walking left and right, a fifth of them scoring low every
    // other frame (the second association keeps them).
    let frame = |t: usize| -> Vec<TrackInput> {
        let step = (t % 40) as f32;
        let dx = if step < 20.0 { step } else { 40.0 - step } * 2.0;
        (0..100)
            .map(|i| {
                let (x, y) = (
                    40.0 + (i % 10) as f32 * 185.0 + dx,
                    30.0 + (i / 10) as f32 * 105.0,
                );
                TrackInput {
                    xyxy: [x, y, x + 90.0, y + 70.0],
                    score: if i % 5 == 0 && t % 2 == 1 { 0.2 } else { 0.8 },
                    class_id: (i % 3) as u32,
                }
            })
            .collect()
    };
    let frames: Vec<_> = (0..60).map(frame).collect();
    let mut tracker = ByteTracker::new(TrackerOptions::default());
    let mut tracked = Vec::new();
    for f in &frames[..10] {
        tracker.update_into(f, &mut tracked);
    }
    assert_eq!(tracked.len(), 100, "every object tracked once warm");
    let n = allocations_in(|| {
        for f in &frames[10..] {
            tracker.update_into(f, &mut tracked);
        }
    });
    assert_eq!(tracked.len(), 100);
    assert_eq!(n, 0, "allocations in 50 warm frames");
}
