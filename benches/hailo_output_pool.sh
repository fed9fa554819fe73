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
# shellcheck source=benches/lib/yolov8n_double.sh
. benches/lib/yolov8n_double.sh
yolov8n_double 100
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
