#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# The host path side by side, in one run, single thread: hmg's criterion benches and
# ultralytics' own pre/post-processing (and cv2's letterbox, and its Annotator) on the same
# 1080p frame and the same model output. Prints a Markdown table of medians and ratios.
# usage: benches/compare/host_path.sh   (needs scripts/setup and scripts/setup-ultralytics)
set -euo pipefail
cd "$(dirname "$0")/../.."
export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$PWD/.local/onnxruntime/libonnxruntime.so}"
venv="${HMG_ULTRALYTICS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/hmg/venvs/ultralytics}"
scripts/setup-ultralytics >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export YOLO_OFFLINE=1 YOLO_CONFIG_DIR="$work/yolo" MPLCONFIGDIR="$work/mpl"
testdata="${HMG_TESTDATA:-$PWD/../shared/testdata}"

# Pinned to one core, like a single-threaded reference.
taskset -c 0 cargo bench -q -p hmg-detect --bench hot_paths -- --warm-up-time 1 --measurement-time 3 \
  'letterbox_1920x1080_to_640/RGB|letterbox_1280x720_to_640/RGB|preprocess_|decode_nms_1x84x8400|host_path|memory_floor|overlay|track_100' >&2
taskset -c 0 "$venv/bin/python" benches/compare/host_path_reference.py \
  --testdata "$testdata" --json "$work/reference.json" >&2

python3 - "$work/reference.json" <<'PY'
import json, sys, pathlib
ref = json.load(open(sys.argv[1]))
def ours(name):
    est = pathlib.Path("target/criterion") / name / "new" / "estimates.json"
    return json.load(open(est))["median"]["point_estimate"] / 1e6
rows = [
    ("letterbox 1920x1080 RGB -> 640", ["letterbox_1920x1080_to_640/RGB"], "cv2 resize + copyMakeBorder", "cv2_letterbox_1080p"),
    ("letterbox 1280x720 RGB -> 640", ["letterbox_1280x720_to_640/RGB"], "cv2 resize + copyMakeBorder", "cv2_letterbox_720p"),
    ("pre-process 1080p: letterbox into NCHW f32 /255", ["preprocess_1920x1080_rgb_640_nchw_f32/one_pass"], "ultralytics preprocess (LetterBox, BGR->RGB, CHW, /255)", "ultralytics_preprocess_1080p"),
    ("pre-process 720p", ["preprocess_1280x720_rgb_640_nchw_f32/one_pass"], "ultralytics preprocess", "ultralytics_preprocess_720p"),
    ("decode + NMS, (1, 84, 8400)", ["decode_nms_1x84x8400"], "ultralytics non_max_suppression + scale_boxes", "ultralytics_postprocess_1080p"),
    ("**host path 1080p: pre + decode + NMS**", ["host_path_1920x1080_rgb_640_1x84x8400"], "ultralytics preprocess + postprocess", "ultralytics_host_path_1080p"),
    ("**host path 720p**", ["host_path_1280x720_rgb_640_1x84x8400"], "ultralytics preprocess + postprocess", "ultralytics_host_path_720p"),
    ("overlay, 20 labelled boxes, 1080p", ["overlay_20_boxes_1920x1080_rgb"], "ultralytics Annotator.box_label x20", "ultralytics_overlay_20"),
    ("tracking, 100 objects a frame (dettrack)", ["track_100_objects"], "ultralytics BYTETracker.update", "ultralytics_track_100"),
]
print(f"reference: opencv {ref.get('opencv')}, ultralytics {ref.get('ultralytics', 'not installed')}")
print("| stage | hmg median | reference | reference median | hmg faster by |")
print("| --- | ---: | --- | ---: | ---: |")
def ms(v):
    return f"{v:.4f}" if v < 0.1 else f"{v:.3f}"
for label, benches, ref_label, key in rows:
    mine = sum(ours(b) for b in benches)
    theirs = ref.get(key)
    if theirs is None:
        print(f"| {label} | {ms(mine)} ms | {ref_label} | not measured | |")
    else:
        print(f"| {label} | {ms(mine)} ms | {ref_label} | {ms(theirs)} ms | **{theirs / mine:.1f}×** |")
for size in ("1920x1080", "1280x720"):
    group = f"preprocess_{size}_rgb_640_nchw_f32"
    one, two = ours(f"{group}/one_pass"), ours(f"{group}/two_passes")
    print(f"\npre-process {size}: letterbox writing the tensor {ms(one)} ms, letterbox then conversion {ms(two)} ms: **{two / one:.2f}×**", end="")
print()
floor = ours("memory_floor_1920x1080_640_1x84x8400")
host = ours("host_path_1920x1080_rgb_640_1x84x8400")
reference = ref.get("ultralytics_host_path_1080p")
print(f"\nmemory floor of the 1080p host path (its bytes moved by plain loops, nothing computed): {ms(floor)} ms; "
      f"the host path takes {host / floor:.2f}× that", end="")
if reference is not None:
    print(f"; ultralytics' time is {reference / floor:.1f}× this floor, the most a single-thread host path"
          " that makes the same tensor from the same frame can gain here", end="")
print()
share = ours("track_100_objects") / ours("host_path_1920x1080_rgb_640_1x84x8400")
print(f"\ntracking 100 objects adds {100 * share:.2f} % to the 1080p host path")
PY
