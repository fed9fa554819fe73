#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# What the Hailo engine's output pool saves: the 1080p NV12 graph `hailoinfer ! yolonms !
# fakesink` on ONE core against the HailoRT test double (0 ms per frame, YOLOv8n's six raw
# heads, 1.2 MB of outputs a frame, 100 objects), with the pool on (default) and off
# (HMG_OUTPUT_POOL_FRAMES=0: every output buffer allocated and zeroed per frame, as before the
# pool), run in turns; CPU time per frame by getrusage, medians.
#   benches/hailo_output_pool.sh [frames] [rounds]     (defaults 1000, 7)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
FRAMES="${1:-1000}"
ROUNDS="${2:-7}"
cargo build --release --locked -p gst-hmg -p hailort-double --features gst-hmg/hailo >/dev/null 2>&1
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/plugins"
cp target/release/libgsthmg.so "$WORK/plugins/"
DOUBLE="$(ls -t target/release/build/hailort-double-*/out/libhailort_double.so | head -1)"
cp tests/fixtures/hailo/nudenet320.hef "$WORK/yolov8n.hef"
{
  echo "network yolov8n"
  echo "input yolov8n/input_layer1 640 640 3"
  for g in "80 conv41 conv42" "40 conv52 conv53" "20 conv62 conv63"; do
    set -- $g
    echo "output yolov8n/$2 $1 $1 64 128.0 0.1"
    echo "output yolov8n/$3 $1 $1 80 0.0 0.003921569"
  done
  echo "frame 0000000000000000 objects.bin"
} >"$WORK/yolov8n.hef.double"
# The outputs of every frame: 100 objects on the stride-8 head (as benches/dettrack_graph.sh).
python3 - "$WORK/objects.bin" <<'PY'
import sys
out = bytearray()
for n in (80, 40, 20):
    box, cls = bytearray([128]) * (n * n * 64), bytearray(n * n * 80)
    if n == 80:
        for k in range(100):
            anchor = (20 + (k // 10) * 4) * n + 4 + (k % 10) * 8
            for side in range(4):
                box[anchor * 64 + side * 16 + 2] = 255
            cls[anchor * 80 + k % 80] = 230
    out += box + cls
open(sys.argv[1], "wb").write(out)
PY
GST_PLUGIN_PATH="$WORK/plugins" GST_REGISTRY="$WORK/registry.bin" HMG_HAILORT_LIBRARY="$DOUBLE" \
  HAILORT_DOUBLE_FRAME_US=0 WORK="$WORK" FRAMES="$FRAMES" ROUNDS="$ROUNDS" python3 - <<'PY'
import os, resource, statistics, subprocess
work, frames, rounds = os.environ["WORK"], int(os.environ["FRAMES"]), int(os.environ["ROUNDS"])
graph = ["taskset", "-c", "0", "gst-launch-1.0", "-q", "videotestsrc", "num-buffers=1", "!",
         "video/x-raw,format=NV12,width=1920,height=1080", "!", "imagefreeze",
         f"num-buffers={frames}", "!", "hailoinfer", f"hef={work}/yolov8n.hef", "!", "yolonms",
         "!", "fakesink", "sync=false"]
def cpu_ms(pool_frames):
    env = dict(os.environ)
    if pool_frames is not None:
        env["HMG_OUTPUT_POOL_FRAMES"] = str(pool_frames)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(graph, check=True, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return 1000 * used / frames
times = {"off": [], "on": []}
for _ in range(rounds):
    times["off"].append(cpu_ms(0))
    times["on"].append(cpu_ms(None))
off, on = (statistics.median(times[k]) for k in ("off", "on"))
print(f"pool off (allocate + zero per frame): {off:.3f} ms CPU per frame (median of {rounds})")
print(f"pool on:                              {on:.3f} ms CPU per frame")
print(f"the pool saves {off - on:.3f} ms = {100 * (off - on) / off:.1f} % of the graph's host time")
PY
